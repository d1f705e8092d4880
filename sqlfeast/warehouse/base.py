"""The warehouse interface every adapter implements."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from sqlfeast.project.config import Target


def quote(identifier: str) -> str:
    """Quote an identifier for DuckDB and Snowflake alike (both use double quotes)."""
    return '"' + identifier.replace('"', '""') + '"'


class Warehouse:
    """Connection to one warehouse target. Subclasses set `dialect` and implement the methods."""

    dialect: str = ""

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

    def describe(self, sql: str) -> list[tuple[str, str]]:
        """Column names and warehouse type names of a query's result, without running it."""
        raise NotImplementedError

    # data movement -------------------------------------------------------------------------
    def register_arrow(self, name: str, data: pa.Table) -> str:
        """Make Arrow data queryable under `name` for this session; returns the relation to use."""
        raise NotImplementedError

    def unregister(self, name: str) -> None:
        raise NotImplementedError

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
