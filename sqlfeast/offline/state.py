"""Where applied registries live: a versioned table in the warehouse, plus a local copy.

Each apply inserts one complete document as a new version inside a transaction, so a crash
mid-apply leaves the previous version current and two concurrent applies each write a whole
document (the newest version wins). Incremental materialization state sits in a small table of
its own (one row per view), so recording it never rewrites the registry. Each watermark names the
online table it describes (``OnlineStore.table_identity``, stored after a ``|`` in
``materialized_end``), so one whose tables were dropped, re-created or live on another server is
recognised as not describing the current ones.

Tables, prefixed by project: ``<project>__registry`` and ``<project>__materialization``.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlfeast.core.files import write_atomic
from sqlfeast.core.naming import registry_table_name, state_table_name
from sqlfeast.core.registry import Registry
from sqlfeast.errors import RegistryUnreadableError, RegistryWarning, WarehouseError

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.warehouse.base import Warehouse

LOCAL_COPY = "applied_registry.json"


class RegistryStore:
    """Applied registries and materialization state of one project, in one warehouse.

    `local_path` receives a copy of each applied registry (``target/applied_registry.json``).

    >>> from sqlfeast.warehouse.duckdb import DuckDBWarehouse          # doctest: +SKIP
    >>> RegistryStore(DuckDBWarehouse(target, root), "demo", root / "target" / LOCAL_COPY).load()  # doctest: +SKIP
    """

    def __init__(self, warehouse: "Warehouse", project: str, local_path: Path):
        self.warehouse = warehouse
        self.project = project
        self.local_path = Path(local_path)

    @property
    def registry_table(self) -> str:
        return self.warehouse.relation(registry_table_name(self.project))

    @property
    def state_table(self) -> str:
        return self.warehouse.relation(state_table_name(self.project))

    def _ensure_tables(self) -> None:
        self.warehouse.ensure_schema()
        self.warehouse.execute(
            f"CREATE TABLE IF NOT EXISTS {self.registry_table} "
            "(version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL, "
            "content_hash VARCHAR NOT NULL, body VARCHAR NOT NULL)"
        )
        self.warehouse.execute(
            f"CREATE TABLE IF NOT EXISTS {self.state_table} "
            "(view_name VARCHAR NOT NULL PRIMARY KEY, materialized_end VARCHAR NOT NULL)"
        )

    def _table_exists(self) -> bool:
        return self.warehouse.table_exists(registry_table_name(self.project))

    def load(self) -> Registry | None:
        """The newest readable applied registry, with materialization state; None before the
        first apply. A version that cannot be read (a damaged row) is passed over with a
        RegistryWarning naming the way out (`sqlfeast apply` records a new version over it);
        RegistryUnreadableError when no version can be read."""
        if not self._table_exists():
            return None
        skipped: list[str] = []
        offset = 0
        while True:
            rows = self.warehouse.query_arrow(
                f"SELECT version, body FROM {self.registry_table} "
                f"ORDER BY version DESC, applied_at DESC LIMIT 1 OFFSET {offset}"
            ).to_pylist()
            if not rows:
                if not skipped:
                    return None
                raise RegistryUnreadableError(
                    f"no applied registry of project '{self.project}' can be read: {'; '.join(skipped)}",
                    hint="run 'sqlfeast apply' to record a new version",
                )
            version, body = list(rows[0].values())
            try:
                registry = Registry.from_json(body)
            except (ValueError, TypeError) as err:
                skipped.append(f"version {version}: {err}")
                offset += 1
                continue
            break
        if skipped:
            warnings.warn(
                RegistryWarning(
                    f"the newest applied registry cannot be read ({'; '.join(skipped)}); using version "
                    f"{version}. Run 'sqlfeast apply' to record a new version over it"
                ),
                stacklevel=2,
            )
        registry.materialized = self.load_materialized()
        return registry

    def load_materialized(self) -> dict[str, str]:
        """view -> ISO end of its last materialization (whatever tables it describes)."""
        return {view: end for view, (end, _) in self.load_watermarks().items()}

    def load_watermarks(self) -> dict[str, tuple[str, str | None]]:
        """view -> (ISO end, identity of the online table it describes, or None if unrecorded)."""
        try:
            rows = self.warehouse.query_arrow(f"SELECT view_name, materialized_end FROM {self.state_table}").to_pylist()
        except WarehouseError:
            return {}
        out: dict[str, tuple[str, str | None]] = {}
        for row in rows:
            view, text = list(row.values())
            end, _, identity = str(text).partition("|")
            out[view] = (end, identity or None)
        return out

    def forget_materialized(self, views: list[str]) -> list[str]:
        """Delete the watermarks of `views`; returns the views that had one."""
        had = [v for v in views if v in self.load_watermarks()]
        if not had:
            return []
        try:
            self.warehouse.execute("BEGIN TRANSACTION")
            for view in had:
                self.warehouse.execute(f"DELETE FROM {self.state_table} WHERE view_name = ?", [view])
            self.warehouse.execute("COMMIT")
        except WarehouseError:
            self._rollback()
            raise
        return had

    def apply(self, registry: Registry) -> Registry:
        """Record `registry` as the new current version; returns it with version and applied_at."""
        self._ensure_tables()
        applied = Registry.from_dict(registry.to_dict())
        applied.applied_at = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        for attempt in range(5):
            current = self.warehouse.query_arrow(f"SELECT COALESCE(MAX(version), 0) AS v FROM {self.registry_table}")
            applied.version = int(current.column(0)[0].as_py()) + 1
            try:
                self.warehouse.execute("BEGIN TRANSACTION")
                self.warehouse.execute(
                    f"INSERT INTO {self.registry_table} (version, applied_at, content_hash, body) VALUES (?, ?, ?, ?)",
                    [
                        applied.version,
                        datetime.fromisoformat(applied.applied_at),
                        applied.content_hash,
                        applied.to_json(),
                    ],
                )
                self.warehouse.execute("COMMIT")
                break
            except WarehouseError:
                self._rollback()
                if attempt == 4:
                    raise
        applied.materialized = self.load_materialized()
        write_atomic(self.local_path, applied.to_json())
        return applied

    def _rollback(self) -> None:
        try:
            self.warehouse.execute("ROLLBACK")
        except WarehouseError:
            pass

    def save_materialized(self, view: str, end_iso: str, online_table: str | None = None) -> None:
        """Remember that `view` is materialized up to `end_iso` into the online table whose
        identity is `online_table` (one row per view)."""
        self._ensure_tables()
        try:
            self.warehouse.execute("BEGIN TRANSACTION")
            self.warehouse.execute(f"DELETE FROM {self.state_table} WHERE view_name = ?", [view])
            self.warehouse.execute(
                f"INSERT INTO {self.state_table} (view_name, materialized_end) VALUES (?, ?)",
                [view, f"{end_iso}|{online_table}" if online_table else end_iso],
            )
            self.warehouse.execute("COMMIT")
        except WarehouseError:
            self._rollback()
            raise

    def history(self) -> list[dict]:
        if not self._table_exists():
            return []
        return self.warehouse.query_arrow(
            f"SELECT version, applied_at, content_hash FROM {self.registry_table} ORDER BY version"
        ).to_pylist()
