"""What rendering feature views with dbt costs: `sqlfeast compile` of the test dbt project
tests/dbt_projects/jaffle_features (built first with real dbt) in four ways, in interleaved rounds:

- sqlfeast's own Jinja (SQLFEAST_RENDERER=sqlfeast),
- dbt, first run (no partial-parse file of ours: target/sqlfeast/dbt removed),
- dbt, a feature view changed (dbt's partial parse reused, the rendering not),
- dbt, nothing changed (the last rendering reused, dbt not started).

    .venv/bin/python benchmarks/dbt_render_bench.py --runs 5

Needs dbt in this interpreter's environment (the dev extra installs it) and the jaffle_shop seeds
in ../shared/fixtures/jaffle_shop_seeds. Reports medians of wall and CPU time (the sqlfeast
process and its children, i.e. dbt's Python too) and the load average.
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

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "fixtures" / "jaffle_shop_seeds"
BIN = Path(sys.executable).parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    cpu0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0, _cpu() - cpu0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="/tmp/sqlfeast-dbt-render-bench")
    args = ap.parse_args()
    root = Path(args.out) / "jaffle_features"
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.copytree(REPO / "tests" / "dbt_projects" / "jaffle_features", root)
    (root / "seeds").mkdir(exist_ok=True)
    for csv in SEEDS.glob("*.csv"):
        shutil.copy(csv, root / "seeds" / csv.name)
    env = {**os.environ, "DBT_PROFILES_DIR": str(root), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("SQLFEAST_RENDERER", None)
    _timed([str(BIN / "dbt"), "build"], root, env)
    compile_cmd = [str(BIN / "sqlfeast"), "compile"]
    ours = root / "target" / "sqlfeast" / "dbt"
    view = root / "features" / "customer_profile.sql"

    def first() -> tuple[float, float]:
        shutil.rmtree(ours, ignore_errors=True)
        return _timed(compile_cmd, root, env)

    def changed() -> tuple[float, float]:
        view.write_text(view.read_text() + "\n")
        return _timed(compile_cmd, root, env)

    cases = {
        "sqlfeast's Jinja": lambda: _timed(compile_cmd, root, {**env, "SQLFEAST_RENDERER": "sqlfeast"}),
        "dbt, first run (no partial parse)": first,
        "dbt, a view changed (partial parse)": changed,
        "dbt, nothing changed (rendering reused)": lambda: _timed(compile_cmd, root, env),
    }
    _timed(compile_cmd, root, env)  # warm the file cache and Jinja's bytecode cache
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for i in range(args.runs):
        for name, case in list(cases.items())[i % 2 :] + list(cases.items())[: i % 2]:
            results[name].append(case())
            print(f"round {i + 1}: {name:42s} wall {results[name][-1][0]:6.2f}s cpu {results[name][-1][1]:6.2f}s")
    print(f"\nsqlfeast compile of {root.name} (2 feature views); median of {args.runs} rounds")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| renderer | wall (s) | CPU (s) |\n|---|---:|---:|")
    for name, values in results.items():
        wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
