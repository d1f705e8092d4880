"""What a new user meets in the first hour, each command run on a pseudo-terminal as a person runs
it: progress bars, repeated options, the registry that each command uses, debug's checks, serve
on a plain install, the output path, hints in the command line's own words, where profiles.yml
is found, and help texts."""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.clirun import run_pty, sqlfeast
from tests.online.conftest import MotoServer, free_port


@pytest.fixture
def project(tmp_path) -> Path:
    """`sqlfeast init demo` (sample data ending today, so online values are fresh), applied."""
    from sqlfeast.project.scaffold import create_project

    root = create_project(str(tmp_path / "demo"))
    assert sqlfeast("apply", cwd=root).exit_code == 0
    return root


def failed(result, code: int = 1) -> str:
    """The screen of a command that must fail with `code`, one message, no traceback."""
    assert result.exit_code == code, str(result)
    assert "Traceback" not in result.raw, str(result)
    return result.screen


def succeeded(result) -> str:
    assert result.exit_code == 0, str(result)
    assert "Traceback" not in result.raw, str(result)
    return result.screen


# -- 1. progress on a terminal ------------------------------------------------------------------
def test_materialize_draws_a_progress_bar_with_the_total(project):
    shown = succeeded(sqlfeast("materialize", "2020-01-01", "now", cwd=project))
    assert re.search(r"^driver_hourly_stats: 100%\|.+\| 50/50 \[.*rows/s\]$", shown, re.M), shown
    assert re.search(r"^customer_profile: 100%\|.+\| 50/50 \[.*rows/s\]$", shown, re.M), shown
    assert "driver_hourly_stats: 50 rows" in shown and "-> 50 written" in shown


# -- 2. repeated -f ------------------------------------------------------------------------------
def test_repeated_features_accumulate(project):
    succeeded(
        sqlfeast(
            "historical",
            "-e",
            "data/entities.parquet",
            "-f",
            "driver_hourly_stats:conv_rate",
            "-f",
            "customer_profile:current_balance,customer_profile:lifetime_trip_count",
            "-f",
            "driver_hourly_stats:acc_rate",
            "-o",
            "out.parquet",
            cwd=project,
        )
    )
    columns = pq.read_schema(project / "out.parquet").names
    for name in ("conv_rate", "current_balance", "lifetime_trip_count", "acc_rate"):
        assert name in columns, columns


# -- 3. the applied registry's version and time reach the online store ---------------------------
def test_online_snapshot_carries_the_applied_version(project):
    from sqlfeast.feature_store import FeatureStore

    with FeatureStore(project) as fs:
        applied = fs.registry_store.load()
        held = fs.online_store.load_registry()
    assert applied.version == 1 and applied.applied_at
    assert (held.version, held.applied_at) == (applied.version, applied.applied_at)
    succeeded(sqlfeast("apply", cwd=project))
    with FeatureStore(project) as fs:
        assert fs.online_store.load_registry().version == 2


# -- 5. debug checks the online store ------------------------------------------------------------
NO_AWS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_CONFIG_FILE": "/nonexistent",
}
TEST_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _dynamodb_target(root: Path, endpoint: str) -> None:
    with (root / "profiles.yml").open("a") as profiles:
        profiles.write(
            "    ddb:\n      type: duckdb\n      path: target/dev.duckdb\n      schema: main\n"
            "      online_store:\n        type: dynamodb\n        region: us-east-1\n"
            f"        endpoint_url: {endpoint}\n        connect_attempts: 1\n        retry_seconds: 2\n"
        )


