"""Sample data for the example project and for `sqlfeast init`: small, deterministic, offline.

Writes ``data/driver_stats.parquet``, ``data/customer_profile.parquet`` and
``data/entities.parquet`` (entity rows with labels for a training set).

>>> import tempfile; d = tempfile.mkdtemp()
>>> sorted(p.name for p in write_sample_data(d, drivers=3, customers=2, days=1))
['customer_profile.parquet', 'driver_stats.parquet', 'entities.parquet']
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# A fixed end so the example gives the same answers on every machine.
SAMPLE_END = datetime(2026, 1, 15, 0, 0, 0)


def today_utc() -> datetime:
    """Midnight UTC of today (naive): sample data ending here is fresh for online reads."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day)


def write_sample_data(
    root: str | os.PathLike,
    drivers: int = 50,
    customers: int = 50,
    days: int = 7,
    entity_rows: int = 1000,
    seed: int = 7,
    end: datetime | None = None,
) -> list[Path]:
    """Generate hourly driver stats, daily customer profiles and entity rows under root/data,
    covering the `days` before `end` (default: the fixed SAMPLE_END, so tests are repeatable)."""
    rng = random.Random(seed)
    out = Path(root) / "data"
    out.mkdir(parents=True, exist_ok=True)
    start = (end or SAMPLE_END) - timedelta(days=days)

    drv: dict[str, list] = {
        k: [] for k in ("driver_id", "event_timestamp", "created", "conv_rate", "acc_rate", "avg_daily_trips")
    }
    for hour in range(days * 24):
        ts = start + timedelta(hours=hour)
        for d in range(drivers):
            drv["driver_id"].append(1001 + d)
            drv["event_timestamp"].append(ts)
            drv["created"].append(ts + timedelta(minutes=rng.randint(1, 30)))
            drv["conv_rate"].append(round(rng.random(), 4))
            drv["acc_rate"].append(round(rng.random(), 4))
            drv["avg_daily_trips"].append(rng.randint(0, 1000))
    cus: dict[str, list] = {
        k: []
        for k in (
            "customer_id",
            "event_timestamp",
            "created",
            "current_balance",
            "avg_passenger_count",
            "lifetime_trip_count",
        )
    }
    for day in range(days):
        ts = start + timedelta(days=day)
        for c in range(customers):
            cus["customer_id"].append(2001 + c)
            cus["event_timestamp"].append(ts)
            cus["created"].append(ts + timedelta(hours=1))
            cus["current_balance"].append(round(rng.uniform(0, 500), 2))
            cus["avg_passenger_count"].append(round(rng.uniform(1, 4), 2))
            cus["lifetime_trip_count"].append(rng.randint(0, 5000) + day)
    ent: dict[str, list] = {k: [] for k in ("driver_id", "customer_id", "event_timestamp", "trip_completed")}
    for _ in range(entity_rows):
        ent["driver_id"].append(1001 + rng.randrange(drivers + 2))  # a few unknown drivers
        ent["customer_id"].append(2001 + rng.randrange(customers))
        ent["event_timestamp"].append(start + timedelta(seconds=rng.randrange(days * 86400 + 7200)))
        ent["trip_completed"].append(rng.random() < 0.7)

    ts_type = pa.timestamp("us")
    tables = {
        "driver_stats.parquet": pa.table(
            {
                "driver_id": pa.array(drv["driver_id"], pa.int64()),
                "event_timestamp": pa.array(drv["event_timestamp"], ts_type),
                "created": pa.array(drv["created"], ts_type),
                "conv_rate": pa.array(drv["conv_rate"], pa.float64()),
                "acc_rate": pa.array(drv["acc_rate"], pa.float64()),
                "avg_daily_trips": pa.array(drv["avg_daily_trips"], pa.int64()),
            }
        ),
        "customer_profile.parquet": pa.table(
            {
                "customer_id": pa.array(cus["customer_id"], pa.int64()),
                "event_timestamp": pa.array(cus["event_timestamp"], ts_type),
                "created": pa.array(cus["created"], ts_type),
                "current_balance": pa.array(cus["current_balance"], pa.float64()),
                "avg_passenger_count": pa.array(cus["avg_passenger_count"], pa.float64()),
                "lifetime_trip_count": pa.array(cus["lifetime_trip_count"], pa.int64()),
            }
        ),
        "entities.parquet": pa.table(
            {
                "driver_id": pa.array(ent["driver_id"], pa.int64()),
                "customer_id": pa.array(ent["customer_id"], pa.int64()),
                "event_timestamp": pa.array(ent["event_timestamp"], ts_type),
                "trip_completed": pa.array(ent["trip_completed"], pa.bool_()),
            }
        ),
    }
    paths = []
    for name, table in tables.items():
        path = out / name
        pq.write_table(table, path)
        paths.append(path)
    return paths
