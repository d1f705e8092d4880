"""Fixtures of the feature server tests: real processes talking HTTP.

A moto server (DynamoDB-compatible) runs as a subprocess; the example project (with a push source
unioned into driver_hourly_stats) is applied and materialized into it; then ``sqlfeast serve``
runs as another subprocess and the tests call it with httpx.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import copy_example
from tests.online.conftest import MotoServer, free_port

SQLFEAST = str(Path(sys.executable).parent / "sqlfeast")
# driver_hourly_stats also reads the rows pushed offline to driver_stats_push.
PUSH_UNION = "\nunion all\nselect * from {{ push_source('driver_stats_push') }}\n"


@pytest.fixture(scope="session", autouse=True)
def aws_env():
    # Dummy credentials for the local server; never real ones.
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


def make_project(root: Path, endpoint: str, name: str | None = None) -> Path:
    """A copy of the example project with a unique name, target `ddb` on `endpoint`."""
    copy_example(root)
    name = name or "s" + uuid.uuid4().hex[:10]
    text = (root / "sqlfeast_project.yml").read_text().replace("name: demo", f"name: {name}")
    (root / "sqlfeast_project.yml").write_text(text)
    model = root / "models" / "drivers" / "driver_hourly_stats.sql"
    model.write_text(model.read_text().rstrip() + "\n" + PUSH_UNION)
    base = {"type": "duckdb", "path": "target/dev.duckdb", "schema": "main"}
    ddb = {
        "type": "dynamodb",
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "lease_seconds": 3,
        "retry_seconds": 10,
        "connect_attempts": 2,
    }
    profiles = {"demo": {"target": "ddb", "outputs": {"ddb": {**base, "online_store": ddb}}}}
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    return root


def wait_for(check, seconds: float = 30.0):
    """Poll until `check()` is truthy (returns it), or give up after `seconds` (returns the last value)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def setup_project(root: Path) -> None:
    """apply (tables + registry snapshot), push tables, materialize the sample data."""
    from sqlfeast.feature_store import FeatureStore
    from sqlfeast.offline.push import ensure_push_tables

    cwd = os.getcwd()
    os.chdir(root)  # DuckDB resolves the sample files' relative paths against the cwd
    try:
        with FeatureStore(root) as fs:
            fs.apply()
            ensure_push_tables(fs.warehouse, fs.registry)
            fs.materialize("2020-01-01T00:00:00", "2027-01-01T00:00:00", quiet=True)
    finally:
        os.chdir(cwd)


def _environ(changes: dict) -> dict:
    """This process's environment with `changes` applied (None removes a variable)."""
    out = {**os.environ, **{k: v for k, v in changes.items() if v is not None}}
    return {k: v for k, v in out.items() if changes.get(k, "") is not None}


class Served:
    """A `sqlfeast serve` subprocess for a project (``--no-auth`` unless `no_auth` is False)."""

    def __init__(self, root: Path, *extra: str, no_auth: bool = True, env: dict | None = None):
        self.root = root
        self.env = env
        self.port = free_port()
        tls = "--ssl-certfile" in extra
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=extra[extra.index("--ssl-certfile") + 1]) if tls else True
        )
        self.log_path = root / "serve.log"
        self.extra = ("--no-auth", *extra) if no_auth else extra
        self.proc: subprocess.Popen | None = None

    def start(self, expect_healthy: bool = True) -> "Served":
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SQLFEAST, "serve", "--port", str(self.port), *self.extra],
            cwd=self.root,
            stdout=self.log,
            stderr=self.log,
            env=None if self.env is None else _environ(self.env),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sqlfeast serve exited: {self.log_path.read_text()}")
            try:
                r = httpx.get(self.url + "/health", timeout=10, verify=self.verify)
                if r.status_code == 200 or not expect_healthy:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"sqlfeast serve did not become healthy: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()

    def access_log(self) -> list[dict]:
        import json

        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@pytest.fixture(scope="session")
def served(moto, tmp_path_factory):
    """One applied, materialized project and its server, shared by the read-only tests."""
    root = make_project(tmp_path_factory.mktemp("served") / "demo", moto.endpoint)
    setup_project(root)
    # --timeout 20: moto answers a 100-key read in ~0.1-0.3 s of CPU; with the load test's queue
    # on a busy machine the 5 s default could turn into 504s that say nothing about the server.
    server = Served(
        root, "--registry-refresh", "1", "--max-body-bytes", "65536", "--max-entities", "1000", "--timeout", "20"
    ).start()
    yield server
    server.stop()


@pytest.fixture
def http(served):
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client
