"""Damaged registries have a way out: a damaged newest registry row is passed over with a warning
and `apply` writes over it; a damaged registry snapshot in the online store gives OnlineClient a
clear error, `/health` says "stale" while the last good snapshot is served, and the refresh loop
lives on to pick up the next apply. Real processes on the example project (DuckDB, SQLite)."""

from __future__ import annotations

import sqlite3
import time

import duckdb
import httpx
import pytest

from sqlfeast.errors import RegistrySnapshotError
from sqlfeast.online.client import OnlineClient
from tests.clirun import sqlfeast
from tests.conftest import copy_example

from .conftest import Served, setup_project, wait_for

BODY = {"features": ["customer_profile:current_balance"], "entities": {"customer_id": [2001]}}


@pytest.fixture
def applied(tmp_path):
    root = copy_example(tmp_path / "demo")
    setup_project(root)
    return root


def set_registry_bodies(root, body: str, versions: str = "max") -> None:
    con = duckdb.connect(str(root / "target" / "dev.duckdb"))
    try:
        where = "version = (SELECT MAX(version) FROM main.demo__registry)" if versions == "max" else "true"
        con.execute(f"UPDATE main.demo__registry SET body = ? WHERE {where}", [body])
    finally:
        con.close()


def damage_snapshot(root) -> None:
    con = sqlite3.connect(root / "target" / "online.db")
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    meta = next(t for t in tables if t.endswith("sqlfeast-meta"))
    con.execute(f"UPDATE \"{meta}\" SET value = ? WHERE key = 'registry'", [b"not zlib at all"])
    con.commit()
    con.close()


@pytest.mark.parametrize(
    "body", ["[1, 2]", "{not json", '{"project": 5}'], ids=["json-list", "not-json", "not-a-registry"]
)
def test_a_damaged_newest_registry_row_is_passed_over_and_apply_writes_over_it(applied, body):
    ok = sqlfeast("apply", cwd=applied)  # version 2
    assert ok.exit_code == 0, str(ok)
    set_registry_bodies(applied, body)
    listed = sqlfeast("ls", cwd=applied)
    assert listed.exit_code == 0, str(listed)
    assert "Traceback" not in listed.raw and "AttributeError" not in listed.raw
    assert "warning: the newest applied registry cannot be read (version 2: " in listed.screen
    assert "using version 1. Run 'sqlfeast apply' to record a new version over it" in listed.screen
    assert "driver_hourly_stats" in listed.screen
    again = sqlfeast("apply", cwd=applied)
    assert again.exit_code == 0, str(again)
    assert "Applied registry version 3" in again.screen
    clean = sqlfeast("ls", cwd=applied)
    assert clean.exit_code == 0 and "warning" not in clean.screen, str(clean)


def test_no_readable_registry_names_apply_and_apply_recovers(applied):
    set_registry_bodies(applied, "[]", versions="all")
    listed = sqlfeast("materialize-incremental", "now", cwd=applied)
    assert listed.exit_code == 1, str(listed)
    assert "no applied registry of project 'demo' can be read: version 1: not a registry document" in listed.screen
    assert "(run 'sqlfeast apply' to record a new version)" in listed.screen
    assert "Traceback" not in listed.raw
    again = sqlfeast("apply", cwd=applied)
    assert again.exit_code == 0 and "Applied registry version 2" in again.screen, str(again)
    assert sqlfeast("materialize-incremental", "now", cwd=applied).exit_code == 0


def test_a_damaged_snapshot_is_a_clear_error_for_online_client(applied):
    damage_snapshot(applied)
    with pytest.raises(RegistrySnapshotError) as err, OnlineClient.from_project(applied) as client:
        client.get_online_features(["customer_profile:current_balance"], [{"customer_id": 2001}])
    assert str(err.value) == (
        "the registry snapshot of project 'demo' in the online store cannot be read (zlib: Error -3 while "
        "decompressing data: incorrect header check) (run 'sqlfeast apply' to store it again)"
    )
    got = sqlfeast("get-online", "-f", "customer_profile:current_balance", "-e", "customer_id=2001", cwd=applied)
    assert got.exit_code == 0, str(got)  # the command line reads the registry from the warehouse


def test_a_damaged_snapshot_leaves_the_server_serving_the_last_good_one(applied):
    served = Served(applied, "--registry-refresh", "0.2").start()
    try:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            assert http.get("/health").json()["status"] == "ok"
            damage_snapshot(applied)
            stale = wait_for(lambda: (r := http.get("/health").json())["status"] == "stale" and r, 60)
            assert stale, http.get("/health").text
            assert stale["registry_version"] == 1 and "cannot be read (zlib" in stale["error"]
            assert http.get("/health").status_code == 200
            r = http.post("/get-online-features", json=BODY)  # still served, from the last good snapshot
            assert r.status_code == 200 and r.json()["results"][1]["statuses"] == ["PRESENT"]
            time.sleep(1)  # several refreshes fail meanwhile; the loop must outlive them
            assert sqlfeast("apply", cwd=applied).exit_code == 0
            healthy = wait_for(lambda: (r := http.get("/health").json())["status"] == "ok" and r, 60)
            assert healthy and healthy["registry_version"] == 2, http.get("/health").text
        assert "registry_refresh_failed" in served.log_path.read_text()
    finally:
        served.stop()


def test_a_damaged_snapshot_at_start_is_unavailable_until_applied(applied):
    damage_snapshot(applied)
    served = Served(applied, "--registry-refresh", "0.2").start(expect_healthy=False)
    try:
        with httpx.Client(base_url=served.url, timeout=30) as http:
            r = http.get("/health")
            assert r.status_code == 503 and "cannot be read" in r.json()["error"]
            r = http.post("/get-online-features", json=BODY)
            assert r.status_code == 503 and r.json()["code"] == "registry_unreadable"
            assert sqlfeast("apply", cwd=applied).exit_code == 0
            assert wait_for(lambda: http.get("/health").status_code == 200, 60)
    finally:
        served.stop()
