"""The aggregate_tiles macro: DuckDB's and the portable (Snowflake) SQL render for every
partial the tiles keep, and sqlglot parses each in its dialect; DuckDB's aggregate_events
(the sorted events) likewise; both split in parts by entity."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot

from sqlfeast.compile.templating import MacroLibrary
from sqlfeast.offline.context import OfflineContext
from sqlfeast.offline.tiles import tiles_sql
from tests.online.tiles_helpers import aggregations, tile_view


class _Warehouse:
    """Only what rendering the query asks of a warehouse: its dialect and relation names."""

    def __init__(self, dialect: str):
        self.dialect = dialect

    def localize(self, sql: str) -> str:
        return sql


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_tiles_sql_renders_and_parses(dialect):
    view = tile_view(aggregations((3600, 86400)))
    view.sql = {dialect: 'select * from "src_orders"'}
    ctx = OfflineContext(_Warehouse(dialect), MacroLibrary.builtin().renderer(dialect), None)  # type: ignore[arg-type]
    sql = tiles_sql(ctx, view, dt.datetime(2024, 3, 2, 12, 30))
    parsed = sqlglot.parse_one(sql, read=dialect)
    names = [e.alias_or_name for e in parsed.selects]
    assert names[:4] == ["k1", "__tile", "__n", "__maxts"]  # quoted: the view's own spelling
    for j in range(3):  # amount, qty, store: each with its non-NULL count and the partials asked
        assert f"__nn{j}" in names and f"__last{j}" in names and f"__d{j}" in names
    assert "2024-03-01 12:00:00" in sql  # the reach: floor(end / 1h) * 1h - longest window (1d)
    assert "2024-03-02 12:30:00" in sql


def test_the_events_query_renders_and_parses():
    view = tile_view(aggregations((3600, 86400)))
    view.sql = {"duckdb": 'select * from "src_orders"'}
    ctx = OfflineContext(_Warehouse("duckdb"), MacroLibrary.builtin().renderer("duckdb"), None)  # type: ignore[arg-type]
    parsed = sqlglot.parse_one(tiles_sql(ctx, view, dt.datetime(2024, 3, 2, 12, 30), events=True), read="duckdb")
    assert [e.alias_or_name for e in parsed.selects] == ["k1", "__us", "__c0", "__c1", "__c2"]
    assert parsed.args["order"] is not None


@pytest.mark.parametrize("events", [False, True], ids=["sub-tiles", "events"])
def test_the_parts_of_the_duckdb_tile_query_are_the_whole_query_split_by_entity(tmp_path, events):
    """Materialize runs the sub-tile (or events) query in the warehouse's tile_query_parts
    parts: together they hold every row of the whole query once, and each entity's rows in one
    part."""
    from sqlfeast.project.config import Target
    from sqlfeast.warehouse import connect

    target = Target(
        profile="p", name="dev", type="duckdb", schema="main", settings={"path": ":memory:"}, online_store={}, path=""
    )
    warehouse = connect(target, tmp_path)
    warehouse.execute(
        """create table "src_orders" as select (i % 37)::BIGINT as k1,
           TIMESTAMP '2024-03-02 12:00:00' - to_minutes(i * 7) as event_timestamp, NULL::TIMESTAMP as created,
           (i % 11)::DOUBLE as amount, (i % 5)::BIGINT as qty, (i % 3)::VARCHAR as store
           from range(2000) r(i)"""
    )
    view = tile_view(aggregations((3600, 86400)))
    view.sql = {"duckdb": 'select * from "src_orders"'}
    ctx = OfflineContext(warehouse, MacroLibrary.builtin().renderer("duckdb"), None)  # type: ignore[arg-type]
    end = dt.datetime(2024, 3, 2, 12, 30)

    def rows(sql: str) -> list[tuple]:
        table = warehouse.query_arrow(sql)
        return [tuple(str(v) for v in r.values()) for r in table.to_pylist()]

    whole = rows(tiles_sql(ctx, view, end, events=events))
    parts = [rows(tiles_sql(ctx, view, end, part, 3, events)) for part in range(3)]
    assert len(whole) > 100 and all(parts)
    assert sorted(whole) == sorted(r for p in parts for r in p)
    owners = [{r[0] for r in p} for p in parts]
    assert not (owners[0] & owners[1]) and not (owners[0] & owners[2]) and not (owners[1] & owners[2])
