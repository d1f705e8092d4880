"""The online client stays light: no duckdb, sqlglot or jinja2 in a serving process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlfeast.online import open_online_store

from .helpers import T0, registry_of, stats_rows, stats_view


def test_online_client_imports_and_reads_without_the_warehouse_stack(tmp_path):
    store = open_online_store({"type": "sqlite", "path": "online.db"}, "lightweight", tmp_path)
    view = stats_view()
    store.apply(registry_of("lightweight", view))
    store.write_rows(view, stats_rows([1], T0, 0.25, 3))
    store.close()
    code = textwrap.dedent(f"""
        import sys
        import sqlfeast.online
        from sqlfeast import OnlineClient
        client = OnlineClient.from_settings("lightweight", {{"type": "sqlite", "path": "online.db"}}, {str(tmp_path)!r})
        data = client.get_online_features(["driver_stats:trips"], [{{"driver_id": 1}}]).to_dict()
        assert data == {{"driver_id": [1], "trips": [3]}}, data
        import sqlfeast.online.dynamodb  # the DynamoDB store module too
        heavy = sorted(m for m in ("duckdb", "sqlglot", "jinja2") if m in sys.modules)
        print(",".join(heavy) or "none")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"
