"""The feature server's ASGI app in this process, over httpx's ASGI transport, on a real project.

The example project (plus a view with a text feature fed by a push source of its own) is applied
and materialized into its SQLite online store with DuckDB; `create_app` builds the same app
`sqlfeast serve` runs, so every request goes through the real routing, checks and store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import copy_example
from tests.serving.conftest import setup_project

NOTES_SQL = """/* @feature_view
entities: [driver]
timestamp: event_timestamp
features:
  note: varchar
*/
select driver_id, event_timestamp, note from {{ push_source('note_push') }}
"""
NOTES_YML = """push_sources:
  - name: note_push
    feature_views: [driver_notes]
    timestamp: event_timestamp
    schema: {driver_id: bigint, event_timestamp: timestamp, note: varchar}
"""
READ_TOKEN = "read-token-" + "r" * 24
WRITE_TOKEN = "write-token-" + "w" * 24


def make_applied_project(root: Path) -> Path:
    """The example project with `driver_notes`, applied and materialized (SQLite online store)."""
    copy_example(root)
    (root / "models" / "drivers" / "driver_notes.sql").write_text(NOTES_SQL)
    (root / "models" / "notes.yml").write_text(NOTES_YML)
    setup_project(root)
    return root


class InProcess:
    """An app and an async client on one event loop; `post`/`get` run a request to the end."""

    def __init__(self, root: Path, base_url: str = "http://127.0.0.1:6566", **options: Any):
        from sqlfeast.serving.app import create_app

        self.root = root
        self.app = create_app(root, registry_refresh_seconds=0, **options)
        self.state = self.app.state
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.state.pool.shutdown(wait=True)
        self.state.online_store.close()
        self.loop.close()
