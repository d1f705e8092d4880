"""Feast's side of the historical retrieval benchmark: run with Feast's own interpreter.

    /work/feast-venv/bin/python benchmarks/feast_historical.py --data /tmp/sqlfeast_hist_bench/small \
        --store duckdb [--compare /tmp/sqlfeast_hist_bench/small/hand.parquet] [--max-mb 8192]

Defines the benchmark's two views in a throw-away Feast repo (driver_stats with a 2 day ttl,
customer_profile without; FileSource on the same parquet files, created timestamp as tie-break),
times ``get_historical_features(entity_df, features).to_arrow()`` with the chosen offline store
(``file``: Feast's default pandas/dask store; ``duckdb``: its ibis/DuckDB store), and prints one
JSON line: seconds (retrieval only; reading entities.parquet into pandas is not counted),
rows in and out, peak RSS. A watchdog ends the process (exit code 3, JSON line with
``"aborted"``) when its resident memory passes --max-mb; bound the time with ``timeout``.

``--compare`` takes the sqlfeast result (entity columns + features, in entity order) and reports
every difference: entity rows missing or duplicated in Feast's answer, and cells that differ, per
column. Rows are matched by a ``__row`` column added to the entity rows (Feast passes extra entity
columns through), so Feast's own output order does not matter.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

DRIVER_FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
CUSTOMER_FEATURES = ["current_balance", "avg_passenger_count", "lifetime_trip_count"]
ROW = "__row"


def _rss_mb() -> float:
    """Resident memory of this process and its children (Feast may start helper processes)."""
    me, total = os.getpid(), 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(pid) == me or int(fields[1]) == me:  # fields[1] is the parent pid
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**20


def _watchdog(limit_mb: float, began: float) -> None:
    while True:
        rss = _rss_mb()
        if rss > limit_mb:
            print(
                json.dumps(
                    {
                        "aborted": f"resident memory {rss:.0f} MB passed {limit_mb:.0f} MB",
                        "seconds": round(time.perf_counter() - began, 1),
                    }
                ),
                flush=True,
            )
            os._exit(3)
        time.sleep(0.25)


def build_store(data: Path, store: str):
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.repo_config import RepoConfig
    from feast.types import Float64, Int64

    work = Path(tempfile.mkdtemp(prefix="feast-hist-"))
    config = RepoConfig(
        project="bench" + uuid.uuid4().hex[:6],
        registry=str(work / "registry.db"),
        provider="local",
        online_store={"type": "sqlite", "path": str(work / "online.db")},
        offline_store={"type": "file" if store == "file" else "duckdb"},
        entity_key_serialization_version=3,
        repo_path=str(work),
    )
    fs = FeatureStore(config=config)
    driver = Entity(name="driver", join_keys=["driver_id"])
    customer = Entity(name="customer", join_keys=["customer_id"])
    drivers = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=timedelta(days=2),
        online=False,
        schema=[
            Field(name="conv_rate", dtype=Float64),
            Field(name="acc_rate", dtype=Float64),
            Field(name="avg_daily_trips", dtype=Int64),
        ],
        source=FileSource(
            path=str(data / "driver_stats.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
    )
    customers = FeatureView(  # ttl 0: no time limit, as in sqlfeast
        name="customer_profile",
        entities=[customer],
        ttl=timedelta(0),
        online=False,
        schema=[
            Field(name="current_balance", dtype=Float64),
            Field(name="avg_passenger_count", dtype=Float64),
            Field(name="lifetime_trip_count", dtype=Int64),
        ],
        source=FileSource(
            path=str(data / "customer_profile.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
    )
    fs.apply([driver, customer, drivers, customers])
    return fs


def compare(feast_table, expected_path: str) -> dict:
    """Every difference between Feast's answer and sqlfeast's, matched on the entity row number."""
    import numpy as np
    import pyarrow.parquet as pq

    expected = pq.read_table(expected_path).to_pandas()
    expected[ROW] = np.arange(len(expected))
    got = feast_table.to_pandas()
    report: dict = {"expected_rows": len(expected), "feast_rows": len(got)}
    counts = got[ROW].value_counts()
    report["entity_rows_missing"] = int(len(expected) - counts.size)
    report["entity_rows_repeated"] = int((counts > 1).sum())
    if report["entity_rows_missing"]:
        missing = expected[~expected[ROW].isin(got[ROW])]
        keys = ["driver_id", "customer_id", "event_timestamp"]
        dup = expected.duplicated(keys, keep=False)
        report["missing_rows_that_share_keys_and_timestamp_with_another"] = int(dup[missing.index].sum())
        features = DRIVER_FEATURES + CUSTOMER_FEATURES
        report["missing_rows_with_a_null_view_in_sqlfeast"] = {
            "driver_stats": int(missing[DRIVER_FEATURES].isna().all(axis=1).sum()),
            "customer_profile": int(missing[CUSTOMER_FEATURES].isna().all(axis=1).sum()),
            "neither": int((~missing[features].isna().any(axis=1)).sum()),
        }
        report["missing_examples"] = missing.head(3).astype(str).to_dict("records")
    got = got.drop_duplicates(ROW).set_index(ROW).sort_index()
    exp = expected.set_index(ROW).loc[got.index]
    columns = {}
    for column in ["label"] + DRIVER_FEATURES + CUSTOMER_FEATURES:
        a, b = got[column], exp[column]
        both_null = a.isna() & b.isna()
        equal = both_null | (a.astype("float64") == b.astype("float64"))
        columns[column] = {
            "differing": int((~equal).sum()),
            "null_in_feast_only": int((a.isna() & ~b.isna()).sum()),
            "null_in_sqlfeast_only": int((~a.isna() & b.isna()).sum()),
        }
        if (~equal).any():
            rows = (~equal).to_numpy().nonzero()[0][:3]
            columns[column]["examples"] = [
                {
                    "row": int(got.index[i]),
                    "feast": str(a.iloc[i]),
                    "sqlfeast": str(b.iloc[i]),
                    "driver_id": int(exp["driver_id"].iloc[i]),
                    "customer_id": int(exp["customer_id"].iloc[i]),
                    "event_timestamp": str(exp["event_timestamp"].iloc[i]),
                }
                for i in rows
            ]
    import pandas as pd

    ts_feast = pd.to_datetime(got["event_timestamp"], utc=True)
    ts_sqlfeast = pd.to_datetime(exp["event_timestamp"]).dt.tz_localize("UTC")
    columns["event_timestamp"] = {
        "differing": int((ts_feast != ts_sqlfeast).sum()),
        "feast_type": str(got["event_timestamp"].dtype),
    }
    report["columns"] = columns
    report["equal_on_common_rows"] = all(c["differing"] == 0 for c in columns.values())
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--store", choices=["file", "duckdb"], required=True)
    parser.add_argument("--compare", default=None, help="sqlfeast's result parquet for the same entity rows")
    parser.add_argument("--max-mb", type=float, default=8192)
    args = parser.parse_args()
    data = Path(args.data)

    import numpy as np
    import pandas as pd

    fs = build_store(data, args.store)
    entity_df = pd.read_parquet(data / "entities.parquet")
    entity_df[ROW] = np.arange(len(entity_df))
    features = [f"driver_stats:{f}" for f in DRIVER_FEATURES] + [f"customer_profile:{f}" for f in CUSTOMER_FEATURES]
    began = time.perf_counter()
    threading.Thread(target=_watchdog, args=(args.max_mb, began), daemon=True).start()
    table = fs.get_historical_features(entity_df=entity_df, features=features).to_arrow()
    seconds = time.perf_counter() - began
    result = {
        "impl": f"feast-{args.store}",
        "rows_in": len(entity_df),
        "rows_out": table.num_rows,
        "seconds": round(seconds, 3),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if args.compare:
        result["comparison"] = compare(table, args.compare)
    print(json.dumps(result, default=str), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown of Feast's background machinery


if __name__ == "__main__":
    main()
