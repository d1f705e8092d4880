"""Materialization end to end: the example project, SQLite and DynamoDB online stores."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from sqlfeast.cli import main
from sqlfeast.errors import UsageError
from sqlfeast.feature_store import FeatureStore
from sqlfeast.online.base import ReadRequest

from .helpers import expected_driver, make_project, online_driver_values


@pytest.fixture(params=["dev", "ddb"])
def target(request):
    if request.param == "ddb":
        request.getfixturevalue("dynamodb_endpoint")
    return request.param


@pytest.fixture
def project(tmp_path, unique_project, request, monkeypatch):
    def make(drivers=None, **settings):
        endpoint = request.getfixturevalue("dynamodb_endpoint") if "ddb" in request.node.name else None
        root = make_project(tmp_path / "proj", unique_project, endpoint, drivers=drivers, **settings)
        # DuckDB resolves relative file paths against the working directory first.
        monkeypatch.chdir(root)
        return root

    return make


def latest_from_parquet(path, key):
    """The latest row per entity, computed in Python: max (event_timestamp, created)."""
    best = {}
    for row in pq.read_table(path).to_pylist():
        k = row[key]
        if k is None:
            continue
        if k not in best or (row["event_timestamp"], row["created"]) > (best[k]["event_timestamp"], best[k]["created"]):
            best[k] = row
    return best


def test_example_project_online_equals_latest_warehouse_rows(project, target):
    root = project()
    with FeatureStore(root, target=target) as fs:
        fs.apply()
        results = fs.materialize("2000-01-01", "2100-01-01", quiet=True)
        assert {r.view for r in results} == {"driver_hourly_stats", "customer_profile", "driver_trip_windows"}
        assert [r.tiles for r in results if r.view == "driver_trip_windows"] == [True]  # tiles/test_tiles_*
        for view_name, file, key in [
            ("driver_hourly_stats", "driver_stats", "driver_id"),
            ("customer_profile", "customer_profile", "customer_id"),
        ]:
            view = fs.get_feature_view(view_name)
            expected = latest_from_parquet(root / "data" / f"{file}.parquet", key)
            if view_name == "driver_hourly_stats":  # the model drops rows below min_trips
                expected = {k: v for k, v in expected.items() if v["avg_daily_trips"] >= 0}
            keys = [f"{key}={k}" for k in expected]
            found = fs.online_store.read([ReadRequest(view, keys, view.feature_names)])[0]
            assert len(found) == len(expected)
            for k, row in expected.items():
                stored = found[f"{key}={k}"]
                assert stored.values == {f: row[f] for f in view.feature_names}
                assert stored.event_ts == int((row["event_timestamp"] - datetime(1970, 1, 1)).total_seconds() * 1e6)


def test_ties_go_to_the_latest_created_and_backfill_changes_nothing(project, target):
    root = project(drivers=60)
    with FeatureStore(root, target=target) as fs:
        fs.apply()
        [result] = fs.materialize("2024-01-01", "2024-01-03", views=["driver_hourly_stats"], quiet=True)
        assert (result.rows, result.written) == (60, 60)
        assert online_driver_values(fs, range(1, 61)) == {i: expected_driver(i, 60) for i in range(1, 61)}
        # An older range materialized afterwards: every row is older than what is online.
        [back] = fs.materialize("2023-06-01", "2024-01-01T12:00", views=["driver_hourly_stats"], quiet=True)
        assert (back.rows, back.written, back.skipped) == (60, 0, 60)
        assert online_driver_values(fs, range(1, 61)) == {i: expected_driver(i, 60) for i in range(1, 61)}


def test_incremental_starts_at_end_minus_ttl_then_continues(project, target):
    root = project(drivers=10)
    with FeatureStore(root, target=target) as fs:
        fs.apply()
        ttl = fs.get_feature_view("driver_hourly_stats").ttl_seconds
        # End on 2024-01-01 12:00: END - ttl reaches back over the older rows only.
        [first] = fs.materialize_incremental("2024-01-01T12:00", views=["driver_hourly_stats"], quiet=True)
        assert first.start == datetime(2024, 1, 1, 12) - __import__("datetime").timedelta(seconds=ttl)
        assert first.rows == 10
        assert fs.registry_store.load_materialized()["driver_hourly_stats"] == "2024-01-01T12:00:00.000000"
    with FeatureStore(root, target=target) as fs:  # the state survives the process
        [second] = fs.materialize_incremental("2024-01-05", views=["driver_hourly_stats"], quiet=True)
        assert second.start == datetime(2024, 1, 1, 12) and second.rows == 10
        assert online_driver_values(fs, range(1, 11)) == {i: expected_driver(i, 10) for i in range(1, 11)}
        [third] = fs.materialize_incremental("2024-01-05", views=["driver_hourly_stats"], quiet=True)
        assert third.rows == 0 and "up to date" in str(third)


def test_bad_arguments_give_one_clear_message(project):
    root = project()
    with FeatureStore(root) as fs:
        with pytest.raises(UsageError, match="end 'yesterday-ish' is not a timestamp"):
            fs.materialize("2024-01-01", "yesterday-ish")
        with pytest.raises(UsageError, match="start 2024-01-02 00:00:00.000000 is not before end"):
            fs.materialize("2024-01-02", "2024-01-01")
        with pytest.raises(
            UsageError, match="unknown feature view 'driver_hourly_stat' \\(did you mean 'driver_hourly_stats'\\?\\)"
        ):
            fs.materialize("2024-01-01", "2024-01-02", views=["driver_hourly_stat"])


def test_cli_materialize_get_online_teardown(project, target):
    root = project(drivers=5)
    runner = CliRunner()
    base = ["--project-dir", str(root), "--target", target]
    assert runner.invoke(main, base + ["apply"]).exit_code == 0
    out = runner.invoke(
        main, base + ["materialize", "2024-01-01", "2024-01-03", "--select", "driver_hourly_stats", "-q"]
    )
    assert out.exit_code == 0, out.output
    assert "driver_hourly_stats: 5 rows" in out.output and "5 written" in out.output
    got = runner.invoke(
        main,
        base
        + [
            "get-online",
            "-f",
            "driver_hourly_stats:avg_daily_trips",
            "-e",
            "driver_id=3",
            "-e",
            "driver_id=77",
            "--status",
        ],
    )
    assert got.exit_code == 0, got.output
    data = json.loads(got.output)
    assert data["driver_id"] == [3, 77]
    # The sample rows are from 2024 and the view's ttl is 2 days: stored, but too old to serve.
    assert data["avg_daily_trips__status"] == ["OUTSIDE_MAX_AGE", "NOT_FOUND"]
    bad = runner.invoke(main, base + ["get-online", "-f", "driver_hourly_stats:avg_daily_trip", "-e", "driver_id=3"])
    assert bad.exit_code == 1 and "did you mean 'avg_daily_trips'" in bad.output
    bad_entity = runner.invoke(main, base + ["get-online", "-f", "driver_hourly_stats", "-e", "driver_id"])
    assert bad_entity.exit_code == 2 and "entity 'driver_id' is not key=value" in bad_entity.output
    down = runner.invoke(main, base + ["teardown", "--yes"])
    assert down.exit_code == 0 and "dropped" in down.output
