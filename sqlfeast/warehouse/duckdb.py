"""DuckDB, the embedded default warehouse.

Profile keys (dbt-duckdb compatible): ``path`` (a file relative to the project, or ``:memory:``),
``schema``, ``threads``, ``memory_limit`` (e.g. ``4GB``), ``settings`` (any DuckDB settings).
Relative file paths inside SQL (``read_parquet('data/x.parquet')``) resolve against the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa

from ..errors import WarehouseError
from .base import Warehouse, quote


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, target, project_root: Path):
        super().__init__(target, project_root)
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def database_path(self) -> str:
        path = str(self.target.settings.get("path") or "sqlfeast.duckdb")
        if path == ":memory:" or path.startswith("md:"):
            return path
        return str((self.project_root / path).resolve())

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            config: dict[str, Any] = {}
            settings = self.target.settings
            if settings.get("threads"):
                config["threads"] = int(settings["threads"])
            if settings.get("memory_limit"):
                config["memory_limit"] = str(settings["memory_limit"])
            config.update({k: v for k, v in (settings.get("settings") or {}).items()})
            try:
                if self.database_path != ":memory:":
                    Path(self.database_path).parent.mkdir(parents=True, exist_ok=True)
                self._con = duckdb.connect(self.database_path, config=config)
                self._con.execute(f"SET file_search_path = '{self.project_root.as_posix()}'")
            except duckdb.Error as err:
                raise WarehouseError(f"cannot open DuckDB database {self.database_path}: {err}",
                                     hint="check 'path' in profiles.yml, and that no other process holds the file") from None
        return self._con

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        try:
            self.con.execute(sql, params or [])
        except duckdb.Error as err:
            raise WarehouseError(f"DuckDB: {err}") from None

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        try:
            # con.sql() streams straight to Arrow; execute() would copy the rows once more.
            if not params:
                rel = self.con.sql(sql)
                return rel.to_arrow_table() if rel is not None else pa.table({})
            return self.con.execute(sql, params).to_arrow_table()
        except duckdb.Error as err:
            raise WarehouseError(f"DuckDB: {err}") from None

    def query_batches(self, sql: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        try:
            reader = self.con.sql(sql).to_arrow_reader(batch_size)
            yield from reader
        except duckdb.Error as err:
            raise WarehouseError(f"DuckDB: {err}") from None

    def describe(self, sql: str) -> list[tuple[str, str]]:
        try:
            rows = self.con.execute(f"DESCRIBE {sql}").fetchall()
        except duckdb.Error as err:
            raise WarehouseError(f"DuckDB: {err}") from None
        return [(r[0], r[1]) for r in rows]

    def register_arrow(self, name: str, data: pa.Table) -> str:
        # Zero-copy: DuckDB scans the Arrow buffers in place.
        self.con.register(name, data)
        return quote(name)

    def unregister(self, name: str) -> None:
        try:
            self.con.unregister(name)
        except duckdb.Error:
            pass

    def ensure_schema(self) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.target.schema)}")

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
