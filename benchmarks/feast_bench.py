"""Feast's side of the online benchmark: run with Feast's own interpreter, never sqlfeast's.

    /work/feast-venv/bin/python benchmarks/feast_bench.py --endpoint URL --drivers driver_stats.parquet \
        --customers customer_profile.parquet [--iterations 200] [--work DIR [--reads-only]] [--skip-reads]

Materializes the same driver rows into Feast's DynamoDB online store on the same server, then
times get_online_features for 1 and 100 entities x 2 views. Prints one JSON line. With --work the
Feast repo (registry) is kept in DIR, so a later --reads-only run times the reads again without
materializing (the online benchmark alternates such rounds with sqlfeast's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--drivers", required=True)
    parser.add_argument("--customers", required=True)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--end", default="2025-01-01", help="end of the materialized range (ISO)")
    parser.add_argument("--work", default=None, help="keep the Feast repo here (default: a new temp dir)")
    parser.add_argument("--reads-only", action="store_true", help="reuse --work's materialized tables")
    parser.add_argument("--skip-reads", action="store_true", help="materialize only")
    args = parser.parse_args()

    import pyarrow.parquet as pq
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.repo_config import RepoConfig
    from feast.types import Float64, Int64

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="feast-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    project_file = work / "project_name"
    if args.reads_only:
        project = project_file.read_text()
    else:
        project = "feast" + uuid.uuid4().hex[:6]
        project_file.write_text(project)
    config = RepoConfig(
        project=project,
        registry=str(work / "registry.db"),
        provider="local",
        online_store={"type": "dynamodb", "region": "us-east-1", "endpoint_url": args.endpoint},
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=str(work),
    )
    fs = FeatureStore(config=config)
    driver = Entity(name="driver", join_keys=["driver_id"])
    customer = Entity(name="customer", join_keys=["customer_id"])
    drivers = FeatureView(
        name="driver_hourly_stats",
        entities=[driver],
        ttl=timedelta(days=3650),
        online=True,
        schema=[
            Field(name="conv_rate", dtype=Float64),
            Field(name="acc_rate", dtype=Float64),
            Field(name="avg_daily_trips", dtype=Int64),
        ],
        source=FileSource(path=args.drivers, timestamp_field="event_timestamp", created_timestamp_column="created"),
    )
    customers = FeatureView(
        name="customer_profile",
        entities=[customer],
        ttl=timedelta(days=3650),
        online=True,
        schema=[
            Field(name="current_balance", dtype=Float64),
            Field(name="avg_passenger_count", dtype=Float64),
            Field(name="lifetime_trip_count", dtype=Int64),
        ],
        source=FileSource(path=args.customers, timestamp_field="event_timestamp", created_timestamp_column="created"),
    )
    rows = pq.read_metadata(args.drivers).num_rows
    rate = None
    if not args.reads_only:
        fs.apply([driver, customer, drivers, customers])
        began = time.perf_counter()
        fs.materialize(datetime(2023, 1, 1), datetime.fromisoformat(args.end), feature_views=["driver_hourly_stats"])
        rate = rows / (time.perf_counter() - began)
        fs.materialize(datetime(2023, 1, 1), datetime.fromisoformat(args.end), feature_views=["customer_profile"])

    features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "customer_profile:current_balance"]
    # A materialization that wrote nothing would look fast: check the last driver and a customer are there.
    check = fs.get_online_features(features, [{"driver_id": rows, "customer_id": 1}]).to_dict()
    if check["conv_rate"][0] is None or check["current_balance"][0] is None:
        raise SystemExit(f"Feast's online store is missing materialized rows: {check}")
    latency = {}
    for n in () if args.skip_reads else (1, 100):
        entity_rows = [{"driver_id": i, "customer_id": i} for i in range(1, n + 1)]
        for _ in range(5):
            fs.get_online_features(features, entity_rows).to_dict()
        samples = []
        for _ in range(args.iterations):
            t = time.perf_counter()
            fs.get_online_features(features, entity_rows).to_dict()
            samples.append((time.perf_counter() - t) * 1000)
        samples.sort()
        latency[str(n)] = [statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]]
    print(json.dumps({"rows": rows, "rows_per_second": rate, "latency_ms": latency}))


if __name__ == "__main__":
    main()
