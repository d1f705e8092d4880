"""Generated data and a store of an online aggregation view, shared by the tile tests."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sqlfeast.compile.aggregations import output_type
from sqlfeast.compile.templating import MacroLibrary
from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Aggregation, Entity, Feature, FeatureView
from sqlfeast.core.types import parse_type
from sqlfeast.offline.context import OfflineContext
from sqlfeast.online.client import OnlineClient
from sqlfeast.online.dynamodb import DynamoDBOnlineStore
from sqlfeast.online.sqlite import SQLiteOnlineStore
from sqlfeast.warehouse import connect
from tests.offline.historical_helpers import duckdb_target
from tests.online.conftest import dynamodb_settings

HOUR = dt.timedelta(hours=1)
# Recent times: DynamoDB Local deletes items whose TTL attribute (newest tile + longest window)
# has passed, as DynamoDB does, so the data lies around now.
BASE = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) - 20 * HOUR
COLUMNS = {"amount": ("double", pa.float64()), "qty": ("bigint", pa.int64()), "store": ("varchar", pa.string())}
FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct")
WINDOWS = (3600, 3 * 3600, 24 * 3600)


def aggregations(windows=WINDOWS, columns=COLUMNS) -> list[Aggregation]:
    out = []
    for w in windows:
        out.append(Aggregation(f"rows_{w}", "count", w, None, "bigint"))
        for column, (ctype, _) in columns.items():
            for fn in FUNCTIONS:
                kind = output_type(fn, parse_type(ctype))
                if kind is None:
                    continue
                out.append(Aggregation(f"{fn}_{column}_{w}", fn, w, column, kind))
    return out


def tile_view(aggs: list[Aggregation], granularity: int = 3600, name: str = "orders") -> FeatureView:
    return FeatureView(
        name=name,
        entities=["customer"],
        join_keys=["k1"],
        timestamp="event_timestamp",
        created_timestamp="created",
        features=[Feature(a.name, a.type) for a in aggs],
        sql={"duckdb": f'select * from "src_{name}"'},
        columns={
            "k1": "bigint",
            "event_timestamp": "timestamp",
            "created": "timestamp",
            **{c: t for c, (t, _) in COLUMNS.items()},
        },
        join_key_types={"k1": "bigint"},
        aggregations=aggs,
        granularity_seconds=granularity,
        online=True,
    )


def events(seed: int, keys: int = 12, rows: int = 900, hours: int = 60) -> list[dict[str, Any]]:
    """Random events over `hours` hours from BASE: some exactly on tile boundaries, some stamped
    in the same microsecond, NULL values; (key, ts, created) unique, so `last` has one answer."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    seen = set()
    while len(out) < rows:
        k = rnd.randrange(keys)
        if rnd.random() < 0.15:
            ts = BASE + HOUR * rnd.randrange(hours)  # on a boundary
        else:
            ts = BASE + dt.timedelta(microseconds=rnd.randrange(hours * 3600 * 10**6))
        created = None if rnd.random() < 0.1 else ts + dt.timedelta(seconds=rnd.randrange(5))
        if (k, ts, created) in seen:
            continue
        seen.add((k, ts, created))
        out.append(
            {
                "k1": k,
                "event_timestamp": ts,
                "created": created,
                "amount": None if rnd.random() < 0.1 else round(rnd.uniform(-50, 500), 2),
                "qty": None if rnd.random() < 0.1 else rnd.randrange(-3, 20),
                "store": None if rnd.random() < 0.1 else f"s{rnd.randrange(6)}",
            }
        )
    return out


def arrow_events(rows: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema(
        [
            ("k1", pa.int64()),
            ("event_timestamp", pa.timestamp("us")),
            ("created", pa.timestamp("us")),
            *[(c, t) for c, (_, t) in COLUMNS.items()],
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


class TileStore:
    """A DuckDB warehouse holding the events, a registry with the view, and an online store."""

    def __init__(self, view: FeatureView, rows: list[dict[str, Any]], online_store: Any, tmp: Path):
        self.view = view
        self.warehouse = connect(duckdb_target(), tmp)
        self.add_events(rows)
        self.registry = Registry(
            project=online_store.project,
            entities={"customer": Entity("customer", ["k1"])},
            feature_views={view.name: view},
        )
        self.online = online_store
        self.online.apply(self.registry)
        self.renderer = MacroLibrary.builtin().renderer("duckdb")
        self.client = OnlineClient(online_store, self.registry)

    def add_events(self, rows: list[dict[str, Any]]) -> None:
        con = self.warehouse.con
        con.register("__src", arrow_events(rows))
        con.execute(f'create table if not exists "src_{self.view.name}" as select * from "__src" limit 0')
        con.execute(f'insert into "src_{self.view.name}" select * from "__src"')
        con.unregister("__src")

    @property
    def ctx(self) -> OfflineContext:
        return OfflineContext(self.warehouse, self.renderer, self.registry, online_store=self.online)

    def materialize(self, end: dt.datetime) -> Any:
        from sqlfeast.offline.materialize import materialize_view

        return materialize_view(self.ctx, self.view, end - dt.timedelta(days=1), end, quiet=True)

    def offline(self, keys: list[int], at: dt.datetime, names: list[str]) -> list[dict[str, Any]]:
        from sqlfeast.offline.historical import get_historical_features

        entity = pa.table({"k1": pa.array(keys, pa.int64()), "event_timestamp": pa.array([at] * len(keys))})
        table = get_historical_features(self.ctx, entity, [f"{self.view.name}:{n}" for n in names]).to_arrow()
        return table.to_pylist()

    def online_values(self, keys: list[int], at: dt.datetime, names: list[str]) -> Any:
        return self.client.get_online_features(
            [f"{self.view.name}:{n}" for n in names], [{"k1": k} for k in keys], request_time=at
        )


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-7)
    return a == b


@pytest.fixture(name="online_store", params=["sqlite", "moto", "dynamodb_local"])
def every_store(request, tmp_path, unique_project):
    """The online store on SQLite, moto and AWS DynamoDB Local."""
    if request.param == "sqlite":
        store = SQLiteOnlineStore(unique_project, tmp_path / "online.db")
    else:
        fixture = "dynamodb_endpoint" if request.param == "moto" else "dynamodb_local_endpoint"
        store = DynamoDBOnlineStore(unique_project, dynamodb_settings(request.getfixturevalue(fixture)))
    yield store
    store.close()
