"""Feast's own SDK, configured with a remote online store, against `sqlfeast serve` and `feast serve`.

Feast runs from its own virtualenv (never imported here): ``SQLFEAST_FEAST_PYTHON`` names its
interpreter (.ci/run creates that virtualenv and sets it), else ``.ci/feast-venv/bin/python``.
Without one the tests skip and say so. The example project, with sample data ending today (inside the 2-day ttl), is
applied and materialized into SQLite; `sqlfeast serve --allow-writes` serves it; the script
tests/feast/feast_sdk_script.py then makes the same SDK calls against it and against a
`feast serve` built on copies of the same parquet files, and the answers are compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.serving.test_feast_endpoints import serve_fresh_project

SCRIPT = Path(__file__).with_name("feast_sdk_script.py")
TOKEN = "feast-sdk-write-token-0123456789"


def feast_python() -> str | None:
    candidates = [os.environ.get("SQLFEAST_FEAST_PYTHON"), str(REPO / ".ci" / "feast-venv" / "bin" / "python")]
    for path in candidates:
        if path and Path(path).exists():
            return path
    return None


FEAST_PYTHON = feast_python()
pytestmark = pytest.mark.skipif(
    FEAST_PYTHON is None,
    reason="no Feast virtualenv: set SQLFEAST_FEAST_PYTHON to the python of a venv with feast==0.67.* "
    "(.ci/run creates one)",
)


@pytest.fixture(scope="module")
def compat(tmp_path_factory):
    root = tmp_path_factory.mktemp("feast") / "demo"
    # Authentication on, as a server reachable by others runs: Feast's SDK sends the token.
    server = serve_fresh_project(root, "--allow-writes", no_auth=False, env={"SQLFEAST_WRITE_TOKENS": TOKEN})
    work = root.parent / "feast_work"
    try:
        proc = subprocess.run(
            [
                FEAST_PYTHON,
                str(SCRIPT),
                "--work",
                str(work),
                "--drivers",
                str(root / "data/driver_stats.parquet"),
                "--customers",
                str(root / "data/customer_profile.parquet"),
                "--sqlfeast",
                server.url,
                "--feast-serve",
                "--sqlfeast-token-env",
                "SQLFEAST_TEST_TOKEN",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "FEAST_USAGE": "False", "SQLFEAST_TEST_TOKEN": TOKEN},
        )
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    assert "crash" not in result, result["crash"]
    return result


READS = ("one", "hundred", "columnar", "full_names", "service", "to_df")
WRITES = ("write", "push_online", "push_offline", "push_both")


@pytest.mark.parametrize("call", READS + WRITES)
def test_sdk_call_succeeds_and_equals_feast_serve(compat, call):
    ours, feasts = compat["sqlfeast"][call], compat["feast"][call]
    assert "ok" in ours, ours
    assert ours == feasts


def test_reads_have_real_values(compat):
    one = compat["sqlfeast"]["one"]["ok"]
    assert one["driver_id"] == [1001] and isinstance(one["conv_rate"][0], float)
    hundred = compat["sqlfeast"]["hundred"]["ok"]
    assert len(hundred["driver_id"]) == 100
    known = [v for d, v in zip(hundred["driver_id"], hundred["conv_rate"]) if d <= 1050]
    assert known and all(v is not None for v in known)
    assert all(v is None for d, v in zip(hundred["driver_id"], hundred["conv_rate"]) if d > 1050)
    full = compat["sqlfeast"]["full_names"]["ok"]
    assert "driver_hourly_stats__conv_rate" in full
    service = compat["sqlfeast"]["service"]["ok"]
    assert set(service) >= {"conv_rate", "acc_rate", "current_balance", "lifetime_trip_count"}
    assert service["current_balance"][1] is None  # customer 2999 does not exist


def test_columnar_entity_rows_give_one_row_each(compat):
    columnar = compat["sqlfeast"]["columnar"]["ok"]
    assert columnar["driver_id"] == [1004, 1005]
    assert all(isinstance(v, float) for v in columnar["conv_rate"])


def test_unknown_view_reaches_feast_as_its_typed_error(compat):
    ours, feasts = compat["sqlfeast"]["ghost_view"], compat["feast"]["ghost_view"]
    assert (ours["module"], ours["error"]) == ("feast.errors", "FeatureViewNotFoundException")
    assert (ours["module"], ours["error"]) == (feasts["module"], feasts["error"])
    assert "ghost_view" in ours["message"]


def test_writes_through_feast_sdk_are_read_back(compat):
    after = compat["sqlfeast"]["after_writes"]["ok"]
    values = dict(zip(after["driver_id"], after["conv_rate"]))
    assert values[9001] == 0.25  # write_to_online_store
    assert values[9002] == 0.5  # push to=ONLINE
    assert values[9004] == 0.125  # push to=ONLINE_AND_OFFLINE
    assert values[9003] is None  # push to=OFFLINE: Feast's SDK writes it to its own offline store
    feasts = compat["feast"]["after_writes"]["ok"]
    theirs = dict(zip(feasts["driver_id"], feasts["conv_rate"]))
    assert {k: values[k] for k in (9001, 9002, 9004)} == {k: theirs[k] for k in (9001, 9002, 9004)}


def test_client_mistakes_are_4xx(compat):
    statuses = compat["sqlfeast_bad_requests"]
    assert statuses and all(400 <= s < 500 for s in statuses.values()), statuses


def test_feast_sdk_gets_permission_error_without_allow_writes(tmp_path):
    server = serve_fresh_project(tmp_path / "demo")
    try:
        # Feast's SDK against it gets Feast's permission error, not a crash.
        script = (
            "import sys, pandas as pd; from feast import FeatureStore\n"
            "from feast.errors import FeastPermissionError\n"
            "sys.path.insert(0, sys.argv[2]); import feast_sdk_script as s\n"
            "from pathlib import Path\n"
            "fs = s.client(Path(sys.argv[3]), sys.argv[1], s.definitions(sys.argv[4], sys.argv[5]))\n"
            "df = pd.DataFrame({'driver_id': [1], 'event_timestamp': [pd.Timestamp('2026-01-01')],"
            " 'created': [pd.Timestamp('2026-01-01')], 'conv_rate': [0.1], 'acc_rate': [0.1],"
            " 'avg_daily_trips': [1]})\n"
            "try:\n    fs.write_to_online_store('driver_hourly_stats', df)\n"
            "except FeastPermissionError as err:\n    print('typed:', err)\n"
        )
        proc = subprocess.run(
            [
                FEAST_PYTHON,
                "-c",
                script,
                server.url,
                str(SCRIPT.parent),
                str(tmp_path / "c"),
                str(tmp_path / "demo/data/driver_stats.parquet"),
                str(tmp_path / "demo/data/customer_profile.parquet"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "typed:" in proc.stdout and "--allow-writes" in proc.stdout
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_the_sdk_without_the_token_is_refused(compat):
    refused = compat["sqlfeast_without_token"]
    assert "ok" not in refused, refused
