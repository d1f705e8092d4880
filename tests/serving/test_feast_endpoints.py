"""Feast's extra feature-server endpoints over HTTP: write switch, materialize jobs, docs, typed errors.

Each test applies a fresh copy of the example project (SQLite online store) and runs `sqlfeast
serve` on it as a subprocess.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from sqlfeast.project.sample_data import today_utc, write_sample_data
from tests.conftest import copy_example

from .conftest import Served


def serve_fresh_project(root: Path, *extra: str, no_auth: bool = True, env: dict | None = None) -> Served:
    copy_example(root, with_data=False)
    write_sample_data(root, end=today_utc())
    from sqlfeast.feature_store import FeatureStore

    cwd = os.getcwd()
    os.chdir(root)
    try:
        with FeatureStore(root) as fs:
            fs.apply()
            fs.materialize("2020-01-01", "now", quiet=True)
    finally:
        os.chdir(cwd)
    return Served(root, *extra, no_auth=no_auth, env=env).start()


def test_write_endpoints_are_off_without_allow_writes(tmp_path):
    server = serve_fresh_project(tmp_path / "demo")
    try:
        for path, body in (
            ("/write-to-online-store", {"feature_view_name": "driver_hourly_stats", "df": {}}),
            ("/materialize", {"start_ts": "2020-01-01", "end_ts": "2021-01-01"}),
            ("/materialize-incremental", {"end_ts": "2021-01-01"}),
        ):
            r = httpx.post(server.url + path, json=body, timeout=30)
            assert r.status_code == 403
            detail = json.loads(r.json())  # Feast's shape: a JSON string
            assert detail["class"] == "FeastPermissionError" and "--allow-writes" in detail["message"]
    finally:
        server.stop()


def test_materialize_endpoints_run_jobs(tmp_path):
    server = serve_fresh_project(tmp_path / "demo", "--allow-writes")
    try:
        r = httpx.post(
            server.url + "/materialize",
            json={
                "start_ts": "2020-01-01T00:00:00",
                "end_ts": "2020-02-01T00:00:00",
                "feature_views": ["driver_hourly_stats"],
            },
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert [v["view"] for v in r.json()["feature_views"]] == ["driver_hourly_stats"]
        r = httpx.post(server.url + "/materialize-incremental", json={"end_ts": "2020-03-01T00:00:00"}, timeout=120)
        assert r.status_code == 200, r.text
        assert {v["view"] for v in r.json()["feature_views"]} == {
            "driver_hourly_stats",
            "customer_profile",
            "driver_trip_windows",
        }
        r = httpx.post(
            server.url + "/materialize",
            json={"start_ts": "2020-01-01", "end_ts": "2020-02-01", "feature_views": ["nope"]},
            timeout=60,
        )
        assert r.status_code == 404 and json.loads(r.json())["class"] == "FeatureViewNotFoundException"
    finally:
        server.stop()


def test_docs_and_openapi(tmp_path):
    server = serve_fresh_project(tmp_path / "demo")
    try:
        spec = httpx.get(server.url + "/openapi.json", timeout=30).json()
        assert {
            "/get-online-features",
            "/push",
            "/write-to-online-store",
            "/materialize",
            "/materialize-incremental",
        } <= set(spec["paths"])
        page = httpx.get(server.url + "/docs", timeout=30)
        assert page.status_code == 200 and "/write-to-online-store" in page.text
    finally:
        server.stop()


def test_write_to_online_store_and_feast_request_fields(tmp_path):
    server = serve_fresh_project(tmp_path / "demo", "--allow-writes")
    now = today_utc().isoformat()
    try:
        # Feast's client names the times event_timestamp / created whatever the view calls them.
        body = {
            "feature_view_name": "driver_hourly_stats",
            "allow_registry_cache": False,
            "df": {
                "driver_id": [8001, 8002],
                "event_timestamp": [now, now],
                "created": [None, now],
                "conv_rate": [0.5, 0.25],
                "acc_rate": [0.1, 0.2],
                "avg_daily_trips": [3, 4],
            },
        }
        r = httpx.post(server.url + "/write-to-online-store", json=body, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["written"] == 2
        read = {
            "features": ["driver_hourly_stats:conv_rate"],
            "entities": {"driver_id": [8001, 8002, 8003]},
            "full_feature_names": False,
            "include_feature_view_version_metadata": True,
        }
        r = httpx.post(server.url + "/get-online-features", json=read, timeout=30)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["results"][1]["values"] == [0.5, 0.25, None]
        assert out["metadata"]["feature_view_metadata"] == [{"name": "driver_hourly_stats", "version": 0}]
        # Rows that do not fit: 422 in Feast's error shape, nothing written.
        bad = {
            "feature_view_name": "driver_hourly_stats",
            "df": {**body["df"], "conv_rate": ["x", "y"], "driver_id": [8003, 8004]},
        }
        r = httpx.post(server.url + "/write-to-online-store", json=bad, timeout=30)
        assert r.status_code == 422 and "conv_rate" in json.loads(r.json())["message"]
        r = httpx.post(server.url + "/get-online-features", json=read, timeout=30)
        assert r.json()["results"][1]["statuses"][2] == "NOT_FOUND"
        r = httpx.post(server.url + "/write-to-online-store", json={"feature_view_name": "nope", "df": {}}, timeout=30)
        assert r.status_code == 404 and json.loads(r.json())["class"] == "FeatureViewNotFoundException"
    finally:
        server.stop()


def test_error_shape_follows_the_client(tmp_path):
    server = serve_fresh_project(tmp_path / "demo")
    try:
        ours = {"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1001]}}
        r = httpx.post(server.url + "/get-online-features", json=ours, timeout=30)
        assert r.status_code == 404 and r.json()["code"] == "unknown_feature"  # sqlfeast's shape
        r = httpx.post(
            server.url + "/get-online-features",
            json={**ours, "include_feature_view_version_metadata": False},
            timeout=30,
        )
        assert r.status_code == 404
        detail = json.loads(r.json())  # Feast's shape: a JSON string
        assert detail["module"] == "feast.errors" and detail["class"] == "FeastObjectNotFoundException"
        assert "nope" in detail["message"]
        # A field no client sends is still caught, in either shape.
        r = httpx.post(
            server.url + "/get-online-features", json={**ours, "include_feature_view_metadata": True}, timeout=30
        )
        assert r.status_code == 400 and "include_feature_view_version_metadata" in r.json()["error"]
        r = httpx.post(
            server.url + "/get-online-features",
            json={**ours, "include_feature_view_version_metadata": "yes"},
            timeout=30,
        )
        assert r.status_code == 400
    finally:
        server.stop()
