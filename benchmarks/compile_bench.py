"""Compile benchmark: `sqlfeast compile` of N generated feature views against `dbt parse` of the
equivalent dbt project, measured in the same run.

    /work/venv/bin/python benchmarks/compile_bench.py                  # 1,000 models, 3 runs each
    /work/venv/bin/python benchmarks/compile_bench.py --models 200 --runs 5 --dbt ''   # no dbt
    .venv/bin/python benchmarks/compile_bench.py --baseline 918c8cd --dbt ''   # against an older commit

With ``--baseline COMMIT[,COMMIT...]`` the same project is also compiled by the sqlfeast of
those commits (a git worktree of each under --out, imported by this interpreter, so every side
shares every dependency) in the same rounds: each side once a round, each in a process of its
own, the order rotated every round; the report gives the ratios of the medians. 918c8cd is main
just before dbt projects were supported, 9201854 the merge that added them.

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


_TIMED_COMPILE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import sqlfeast
assert sqlfeast.__file__.startswith(sys.argv[1]), sqlfeast.__file__
from sqlfeast.compile.pipeline import compile_project
from sqlfeast.project.config import load_project, load_target
cpu0, t0 = time.process_time(), time.perf_counter()
config = load_project(sys.argv[2])
registry = compile_project(config, load_target(config))
assert len(registry.feature_views) > 0
print(json.dumps([time.perf_counter() - t0, time.process_time() - cpu0]))
"""


def _compile_of(tree: Path, project: Path, env: dict[str, str]) -> tuple[float, float]:
    """compile_project as `sqlfeast compile` calls it, by the sqlfeast package under `tree`, timed
    inside a process of its own (so an older commit's code runs beside the current one)."""
    import json

    proc = subprocess.run(
        [sys.executable, "-c", _TIMED_COMPILE, str(tree), str(project)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"compile by {tree} failed:\n{proc.stderr[-3000:]}")
    wall, cpu = json.loads(proc.stdout.strip().splitlines()[-1])
    return wall, cpu


def _baseline_tree(commit: str, out: Path) -> Path:
    """A git worktree of `commit` (detached) under `out`."""
    repo = Path(__file__).resolve().parents[1]
    tree = out / f"baseline-{commit}"
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), commit], check=True, capture_output=True
    )
    return tree


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
    ap.add_argument("--baseline", default="", help="commits to compare with (comma-separated), in the same rounds")
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
    current = Path(__file__).resolve().parents[1]
    commits = [c for c in args.baseline.split(",") if c]
    sides = [("current", current)] + [(f"baseline {c}", _baseline_tree(c, out)) for c in commits]
    for i in range(args.runs):
        print(f"round {i + 1}/{args.runs}", file=sys.stderr)
        if commits:  # every side once a round, the order rotated each round
            for label, tree in sides[i % len(sides) :] + sides[: i % len(sides)]:
                record(f"compile_project, {label} (own process)", _compile_of(tree, sf_dir, env))
            continue
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
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if commits:
        now = results["compile_project, current (own process)"]
        for commit in commits:
            then = results[f"compile_project, baseline {commit} (own process)"]
            wall = statistics.median(w for w, _ in now) / statistics.median(w for w, _ in then)
            cpu = statistics.median(c for _, c in now) / statistics.median(c for _, c in then)
            rounds = ", ".join(f"{c[1] / b[1]:.2f}" for c, b in zip(now, then))
            print(f"\ncurrent / {commit}: {wall:.2f}x wall, {cpu:.2f}x CPU (medians); CPU per round: {rounds}")
        for _, tree in sides[1:]:
            subprocess.run(["git", "-C", str(current), "worktree", "remove", "--force", str(tree)], capture_output=True)
        return
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
