"""Feast's side of the Feast-SDK read benchmark: run with Feast's own interpreter, never sqlfeast's.

    /path/to/feast-venv/bin/python benchmarks/feast_sdk_reads.py --work DIR --drivers driver_stats.parquet \
        --customers customer_profile.parquet --sqlfeast URL [--rounds 5] [--iterations 100]

Builds `feast serve` on copies of the same parquet files (Feast's SQLite online store), and two
Feast client repos with `online_store: {type: remote}`, one pointed at `sqlfeast serve` (URL), one
at `feast serve`. Then times get_online_features(...).to_dict() through Feast's SDK for 1 and 100
entities in alternating rounds (the order flips each round), and prints one JSON line: per round
and size, the median latency in ms of each server and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "feast"))

from feast_sdk_script import client, copies, definitions, start_feast_serve, write_repo  # noqa: E402

FEATURES = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]


def timed(fs, rows, iterations: int) -> float:
    fs.get_online_features(FEATURES, rows).to_dict()  # warm the connection
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fs.get_online_features(FEATURES, rows).to_dict()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--drivers", required=True)
    parser.add_argument("--customers", required=True)
    parser.add_argument("--sqlfeast", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    from feast import FeatureStore

    stdout, sys.stdout = sys.stdout, sys.stderr
    work = Path(args.work)
    objects = definitions(*copies(work / "feast_data", args))
    server_root = work / "feast_server"
    write_repo(server_root, "sfbench", f"{{type: sqlite, path: '{server_root / 'online.db'}'}}")
    store = FeatureStore(repo_path=str(server_root))
    store.apply([o for o in objects if getattr(o, "name", "") != "ghost_view"])
    store.materialize(
        datetime(2020, 1, 1), datetime.now(UTC).replace(tzinfo=None), feature_views=["driver_hourly_stats"]
    )
    proc, feast_url = start_feast_serve(server_root)
    try:
        clients = {
            "sqlfeast": client(work / "c_sqlfeast", args.sqlfeast, objects),
            "feast": client(work / "c_feast", feast_url, objects),
        }
        sizes = {"1": [{"driver_id": 1001}], "100": [{"driver_id": 1001 + (i % 50)} for i in range(100)]}
        rounds = []
        for r in range(args.rounds):
            order = ["sqlfeast", "feast"] if r % 2 == 0 else ["feast", "sqlfeast"]
            entry = {}
            for size, rows in sizes.items():
                ms = {name: timed(clients[name], rows, args.iterations) for name in order}
                entry[size] = {
                    **{k: round(v, 3) for k, v in ms.items()},
                    "feast_over_sqlfeast": round(ms["feast"] / ms["sqlfeast"], 3),
                }
            rounds.append(entry)
        summary = {
            size: {
                "sqlfeast_ms": statistics.median(e[size]["sqlfeast"] for e in rounds),
                "feast_ms": statistics.median(e[size]["feast"] for e in rounds),
                "ratio_median": statistics.median(e[size]["feast_over_sqlfeast"] for e in rounds),
            }
            for size in sizes
        }
    finally:
        proc.terminate()
        proc.wait(15)
    sys.stdout = stdout
    print(json.dumps({"rounds": rounds, "summary": summary, "iterations": args.iterations}))


if __name__ == "__main__":
    main()
