"""Every command with bad arguments, run on a pseudo-terminal: a non-zero exit, a message that
says what is wrong, never a traceback, and nothing stored changes."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from tests.clirun import sqlfeast

HOURLY = "driver_hourly_stats:conv_rate"
ENTITIES = "data/entities.parquet"

# (arguments, exit code, text the message must contain)
CASES = [
    (["nosuchcommand"], 2, "No such command 'nosuchcommand'"),
    (["--vars", "[1, 2]", "compile"], 2, "--vars must be a mapping"),
    (["--vars", "{a: [1", "compile"], 2, "--vars is not valid YAML"),
    (["-t", "nosuch", "compile"], 1, "target 'nosuch' not found in profile 'demo'"),
    (["--project-dir", "/nonexistent", "compile"], 1, "no sqlfeast_project.yml or dbt_project.yml in /nonexistent"),
    (["--profiles-dir", "/nonexistent", "compile"], 1, "no profiles.yml in /nonexistent"),
    (["compile", "--no-such-flag"], 2, "No such option '--no-such-flag'"),
    (["plan", "extra"], 2, "Got unexpected extra argument"),
    (["apply", "-t"], 2, "Option '-t' requires an argument"),
    (["apply", "--project-dir"], 2, "Option '--project-dir' requires an argument"),
    (["ls", "--json", "extra"], 2, "Got unexpected extra argument"),
    (["init"], 2, "Missing argument 'NAME'"),
    (["init", "bad name"], 2, "'bad name' is not a valid project name"),
    (["init", "models"], 2, "already exists and is not empty"),
    (["run", "--select", "nosuch"], 2, "nosuch"),
    (["historical"], 2, "Missing option '-o'"),
    (["historical", "-o", "x.parquet"], 2, "pass exactly one of -e/--entities FILE and --entity-sql QUERY"),
    (["historical", "-e", ENTITIES, "-o", "x.parquet"], 2, "pass exactly one of -f/--features and --service"),
    (
        ["historical", "-e", ENTITIES, "-f", HOURLY, "--service", "driver_activity_v1", "-o", "x.parquet"],
        2,
        "pass exactly one of -f/--features and --service",
    ),
    (
        ["historical", "-e", ENTITIES, "--entity-sql", "select 1", "-f", HOURLY, "-o", "x.parquet"],
        2,
        "pass exactly one of -e/--entities FILE and --entity-sql QUERY",
    ),
    (["historical", "-e", "missing.parquet", "-f", HOURLY, "-o", "x.parquet"], 1, "missing.parquet"),
    (["historical", "-e", "models/schema.yml", "-f", HOURLY, "-o", "x.parquet"], 1, "entity files must be parquet"),
    (["historical", "-e", ENTITIES, "-f", "nosuch:x", "-o", "x.parquet"], 1, "nosuch"),
    (["historical", "-e", ENTITIES, "-f", "driver_hourly_stats:nosuch", "-o", "x.parquet"], 1, "nosuch"),
    (["historical", "-e", ENTITIES, "-f", "driver_hourly_stats[as=", "-o", "x.parquet"], 1, "driver_hourly_stats[as="),
    (["historical", "-e", ENTITIES, "-f", "", "-o", "x.parquet"], 2, "-f/--features names no features"),
    (["historical", "-e", ENTITIES, "--service", "nosuch", "-o", "x.parquet"], 1, "nosuch"),
    (["historical", "--entity-sql", " ", "-f", HOURLY, "-o", "x.parquet"], 2, "--entity-sql is empty"),
    (["historical", "--entity-sql", "select nonsense from", "-f", HOURLY, "-o", "x.parquet"], 1, "DuckDB"),
    (
        ["historical", "-e", ENTITIES, "-f", HOURLY, "-o", "x.parquet", "--strategy", "bogus"],
        2,
        "Invalid value for '--strategy'",
    ),
    (
        ["historical", "-e", ENTITIES, "-f", HOURLY, "-o", "x.parquet", "--registry", "bogus"],
        2,
        "Invalid value for '--registry'",
    ),
    (
        ["historical", "-e", ENTITIES, "-f", HOURLY, "-o", "x.parquet", "--timestamp-column", "nosuch"],
        1,
        "no timestamp column 'nosuch'",
    ),
    (["historical", "-e", ENTITIES, "-f", HOURLY, "-o", "/missing/x.parquet"], 2, "directory /missing does not exist"),
    (["materialize"], 2, "Missing argument 'START'"),
    (["materialize", "yesterday", "now"], 2, "start 'yesterday' is not a timestamp"),
    (["materialize", "now", "2020-01-01"], 2, "is not before end"),
    (["materialize", "2020-01-01", "now", "-s", "nosuch"], 2, "unknown feature view 'nosuch'"),
    (["materialize-incremental"], 2, "Missing argument 'END'"),
    (["materialize-incremental", "2020-13-45"], 2, "end '2020-13-45' is not a timestamp"),
    (["get-online", "-f", HOURLY], 2, "Missing option '--entity'"),
    (["get-online", "-e", "driver_id=1001"], 2, "no features requested"),
    (["get-online", "-f", HOURLY, "-e", "driver_id"], 2, "entity 'driver_id' is not key=value"),
    (["get-online", "-f", "nosuch:x", "-e", "driver_id=1001"], 1, "nosuch"),
    (["get-online", "-f", "nosuch_service", "-e", "driver_id=1001"], 1, "nosuch_service"),
    (["get-online", "-f", HOURLY, "-e", "customer_id=2001"], 1, "lacks join key 'driver_id'"),
    (["get-online", "-f", HOURLY, "-e", "driver_id=abc"], 1, "abc"),
    (["serve", "--workers", "0"], 2, "--workers must be at least 1"),
    (["serve", "--port", "http"], 2, "Invalid value for '--port'"),
    (["serve", "--timeout", "0"], 2, "--timeout and --push-timeout must be positive"),
    (["serve", "--registry-refresh", "-1"], 2, "--registry-refresh must be 0"),
    (["teardown", "--bogus"], 2, "No such option '--bogus'"),
    (["debug", "-t", "nosuch"], 1, "target 'nosuch' not found"),
]


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Path:
    from sqlfeast.project.scaffold import create_project

    root = create_project(str(tmp_path_factory.mktemp("sweep") / "demo"))
    for args in (["apply"], ["materialize-incremental", "now", "-q"]):
        result = sqlfeast(*args, cwd=root)
        assert result.exit_code == 0, str(result)
    return root


def _stored(root: Path) -> dict[str, str]:
    """A digest of every file the project keeps under target/ and data/."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in ("target", "data")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file() and not p.name.endswith((".wal", "-journal", "-wal", "-shm"))
    }


