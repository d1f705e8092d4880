"""Feast's CLI spellings, run as a person would: `sqlfeast` subprocesses under a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_example

SQLFEAST = str(Path(sys.executable).parent / "sqlfeast")


def run_pty(cwd: Path, *args: str) -> tuple[int, str]:
    """Run sqlfeast with a terminal for stdin, stdout and stderr; returns (exit code, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([SQLFEAST, *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_example(tmp_path_factory.mktemp("cli") / "demo")
    code, out = run_pty(root, "apply")
    assert code == 0, out
    return root


def test_list_commands(project):
    code, out = run_pty(project, "feature-views", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ENTITIES", "TTL", "ONLINE"]
    assert any(line.split()[:2] == ["driver_hourly_stats", "driver"] for line in lines)
    code, out = run_pty(project, "feature-views", "list", "--tags", "team:customers")
    assert code == 0 and "customer_profile" in out and "driver_hourly_stats" not in out
    code, out = run_pty(project, "entities", "list")
    assert code == 0 and any(line.split()[:2] == ["driver", "driver_id"] for line in out.splitlines())
    code, out = run_pty(project, "feature-services", "list")
    assert code == 0 and "driver_activity_v1" in out


def test_registry_dump_is_the_registry(project):
    code, out = run_pty(project, "registry-dump")
    assert code == 0, out
    data = json.loads(out)
    assert data["project"] == "demo" and set(data["feature_views"]) == {
        "driver_hourly_stats",
        "customer_profile",
        "driver_trip_windows",
    }


def test_materialize_dash_v(project):
    code, out = run_pty(project, "materialize", "-q", "-v", "customer_profile", "2020-01-01", "2027-01-01")
    assert code == 0, out
    assert "customer_profile:" in out and "driver_hourly_stats" not in out
    code, out = run_pty(project, "materialize-incremental", "-q", "--views", "driver_hourly_stats", "2027-01-01")
    assert code == 0 and "driver_hourly_stats:" in out and "customer_profile" not in out
    code, out = run_pty(project, "materialize", "-q", "-v", "nope", "2020-01-01", "2027-01-01")
    assert code != 0 and "nope" in out and "Traceback" not in out


def test_serve_short_options(project):
    code, out = run_pty(project, "serve", "-h")  # -h stays help, as everywhere in sqlfeast
    assert code == 0 and "--allow-writes" in out and "-p, --port" in out
    code, out = run_pty(project, "serve", "-p", "notaport")
    assert code == 2 and "notaport" in out and "Traceback" not in out
