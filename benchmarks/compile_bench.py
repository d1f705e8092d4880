"""Compile benchmark: `sqlfeast compile` of N generated feature views against `dbt parse` of the
equivalent dbt project, measured in the same run.

    /work/venv/bin/python benchmarks/compile_bench.py                  # 1,000 models, 3 runs each
    /work/venv/bin/python benchmarks/compile_bench.py --models 200 --runs 5 --dbt ''   # no dbt

dbt is never imported: it runs as a subprocess from its own virtualenv (``--dbt``, default
/work/dbt-venv/bin/dbt; create it with ``python3 -m venv /work/dbt-venv &&
/work/dbt-venv/bin/pip install dbt-duckdb``). Rounds are interleaved (sqlfeast, then dbt, then
sqlfeast...) so that load from other processes on a shared machine hits both sides alike.

Reported per measurement: median wall time over the runs and median CPU time (user + sys of
the process doing the work), which moves less than wall time when other processes compete.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_project import generate  # noqa: E402


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one subprocess; exits loudly when it fails."""
    cpu0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, cpu


def _in_process(project: Path) -> tuple[float, float]:
    """compile_project exactly as `sqlfeast compile` calls it (loads config, writes target/)."""
    from sqlfeast.compile.pipeline import compile_project
    from sqlfeast.project.config import load_project, load_target

    cpu0, t0 = time.process_time(), time.perf_counter()
    config = load_project(project)
    registry = compile_project(config, load_target(config))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert len(registry.feature_views) > 0
    return wall, cpu


def _sqlfeast_cmd() -> list[str]:
    script = Path(sys.executable).parent / "sqlfeast"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sqlfeast.cli"]


def _versions(dbt: str | None, env: dict[str, str]) -> dict[str, str]:
    import jinja2
    import sqlglot

    import sqlfeast

    out = {
        "python": platform.python_version(),
        "sqlfeast": getattr(sqlfeast, "__version__", "?"),
        "sqlglot": sqlglot.__version__,
        "jinja2": jinja2.__version__,
    }
    if dbt:
        text = subprocess.run([dbt, "--version"], capture_output=True, text=True, env=env).stdout
        out["dbt"] = " ".join(
            line.strip() for line in text.splitlines() if "installed" in line.lower() or "duckdb" in line.lower()
        ).strip()
    return out


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="/tmp/sqlfeast-compile-bench", help="where the projects are generated")
    ap.add_argument("--dbt", default="/work/dbt-venv/bin/dbt", help="dbt executable ('' to skip dbt)")
    args = ap.parse_args()

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    sf_dir, dbt_dir = generate(out, args.models)
    dbt = args.dbt if args.dbt and Path(args.dbt).exists() else None
    if args.dbt and dbt is None:
        print(f"dbt not found at {args.dbt}: measuring sqlfeast only", file=sys.stderr)
    # No telemetry or version checks: the numbers are parse time only.
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", "DBT_VERSION_CHECK": "false"}
    dbt_base = [dbt, "parse", "--project-dir", str(dbt_dir), "--profiles-dir", str(dbt_dir)] if dbt else []

    results: dict[str, list[tuple[float, float]]] = {}

    def record(key: str, value: tuple[float, float]) -> None:
        results.setdefault(key, []).append(value)
        print(f"  {key:42s} wall {value[0]:6.2f}s  cpu {value[1]:6.2f}s", file=sys.stderr)

    if dbt:  # prime dbt's partial-parse file once; partial runs below reuse it unchanged
        _run(dbt_base, dbt_dir, env)
    for i in range(args.runs):
        print(f"round {i + 1}/{args.runs}", file=sys.stderr)
        record("sqlfeast compile (in-process)", _in_process(sf_dir))
        record(
            "sqlfeast compile (CLI, new process)",
            _run(_sqlfeast_cmd() + ["--project-dir", str(sf_dir), "compile"], sf_dir, env),
        )
        if dbt:
            record("dbt parse --no-partial-parse", _run(dbt_base + ["--no-partial-parse"], dbt_dir, env))
            record("dbt parse (partial parse, no changes)", _run(dbt_base, dbt_dir, env))

    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in results.items()}
    print(f"\nMachine: {_machine()}")
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in _versions(dbt, env).items()))
    print(f"{args.models} feature-view models; median of {args.runs} runs\n")
    print("| step | wall (s) | CPU (s) |")
    print("|---|---:|---:|")
    for key, (wall, cpu) in med.items():
        print(f"| {key} | {wall:.2f} | {cpu:.2f} |")
    cli = med["sqlfeast compile (CLI, new process)"]
    if dbt:
        full = med["dbt parse --no-partial-parse"]
        partial = med["dbt parse (partial parse, no changes)"]
        print(
            f"\ndbt parse --no-partial-parse / sqlfeast compile (CLI): {full[0] / cli[0]:.1f}x wall, "
            f"{full[1] / cli[1]:.1f}x CPU"
        )
        print(
            f"dbt parse with partial parse / sqlfeast compile (CLI): {partial[0] / cli[0]:.1f}x wall, "
            f"{partial[1] / cli[1]:.1f}x CPU"
        )
    goal = med["sqlfeast compile (in-process)"][0]
    print(f"goal < 3 s for compile + validate: in-process {goal:.2f}s, CLI {cli[0]:.2f}s")


if __name__ == "__main__":
    main()
