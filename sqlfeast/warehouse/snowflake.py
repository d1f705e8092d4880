"""Snowflake through snowflake-connector-python.

Profile keys follow dbt-snowflake: ``account``, ``user``, ``password`` or ``private_key_path``
(+ ``private_key_passphrase``) or ``authenticator``, ``role``, ``warehouse``, ``database``,
``schema``. Extra ``connect_args`` are passed to the connector as they are; tests use this to
point the connector at fakesnow.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from sqlfeast.errors import ConfigError, WarehouseError
from sqlfeast.warehouse.base import Warehouse, quote


def _load_private_key(path: str, passphrase: str | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    with open(path, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=passphrase.encode() if passphrase else None)
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class SnowflakeWarehouse(Warehouse):
    dialect = "snowflake"

    def __init__(self, target, project_root: Path):
        super().__init__(target, project_root)
        self._con = None

    def connect_kwargs(self) -> dict[str, Any]:
        s = self.target.settings
        kwargs: dict[str, Any] = {}
        for key in (
            "account",
            "user",
            "password",
            "role",
            "warehouse",
            "database",
            "schema",
            "authenticator",
            "host",
            "port",
            "protocol",
            "login_timeout",
            "network_timeout",
        ):
            if s.get(key) is not None:
                kwargs[key] = s[key]
        if s.get("private_key_path"):
            path = Path(s["private_key_path"]).expanduser()
            if not path.is_absolute():
                path = self.project_root / path
            kwargs["private_key"] = _load_private_key(str(path), s.get("private_key_passphrase"))
        kwargs.update(s.get("connect_args") or {})
        return kwargs

    @property
    def con(self):
        if self._con is None:
            try:
                import snowflake.connector
            except ImportError:
                raise ConfigError(
                    "the snowflake target needs snowflake-connector-python", hint="pip install 'sqlfeast[snowflake]'"
                ) from None
            try:
                with warnings.catch_warnings():  # the connector's deprecation notices are not the user's concern
                    warnings.simplefilter("ignore")
                    self._con = snowflake.connector.connect(**self.connect_kwargs())
            except Exception as err:  # the connector raises many kinds; all mean "cannot connect"
                raise WarehouseError(
                    f"cannot connect to Snowflake account {self.target.settings.get('account')!r}: {err}",
                    hint="check account, user and credentials in profiles.yml",
                ) from None
        return self._con

    def _cursor(self, sql: str, params: list[Any] | None = None):
        cur = self.con.cursor()
        try:
            cur.execute(sql, params or None)
        except Exception as err:
            raise WarehouseError(f"Snowflake: {err}") from None
        return cur

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        self._cursor(sql, params).close()

    @staticmethod
    def _pandas_fallback(cur) -> pa.Table:
        # Cursors without Arrow fetches (fakesnow, used by the offline tests) still give pandas.
        return pa.Table.from_pandas(cur.fetch_pandas_all(), preserve_index=False)

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        cur = self._cursor(sql, params)
        try:
            if not hasattr(cur, "fetch_arrow_all"):
                return self._pandas_fallback(cur)
            table = cur.fetch_arrow_all()
            if table is None:  # the connector returns None for an empty result
                names = [d[0] for d in cur.description]
                table = pa.table({n: pa.array([], pa.null()) for n in names})
            return table
        finally:
            cur.close()

    def query_batches(self, sql: str, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        cur = self._cursor(sql)
        try:
            tables = cur.fetch_arrow_batches() if hasattr(cur, "fetch_arrow_batches") else [self._pandas_fallback(cur)]
            for table in tables:
                yield from table.to_batches(max_chunksize=batch_size)
        finally:
            cur.close()

    def describe(self, sql: str) -> list[tuple[str, str]]:
        cur = self.con.cursor()
        try:
            meta = cur.describe(sql)
        except Exception as err:
            raise WarehouseError(f"Snowflake: {err}") from None
        finally:
            cur.close()
        from snowflake.connector.constants import FIELD_ID_TO_NAME

        return [(m.name, FIELD_ID_TO_NAME.get(m.type_code, "VARIANT")) for m in meta]

    def table_exists(self, name: str) -> bool:
        try:
            self.query_arrow(f"SELECT 1 FROM {self.relation(name)} WHERE 1 = 0")
            return True
        except WarehouseError as err:
            if "does not exist" in err.message.lower() or "not found" in err.message.lower():
                return False
            raise

    def result_names(self, table: pa.Table) -> pa.Table:
        """Snowflake folds unquoted names to upper case; undo it so `driver_id` matches."""
        return table.rename_columns([c.lower() if c.isupper() else c for c in table.column_names])

    def register_arrow(self, name: str, data: pa.Table) -> str:
        """Upload Arrow data into a temporary table (Snowflake cannot scan client memory)."""
        from snowflake.connector.pandas_tools import write_pandas

        try:
            write_pandas(
                self.con,
                data.to_pandas(),
                name,
                auto_create_table=True,
                table_type="temporary",
                quote_identifiers=True,
                overwrite=True,
                use_logical_type=True,
            )
        except Exception as err:
            raise WarehouseError(f"Snowflake: cannot upload {name}: {err}") from None
        return quote(name)

    def unregister(self, name: str) -> None:
        try:
            self.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        except WarehouseError:
            pass
