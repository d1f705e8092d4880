"""The Snowflake SQL, checked without Snowflake.

fakesnow cannot run ASOF JOIN ... MATCH_CONDITION, so the snowflake__ macros' SQL is checked three
ways: (1) golden files under tests/offline/golden/ (regenerate with SQLFEAST_UPDATE_GOLDEN=1 and
review the diff), (2) sqlglot parses each in the snowflake dialect, and (3) the same SQL, with each
ASOF JOIN ... MATCH_CONDITION (c) ON k rewritten to DuckDB's ASOF LEFT JOIN ... ON k AND c (Snowflake's
ASOF JOIN keeps unmatched left rows, as ASOF LEFT JOIN does) and the rest transpiled by sqlglot,
gives the oracle's answer on random data.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from sqlglot import exp

from sqlfeast.warehouse import connect
from tests.offline.historical_helpers import Store, ViewData, oracle, registry_for, snowflake_target
from tests.offline.test_historical_properties import ENTITY_SCHEMA, FEATURES, scenarios

GOLDEN = Path(__file__).parent / "golden"
T = lambda h: dt.datetime(2024, 1, 1) + dt.timedelta(hours=h)  # noqa: E731


def snowflake_sql(views: list[ViewData], entity: pa.Table, features, **options) -> tuple[str, object]:
    """The SQL the Snowflake path would run. The warehouse object never connects: the view
    columns are declared and the entity rows are Arrow, so nothing needs the server."""
    wh = connect(snowflake_target(), Path("."))
    registry = registry_for(views, {v.name: {"snowflake": f"select * from SRC_{v.name.upper()}"} for v in views})
    for v in registry.feature_views.values():
        v.columns = {"event_timestamp": "timestamp", "created": "timestamp"}
    store = Store(registry, wh, wh.target)
    job = store.get_historical_features(entity, features, **options)
    assert wh._con is None  # really offline
    return job.sql.replace(job._name, "__sqlfeast_entities"), job


def to_duckdb(snowflake_text: str) -> str:
    tree = sqlglot.parse_one(snowflake_text, read="snowflake")
    for join in tree.find_all(exp.Join):
        match = join.args.get("match_condition")
        if match is not None:
            join.set("on", exp.and_(join.args["on"], match))
            join.set("match_condition", None)
            join.set("side", "LEFT")
    return tree.sql("duckdb")


def _views():
    a = ViewData(
        "driver_stats",
        ["driver_id"],
        ["conv_rate"],
        [
            dict(driver_id=1, event_timestamp=T(1), created=T(1), conv_rate=0.1),
            dict(driver_id=1, event_timestamp=T(3), created=T(4), conv_rate=0.35),
        ],
        ttl_seconds=7200,
    )
    b = ViewData(
        "trip_stats",
        ["driver_id", "customer_id"],
        ["trips"],
        [dict(driver_id=1, customer_id=7, event_timestamp=T(0), created=T(0), trips=3.0)],
    )
    return a, b


ENT = pa.table(
    {
        "driver_id": [1, 2],
        "customer_id": [7, 7],
        "origin": [1, 1],
        "event_timestamp": pa.array([T(3), T(5)], pa.timestamp("us")),
    }
)
CASES = {
    "asof_two_views": dict(features=["driver_stats:conv_rate", "trip_stats:trips"], strategy="asof"),
    "asof_key_mapping": dict(
        features=["trip_stats[as=o, customer_id=origin]:trips"], strategy="asof", full_feature_names=True
    ),
    "window_two_views": dict(features=["driver_stats:conv_rate", "trip_stats:trips"], strategy="window"),
    "join_filter_created": dict(features=["driver_stats:conv_rate"], strategy="asof", filter_by_created_timestamp=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_snowflake_sql(case):
    options = dict(CASES[case])
    features = options.pop("features")
    sql, _ = snowflake_sql(list(_views()), ENT, features, **options)
    path = GOLDEN / f"{case}.sql"
    if os.environ.get("SQLFEAST_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql + "\n")
    assert sql + "\n" == path.read_text(), f"{path} differs; rerun with SQLFEAST_UPDATE_GOLDEN=1 and review"
    tree = sqlglot.parse_one(path.read_text(), read="snowflake")
    if options.get("strategy") == "asof" and not options.get("filter_by_created_timestamp"):
        joins = [j for j in tree.find_all(exp.Join) if j.args.get("match_condition") is not None]
        assert joins and all(j.args.get("method") == "ASOF" for j in joins)
        assert "ASOF JOIN" in path.read_text().upper() and "MATCH_CONDITION" in path.read_text().upper()


def test_translation_keeps_unmatched_rows():
    out = to_duckdb("select * from e asof join f match_condition (e.ts >= f.ts) on e.k = f.k")
    assert "ASOF LEFT JOIN" in out and "e.ts >= f.ts" in out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_snowflake_asof_sql_translated_to_duckdb_matches_oracle(scenario):
    a, b, entities = scenario
    table = pa.Table.from_pylist(entities, schema=ENTITY_SCHEMA)
    sql, job = snowflake_sql([a, b], table, FEATURES, full_feature_names=True, strategy="asof")
    con = duckdb.connect()
    for v in (a, b):
        src = v.arrow()  # noqa: F841 (scanned by name below)
        con.execute(f"create table SRC_{v.name.upper()} as select * from src")
    keys = job._keys  # noqa: F841
    con.execute('create table "__sqlfeast_entities" as select * from keys')
    got = con.sql(to_duckdb(sql)).to_arrow_table()
    assert got.column(0).to_pylist() == list(range(len(entities)))
    expected = oracle(entities, [(a, {}, None), (b, {}, None)], full_feature_names=True)
    for name in got.column_names[1:]:
        assert got.column(name).to_pylist() == [r[name] for r in expected], name
