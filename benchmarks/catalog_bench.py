"""Catalog benchmark: `docs generate` on a generated project, and `--stats` against one full scan.

1. `sqlfeast docs generate` (a new process: compile + site) on a project of N views
   (benchmarks/gen_project.py), and the site alone in-process from the compiled registry.
2. Statistics of the 1M-row driver/customer data set (benchmarks/historical_data.py): the catalog's
   two queries per view against a hand-written DuckDB ``SUMMARIZE`` of the same view SQL, in
   alternating rounds; medians and the ratio.

    python benchmarks/catalog_bench.py --views 1000 --rows 1000000 --rounds 5 --work /tmp/catalog_bench
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_generate(work: Path, views: int, rounds: int) -> None:
    from gen_project import generate

    from sqlfeast.catalog.generate import generate as generate_site
    from sqlfeast.feature_store import FeatureStore

    project, _ = generate(work / "project", views)
    cli, site, cpu, comp, comp_cpu = [], [], [], [], []

    def run(*argv: str) -> tuple[float, float]:
        began, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "sqlfeast", "--project-dir", str(project), *argv], check=True, capture_output=True
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter() - began, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime

    fs = FeatureStore(project)
    registry = fs.compile()
    for _ in range(rounds):
        wall, used = run("docs", "generate")
        cli.append(wall)
        cpu.append(used)
        wall, used = run("compile")  # the compile that docs generate starts with, alone
        comp.append(wall)
        comp_cpu.append(used)
        began = time.perf_counter()
        generate_site(registry, work / "site")
        site.append(time.perf_counter() - began)
    pages = sum(1 for _ in (work / "site").rglob("*.html"))
    med = statistics.median
    print(
        f"docs generate, {views} views ({pages} pages): CLI median {med(cli):.2f} s wall "
        f"(rounds {', '.join(f'{t:.2f}' for t in cli)}), CPU median {med(cpu):.2f} s; "
        f"sqlfeast compile CLI median {med(comp):.2f} s wall, CPU {med(comp_cpu):.2f} s "
        f"(docs generate / compile: wall {med(cli) / med(comp):.2f}x, CPU {med(cpu) / med(comp_cpu):.2f}x); "
        f"site alone (in-process, pages unchanged after the first round) median {med(site):.2f} s; load {_load()}"
    )


def bench_stats(work: Path, rows: int, rounds: int, summarize_too: bool = True) -> None:
    from historical_data import generate as generate_data

    from sqlfeast.catalog.stats import view_stats
    from sqlfeast.feature_store import FeatureStore
    from sqlfeast.offline.historical import view_sql

    sys.path.insert(0, str(HERE.parent))
    from tests.conftest import copy_example

    project = copy_example(work / "stats_project", with_data=False)
    generate_data(project / "data", entities=10, rows=rows)
    fs = FeatureStore(project)
    registry = fs.compile()
    ours, scan, summarize, grouping = [], [], [], []
    cpu_times: dict[int, list[tuple[str, float]]] = {}

    def hand(view, sql: str) -> str:
        # one full scan, written by hand: what SUMMARIZE reports, less its quantiles
        columns = (
            dict.fromkeys(a.column for a in view.aggregations if a.column)
            if view.is_aggregation  # its statistics describe the aggregated columns
            else view.feature_names
        )
        aggregates = ", ".join(
            f'COUNT("{f}"), MIN("{f}"), MAX("{f}"), AVG("{f}"), APPROX_COUNT_DISTINCT("{f}")' for f in columns
        )
        return f'SELECT COUNT(*), MAX("{view.timestamp}"), {aggregates} FROM ({sql})'

    def timed(into: list, name: str, work) -> None:
        began, cpu = time.perf_counter(), time.process_time()  # CPU: every DuckDB thread of this process
        work()
        into.append((name, time.perf_counter() - began))
        cpu_times.setdefault(id(into), []).append((name, time.process_time() - cpu))

    for view in registry.feature_views.values():  # warm the file cache before any timing
        fs.warehouse.query_arrow(hand(view, view_sql(view, fs.warehouse)))
    for r in range(rounds):
        for view in registry.feature_views.values():
            sql = view_sql(view, fs.warehouse)
            steps = [
                (scan, lambda view=view, sql=sql: fs.warehouse.query_arrow(hand(view, sql))),
                (ours, lambda view=view, sql=sql: view_stats(fs.warehouse, fs.renderer, view, sql)),
                # the portable statistics (a second, GROUPING SETS scan), as DuckDB ran them before
                (grouping, lambda view=view, sql=sql: view_stats(fs.warehouse, _Portable(fs.renderer), view, sql)),
            ]
            if summarize_too:
                steps.append((summarize, lambda sql=sql: fs.warehouse.query_arrow(f"SUMMARIZE ({sql})")))
            for into, work in steps if r % 2 == 0 else steps[::-1]:  # alternate the order
                timed(into, view.name, work)
    for view in registry.feature_views:
        a, b, g = (statistics.median(t for n, t in times if n == view) for times in (ours, scan, grouping))
        ca, cb = (statistics.median(t for n, t in cpu_times[id(times)] if n == view) for times in (ours, scan))
        line = (
            f"--stats {view} ({rows:,} rows): {a:.3f} s = {a / b:.2f}x one hand-written full scan ({b:.3f} s); "
            f"CPU {ca:.3f} s = {ca / cb:.2f}x the scan's ({cb:.3f} s); "
            f"with the portable GROUPING SETS histogram {g:.3f} s = {g / b:.2f}x"
        )
        if summarize_too:
            c = statistics.median(t for n, t in summarize if n == view)
            line += f"; {a / c:.2f}x SUMMARIZE ({c:.3f} s)"
        print(line + f"; load {_load()}")


class _Portable:
    """A renderer that calls the default (portable) histogram macro instead of the dispatched one."""

    def __init__(self, renderer) -> None:
        self.renderer = renderer

    def call(self, name: str, *args):
        if name in ("feature_stats_query", "feature_histogram_query"):
            name = "default__" + name
        return self.renderer.call(name, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default="/tmp/catalog_bench")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-stats", action="store_true")
    parser.add_argument("--skip-summarize", action="store_true", help="leave out DuckDB's SUMMARIZE (slow)")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if not args.skip_generate:
        bench_generate(work, args.views, args.rounds)
    if not args.skip_stats:
        bench_stats(work, args.rows, args.rounds, not args.skip_summarize)


if __name__ == "__main__":
    main()
