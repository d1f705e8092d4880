"""Data tests: declarations and their errors, `sqlfeast test` on a terminal, results, online skew."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from sqlfeast.compile.pipeline import load_macros
from sqlfeast.feature_store import FeatureStore
from sqlfeast.offline import data_tests as runner
from sqlfeast.offline.historical import view_sql
from tests.pty_cli import run_pty

SCHEMA = Path("models/schema.yml")
CUSTOMER = Path("models/customers/customer_profile.sql")


def _edit(project: Path, rel: Path, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def _results(project: Path) -> dict:
    return json.loads((project / "target" / "test_results.json").read_text())


def _count(project: Path, view: str, where: str) -> int:
    """The expected failing count, counted here with plain SQL over the compiled view."""
    with FeatureStore(project) as fs:
        v = fs.compile(write=False).feature_views[view]
        return (
            fs.warehouse.query_arrow(f"SELECT COUNT(*) FROM ({view_sql(v, fs.warehouse)}) WHERE {where}")
            .column(0)[0]
            .as_py()
        )


def test_example_tests_pass_with_a_freshness_warning(example_project):
    run = run_pty(example_project, "test")
    assert run.code == 0, run.output
    assert "Traceback" not in run.output
    assert "PASS  driver_hourly_stats  accepted_range(conv_rate)  8400 row(s) checked" in run.output
    assert "WARN  customer_profile  freshness  latest event_timestamp 2026-01-14 00:00:00" in run.output
    assert "Done: 8 pass, 1 warn, 0 fail -> target/test_results.json" in run.output
    doc = _results(example_project)
    assert doc["summary"] == {"pass": 8, "warn": 1, "fail": 0}
    by_id = {(r["view"], r["test"]): r for r in doc["results"]}
    unique = by_id[("driver_hourly_stats", "unique")]
    assert unique["status"] == "pass" and unique["path"] == "models/schema.yml"
    assert by_id[("customer_profile", "not_null(lifetime_trip_count)")]["line"] == 15


def test_error_level_failures_exit_1_with_counts_and_rows(example_project):
    _edit(
        example_project,
        SCHEMA,
        "tests: [not_null, {accepted_range: {min: 0, max: 1}}]",
        "tests: [not_null, {accepted_range: {min: 0, max: 0.5}}, {accepted_values: {values: [0.5]}}]",
    )
    _edit(example_project, SCHEMA, "- row_count: {min: 1}", "- row_count: {min: 1000000}")
    expected = _count(example_project, "driver_hourly_stats", "conv_rate > 0.5")
    assert 0 < expected < 8400
    run = run_pty(example_project, "test", "--select", "driver_hourly_stats")
    assert run.code == 1, run.output
    assert "customer_profile" not in run.output  # --select
    assert (
        f"FAIL  driver_hourly_stats  accepted_range(conv_rate)  {expected} row(s) with conv_rate "
        "outside >= 0 and <= 0.5"
    ) in run.output
    assert "FAIL  driver_hourly_stats  row_count  8400 row(s), expected at least 1000000" in run.output
    assert "FAIL  driver_hourly_stats  accepted_values(conv_rate)" in run.output
    doc = _results(example_project)
    failing = next(r for r in doc["results"] if r["test"] == "accepted_range(conv_rate)")
    assert failing["failing"] == expected and len(failing["rows"]) == runner.SAMPLE_ROWS
    assert all(row["conv_rate"] > 0.5 for row in failing["rows"])
    assert set(failing["rows"][0]) >= {"driver_id", "event_timestamp", "conv_rate"}
    assert doc["summary"]["fail"] == 3


def test_warn_severity_exits_0(example_project):
    _edit(
        example_project,
        SCHEMA,
        "tests: [{accepted_range: {min: 0, max: 1}}]",
        "tests: [{accepted_range: {min: 0, max: 0.5, severity: warn}}]",
    )
    run = run_pty(example_project, "test", "-s", "driver_hourly_stats")
    assert run.code == 0, run.output
    assert "WARN  driver_hourly_stats  accepted_range(acc_rate)" in run.output


def test_unique_not_null_and_freshness_failures(example_project):
    path = example_project / "data" / "customer_profile.parquet"
    table = pq.read_table(path)
    first = table.slice(0, 1)
    nulled = table.slice(1, 1).set_column(
        table.schema.get_field_index("lifetime_trip_count"),
        "lifetime_trip_count",
        pa.array([None], table.schema.field("lifetime_trip_count").type),
    )
    pq.write_table(pa.concat_tables([table, first, first, nulled]), path)
    _edit(example_project, CUSTOMER, "- freshness: {warn_after: 30d}", "- freshness: {warn_after: 6h, error_after: 1d}")
    run = run_pty(example_project, "test", "-s", "customer_profile")
    assert run.code == 1, run.output
    assert "FAIL  customer_profile  unique  2 duplicated (customer_id, event_timestamp) combination(s)" in run.output
    assert "FAIL  customer_profile  not_null(lifetime_trip_count)  1 row(s) with lifetime_trip_count NULL" in run.output
    assert "FAIL  customer_profile  freshness  latest event_timestamp 2026-01-14 00:00:00" in run.output
    assert "(error after 1.0d)" in run.output
    dup = next(r for r in _results(example_project)["results"] if r["test"] == "unique")
    assert dup["rows"][0]["__sqlfeast_n"] == 3  # the first row, now three times


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            (CUSTOMER, "  - unique\n", "  - uniq\n"),
            "models/customers/customer_profile.sql:10: unknown data test 'uniq' (did you mean 'unique'?)",
        ),
        (
            (CUSTOMER, "{type: bigint, tests: [not_null,", "{type: bigint, tests: [not_nul,"),
            "models/customers/customer_profile.sql:15: unknown data test 'not_nul' (did you mean 'not_null'?)",
        ),
        (
            (SCHEMA, "      - row_count: {min: 1}", "      - row_cnt: {min: 1}"),
            "models/schema.yml:42: unknown data test 'row_cnt' (did you mean 'row_count'?)",
        ),
        (
            (SCHEMA, "tests: [{accepted_range: {min: 0, max: 1}}]", "tests: [{freshness: {warn_after: 1d}}]"),
            "models/schema.yml:47: data test 'freshness' cannot be declared on a column",
        ),
        (
            (SCHEMA, "tests: [{accepted_range: {min: 0, max: 1}}]", "tests: [accepted_values]"),
            "models/schema.yml:47: accepted_values needs 'values': a non-empty list of values",
        ),
        (
            (SCHEMA, "tests: [{accepted_range: {min: 0, max: 1}}]", "tests: [{accepted_range: {lo: 0}}]"),
            "models/schema.yml:47: unknown argument 'lo' of data test 'accepted_range'",
        ),
        (
            (SCHEMA, "      - name: acc_rate\n", "      - name: acc_rat\n"),
            "models/schema.yml:47: data test 'accepted_range' names column 'acc_rat' that feature view "
            "'driver_hourly_stats' does not select (did you mean 'acc_rate'?)",
        ),
        (
            (SCHEMA, "  - name: driver_hourly_stats\n    tests:", "  - name: driver_stats_clean\n    tests:"),
            "models/schema.yml:39: data tests run on feature views; 'driver_stats_clean' is a plain model",
        ),
        (
            (SCHEMA, "  - name: driver_hourly_stats\n    tests:", "  - name: driver_hourly\n    tests:"),
            "models/schema.yml:39: models entry 'driver_hourly' names no feature view (did you mean 'driver_hourly_stats'?)",
        ),
        (
            (CUSTOMER, "- freshness: {warn_after: 30d}", "- freshness: {warn_after: soon}"),
            "models/customers/customer_profile.sql:11: freshness warn_after: invalid ttl 'soon'",
        ),
        (
            (SCHEMA, "- row_count: {min: 1}", "- row_count: {min: 1, severity: fatal}"),
            "models/schema.yml:42: severity of data test 'row_count' must be 'error' or 'warn', not 'fatal'",
        ),
    ],
)
def test_bad_declarations_are_compile_errors_at_file_line(example_project, edit, message):
    (example_project / "target").mkdir(exist_ok=True)
    before = {"results": "kept"}
    (example_project / "target" / "test_results.json").write_text(json.dumps(before))
    _edit(example_project, *edit)
    for command in ("compile", "test"):
        run = run_pty(example_project, command)
        assert run.code == 1, run.output
        assert message in run.output, run.output
        assert "Traceback" not in run.output
    assert _results(example_project) == before  # nothing written


def test_online_skew_passes_then_finds_a_corrupted_value(example_project):
    assert run_pty(example_project, "apply").code == 0
    assert run_pty(example_project, "materialize", "2026-01-01", "2026-01-16", "-q").code == 0
    run = run_pty(example_project, "test", "--online", "--sample", "20")
    assert run.code == 0, run.output
    assert "PASS  driver_hourly_stats  online_skew  20 of 20 sampled entities compared" in run.output
    with sqlite3.connect(example_project / "target" / "online.db") as con:
        # (the row with the empty key marks the table's identity; it is no entity)
        keys = [k for (k,) in con.execute("SELECT entity_key FROM \"demo.driver_hourly_stats\" WHERE entity_key <> ''")]
        key = keys[0]
        (payload,) = con.execute(
            'SELECT payload FROM "demo.driver_hourly_stats" WHERE entity_key = ?', [key]
        ).fetchone()
        attrs = json.loads(payload)
        attrs["conv_rate"] = {"N": "12.5"}
        con.execute('UPDATE "demo.driver_hourly_stats" SET payload = ? WHERE entity_key = ?', [json.dumps(attrs), key])
    run = run_pty(example_project, "test", "--online")  # default sample: every one of the 50 drivers
    assert run.code == 1, run.output
    assert (
        "FAIL  driver_hourly_stats  online_skew  50 of 50 sampled entities compared; "
        "mismatches by feature: conv_rate: 1"
    ) in run.output
    assert f'"entity": "{key}", "feature": "conv_rate", "online": 12.5' in run.output
    assert "PASS  customer_profile  online_skew" in run.output


def test_online_skew_before_materialize_and_usage_errors(example_project):
    assert run_pty(example_project, "apply").code == 0
    run = run_pty(example_project, "test", "--online")
    assert run.code == 0, run.output
    assert "PASS  driver_hourly_stats  online_skew  not checked: never materialized" in run.output
    for args, message in (
        (("--sample", "5"), "--sample goes with --online"),
        (("--online", "--sample", "0"), "--sample must be at least 1, not 0"),
        (("--select", "nope"), "--select 'nope' matches no model"),
    ):
        run = run_pty(example_project, "test", *args)
        assert run.code == 2 and message in run.output and "Traceback" not in run.output, run.output


def test_default_and_snowflake_macros_agree_with_duckdb(example_project):
    """The portable default__ query gives DuckDB's answer; the Snowflake SQL parses as Snowflake."""
    _edit(
        example_project,
        SCHEMA,
        "tests: [{accepted_range: {min: 0, max: 1}}]",
        "tests: [{accepted_range: {min: 0.2, max: 0.8, inclusive: false}}, {accepted_values: {values: [0.5, 1]}}]",
    )
    with FeatureStore(example_project) as fs:
        registry = fs.compile(write=False)
        view = registry.feature_views["driver_hourly_stats"]
        sql = view_sql(view, fs.warehouse)
        rows = {}
        for target_type in ("duckdb", "postgres"):
            renderer = load_macros(fs.project).renderer(target_type, "dev", "main", "demo", fs.vars)
            rows[target_type] = fs.warehouse.query_arrow(runner.view_tests_sql(renderer, view, sql)).to_pylist()[0]
        assert list(rows["duckdb"].values()) == list(rows["postgres"].values())
        # rows, latest timestamp, unique, row_count, conv_rate x 2, then the two acc_rate tests
        counts = list(rows["duckdb"].values())
        assert counts[6] == _count(example_project, "driver_hourly_stats", "acc_rate <= 0.2 OR acc_rate >= 0.8") > 0
        assert counts[7] == _count(example_project, "driver_hourly_stats", "acc_rate NOT IN (0.5, 1)") > 0
        snow = load_macros(fs.project).renderer("snowflake", "dev", "main", "demo", fs.vars)
        sqlglot.parse_one(runner.view_tests_sql(snow, view, view.sql["snowflake"]), dialect="snowflake")
