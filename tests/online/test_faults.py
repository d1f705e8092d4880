"""Faults against a real server: throttling and unprocessed items, a killed materialization,
the server going away mid-run, and the limits DynamoDB has but moto does not enforce."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import boto3
import pytest

from sqlfeast.errors import OnlineStoreError
from sqlfeast.feature_store import FeatureStore
from sqlfeast.online import open_online_store
from sqlfeast.online.client import OnlineClient
from sqlfeast.online.dynamodb import DynamoDBOnlineStore

from .conftest import dynamodb_settings
from .helpers import T0, expected_driver, make_project, online_driver_values, registry_of, stats_rows, stats_view
from .proxy import FaultProxy

DRIVERS = 4_000


@pytest.fixture
def proxy(dynamodb_endpoint):
    p = FaultProxy(dynamodb_endpoint).start()
    yield p
    p.stop()


def item_count(endpoint: str, table: str) -> int:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    pages = client.get_paginator("scan").paginate(TableName=table, Select="COUNT")
    return sum(page["Count"] for page in pages)


def test_throttling_and_unprocessed_items_are_retried_until_written(proxy, unique_project, tmp_path):
    store = open_online_store(dynamodb_settings(proxy.endpoint, concurrency=4), unique_project, tmp_path)
    view = stats_view()
    registry = registry_of(unique_project, view)
    store.apply(registry)
    proxy.throttle_every, proxy.unprocessed_every = 4, 3
    ids = list(range(1, 801))
    with store.bulk_writer(view) as writer:  # BatchWriteItems (a push is conditional PutItems)
        writer.write(stats_rows(ids, T0, 0.5, 7))
    assert writer.result.written == 800
    data = OnlineClient(store, registry).get_online_features(["driver_stats:trips"], [{"driver_id": i} for i in ids])
    assert data.to_dict()["trips"] == [7] * 800  # reads went through UnprocessedKeys too
    assert proxy.counts["throttled"] > 5 and proxy.counts["unprocessed"] > 5
    store.close()


def test_item_and_batch_limits_are_enforced_by_sqlfeast(dynamodb_endpoint, unique_project, tmp_path):
    store = open_online_store(dynamodb_settings(dynamodb_endpoint), unique_project, tmp_path)
    assert isinstance(store, DynamoDBOnlineStore)
    view = stats_view("big")
    view.features[0].type = "varchar"
    store.apply(registry_of(unique_project, view))
    with pytest.raises(ValueError, match="at most 25 items"):
        store.batch_write(store.table_name("big"), [{"entity_key": {"S": str(i)}} for i in range(26)])
    import pyarrow as pa

    rows = stats_rows([1], T0, 0.0).set_column(3, "conv_rate", pa.array(["x" * 410_000]))
    with pytest.raises(
        OnlineStoreError, match="the row of driver_id=1 is 400 KB, above the online stores' 400 KB item limit"
    ):
        store.write_rows(view, rows)
    store.close()


RUN = textwrap.dedent("""
    import sys
    from sqlfeast.feature_store import FeatureStore
    with FeatureStore(sys.argv[1], target="ddb") as fs:
        fs.materialize("2024-01-01", "2024-01-03", views=["driver_hourly_stats"], quiet=True)
""")


def test_killed_materialization_converges_when_run_again(
    proxy, dynamodb_endpoint, unique_project, tmp_path, monkeypatch
):
    root = make_project(tmp_path / "p", unique_project, proxy.endpoint, drivers=DRIVERS, concurrency=2)
    monkeypatch.chdir(root)
    with FeatureStore(root, target="ddb") as fs:
        fs.apply()
        table = fs.online_store.table_name("driver_hourly_stats")
    proxy.delay = 0.01  # slow enough to be killed midway
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(root)], cwd=root)
    deadline = time.monotonic() + 60
    while item_count(dynamodb_endpoint, table) < 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = item_count(dynamodb_endpoint, table)
    assert 0 < partial < DRIVERS, "the run was not killed midway"
    proxy.delay = 0
    with FeatureStore(root, target="ddb") as fs:  # takes over the dead writer's lease at once
        [result] = fs.materialize("2024-01-01", "2024-01-03", views=["driver_hourly_stats"], quiet=True)
        assert result.rows == DRIVERS and result.skipped >= partial - 50
        ids = range(1, DRIVERS + 1)
        assert online_driver_values(fs, ids) == {i: expected_driver(i, DRIVERS) for i in ids}


def test_server_going_away_fails_clearly_and_a_rerun_completes(proxy, dynamodb_endpoint, unique_project, tmp_path):
    root = make_project(tmp_path / "p", unique_project, proxy.endpoint, drivers=DRIVERS, concurrency=2)
    env = dict(os.environ)
    cli = [str(Path(sys.executable).parent / "sqlfeast"), "--project-dir", str(root), "--target", "ddb"]
    assert subprocess.run(cli + ["apply"], cwd=root, env=env, capture_output=True).returncode == 0
    table = f"{unique_project}.driver_hourly_stats"
    proxy.delay = 0.01
    proc = subprocess.Popen(
        cli + ["materialize", "2024-01-01", "2024-01-03", "-q"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while item_count(dynamodb_endpoint, table) < 500 and time.monotonic() < deadline:
        time.sleep(0.05)
    proxy.stop()  # the server goes away mid-run
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "cannot reach DynamoDB at " + proxy.endpoint in err
    assert "Traceback" not in err
    assert item_count(dynamodb_endpoint, table) < DRIVERS
    proxy.delay = 0
    proxy.start()  # back on the same port
    rerun = subprocess.run(
        cli + ["materialize", "2024-01-01", "2024-01-03", "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"driver_hourly_stats: {DRIVERS} rows" in rerun.stdout
    assert item_count(dynamodb_endpoint, table) == DRIVERS
