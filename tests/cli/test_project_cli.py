"""CLI, plan/apply, atomic apply, project isolation, profiles, scaffold and golden SQL."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from sqlfeast.cli import main
from sqlfeast.errors import ConfigError, WarehouseError
from sqlfeast.feature_store import FeatureStore
from sqlfeast.project.config import load_project, load_target
from tests.conftest import REPO, copy_example

GOLDEN = Path(__file__).parent / "golden" / "compiled"


def run_cli(project: Path, *args: str):
    return CliRunner().invoke(main, ["--project-dir", str(project), *args], catch_exceptions=False)


def test_compile_ls_and_exit_codes(example_project):
    result = run_cli(example_project, "compile")
    assert result.exit_code == 0, result.output
    assert "Compiled 3 feature view(s), 1 model(s), 2 entities, 1 feature service(s)" in result.output
    listing = run_cli(example_project, "list").output
    assert "driver_hourly_stats [driver; ttl 172800s; online]" in listing
    assert "conv_rate: double  -- Share of offers accepted" in listing
    assert run_cli(example_project, "--vars", "[1, 2]", "compile").exit_code == 2
    assert run_cli(example_project, "compile", "--no-such-flag").exit_code == 2


def test_validation_error_exits_1_without_traceback(example_project):
    assert run_cli(example_project, "compile").exit_code == 0
    before = (example_project / "target" / "registry.json").read_text()
    path = example_project / "models" / "customers" / "customer_profile.sql"
    path.write_text(path.read_text().replace("entities: [customer]", "entities: [custmer]"))
    proc = subprocess.run(
        [sys.executable, "-m", "sqlfeast", "--project-dir", str(example_project), "compile"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "models/customers/customer_profile.sql:2: unknown entity 'custmer' (did you mean 'customer'?)",
        "1 error found",
    ]
    assert (example_project / "target" / "registry.json").read_text() == before  # nothing stored changed


def test_missing_project_file(tmp_path):
    result = run_cli(tmp_path, "compile")
    assert result.exit_code == 1
    assert f"no sqlfeast_project.yml or dbt_project.yml in {tmp_path.resolve()}" in result.output


def test_plan_and_apply_show_added_changed_removed(example_project):
    store = FeatureStore(example_project)
    assert "+ feature view driver_hourly_stats" in [str(c).strip() for c in store.plan()]
    first = store.apply()
    assert first.version == 1 and first.applied_at
    assert FeatureStore(example_project).plan() == []

    view = example_project / "models" / "drivers" / "driver_hourly_stats.sql"
    view.write_text(
        view.read_text().replace("ttl: 2d", "ttl: 3d").replace("owner: drivers@example.com", "owner: ops@example.com")
    )
    (example_project / "models" / "customers" / "customer_profile.sql").unlink()
    schema = example_project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace(", customer_profile]", "]"))
    result = run_cli(example_project, "plan")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert "~ feature view driver_hourly_stats (owner, ttl_seconds)" in lines
    assert "- feature view customer_profile" in lines
    assert "~ feature service driver_activity_v1 (features)" in lines
    applied = run_cli(example_project, "apply")
    assert "Applied registry version 2" in applied.output
    assert FeatureStore(example_project).registry.feature_views["driver_hourly_stats"].ttl_seconds == 3 * 86400
    assert [h["version"] for h in FeatureStore(example_project).registry_store.history()] == [1, 2]


def test_a_crash_mid_apply_leaves_the_previous_registry(example_project, monkeypatch):
    store = FeatureStore(example_project)
    store.apply()
    local = (example_project / "target" / "applied_registry.json").read_text()
    view = example_project / "models" / "drivers" / "driver_hourly_stats.sql"
    view.write_text(view.read_text().replace("ttl: 2d", "ttl: 5d"))

    store = FeatureStore(example_project)
    real_execute = store.warehouse.execute

    def crash_on_insert(sql, params=None):
        if sql.startswith("INSERT INTO") and "__registry" in sql:
            raise WarehouseError("simulated crash")
        return real_execute(sql, params)

    monkeypatch.setattr(store.warehouse, "execute", crash_on_insert)
    with pytest.raises(WarehouseError):
        store.apply()
    store.close()
    reopened = FeatureStore(example_project)
    assert reopened.registry.version == 1
    assert reopened.registry.feature_views["driver_hourly_stats"].ttl_seconds == 2 * 86400
    assert (example_project / "target" / "applied_registry.json").read_text() == local


def test_projects_are_isolated_in_one_warehouse(tmp_path):
    a = copy_example(tmp_path / "a")
    b = copy_example(tmp_path / "b")
    shared_db = tmp_path / "shared.duckdb"
    for root, name in ((a, "alpha"), (b, "beta")):
        (root / "sqlfeast_project.yml").write_text(
            (root / "sqlfeast_project.yml").read_text().replace("name: demo", f"name: {name}")
        )
        (root / "profiles.yml").write_text(
            (root / "profiles.yml").read_text().replace("path: target/dev.duckdb", f"path: {shared_db}")
        )
    run_a = run_cli(a, "apply")
    assert run_a.exit_code == 0, run_a.output
    view = b / "models" / "drivers" / "driver_hourly_stats.sql"
    view.write_text(view.read_text().replace("ttl: 2d", "ttl: 1d"))
    assert run_cli(b, "apply").exit_code == 0
    assert run_cli(a, "run").exit_code == 0
    assert run_cli(b, "run").exit_code == 0
    store_a, store_b = FeatureStore(a), FeatureStore(b)
    assert store_a.registry.project == "alpha" and store_b.registry.project == "beta"
    assert store_a.registry.feature_views["driver_hourly_stats"].ttl_seconds == 2 * 86400
    assert store_b.registry.feature_views["driver_hourly_stats"].ttl_seconds == 86400
    store_a.close()
    store_b.close()
    import duckdb

    con = duckdb.connect(str(shared_db))
    con.execute(f"SET file_search_path = '{a}'")  # the views read data/ relative to a project
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert {"alpha__registry", "beta__registry", "alpha__driver_hourly_stats", "beta__driver_hourly_stats"} <= tables
    assert con.execute('select count(*) from "alpha__driver_hourly_stats"').fetchone()[0] > 0
    # Each project's registry table holds its own project's registry only.
    for project in ("alpha", "beta"):
        bodies = [json.loads(r[0]) for r in con.execute(f'select body from "{project}__registry"').fetchall()]
        assert bodies and {b["project"] for b in bodies} == {project}


def test_run_with_select_graph_operators(example_project):
    result = run_cli(example_project, "run", "--select", "+driver_hourly_stats")
    assert result.exit_code == 0, result.output
    assert '"demo__driver_stats_clean"' in result.output and '"demo__driver_hourly_stats"' in result.output
    assert "customer_profile" not in result.output
    result = run_cli(example_project, "run", "--select", "tag:team=customers")
    assert "demo__customer_profile" in result.output and "driver" not in result.output
    result = run_cli(example_project, "run", "--select", "driver_stats_clean+")
    assert "demo__driver_hourly_stats" in result.output
    bad = run_cli(example_project, "run", "--select", "driver_hourly_stat")
    assert bad.exit_code == 2
    assert "--select 'driver_hourly_stat' matches no model (did you mean 'driver_hourly_stats'?)" in bad.output


def test_profiles_env_var_default_and_missing(example_project, monkeypatch):
    profiles = example_project / "profiles.yml"
    profiles.write_text(
        profiles.read_text().replace(
            "path: target/dev.duckdb", "path: \"{{ env_var('SQLFEAST_TEST_DB', 'target/default.duckdb') }}\"", 1
        )
    )
    config = load_project(example_project)
    assert load_target(config).settings["path"] == "target/default.duckdb"
    monkeypatch.setenv("SQLFEAST_TEST_DB", "target/other.duckdb")
    assert load_target(config).settings["path"] == "target/other.duckdb"
    with pytest.raises(ConfigError, match="target 'prod' not found in profile 'demo'"):
        load_target(config, target="prod")
    profiles.write_text(
        profiles.read_text().replace("'SQLFEAST_TEST_DB', 'target/default.duckdb'", "'SQLFEAST_TEST_NOT_SET'")
    )
    with pytest.raises(ConfigError) as info:
        load_target(config)
    assert info.value.render() == (
        "profiles.yml:7: environment variable 'SQLFEAST_TEST_NOT_SET' is not set "
        "(export SQLFEAST_TEST_NOT_SET=... or give "
        "env_var('SQLFEAST_TEST_NOT_SET', 'default'))"
    )


def test_a_dbt_profile_is_accepted_as_is(example_project):
    (example_project / "profiles.yml").write_text(
        "demo:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: dbt.duckdb\n"
        "      threads: 4\n      extensions: [parquet]\n"
    )
    target = load_target(load_project(example_project))
    assert target.type == "duckdb" and target.online_store == {"type": "sqlite", "path": "online.db"}
    assert run_cli(example_project, "compile").exit_code == 0


def test_init_scaffolds_a_project_that_compiles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["init", "shop"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "shop" / "data" / "driver_stats.parquet").exists()
    compiled = CliRunner().invoke(main, ["--project-dir", "shop", "compile"])
    assert compiled.exit_code == 0, compiled.output
    assert FeatureStore(tmp_path / "shop").compile(write=False).project == "shop"
    again = CliRunner().invoke(main, ["init", "shop"])
    assert again.exit_code == 2 and "already exists and is not empty" in again.output


def test_scaffold_template_is_the_repository_example():
    template = REPO / "sqlfeast" / "project" / "scaffold" / "project"
    for name in ("sqlfeast_project.yml", "profiles.yml"):
        assert (template / name).read_text() == (REPO / name).read_text()
    for folder in ("models", "macros"):
        cmp = filecmp.dircmp(template / folder, REPO / folder, ignore=["__pycache__"])
        stack = [cmp]
        while stack:
            c = stack.pop()
            assert not (c.left_only or c.right_only or c.diff_files), (folder, c.left_only, c.right_only, c.diff_files)
            stack.extend(c.subdirs.values())


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_golden_compiled_sql(example_project, dialect):
    registry = FeatureStore(example_project).compile(write=False)
    for name, obj in {**registry.models, **registry.feature_views}.items():
        sql = obj.sql[dialect]
        sqlglot.parse_one(sql, read=dialect)  # must parse in its own dialect
        golden = GOLDEN / dialect / f"{name}.sql"
        if os.environ.get("SQLFEAST_UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(sql + "\n")
        assert golden.read_text() == sql + "\n", f"{golden} differs; rerun with SQLFEAST_UPDATE_GOLDEN=1 if intended"


def test_debug_and_unreachable_warehouse(example_project):
    ok = run_cli(example_project, "debug")
    assert ok.exit_code == 0, ok.output
    assert "warehouse: ok, duckdb connection answers" in ok.output
    assert "applied registry: ok, none yet" in ok.output
    profiles = example_project / "profiles.yml"
    profiles.write_text(
        profiles.read_text()
        + (
            "    offline_sf:\n      type: snowflake\n      account: acme\n      user: u\n      password: p\n"
            "      host: 127.0.0.1\n      port: 9\n      protocol: http\n      login_timeout: 3\n"
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "sqlfeast", "--project-dir", str(example_project), "--target", "offline_sf", "debug"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    failed = [line for line in proc.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 1, proc.stdout
    assert failed[0].startswith("warehouse: FAILED: cannot connect to Snowflake account 'acme': ")
    assert failed[0].endswith("(check account, user and credentials in profiles.yml)")
    assert "applied registry: not checked (the warehouse failed)" in proc.stdout
    assert proc.stdout.rstrip().endswith("1 check failed")


def test_relative_data_paths_resolve_against_the_project_not_the_cwd(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from sqlfeast.project.sample_data import write_sample_data

    project = copy_example(tmp_path / "a")
    elsewhere = tmp_path / "b"
    write_sample_data(elsewhere, seed=99)  # same file names, other values
    entities = pq.read_table(project / "data" / "entities.parquet")

    def training(cwd):
        monkeypatch.chdir(cwd)
        with FeatureStore(project) as store:
            return store.get_historical_features(entities, ["driver_hourly_stats:conv_rate"]).to_arrow()

    assert training(elsewhere).equals(training(project))


def test_global_options_also_work_after_the_command(example_project, tmp_path):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    result = CliRunner().invoke(
        main, ["compile", "--project-dir", str(example_project), "-t", "dynamodb", "--vars", "{min_trips: 5}"]
    )
    assert result.exit_code == 0, result.output
    compiled = (
        example_project / "target" / "compiled" / "duckdb" / "models" / "drivers" / "driver_stats_clean.sql"
    ).read_text()
    assert "avg_daily_trips >= 5" in compiled
    bad = CliRunner().invoke(main, ["compile", "--project-dir", str(example_project), "--target", "prod"])
    assert bad.exit_code == 1 and "target 'prod' not found in profile 'demo'" in bad.output