@pytest.mark.parametrize("args, code, text", CASES, ids=[" ".join(c[0]) or "none" for c in CASES])
def test_bad_arguments(applied, args, code, text):
    before = _stored(applied)
    result = sqlfeast(*args, cwd=applied)
    assert "Traceback" not in result.raw, str(result)
    assert result.exit_code == code, str(result)
    assert text in result.screen, str(result)
    assert _stored(applied) == before, "a failing command changed what is stored"
    assert not (applied / "x.parquet").exists()


def test_serve_on_a_port_in_use(applied):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = sqlfeast("serve", "--no-auth", "--port", str(port), cwd=applied, timeout=120)
    assert "Traceback" not in result.raw, str(result)
    assert result.exit_code != 0, str(result)
    assert f"port {port}" in result.screen or "address already in use" in result.screen.lower(), str(result)


@pytest.mark.parametrize(
    "profiles, text",
    [
        ("demo: [unclosed\n", "profiles.yml:"),
        ("demo:\n  target: dev\n  outputs:\n    dev: {type: postgres}\n", "sqlfeast supports duckdb, snowflake"),
        (
            "demo:\n  outputs:\n    dev: {type: duckdb, path: \"{{ env_var('NO_SUCH_VARIABLE_X') }}\"}\n",
            "environment variable 'NO_SUCH_VARIABLE_X' is not set",
        ),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["compile"],
        ["apply"],
        ["historical", "-e", ENTITIES, "-f", HOURLY, "-o", "x.parquet"],
        ["materialize-incremental", "now"],
        ["get-online", "-f", HOURLY, "-e", "driver_id=1001"],
        ["serve"],
        ["debug"],
    ],
)
def test_broken_profiles(tmp_path, profiles, text, command):
    from sqlfeast.project.scaffold import create_project

    root = create_project(str(tmp_path / "demo"), with_data=False)
    (root / "profiles.yml").write_text(profiles)
    result = sqlfeast(*command, cwd=root)
    assert "Traceback" not in result.raw, str(result)
    assert result.exit_code == 1, str(result)
    assert text in result.screen, str(result)
