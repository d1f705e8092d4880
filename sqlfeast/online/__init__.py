"""Online stores: the latest feature values per entity, read back in milliseconds.

Kept light on purpose: importing this package (and the online client) pulls in neither duckdb,
sqlglot nor jinja2, so a serving process stays small. boto3 and pyarrow load on first use.

>>> store = open_online_store({"type": "sqlite", "path": ":memory:"}, "demo", Path("."), "{project}.{view}")
>>> store.kind, store.table_name("driver_hourly_stats")
('sqlite', 'demo.driver_hourly_stats')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlfeast.errors import ConfigError
from sqlfeast.online.base import OnlineStore, ReadRequest, StoredRow, WriteResult, entity_key

ONLINE_STORE_TYPES = ("sqlite", "dynamodb")


def store_class(kind: Any) -> type[OnlineStore]:
    """The OnlineStore class of an ``online_store: {type: ...}`` setting.

    >>> store_class("sqlite").kind
    'sqlite'
    """
    if kind == "sqlite":
        from sqlfeast.online.sqlite import SQLiteOnlineStore

        return SQLiteOnlineStore
    if kind == "dynamodb":
        from sqlfeast.online.dynamodb import DynamoDBOnlineStore

        return DynamoDBOnlineStore
    raise ConfigError(f"unknown online_store type {kind!r}", hint=f"use one of {', '.join(ONLINE_STORE_TYPES)}")


def open_online_store(
    settings: dict[str, Any] | None, project: str, root: Path | str = ".", table_template: str = "{project}.{view}"
) -> OnlineStore:
    """The online store described by a target's ``online_store:`` settings."""
    settings = dict(settings or {"type": "sqlite", "path": "online.db"})
    return store_class(settings.get("type")).from_settings(project, settings, Path(root), table_template)


__all__ = ["OnlineStore", "store_class", "ReadRequest", "StoredRow", "WriteResult", "entity_key", "open_online_store"]
