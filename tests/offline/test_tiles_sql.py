"""The aggregate_tiles macro: DuckDB's and the portable (Snowflake) SQL render for every
partial the tiles keep, and sqlglot parses each in its dialect."""

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
