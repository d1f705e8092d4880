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
    TILE_ITEM,
    BulkWriter,
    OnlineStore,
    ReadRequest,
    StoredRow,
    TileWriter,
    WriteResult,
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
        # An aggregation view's rows also hold the materialized end and the tiles blob; payload
        # is then the JSON object of pushed rows (identity -> row).
        extra = ", mat_end INTEGER, tiles BLOB" if view.is_aggregation else ""
        self.con.execute(
            f"CREATE TABLE IF NOT EXISTS {_q(self.table_name(view.name))} ("
            "entity_key TEXT PRIMARY KEY, event_ts INTEGER NOT NULL, created_ts INTEGER NOT NULL, "
            f"expire_at INTEGER, payload TEXT NOT NULL{extra})"
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
            if req.view.is_aggregation:
                out.append(self._read_tiles(req))
                continue
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

    def _read_tiles(self, req: ReadRequest) -> dict[str, StoredRow]:
        from sqlfeast.online.tiles import PushRow, TileItem

        table = self.table_name(req.view.name)
        keys = list(dict.fromkeys(req.keys))
        found: dict[str, StoredRow] = {}
        try:
            for i in range(0, len(keys), _READ_CHUNK):
                chunk = keys[i : i + _READ_CHUNK]
                rows = self.con.execute(
                    f"SELECT entity_key, event_ts, mat_end, tiles, payload FROM {_q(table)} "
                    f"WHERE entity_key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for key, event, mat_end, tiles, payload in rows:
                    pushes = [PushRow.from_json(v) for v in json.loads(payload).values()]
                    item = TileItem(int(mat_end), bytes(tiles) if tiles is not None else None, pushes)
                    found[key] = StoredRow(event, 0, {TILE_ITEM: item})
        except sqlite3.OperationalError as err:
            raise self._error(err, table) from None
        return found

    def _error(self, err: sqlite3.Error, table: str) -> OnlineStoreError:
        if "no such table" in str(err) or "no such column" in str(err):
            return OnlineStoreError(f"online table '{table}' does not exist", hint="run 'sqlfeast apply' first")
        return OnlineStoreError(f"SQLite online store: {err}")

    def tile_writer(
        self, view: "FeatureView", materialized_end: int, on_written: Callable[[int], None] | None = None
    ) -> TileWriter:
        return _SQLiteTileWriter(self, view, materialized_end, on_written)

    def push_tiles(self, view: "FeatureView", rows: list[tuple[str, Any]]) -> WriteResult:
        """One transaction: read the items of the pushed keys, add each row not older than the
        item's materialized end under its identity, write them back."""
        from sqlfeast.online.tiles import I64_MIN, expires_at, plan_of, sub_tile

        plan = plan_of(view)
        table = _q(self.table_name(view.name))
        result = WriteResult()
        keys = list(dict.fromkeys(k for k, _ in rows))
        con = self.con
        try:
            con.execute("BEGIN IMMEDIATE")
            have: dict[str, list[Any]] = {}
            for i in range(0, len(keys), _READ_CHUNK):
                chunk = keys[i : i + _READ_CHUNK]
                for key, event, mat_end, expire, payload in con.execute(
                    f"SELECT entity_key, event_ts, mat_end, expire_at, payload FROM {table} "
                    f"WHERE entity_key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ):
                    have[key] = [event, mat_end, expire, json.loads(payload), False]
            for key, row in rows:
                entry = have.get(key)
                if entry is None:
                    entry = have[key] = [row.ts, I64_MIN, 0, {}, True]
                if row.ts < entry[1] or entry[3].get(row.identity) == row.to_json():
                    result.skipped += 1  # covered by the warehouse, or this very row again
                    continue
                entry[3][row.identity] = row.to_json()
                entry[0] = max(entry[0], row.ts)
                entry[2] = max(entry[2] or 0, expires_at(plan, sub_tile(row.ts, plan.granularity_us)))
                entry[4] = True
                result.written += 1
            params = [
                (key, e[0], e[1], e[2], json.dumps(e[3], separators=(",", ":"))) for key, e in have.items() if e[4]
            ]
            con.executemany(
                f"INSERT INTO {table} (entity_key, event_ts, created_ts, expire_at, payload, mat_end, tiles) "
                "VALUES (?, ?, 0, ?, ?, ?, NULL) ON CONFLICT(entity_key) DO UPDATE SET "
                "event_ts = excluded.event_ts, expire_at = excluded.expire_at, payload = excluded.payload",
                [(k, ev, exp, payload, me) for k, ev, me, exp, payload in params],
            )
            con.execute("COMMIT")
        except sqlite3.Error as err:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise self._error(err, self.table_name(view.name)) from None
        return result

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


class _SQLiteTileWriter(TileWriter):
    """Whole items, one transaction a batch: pushed rows at or after the end are carried over."""

    def __init__(self, store: SQLiteOnlineStore, view: "FeatureView", materialized_end: int, on_written):
        super().__init__(on_written)
        self.store, self.view, self.end = store, view, materialized_end
        self.table = _q(store.table_name(view.name))

    def write_items(self, items: list[tuple[str, int, bytes, int]]) -> None:
        from sqlfeast.online.tiles import PushRow, expires_at, plan_of, sub_tile

        plan = plan_of(self.view)
        con = self.store.con
        try:
            con.execute("BEGIN IMMEDIATE")
            pushes: dict[str, str] = {}
            keys = [item[0] for item in items]
            for i in range(0, len(keys), _READ_CHUNK):
                chunk = keys[i : i + _READ_CHUNK]
                for key, payload in con.execute(
                    f"SELECT entity_key, payload FROM {self.table} WHERE entity_key IN ({','.join('?' * len(chunk))})"
                    " AND payload != '{}'",
                    chunk,
                ):
                    pushes[key] = payload
            params = []
            for key, event, blob, expires in items:
                payload = "{}"
                if key in pushes:
                    kept = {k: v for k, v in json.loads(pushes[key]).items() if PushRow.from_json(v).ts >= self.end}
                    for v in kept.values():
                        row = PushRow.from_json(v)
                        event = max(event, row.ts)
                        expires = max(expires, expires_at(plan, sub_tile(row.ts, plan.granularity_us)))
                    payload = json.dumps(kept, separators=(",", ":"))
                params.append((key, event, expires, payload, self.end, blob))
            con.executemany(
                f"INSERT OR REPLACE INTO {self.table} "
                "(entity_key, event_ts, created_ts, expire_at, payload, mat_end, tiles) VALUES (?, ?, 0, ?, ?, ?, ?)",
                params,
            )
            con.execute("COMMIT")
        except sqlite3.Error as err:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise self.store._error(err, self.store.table_name(self.view.name)) from None
        self.result.written += len(items)
        self.on_written(len(items))
