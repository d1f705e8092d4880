"""The embedded online store: one SQLite file under the project, zero setup.

Settings: ``path`` (relative to the project; default ``online.db``). One table per view, named by
the same template as on DynamoDB, with the canonical entity key as primary key. Newer-wins is a
single atomic upsert (``ON CONFLICT ... DO UPDATE ... WHERE newer``), so concurrent writers, in
threads or processes, can never move a value back in time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlfeast.core.types import parse_type
from sqlfeast.errors import OnlineStoreError
from sqlfeast.online.base import (
    META_VIEW,
    BulkWriter,
    OnlineStore,
    ReadRequest,
    StoredRow,
    decode_registry_snapshot,
    prepare_rows,
)
from sqlfeast.online.codec import decoder, from_json_attr, to_json_attr

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import FeatureView

_READ_CHUNK = 500  # keys per SELECT ... IN (...), below SQLite's bound-parameter limit


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteOnlineStore(OnlineStore):
    kind = "sqlite"

    @classmethod
    def from_settings(
        cls, project: str, settings: dict[str, Any], root: Path, table_template: str = "{project}.{view}"
    ) -> "SQLiteOnlineStore":
        path = str(settings.get("path") or "online.db")
        return cls(project, path if path == ":memory:" else Path(root) / path, table_template)

    def __init__(self, project: str, path: str | Path, table_template: str = "{project}.{view}"):
        super().__init__(project, table_template)
        self.path = Path(path)
        self._local = threading.local()

    @property
    def con(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections must not be shared across threads.
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as err:
                raise OnlineStoreError(f"cannot open the SQLite online store {self.path}: {err}") from None
            self._local.con = con
        return con

    def _exists(self, table: str) -> bool:
        row = self.con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [table]).fetchone()
        return row is not None

    # lifecycle -------------------------------------------------------------------------------
    def create_table(self, view: "FeatureView") -> None:
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(self.table_name(view.name))} ("
            "entity_key TEXT PRIMARY KEY, event_ts INTEGER NOT NULL, created_ts INTEGER NOT NULL, "
            "expire_at INTEGER, payload TEXT NOT NULL)"
        )

    def table_identity(self, view_name: str) -> str | None:
        """A marker row (entity key '', never a real key) holds an id made when first asked."""
        table = self.table_name(view_name)
        if not self._exists(table):
            return None
        import uuid

        self.con.execute(
            f"INSERT OR IGNORE INTO {_q(table)} (entity_key, event_ts, created_ts, expire_at, payload) "
            "VALUES ('', -1, -1, NULL, ?)",
            [uuid.uuid4().hex],
        )
        return self.con.execute(f"SELECT payload FROM {_q(table)} WHERE entity_key = ''").fetchone()[0]

    def drop_table(self, view_name: str) -> bool:
        table = self.table_name(view_name)
        if not self._exists(table):
            return False
        self.con.execute(f"DROP TABLE {_q(table)}")
        return True

    def _meta(self) -> str:
        table = self.table_name(META_VIEW)
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {_q(table)} (key TEXT PRIMARY KEY, value BLOB)")
        return table

    def save_registry(self, registry: "Registry") -> None:
        blob = zlib.compress(registry.to_json().encode())
        self.con.execute(f"INSERT OR REPLACE INTO {_q(self._meta())} VALUES ('registry', ?)", [blob])

    def load_registry(self) -> "Registry | None":

        table = self.table_name(META_VIEW)
        if not self._exists(table):
            return None
        row = self.con.execute(f"SELECT value FROM {_q(table)} WHERE key = 'registry'").fetchone()
        return decode_registry_snapshot(bytes(row[0]), self.project) if row else None

    # data ------------------------------------------------------------------------------------
    def bulk_writer(
        self, view: "FeatureView", on_written: Callable[[int], None] | None = None, unique_keys: bool = False
    ) -> BulkWriter:
        return _SQLiteWriter(self, view, on_written)

    def read(self, requests: Iterable[ReadRequest]) -> list[dict[str, StoredRow]]:
        out: list[dict[str, StoredRow]] = []
        for req in requests:
            table = self.table_name(req.view.name)
            decoders = {f.name: decoder(parse_type(f.type)) for f in req.view.features if f.name in req.features}
            found: dict[str, StoredRow] = {}
            keys = list(dict.fromkeys(req.keys))
            try:
                for i in range(0, len(keys), _READ_CHUNK):
                    chunk = keys[i : i + _READ_CHUNK]
                    rows = self.con.execute(
                        f"SELECT entity_key, event_ts, created_ts, payload FROM {_q(table)} "
                        f"WHERE entity_key IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                    for key, event, created, payload in rows:
                        attrs = json.loads(payload)
                        values = {
                            f: dec(from_json_attr(attrs[f])) if f in attrs else None for f, dec in decoders.items()
                        }
                        found[key] = StoredRow(event, created, values)
            except sqlite3.OperationalError as err:
                if "no such table" in str(err):
                    raise OnlineStoreError(
                        f"online table '{table}' does not exist", hint="run 'sqlfeast apply' first"
                    ) from None
                raise OnlineStoreError(f"SQLite online store: {err}") from None
            out.append(found)
        return out

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


class _SQLiteWriter(BulkWriter):
    def __init__(self, store: SQLiteOnlineStore, view: "FeatureView", on_written):
        super().__init__(on_written)
        self.store, self.view = store, view
        self.table = _q(store.table_name(view.name))
        ttl = view.ttl_seconds or 0
        self.ttl_micros = ttl * 1_000_000 if ttl > 0 else None
        # Newer-wins in one statement: the update only happens when the incoming row is newer.
        self.sql = (
            f"INSERT INTO {self.table} (entity_key, event_ts, created_ts, expire_at, payload) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(entity_key) DO UPDATE SET "
            "event_ts = excluded.event_ts, created_ts = excluded.created_ts, "
            "expire_at = excluded.expire_at, payload = excluded.payload "
            f"WHERE excluded.event_ts > {self.table}.event_ts OR (excluded.event_ts = {self.table}.event_ts "
            f"AND excluded.created_ts > {self.table}.created_ts)"
        )

    def write(self, batch: Any) -> None:
        rows = prepare_rows(self.view, batch)
        if not len(rows):
            return
        names = list(rows.features)
        columns = [rows.features[n] for n in names]
        params = []
        for i in rows.newest_per_key():
            payload = json.dumps({n: to_json_attr(col[i]) for n, col in zip(names, columns)}, separators=(",", ":"))
            expire = (rows.event_ts[i] + self.ttl_micros) // 1_000_000 if self.ttl_micros else None
            params.append((rows.keys[i], rows.event_ts[i], rows.created_ts[i], expire, payload))
        con = self.store.con
        try:
            before = con.total_changes
            con.execute("BEGIN IMMEDIATE")
            con.executemany(self.sql, params)
            con.execute("COMMIT")
        except sqlite3.Error as err:
            if con.in_transaction:
                con.execute("ROLLBACK")
            if "no such table" in str(err):
                raise OnlineStoreError(
                    f"online table '{self.store.table_name(self.view.name)}' does not exist",
                    hint="run 'sqlfeast apply' first",
                ) from None
            raise OnlineStoreError(f"SQLite online store: {err}") from None
        written = con.total_changes - before
        self.result.written += written
        self.result.skipped += len(rows) - written
        self.on_written(len(rows))