def test_debug_fails_without_credentials_and_without_an_endpoint(tmp_path):
    from sqlfeast.project.scaffold import create_project

    root = create_project(str(tmp_path / "demo"), with_data=False)
    _dynamodb_target(root, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    shown = failed(sqlfeast("debug", "-t", "ddb", cwd=root, env=NO_AWS))
    assert re.search(r"^online store: FAILED: .*credentials", shown, re.M), shown
    assert "warehouse: ok" in shown and shown.endswith("1 check failed")
    shown = failed(sqlfeast("debug", "-t", "ddb", cwd=root, env=TEST_AWS))
    assert re.search(r"^online store: FAILED: cannot reach DynamoDB at http://127\.0\.0\.1:\d+", shown, re.M), shown
    assert "(check the endpoint and network" in shown


def test_debug_passes_against_a_real_dynamodb_server(tmp_path):
    from sqlfeast.project.scaffold import create_project

    moto = MotoServer().start()
    try:
        root = create_project(str(tmp_path / "demo"), with_data=False)
        _dynamodb_target(root, moto.endpoint)
        shown = succeeded(sqlfeast("debug", "-t", "ddb", cwd=root, env=TEST_AWS))
        assert f"online store: ok, dynamodb {moto.endpoint} answers, holds no registry snapshot" in shown
        assert shown.endswith("All checks passed.")
        succeeded(sqlfeast("apply", "-t", "ddb", cwd=root, env=TEST_AWS))
        shown = succeeded(sqlfeast("debug", "-t", "ddb", cwd=root, env=TEST_AWS))
        assert "holds registry version 1" in shown
        assert "online registry: ok, the online store serves the applied version 1" in shown
    finally:
        moto.stop()


def test_debug_reports_an_online_store_behind_the_applied_registry(project):
    from sqlfeast.feature_store import FeatureStore

    # An apply that set the online store up but failed to record the registry in the warehouse.
    model = project / "models" / "drivers" / "driver_hourly_stats.sql"
    model.write_text(model.read_text().replace("description: Hourly driver performance", "description: Hourly"))
    with FeatureStore(project) as fs:
        fs.online_store.save_registry(fs.compile(write=False))
    shown = failed(sqlfeast("debug", cwd=project))
    assert "online registry: FAILED: the online store holds version None, version 1 is applied" in shown
    assert "(run 'sqlfeast apply')" in shown


# -- 6. which registry each command uses ---------------------------------------------------------
def test_historical_uses_the_project_files_as_they_are_now(project):
    succeeded(sqlfeast("materialize-incremental", "now", "-q", cwd=project))
    model = project / "models" / "drivers" / "driver_hourly_stats.sql"
    model.write_text(
        model.read_text().replace(
            "select driver_id, event_timestamp, created, conv_rate,",
            "select driver_id, event_timestamp, created, conv_rate + 100 as conv_rate,",
        )
    )
    args = ("historical", "-e", "data/entities.parquet", "-f", "driver_hourly_stats:conv_rate")

    def rates(out: str) -> pa.ChunkedArray:
        return pq.read_table(project / out)["conv_rate"].drop_null()

    succeeded(sqlfeast(*args, "-o", "now.parquet", cwd=project))  # edited, neither compiled nor applied
    assert len(rates("now.parquet")) and pc.min(rates("now.parquet")).as_py() >= 100
    succeeded(sqlfeast(*args, "-o", "applied.parquet", "--registry", "applied", cwd=project))
    assert len(rates("applied.parquet")) and pc.max(rates("applied.parquet")).as_py() <= 1
    succeeded(sqlfeast("compile", cwd=project))
    succeeded(sqlfeast(*args, "-o", "compiled.parquet", cwd=project))
    assert pc.min(rates("compiled.parquet")).as_py() >= 100
    # Online reads keep using what is applied (and materialized).
    online = json.loads(
        succeeded(sqlfeast("get-online", "-f", "driver_hourly_stats:conv_rate", "-e", "driver_id=1001", cwd=project))
    )
    assert online["conv_rate"][0] <= 1

    # A broken model stops historical with file:line; the applied registry still answers when asked.
    model.write_text(model.read_text().replace("acc_rate,", "acc_rte,"))
    shown = failed(sqlfeast(*args, "-o", "broken.parquet", cwd=project))
    assert re.search(r"^models/drivers/driver_hourly_stats\.sql:\d+(:\d+)?: .*acc_rte", shown, re.M), shown
    assert not (project / "broken.parquet").exists()
    succeeded(sqlfeast(*args, "-o", "applied2.parquet", "--registry", "applied", cwd=project))


def test_registry_applied_before_any_apply(tmp_path):
    from sqlfeast.project.scaffold import create_project

    root = create_project(str(tmp_path / "demo"))
    shown = failed(
        sqlfeast(
            "historical",
            "-e",
            "data/entities.parquet",
            "-f",
            "driver_hourly_stats:conv_rate",
            "-o",
            "out.parquet",
            "--registry",
            "applied",
            cwd=root,
        )
    )
    assert "Error: no applied registry for project 'demo' on target 'dev' (run 'sqlfeast apply' first" in shown


# -- 8. serve after a plain install --------------------------------------------------------------
def test_server_dependencies_are_part_of_the_plain_install():
    plain = [r for r in importlib.metadata.requires("sqlfeast") or [] if "extra ==" not in r]
    names = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in plain}
    assert {"starlette", "uvicorn"} <= names, plain


def test_serve_without_its_dependencies_says_what_to_install(project):
    # An environment where uvicorn is missing: its import fails as it would if it were absent.
    code = (
        "import sys; sys.modules['uvicorn'] = None; from sqlfeast.cli import main; "
        "main(['serve', '--port', '0'], prog_name='sqlfeast')"
    )
    shown = failed(run_pty([sys.executable, "-c", code], project))
    assert shown == "Error: 'sqlfeast serve' needs uvicorn, which is not installed (pip install 'sqlfeast[server]')"


# -- 9. the output path is checked before the work ------------------------------------------------
@pytest.mark.parametrize(
    "output, message",
    [
        (
            "/missing/dir/out.parquet",
            "Error: -o /missing/dir/out.parquet: directory /missing/dir does not exist "
            "(create it first (mkdir -p /missing/dir) or write somewhere else)",
        ),
        ("data", "Error: -o data is a directory (name a file, e.g. -o data/train.parquet)"),
        (
            "data/entities.parquet/x.parquet",
            "Error: -o data/entities.parquet/x.parquet: directory data/entities.parquet is not a directory",
        ),
    ],
)
def test_bad_output_path_is_refused_before_the_work(project, output, message):
    # The entity query is broken too: the output check comes first, before any query runs.
    shown = failed(
        sqlfeast(
            "historical",
            "--entity-sql",
            "select * from no_such_table",
            "-f",
            "driver_hourly_stats:conv_rate",
            "-o",
            output,
            cwd=project,
        ),
        2,
    )
    assert shown.startswith(message), shown
    assert len(shown.splitlines()) == 1, shown


