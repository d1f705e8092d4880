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
    cli, site, cpu = [], [], []
    fs = FeatureStore(project)
    registry = fs.compile()
    for _ in range(rounds):
        began, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "sqlfeast", "--project-dir", str(project), "docs", "generate"],
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
        began = time.perf_counter()
        generate_site(registry, work / "site")
        site.append(time.perf_counter() - began)
    pages = sum(1 for _ in (work / "site").rglob("*.html"))
    print(
        f"docs generate, {views} views ({pages} pages): CLI median {statistics.median(cli):.2f} s "
        f"(rounds {', '.join(f'{t:.2f}' for t in cli)}), CPU median {statistics.median(cpu):.2f} s; site alone median {statistics.median(site):.2f} s; "
        f"load {_load()}"
    )


def bench_stats(work: Path, rows: int, rounds: int) -> None:
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
    ours, scan, summarize = [], [], []
    for _ in range(rounds):
        for view in registry.feature_views.values():
            sql = view_sql(view, fs.warehouse)
            # one full scan, written by hand: what SUMMARIZE reports, less its quantiles
            aggregates = ", ".join(
                f'COUNT("{f}"), MIN("{f}"), MAX("{f}"), AVG("{f}"), APPROX_COUNT_DISTINCT("{f}")'
                for f in view.feature_names
            )
            began = time.perf_counter()
            fs.warehouse.query_arrow(f'SELECT COUNT(*), MAX("{view.timestamp}"), {aggregates} FROM ({sql})')
            scan.append((view.name, time.perf_counter() - began))
            began = time.perf_counter()
            view_stats(fs.warehouse, fs.renderer, view, sql)
            ours.append((view.name, time.perf_counter() - began))
            began = time.perf_counter()
            fs.warehouse.query_arrow(f"SUMMARIZE ({sql})")
            summarize.append((view.name, time.perf_counter() - began))
    for view in registry.feature_views:
        a, b, c = (statistics.median(t for n, t in times if n == view) for times in (ours, scan, summarize))
        print(
            f"--stats {view} ({rows:,} rows): {a:.3f} s = {a / b:.2f}x one hand-written full scan ({b:.3f} s), "
            f"{a / c:.2f}x SUMMARIZE ({c:.3f} s); load {_load()}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", default="/tmp/catalog_bench")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--skip-stats", action="store_true")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if not args.skip_generate:
        bench_generate(work, args.views, args.rounds)
    if not args.skip_stats:
        bench_stats(work, args.rows, args.rounds)


if __name__ == "__main__":
    main()
