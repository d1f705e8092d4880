"""Fixtures of the online tests: a real DynamoDB-compatible server in its own process.

By default a moto server (``moto_server -H 127.0.0.1 -p PORT``) is started on a free loopback
port for the session. Set ``SQLFEAST_TEST_DYNAMODB_ENDPOINT`` (e.g. ``http://127.0.0.1:8000`` for
DynamoDB Local) to run the same tests against another server instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
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

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoServer":
        self.proc = subprocess.Popen([moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
    return {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint, "lease_seconds": 3,
            "retry_seconds": 30, "connect_attempts": 2, **extra}
