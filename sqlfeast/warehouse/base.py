"""The warehouse interface every adapter implements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from sqlfeast.core.naming import quote
from sqlfeast.project.config import Target

__all__ = ["Warehouse", "quote"]


class Warehouse:
    """Connection to one warehouse target. Subclasses set `dialect` and implement the methods.

    What differs between warehouses beyond the SQL dialect is an attribute or a method here,
    so the stages above never test a warehouse's name.
    """

    dialect: str = ""
    _con: Any = None  # the open connection, if any; subclasses narrow the type
    positional_join: bool = False
    """Results can be lined up row by row (``line_up``): historical retrieval then joins each
    feature view in its own query and holds one view's feature rows in memory at a time."""
    tile_query_parts: int = 1
    """Queries the sub-tiles of an aggregation view is split into (by a hash of the join keys),
    run one after the other: the online writes of a part overlap the query of the next. The
    view's SQL is evaluated once per part (the key filter is pushed down as far as the engine
    can), so this pays where a scan is cheap beside the writes and a query has no round-trip
    cost of its own (an embedded engine)."""

    tile_rows: bool = False
    """The warehouse hands over the events behind an aggregation view's sub-tiles sorted (macro
    ``aggregate_events``) and the client builds the sub-tiles (offline/tile_rows.py); else the
    warehouse aggregates them (``aggregate_tiles``). Pays where the GROUP BY of nearly one event
    a sub-tile costs more than moving the events (an embedded engine)."""

    def __init__(self, target: Target, project_root: Path):
        self.target = target
        self.project_root = Path(project_root)

    # statements ----------------------------------------------------------------------------
    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        raise NotImplementedError

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        raise NotImplementedError

    def query_batches(self, sql: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Stream a query's result as Arrow record batches, bounded in memory."""
        raise NotImplementedError

    def count_rows(self, sql: str) -> int | None:
        """The number of rows of a query's result when the warehouse can count them cheaply
        (for progress bars), else None. Nothing relies on it for correctness.

        >>> Warehouse.count_rows(object.__new__(Warehouse), "SELECT 1") is None
        True
        """
        return None

    def describe(self, sql: str) -> list[tuple[str, str]]:
        """Column names and warehouse type names of a query's result, without running it."""
        raise NotImplementedError

    # data movement -------------------------------------------------------------------------
    def register_arrow(self, name: str, data: pa.Table) -> str:
        """Make Arrow data queryable under `name` for this session; returns the relation to use."""
        raise NotImplementedError

    def unregister(self, name: str) -> None:
        raise NotImplementedError

    def table_exists(self, name: str) -> bool:
        """Whether the table `name` (unquoted, in the target's schema) exists."""
        rows = self.query_arrow(
            "SELECT 1 AS found FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [self.target.schema, name],
        )
        return rows.num_rows > 0

    def result_names(self, table: pa.Table) -> pa.Table:
        """A query result with its column names as the user wrote them (see Snowflake's)."""
        return table

    def line_up(self, tables: list[str], last_sql: str, columns: list[str]) -> str:
        """SQL selecting `columns` from the query `last_sql` (aliased ``__last``) beside the
        staged `tables` (aliased ``__s0``, ``__s1``, ...), row by row. Only where
        `positional_join` is true."""
        raise NotImplementedError(f"{type(self).__name__} cannot line up results by position")

    def ensure_schema(self) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.target.schema)}")

    def localize(self, sql: str) -> str:
        """The SQL to run here for a compiled view (DuckDB anchors relative file paths)."""
        return sql

    def relation(self, name: str) -> str:
        """A fully qualified, quoted relation in the target's schema."""
        return f"{quote(self.target.schema)}.{quote(name)}"

    def close(self) -> None:
        if getattr(self, "_con", None) is not None:
            self._con.close()
            self._con = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
