"""Feast's SDK reading through `sqlfeast serve` vs through `feast serve`, same data, same run.

    .venv/bin/python benchmarks/feast_sdk_bench.py --feast-python /path/to/feast-venv/bin/python \
        [--rounds 5] [--iterations 100] [--work DIR]

Sets up the example project with sample data ending today (SQLite online store), materializes it,
starts `sqlfeast serve`, then runs benchmarks/feast_sdk_reads.py with Feast's interpreter, which
starts `feast serve` on copies of the same files and times both through Feast's SDK in
alternating rounds. Prints the JSON result with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feast-python", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    from tests.serving.test_feast_endpoints import serve_fresh_project

    work = Path(args.work or tempfile.mkdtemp(prefix="feast-sdk-bench-"))
    root = work / "demo"
    server = serve_fresh_project(root, "--no-access-log")
    load_before = os.getloadavg()
    try:
        proc = subprocess.run(
            [
                args.feast_python,
                str(REPO / "benchmarks" / "feast_sdk_reads.py"),
                "--work",
                str(work / "feast"),
                "--drivers",
                str(root / "data/driver_stats.parquet"),
                "--customers",
                str(root / "data/customer_profile.parquet"),
                "--sqlfeast",
                server.url,
                "--rounds",
                str(args.rounds),
                "--iterations",
                str(args.iterations),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "FEAST_USAGE": "False"},
        )
    finally:
        server.stop()
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    result = json.loads(proc.stdout)
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
