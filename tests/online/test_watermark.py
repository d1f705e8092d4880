"""The materialization watermark belongs to the online tables it describes.

`teardown` removes the watermarks with the tables (and lists what it keeps); a watermark whose
tables were dropped behind sqlfeast's back, or that was written for another server, makes
`materialize-incremental` refill instead of saying "up to date"; `debug` and `plan` report the
mismatch. Commands run as subprocesses under a pseudo-terminal, as a person runs them.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sqlfeast.project.sample_data import today_utc, write_sample_data

from .helpers import make_project


def fresh_project(root: Path, name: str, endpoint: str | None) -> Path:
    """The example project with sample data ending today, so its values are inside the ttl."""
    make_project(root, name, endpoint)
    write_sample_data(root, end=today_utc())
    return root


DRIVER = "1001"


def run(root: Path, *args: str, target: str) -> tuple[int, str]:
    """`sqlfeast ARGS -t TARGET` under a pseudo-terminal; (exit code, what the terminal showed)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlfeast", *args, "-t", target],
        cwd=root,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(60), out.decode(errors="replace").replace("\r\n", "\n")


def conv_rate(root: Path, target: str) -> object:
    code, out = run(
        root, "get-online", "-f", "driver_hourly_stats:conv_rate", "-e", f"driver_id={DRIVER}", target=target
    )
    assert code == 0, out
    return json.loads(out[out.index("{") :])["conv_rate"][0]


@pytest.fixture(params=["dev", "ddb"])
def project(request, tmp_path, unique_project):
    endpoint = request.getfixturevalue("dynamodb_local_endpoint") if request.param == "ddb" else None
    return fresh_project(tmp_path / "proj", unique_project, endpoint), request.param


def test_teardown_removes_the_watermark_and_lists_what_it_keeps(project):
    root, target = project
    assert run(root, "apply", target=target)[0] == 0
    code, out = run(root, "materialize-incremental", "now", target=target)
    assert code == 0, out
    before = conv_rate(root, target)
    assert before is not None

    code, out = run(root, "teardown", "--yes", target=target)
    assert code == 0, out
    assert "removed the materialization watermark of driver_hourly_stats" in out
    assert "kept applied registry history" in out and "Traceback" not in out

    code, out = run(root, "debug", target=target)
    assert code != 0 and "online table" in out and "missing" in out, out
    assert "Traceback" not in out
    code, out = run(root, "plan", target=target)
    assert "missing" in out and "up to date" not in out, out

    assert run(root, "apply", target=target)[0] == 0
    code, out = run(root, "materialize-incremental", "now", target=target)
    assert code == 0 and "up to date" not in out, out
    assert conv_rate(root, target) == before


def test_tables_dropped_behind_its_back_are_refilled(project):
    root, target = project
    assert run(root, "apply", target=target)[0] == 0
    assert run(root, "materialize-incremental", "now", target=target)[0] == 0
    before = conv_rate(root, target)

    # The online store loses its data (tables dropped, not through sqlfeast): the watermark stays.
    from sqlfeast.core.registry import Registry
    from sqlfeast.online import open_online_store

    registry = Registry.from_json((root / "target" / "applied_registry.json").read_text())
    settings = yaml.safe_load((root / "profiles.yml").read_text())["demo"]["outputs"][target]["online_store"]
    online = open_online_store(settings, registry.project, root)
    online.teardown(registry)
    online.close()
    code, out = run(root, "debug", target=target)
    assert code != 0 and "missing" in out, out

    code, out = run(root, "materialize-incremental", "now", target=target)
    assert code == 0, out
    assert "up to date" not in out and "refilled" in out, out
    assert conv_rate(root, target) == before


def test_a_watermark_of_another_store_does_not_vouch_for_this_one(
    tmp_path, unique_project, dynamodb_endpoint, dynamodb_local_endpoint
):
    """Two targets share a warehouse (and so the watermark table) but not an online store."""
    root = fresh_project(tmp_path / "proj", unique_project, dynamodb_endpoint)
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    outputs = profiles["demo"]["outputs"]
    outputs["other"] = {
        **outputs["ddb"],
        "online_store": {**outputs["ddb"]["online_store"], "endpoint_url": dynamodb_local_endpoint},
    }
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    assert run(root, "apply", target="ddb")[0] == 0
    assert run(root, "materialize-incremental", "now", target="ddb")[0] == 0
    assert run(root, "apply", target="other")[0] == 0
    code, out = run(root, "materialize-incremental", "now", target="other")
    assert code == 0 and "up to date" not in out, out
    assert conv_rate(root, "other") == conv_rate(root, "ddb")
