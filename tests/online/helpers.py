"""Feature views and Arrow rows shared by the online tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa

from sqlfeast.registry import Registry
from sqlfeast.spec import Entity, Feature, FeatureView

ALL_TYPES = [("f_bigint", "bigint"), ("f_int", "integer"), ("f_double", "double"), ("f_float", "float"),
             ("f_bool", "boolean"), ("f_text", "varchar"), ("f_ts", "timestamp"), ("f_date", "date"),
             ("f_dec", "decimal(10,2)"), ("f_bytes", "bytes"), ("f_arr", "array<bigint>"),
             ("f_sarr", "array<varchar>"), ("f_darr", "array<double>")]


def typed_view(name: str = "typed", ttl: int = 0) -> FeatureView:
    return FeatureView(name=name, entities=["driver"], join_keys=["driver_id"], timestamp="event_timestamp",
                       created_timestamp="created", features=[Feature(n, t) for n, t in ALL_TYPES],
                       ttl_seconds=ttl, join_key_types={"driver_id": "bigint"})


def stats_view(name: str = "driver_stats", ttl: int = 0, keys=("driver_id",)) -> FeatureView:
    return FeatureView(name=name, entities=["driver"], join_keys=list(keys), timestamp="event_timestamp",
                       created_timestamp="created", features=[Feature("conv_rate", "double"),
                                                              Feature("trips", "bigint")],
                       ttl_seconds=ttl, join_key_types={k: "bigint" for k in keys})


def registry_of(project: str, *views: FeatureView) -> Registry:
    return Registry(project=project, entities={"driver": Entity("driver", ["driver_id"])},
                    feature_views={v.name: v for v in views})


TYPED_VALUES = {
    "f_bigint": [2**62, None], "f_int": [-7, None], "f_double": [0.1 + 0.2, None],
    "f_float": [1.5, None], "f_bool": [False, None], "f_text": ["héllo, =world", None],
    "f_ts": [datetime(2024, 5, 1, 12, 30, 45, 123456), None], "f_date": [date(2024, 2, 29), None],
    "f_dec": [Decimal("12345678.91"), None], "f_bytes": [b"\x00\xffbin", None],
    "f_arr": [[1, None, 3], None], "f_sarr": [["a", ""], None], "f_darr": [[float("inf"), -0.5], None],
}


def typed_rows(ts: datetime) -> pa.Table:
    view = typed_view()
    from sqlfeast.types import parse_type

    cols = {"driver_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([ts, ts], pa.timestamp("us")),
            "created": pa.array([ts, ts], pa.timestamp("us"))}
    for f in view.features:
        cols[f.name] = pa.array(TYPED_VALUES[f.name], parse_type(f.type).arrow())
    return pa.table(cols)


def stats_rows(ids, ts: datetime, conv: float, trips: int = 0, created: datetime | None = None,
               keys=("driver_id",)) -> pa.Table:
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
