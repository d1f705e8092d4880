"""One total order on every path: rows with identical (join keys, ts, created) resolve the same way
in every historical strategy (DuckDB, and the Snowflake SQL run through a translation to DuckDB)
and in the rows materialization writes online.

The order: latest ts, then latest created (a row without one last), then every feature in declared
order, greater first, NULL above every value.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from sqlfeast.offline.materialize import latest_rows_sql
from sqlfeast.online.base import ReadRequest, entity_key
from sqlfeast.online.sqlite import SQLiteOnlineStore
from tests.offline.historical_helpers import ViewData, duckdb_store, oracle
from tests.offline.test_historical_snowflake_golden import snowflake_sql, to_duckdb

T = lambda h: dt.datetime(2024, 1, 1) + dt.timedelta(hours=h)  # noqa: E731
KEYS = 200


def planted(created: bool) -> ViewData:
    """Per key three rows with the same ts (and created): values chosen so that each feature
    decides for some keys, NULLs included; plus an older row that must never win."""
    rows = []
    for k in range(KEYS):
        cr = T(5) if (created and k % 3) else None
        variants = [
            (k % 7 * 1.0, None if k % 5 == 0 else k * 1.0),
            (k % 7 * 1.0, k * 2.0),
            (None if k % 4 == 0 else (k % 7) - 1.0, k * 3.0),
        ]
        for a, b in variants:
            rows.append(dict(driver_id=k, event_timestamp=T(4), created=cr, a=a, b=b))
        rows.append(dict(driver_id=k, event_timestamp=T(1), created=T(9), a=99.0, b=99.0))
    return ViewData("dups", ["driver_id"], ["a", "b"], rows, ttl_seconds=86400, created=created)


def entities() -> pa.Table:
    return pa.table(
        {"driver_id": pa.array(range(KEYS), pa.int64()), "event_timestamp": pa.array([T(6)] * KEYS, pa.timestamp("us"))}
    )


def expected(view: ViewData, filter_by_created: bool = False) -> dict[int, tuple]:
    rows = oracle(entities().to_pylist(), [(view, {}, None)], filter_by_created=filter_by_created)
    return {r["driver_id"]: (r["a"], r["b"]) for r in rows}


@pytest.mark.parametrize("created", [True, False])
def test_every_strategy_and_the_online_rows_agree_on_every_key(created, tmp_path):
    view = planted(created)
    want = expected(view)
    store = duckdb_store([view], tmp=tmp_path)
    got = {}
    for strategy, opts in [
        ("asof", {}),
        ("window", {}),
        ("join", {}),
        ("join+created", {"filter_by_created_timestamp": True}),
    ]:
        table = store.get_historical_features(
            entities(), ["dups:a", "dups:b"], strategy=strategy.split("+")[0], **opts
        ).to_arrow()
        got[strategy] = {r["driver_id"]: (r["a"], r["b"]) for r in table.to_pylist()}
    # filter_by_created also drops rows created after the entity ts, or without a created ts.
    assert got.pop("join+created") == expected(view, filter_by_created=True)
    for strategy, answer in got.items():
        assert answer == want, strategy

    # The Snowflake SQL (asof, window, join), run on DuckDB after translation.
    for strategy in ("asof", "window", "join"):
        sql, job = snowflake_sql([view], entities(), ["dups:a", "dups:b"], strategy=strategy)
        con = duckdb.connect()
        src = view.arrow()  # noqa: F841 (scanned by name below)
        con.execute("create table SRC_DUPS as select * from src")
        keys = job._keys  # noqa: F841
        con.execute('create table "__sqlfeast_entities" as select * from keys')
        result = con.sql(to_duckdb(sql)).to_arrow_table().to_pylist()
        assert {k: (r["a"], r["b"]) for k, r in enumerate(result)} == want, f"snowflake {strategy}"

    # Materialization: the latest_rows query written to a real online store, read back.
    fv = store.registry.feature_views["dups"]
    online = SQLiteOnlineStore("t", tmp_path / "online.db")
    online.create_table(fv)
    sql = latest_rows_sql(store, fv, dt.datetime(2000, 1, 1), T(6))
    with online.bulk_writer(fv, unique_keys=True) as writer:
        for batch in store.warehouse.query_batches(sql):
            writer.write(batch)
    keys = [entity_key(["driver_id"], [k]) for k in range(KEYS)]
    stored = online.read([ReadRequest(fv, keys, ["a", "b"])])[0]
    assert {k: (stored[key].values["a"], stored[key].values["b"]) for k, key in enumerate(keys)} == want
    online.close()


def test_planted_duplicates_really_differ():
    """The data plants real conflicts: for most keys the tied rows disagree."""
    view = planted(True)
    by_key: dict[int, set] = {}
    for r in view.rows:
        if r["event_timestamp"] == T(4):
            by_key.setdefault(r["driver_id"], set()).add((r["a"], r["b"]))
    assert sum(len(v) > 1 for v in by_key.values()) == KEYS
