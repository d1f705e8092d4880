"""Feature views and Arrow rows shared by the online tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Entity, Feature, FeatureView

ALL_TYPES = [
    ("f_bigint", "bigint"),
    ("f_int", "integer"),
    ("f_double", "double"),
    ("f_float", "float"),
    ("f_bool", "boolean"),
    ("f_text", "varchar"),
    ("f_ts", "timestamp"),
    ("f_date", "date"),
    ("f_dec", "decimal(10,2)"),
    ("f_bytes", "bytes"),
    ("f_arr", "array<bigint>"),
    ("f_sarr", "array<varchar>"),
    ("f_darr", "array<double>"),
]


def typed_view(name: str = "typed", ttl: int = 0) -> FeatureView:
    return FeatureView(
        name=name,
        entities=["driver"],
        join_keys=["driver_id"],
        timestamp="event_timestamp",
        created_timestamp="created",
        features=[Feature(n, t) for n, t in ALL_TYPES],
        ttl_seconds=ttl,
        join_key_types={"driver_id": "bigint"},
    )


def stats_view(name: str = "driver_stats", ttl: int = 0, keys=("driver_id",)) -> FeatureView:
    return FeatureView(
        name=name,
        entities=["driver"],
        join_keys=list(keys),
        timestamp="event_timestamp",
        created_timestamp="created",
        features=[Feature("conv_rate", "double"), Feature("trips", "bigint")],
        ttl_seconds=ttl,
        join_key_types={k: "bigint" for k in keys},
    )


def registry_of(project: str, *views: FeatureView) -> Registry:
    return Registry(
        project=project, entities={"driver": Entity("driver", ["driver_id"])}, feature_views={v.name: v for v in views}
    )


TYPED_VALUES = {
    "f_bigint": [2**62, None],
    "f_int": [-7, None],
    "f_double": [0.1 + 0.2, None],
    "f_float": [1.5, None],
    "f_bool": [False, None],
    "f_text": ["héllo, =world", None],
    "f_ts": [datetime(2024, 5, 1, 12, 30, 45, 123456), None],
    "f_date": [date(2024, 2, 29), None],
    "f_dec": [Decimal("12345678.91"), None],
    "f_bytes": [b"\x00\xffbin", None],
    "f_arr": [[1, None, 3], None],
    "f_sarr": [["a", ""], None],
    "f_darr": [[float("inf"), -0.5], None],
}


def typed_rows(ts: datetime) -> pa.Table:
    view = typed_view()
    from sqlfeast.core.types import parse_type

    cols = {
        "driver_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": pa.array([ts, ts], pa.timestamp("us")),
        "created": pa.array([ts, ts], pa.timestamp("us")),
    }
    for f in view.features:
        cols[f.name] = pa.array(TYPED_VALUES[f.name], parse_type(f.type).arrow())
    return pa.table(cols)


def stats_rows(
    ids, ts: datetime, conv: float, trips: int = 0, created: datetime | None = None, keys=("driver_id",)
) -> pa.Table:
    n = len(ids)
    cols = {}
    for k in keys:
        cols[k] = pa.array([i if not isinstance(i, tuple) else i[keys.index(k)] for i in ids], pa.int64())
    cols["event_timestamp"] = pa.array([ts] * n, pa.timestamp("us"))
    cols["created"] = pa.array([created or ts] * n, pa.timestamp("us"))
    cols["conv_rate"] = pa.array([conv] * n, pa.float64())
    cols["trips"] = pa.array([trips] * n, pa.int64())
    return pa.table(cols)


T0 = datetime(2024, 1, 1)
HOUR = timedelta(hours=1)


# -- example projects ------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


def make_project(root, name: str, endpoint: str | None = None, drivers: int | None = None, **dynamo_settings) -> Path:
    """A copy of the example project named `name`, with targets `dev` (SQLite online store) and
    `ddb` (DynamoDB at `endpoint`); with `drivers`, driver_stats holds that many drivers, each
    with an older row, and two rows at the latest time whose later created one must win."""
    import shutil

    import yaml

    root = Path(root)
    from sqlfeast.project.sample_data import write_sample_data

    for part in ("models", "macros"):
        shutil.copytree(REPO / part, root / part)
    write_sample_data(root)  # data/ is generated, never committed
    text = (REPO / "sqlfeast_project.yml").read_text().replace("name: demo", f"name: {name}")
    (root / "sqlfeast_project.yml").write_text(text)
    ddb = {
        "type": "dynamodb",
        "region": "us-east-1",
        "endpoint_url": endpoint or "http://127.0.0.1:9",
        "lease_seconds": 3,
        "retry_seconds": 30,
        "connect_attempts": 2,
        **dynamo_settings,
    }
    base = {"type": "duckdb", "path": "target/dev.duckdb", "schema": "main"}
    profiles = {
        "demo": {
            "target": "dev",
            "outputs": {
                "dev": {**base, "online_store": {"type": "sqlite", "path": "target/online.db"}},
                "ddb": {**base, "online_store": ddb},
            },
        }
    }
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    if drivers:
        write_driver_stats(root / "data" / "driver_stats.parquet", drivers)
    return root


def write_driver_stats(path, drivers: int) -> None:
    import pyarrow.parquet as pq

    ids = list(range(1, drivers + 1))
    t_old, t_new = datetime(2024, 1, 1), datetime(2024, 1, 2)
    rows = {
        "driver_id": [],
        "event_timestamp": [],
        "created": [],
        "conv_rate": [],
        "acc_rate": [],
        "avg_daily_trips": [],
    }

    def add(i, ts, created, conv, trips):
        rows["driver_id"].append(i)
        rows["event_timestamp"].append(ts)
        rows["created"].append(created)
        rows["conv_rate"].append(conv)
        rows["acc_rate"].append(conv / 2)
        rows["avg_daily_trips"].append(trips)

    for i in ids:
        add(i, t_old, t_old, 0.1, 1)
        add(i, t_new, t_new, 0.2, 2)  # a tie on the timestamp ...
        add(i, t_new, t_new + timedelta(minutes=5), i / (drivers + 1), i)  # ... the later created wins
    schema = pa.schema(
        [
            ("driver_id", pa.int64()),
            ("event_timestamp", pa.timestamp("us")),
            ("created", pa.timestamp("us")),
            ("conv_rate", pa.float64()),
            ("acc_rate", pa.float64()),
            ("avg_daily_trips", pa.int64()),
        ]
    )
    pq.write_table(pa.table(rows, schema=schema), path)


def expected_driver(i: int, drivers: int) -> dict:
    return {"conv_rate": i / (drivers + 1), "acc_rate": i / (drivers + 1) / 2, "avg_daily_trips": i}


def online_driver_values(store, ids) -> dict:
    """driver id -> stored values of driver_hourly_stats (whatever their age)."""
    from sqlfeast.online.base import ReadRequest

    view = store.registry.get_feature_view("driver_hourly_stats")
    found = store.online_store.read([ReadRequest(view, [f"driver_id={i}" for i in ids], view.feature_names)])[0]
    return {int(k.split("=")[1]): row.values for k, row in found.items()}
