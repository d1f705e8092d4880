"""The training set has exactly the declared types, whatever the view's SQL computes: every declared
type comes out of historical retrieval and out of the online store as the same Arrow type."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sqlfeast.core.spec import Feature, FeatureView
from sqlfeast.core.types import parse_type
from sqlfeast.offline.materialize import latest_rows_sql
from sqlfeast.online.base import ReadRequest, entity_key
from sqlfeast.online.sqlite import SQLiteOnlineStore
from tests.offline.historical_helpers import duckdb_store
from tests.online.helpers import ALL_TYPES, typed_rows

TS = dt.datetime(2024, 1, 1)
# What the SQL computes instead of the declared type (same family, other width or spelling).
WIDER = {
    "f_bigint": "HUGEINT",
    "f_int": "BIGINT",
    "f_float": "DOUBLE",
    "f_dec": "DECIMAL(38,4)",
    "f_ts": "TIMESTAMP_NS",
}


def test_every_declared_type_round_trips_offline_and_online_as_the_same_arrow_type(tmp_path):
    store = duckdb_store([], tmp=tmp_path)
    store.warehouse.register_arrow("typed_src", typed_rows(TS))
    store.warehouse.execute("create table typed_tab as select * from typed_src")
    cols = ", ".join(f"CAST({n} AS {WIDER[n]}) AS {n}" if n in WIDER else n for n, _ in ALL_TYPES)
    view = FeatureView(
        name="typed",
        entities=["driver"],
        join_keys=["driver_id"],
        timestamp="event_timestamp",
        created_timestamp="created",
        features=[Feature(n, t) for n, t in ALL_TYPES],
        sql={"duckdb": f"select driver_id, event_timestamp, created, {cols} from typed_tab"},
    )
    store.registry.feature_views["typed"] = view
    actual = dict(store.warehouse.describe(view.sql["duckdb"]))
    assert actual["f_bigint"] == "HUGEINT"  # the SQL really gives other types

    ent = pa.table(
        {
            "driver_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([TS + dt.timedelta(hours=1)] * 2, pa.timestamp("us")),
        }
    )
    for strategy in ("asof", "window", "join"):
        table = store.get_historical_features(ent, [f"typed:{n}" for n, _ in ALL_TYPES], strategy=strategy).to_arrow()
        for name, declared in ALL_TYPES:
            assert table.schema.field(name).type == parse_type(declared).arrow(), (strategy, name)
        offline = table.to_pylist()

    online = SQLiteOnlineStore("t", tmp_path / "online.db")
    online.create_table(view)
    with online.bulk_writer(view, unique_keys=True) as writer:
        for batch in store.warehouse.query_batches(
            latest_rows_sql(store, view, dt.datetime(2000, 1, 1), TS + dt.timedelta(days=1))
        ):
            for name, declared in ALL_TYPES:
                assert batch.schema.field(name).type == parse_type(declared).arrow(), ("latest_rows", name)
            writer.write(batch)
    keys = [entity_key(["driver_id"], [k]) for k in (1, 2)]
    stored = online.read([ReadRequest(view, keys, [n for n, _ in ALL_TYPES])])[0]
    for name, declared in ALL_TYPES:
        values = [stored[k].values[name] for k in keys]
        column = pa.array(values, parse_type(declared).arrow())  # the online client's Arrow column
        assert column.to_pylist() == [r[name] for r in offline], name
    online.close()