# -- 10. hints name the command line's flags -----------------------------------------------------
def _entities(root: Path, **columns) -> str:
    pq.write_table(pa.table(columns), root / "ents.parquet")
    return "ents.parquet"


def test_hints_name_cli_flags(project):
    ts = [datetime.now() - timedelta(hours=1)]
    path = _entities(project, driver_id=[1001], event_timestamp=ts, conv_rate=[0.5])
    shown = failed(
        sqlfeast("historical", "-e", path, "-f", "driver_hourly_stats:conv_rate", "-o", "o.parquet", cwd=project)
    )
    assert "pass --full-feature-names to name columns view__feature" in shown, shown
    succeeded(
        sqlfeast(
            "historical",
            "-e",
            path,
            "-f",
            "driver_hourly_stats:conv_rate",
            "-o",
            "o.parquet",
            "--full-feature-names",
            cwd=project,
        )
    )

    path = _entities(project, driver_id=[1001], ts=ts)
    shown = failed(
        sqlfeast("historical", "-e", path, "-f", "driver_hourly_stats:conv_rate", "-o", "o.parquet", cwd=project)
    )
    assert "no timestamp column 'event_timestamp'" in shown and "--timestamp-column" in shown, shown
    path = _entities(project, driver_id=[1001], ts=["yesterday"])
    shown = failed(
        sqlfeast(
            "historical",
            "-e",
            path,
            "-f",
            "driver_hourly_stats:conv_rate",
            "-o",
            "o.parquet",
            "--timestamp-column",
            "ts",
            cwd=project,
        )
    )
    assert "name another column with --timestamp-column" in shown, shown

    shown = failed(sqlfeast("get-online", "-f", "driver_hourly_stats:conv_rate", "-e", "customer_id=2001", cwd=project))
    assert "lacks join key 'driver_id'" in shown and "pass -e driver_id=... for every entity row" in shown, shown
    for python_word in ("full_feature_names", "timestamp_column", "{'driver_id'", "pandas"):
        assert python_word not in shown


# -- 11. profiles.yml location, help, "unchanged" ------------------------------------------------
def test_profiles_dir_variables(project, tmp_path):
    elsewhere = tmp_path / "dbt-profiles"
    elsewhere.mkdir()
    (project / "profiles.yml").rename(elsewhere / "profiles.yml")
    home = {"HOME": str(tmp_path / "home")}
    shown = failed(sqlfeast("compile", cwd=project, env=home))
    assert "no profiles.yml found" in shown and "SQLFEAST_PROFILES_DIR" in shown
    succeeded(sqlfeast("compile", cwd=project, env={**home, "DBT_PROFILES_DIR": str(elsewhere)}))
    succeeded(sqlfeast("compile", cwd=project, env={**home, "SQLFEAST_PROFILES_DIR": str(elsewhere)}))
    # sqlfeast's own variable comes first, and a directory named explicitly must hold the file.
    shown = failed(
        sqlfeast(
            "compile",
            cwd=project,
            env={**home, "SQLFEAST_PROFILES_DIR": str(tmp_path), "DBT_PROFILES_DIR": str(elsewhere)},
        )
    )
    assert f"no profiles.yml in {tmp_path} (from $SQLFEAST_PROFILES_DIR)" in shown
    succeeded(
        sqlfeast(
            "--profiles-dir",
            str(elsewhere),
            "compile",
            cwd=project,
            env={**home, "SQLFEAST_PROFILES_DIR": str(tmp_path)},
        )
    )


@pytest.mark.parametrize(
    "command", ["compile", "historical", "materialize", "get-online", "serve", "debug", "teardown", "list"]
)
def test_subcommand_help_lists_the_global_options(tmp_path, command):
    shown = succeeded(sqlfeast(command, "--help", cwd=tmp_path))
    section = shown.split("Global options (before or after the command):", 1)
    assert len(section) == 2, shown
    for option in ("--project-dir", "--profiles-dir", "-t, --target", "--vars"):
        assert option in section[1], shown


def test_materialize_help_names_the_time_forms(tmp_path):
    shown = succeeded(sqlfeast("materialize", "--help", cwd=tmp_path))
    for form in ("now", "2024-01-31 ", "2024-01-31T12:00:00 ", "2024-01-31T12:00:00Z", "+02:00"):
        assert form in shown, shown
    assert "now" in succeeded(sqlfeast("materialize-incremental", "--help", cwd=tmp_path))


def test_identical_rows_are_reported_unchanged(project):
    first = succeeded(sqlfeast("materialize", "2020-01-01", "2030-01-01", "-q", cwd=project))
    assert "-> 50 written, 0 unchanged" in first
    again = succeeded(sqlfeast("materialize", "2020-01-01", "2030-01-01", "-q", cwd=project))
    assert "-> 0 written, 50 unchanged" in again and "already newer" not in again
