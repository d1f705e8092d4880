"""What the progress bar's total costs: DuckDB counting the `latest_rows` result of a view, next to
materializing the same view into the SQLite online store, in alternating rounds (medians).

    python benchmarks/progress_count_bench.py --drivers 300000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlfeast.feature_store import FeatureStore  # noqa: E402
from sqlfeast.offline.materialize import latest_rows_sql, materialize_view  # noqa: E402
from tests.online.helpers import make_project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drivers", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp) / "p", "countbench", drivers=args.drivers)
        with FeatureStore(root) as fs:
            fs.apply()
            view = fs.registry.feature_views["driver_hourly_stats"]
            start, end = datetime(2020, 1, 1), datetime(2030, 1, 1)
            sql = latest_rows_sql(fs, view, start, end)
            counts, writes = [], []
            for _ in range(args.rounds):
                began = time.perf_counter()
                total = fs.warehouse.count_rows(sql)
                counts.append(time.perf_counter() - began)
                fs.online_store.teardown(fs.registry)
                fs.online_store.apply(fs.registry)
                began = time.perf_counter()
                result = materialize_view(fs, view, start, end, quiet=True)
                writes.append(time.perf_counter() - began)
                assert total == result.rows == args.drivers
    count, write = statistics.median(counts), statistics.median(writes)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.drivers} latest rows; rounds {args.rounds}")
    print(
        f"count_rows median {count:.3f} s; materialize median {write:.3f} s; count / materialize = {count / write:.3f}"
    )
    print("rounds (count, materialize):", ", ".join(f"({c:.3f}, {w:.3f})" for c, w in zip(counts, writes, strict=True)))


if __name__ == "__main__":
    main()
