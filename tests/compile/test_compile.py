"""Compile and validation: every rule with its exact message and location."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sqlfeast.compile.pipeline import compile_project
from sqlfeast.errors import ValidationErrors
from sqlfeast.project.config import load_project, load_target

PROFILES = """
mini:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: target/mini.duckdb
      online_store: {type: sqlite, path: target/online.db}
"""

SCHEMA = """
entities:
  - name: driver
    join_keys: [driver_id]
sources:
  - name: raw
    tables:
      - name: stats
        external_location: "read_parquet('data/stats.parquet')"
        columns:
          - {name: driver_id, data_type: bigint}
          - {name: ts, data_type: timestamp}
          - {name: rate, data_type: double}
          - {name: label, data_type: varchar}
      - name: opaque
        external_location: "read_parquet('data/*.parquet')"
"""

GOOD_VIEW = """\
/* @feature_view
entities: [driver]
timestamp: ts
ttl: 1d
features:
  rate: double
*/
select driver_id, ts, rate
from {{ source('raw', 'stats') }}
"""


def make_project(
    root: Path, models: dict[str, str], schema: str = SCHEMA, macros: dict[str, str] | None = None, vars_block: str = ""
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sqlfeast_project.yml").write_text(f"name: mini\n{vars_block}")
    (root / "profiles.yml").write_text(PROFILES)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "schema.yml").write_text(schema)
    for name, text in models.items():
        path = root / "models" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if not text.startswith("/*") else text)
    for name, text in (macros or {}).items():
        (root / "macros").mkdir(exist_ok=True)
        (root / "macros" / name).write_text(text)
    return root


def compile_dir(root: Path, **kwargs):
    config = load_project(root)
    return compile_project(config, load_target(config), **kwargs)


def errors_of(root: Path, **kwargs) -> list[str]:
    with pytest.raises(ValidationErrors) as info:
        compile_dir(root, **kwargs)
    return [e.render() for e in info.value.errors]


def test_example_project_compiles(example_project):
    registry = compile_dir(example_project)
    assert sorted(registry.feature_views) == ["customer_profile", "driver_hourly_stats", "driver_trip_windows"]
    view = registry.feature_views["driver_hourly_stats"]
    assert view.join_keys == ["driver_id"]
    assert view.ttl_seconds == 2 * 86400
    assert view.created_timestamp == "created"
    assert [(f.name, f.type) for f in view.features] == [
        ("conv_rate", "double"),
        ("acc_rate", "double"),
        ("avg_daily_trips", "bigint"),
    ]
    assert view.features[0].description == "Share of offers accepted"
    assert view.depends_on == ["model:driver_stats_clean"]
    assert view.columns["event_timestamp"] == "timestamp"
    assert (example_project / "target" / "registry.json").exists()
    assert (
        example_project / "target" / "compiled" / "snowflake" / "models" / "drivers" / "driver_hourly_stats.sql"
    ).exists()


def test_good_view_compiles(tmp_path):
    registry = compile_dir(make_project(tmp_path, {"v.sql": GOOD_VIEW}))
    assert registry.feature_views["v"].columns == {"driver_id": "bigint", "ts": "timestamp", "rate": "double"}


def test_syntax_error_points_at_the_line(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, ts, (rate")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:9:1: SQL syntax error: Expecting ) (fix the SQL near this position)"
    ]


def test_header_yaml_error_has_its_line(tmp_path):
    view = GOOD_VIEW.replace("ttl: 1d", "ttl: [1d")
    errs = errors_of(make_project(tmp_path, {"v.sql": view}))
    assert errs[0].startswith("models/v.sql:5:") and "invalid YAML" in errs[0]


def test_unknown_header_key_is_suggested(tmp_path):
    view = GOOD_VIEW.replace("ttl: 1d", "ttl: 1d\nonwer: me")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:5: unknown header key 'onwer' (did you mean 'owner'?)"
    ]


def test_unknown_entity(tmp_path):
    view = GOOD_VIEW.replace("entities: [driver]", "entities: [drvier]")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:2: unknown entity 'drvier' (did you mean 'driver'?)"
    ]


def test_bad_ttl(tmp_path):
    view = GOOD_VIEW.replace("ttl: 1d", "ttl: 2 days")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:4: invalid ttl '2 days'; use a number with a unit s, m, h, d or w (e.g. 2d), or 0 for no limit"
    ]


def test_declared_feature_missing_and_extra_column_suggest_each_other(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, ts, rate as rat")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:6: feature 'rate' is declared but not selected (did you mean 'rat'?)",
        "models/v.sql:8:31: column 'rat' is selected but not declared as a feature (did you mean 'rate'?)",
    ]


def test_undeclared_column_without_close_match(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, ts, rate, label")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:8:29: column 'label' is selected but not declared as a feature "
        "(declare it under 'features:' with its type, or remove it from the SELECT)"
    ]


def test_missing_join_key_and_timestamp(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select rate")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:2: join key 'driver_id' is not selected "
        "(select driver_id: every join key of the view's entities must be in the SELECT)",
        "models/v.sql:3: timestamp column 'ts' is not selected (select ts or change 'timestamp:')",
    ]


def test_type_mismatch(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, ts, label as rate")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:8:32: feature 'rate' is declared as double but the query gives varchar "
        "(cast it in the SELECT or change the declared type)"
    ]


def test_integer_widens_to_double(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, ts, 1 as rate")
    registry = compile_dir(make_project(tmp_path, {"v.sql": view}))
    assert registry.feature_views["v"].feature("rate").type == "double"
    assert registry.feature_views["v"].columns["rate"] == "integer"  # what the SELECT gives, widened on read


def test_timestamp_must_be_a_timestamp(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, label as ts, rate")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:8:28: timestamp column 'ts' must be a timestamp or date, the query gives varchar "
        "(cast it to timestamp)"
    ]


def test_unknown_column_of_a_known_source(tmp_path):
    view = GOOD_VIEW.replace("select driver_id, ts, rate", "select driver_id, ts, rte as rate")
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:8:23: unknown column 'rte' (did you mean 'rate'?)"
    ]


def test_select_star_is_expanded_from_known_schema(tmp_path):
    view = GOOD_VIEW.replace("features:\n  rate: double", "features:\n  rate: double\n  label: varchar")
    view = view.replace("select driver_id, ts, rate", "select *")
    registry = compile_dir(make_project(tmp_path, {"v.sql": view}))
    sql = registry.feature_views["v"].sql["duckdb"]
    assert "*" not in sql and '"label"' in sql


def test_select_star_from_unknown_schema_is_rejected(tmp_path):
    view = GOOD_VIEW.replace(
        "select driver_id, ts, rate\nfrom {{ source('raw', 'stats') }}", "select *\nfrom {{ source('raw', 'opaque') }}"
    )
    assert errors_of(make_project(tmp_path, {"v.sql": view})) == [
        "models/v.sql:8:8: SELECT * cannot be expanded: the columns of source raw.opaque are unknown "
        "(list the columns, or declare the source's columns with data_type in YAML)"
    ]


def test_only_one_select_no_ddl(tmp_path):
    errs = errors_of(
        make_project(
            tmp_path,
            {
                "two.sql": "select 1 as a;\nselect 2 as b\n",
                "ddl.sql": "-- not allowed\ncreate table t as select 1 as a\n",
            },
        )
    )
    assert errs == [
        "models/ddl.sql:2: a model must be a SELECT query, found CREATE "
        "(remove DDL/DML; 'sqlfeast run' creates the views itself)",
        "models/two.sql:1: expected exactly one SELECT statement, found 2 (a model is a single SELECT)",
    ]


def test_every_error_is_reported_not_only_the_first(tmp_path):
    bad1 = GOOD_VIEW.replace("entities: [driver]", "entities: [nobody]")
    bad2 = GOOD_VIEW.replace("ttl: 1d", "ttl: soon")
    assert len(errors_of(make_project(tmp_path, {"a.sql": bad1, "b.sql": bad2}))) == 2


def test_ref_cycle_is_printed(tmp_path):
    errs = errors_of(
        make_project(
            tmp_path,
            {
                "a.sql": "select * from {{ ref('b') }}\n",
                "b.sql": "-- b\nselect * from {{ ref('a') }}\n",
            },
        )
    )
    assert errs == ["models/b.sql:2: ref cycle: a -> b -> a (remove one of these ref() calls)"]


def test_unknown_ref_source_macro_and_var(tmp_path):
    errs = errors_of(
        make_project(
            tmp_path,
            {
                "r.sql": "\nselect * from {{ ref('nope_model') }}\n",
                "s.sql": "select * from {{ source('raw', 'stat') }}\n",
                "m.sql": "select {{ my_macro() }} as a\n",
                "v.sql": "select {{ var('region') }} as a\n",
            },
        )
    )
    assert errs == [
        "models/m.sql:1: undefined name in template: 'my_macro' is undefined "
        "(define the macro in macros/ or fix the name)",
        "models/r.sql:2: ref('nope_model') names no model (check the model's file name)",
        "models/s.sql:1: source('raw', 'stat') is not declared (did you mean 'raw.stats'?)",
        "models/v.sql:1: var('region') is not defined "
        "(set it under 'vars:' in sqlfeast_project.yml, pass --vars, or give a default)",
    ]


def test_duplicate_names(tmp_path):
    schema = (
        SCHEMA + "\n  - name: stats\n"
        if False
        else SCHEMA.replace("entities:\n", "entities:\n  - name: driver\n    join_keys: [id]\n")
    )
    root = make_project(tmp_path, {"v.sql": GOOD_VIEW, "sub/v.sql": "select 1 as a\n"}, schema=schema)
    errs = errors_of(root)
    assert (
        "models/schema.yml:5: duplicate entity 'driver' (first defined at models/schema.yml:3) "
        "(names must be unique within a project)" in errs
    )
    assert (
        "models/v.sql:1: duplicate model name 'v' (also defined in models/sub/v.sql) "
        "(rename one of the files or set 'name:')" in errs
    )


def test_bad_yaml_reports_its_line(tmp_path):
    root = make_project(tmp_path, {"v.sql": GOOD_VIEW}, schema=SCHEMA + "\nfeature_services: [oops\n")
    errs = errors_of(root)
    assert errs[0] == (
        "models/schema.yml:19:1: invalid YAML: expected ',' or ']', but got '<stream end>' (fix the YAML syntax)"
    )


def test_feature_service_members_are_checked(tmp_path):
    schema = SCHEMA + "\nfeature_services:\n  - name: svc\n    features: [v:rate, v:rat, vv]\n"
    errs = errors_of(make_project(tmp_path, {"v.sql": GOOD_VIEW}, schema=schema))
    assert errs == [
        "models/schema.yml:20: feature service 'svc' names unknown feature 'v:rat' (did you mean 'rate'?)",
        "models/schema.yml:20: feature service 'svc' names unknown feature view 'vv' (did you mean 'v'?)",
    ]


def test_line_numbers_map_back_through_jinja(tmp_path):
    view = GOOD_VIEW.replace(
        "select driver_id, ts, rate\n",
        textwrap.dedent("""\
        {%- set cols = ['driver_id', 'ts'] %}
        select
        {% for c in cols -%}
          {{ c }},
        {% endfor -%}
          rate,
          bogus
        """),
    )
    errs = errors_of(make_project(tmp_path, {"v.sql": view}))
    assert errs == ["models/v.sql:14:3: unknown column 'bogus' (available columns: driver_id, label, rate, ts)"]


def test_env_var_in_models(tmp_path, monkeypatch):
    model = (
        'select \'{{ env_var("SQLFEAST_TEST_REGION", "eu") }}\' as region, '
        "'{{ env_var(\"SQLFEAST_TEST_MISSING\") }}' as x\n"
    )
    root = make_project(tmp_path, {"m.sql": model})
    assert errors_of(root) == [
        "models/m.sql:1: environment variable 'SQLFEAST_TEST_MISSING' is not set "
        "(export SQLFEAST_TEST_MISSING=... or give env_var('SQLFEAST_TEST_MISSING', 'default'))"
    ]
    monkeypatch.setenv("SQLFEAST_TEST_MISSING", "set")
    registry = compile_dir(root)
    assert "'eu' AS \"region\"" in registry.models["m"].sql["duckdb"]


def test_vars_from_project_and_overrides(tmp_path):
    root = make_project(tmp_path, {"m.sql": "select {{ var('n') }} as n\n"}, vars_block="vars:\n  n: 1\n")
    assert '1 AS "n"' in compile_dir(root).models["m"].sql["duckdb"]
    assert '7 AS "n"' in compile_dir(root, vars={"n": 7}).models["m"].sql["duckdb"]


def test_dispatch_prefers_warehouse_then_default_and_project_overrides_builtin(tmp_path):
    macros = {
        "m.sql": textwrap.dedent("""\
        {% macro pick() %}{{ adapter.dispatch('pick')() }}{% endmacro %}
        {% macro default__pick() %}'default'{% endmacro %}
        {% macro duckdb__pick() %}'duckdb'{% endmacro %}
        {% macro default__create_view(relation, sql) %}create view {{ relation }} as /* mine */ {{ sql }}{% endmacro %}
        """)
    }
    root = make_project(tmp_path, {"m.sql": "select {{ pick() }} as w\n"}, macros=macros)
    registry = compile_dir(root)
    assert "'duckdb' AS \"w\"" in registry.models["m"].sql["duckdb"]
    from sqlfeast.feature_store import FeatureStore

    store = FeatureStore(root)
    assert store.renderer.call("create_view", "x", "select 1") == "create view x as /* mine */ select 1"
    snowflake = store.renderer.library.renderer("snowflake")
    assert snowflake.call("pick") == "'default'"


def test_strict_checks_against_the_warehouse(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data").mkdir()
    pq.write_table(
        pa.table({"driver_id": [1], "ts": pa.array([0], pa.timestamp("us")), "rate": ["x"]}),
        tmp_path / "data" / "o.parquet",
    )
    view = GOOD_VIEW.replace("source('raw', 'stats')", "source('raw', 'opaque')")
    root = make_project(tmp_path, {"v.sql": view})
    from sqlfeast.feature_store import FeatureStore

    # Types unknown to sqlglot: the feature's is not checked without --strict (the join key's is
    # learnt from the warehouse either way).
    assert FeatureStore(root).compile().feature_views["v"].join_key_types == {"driver_id": "bigint"}
    with pytest.raises(ValidationErrors) as info:
        FeatureStore(root).compile(strict=True)
    assert [e.render() for e in info.value.errors] == [
        "models/v.sql:6: feature 'rate' is declared as double but the warehouse reports VARCHAR "
        "(cast it in the SELECT or change the declared type)"
    ]


def test_ambiguous_column_is_named_as_such(tmp_path):
    schema = SCHEMA.replace(
        "      - name: opaque\n",
        "      - name: more\n        columns:\n"
        "          - {name: driver_id, data_type: bigint}\n"
        "          - {name: ts, data_type: timestamp}\n      - name: opaque\n",
    )
    view = GOOD_VIEW.replace(
        "select driver_id, ts, rate\nfrom {{ source('raw', 'stats') }}",
        "select s.driver_id, ts, rate\nfrom {{ source('raw', 'stats') }} s\n"
        "join {{ source('raw', 'more') }} m on s.driver_id = m.driver_id",
    )
    assert errors_of(make_project(tmp_path, {"v.sql": view}, schema=schema)) == [
        "models/v.sql:8:21: column 'ts' is ambiguous: source raw.stats, source raw.more all have it "
        "(qualify it, e.g. t.ts)"
    ]


def test_tables_named_directly_have_unknown_schemas_and_push_tables_known_ones(tmp_path):
    schema = SCHEMA + (
        "\npush_sources:\n  - name: live\n    feature_views: [v]\n    timestamp: ts\n"
        "    schema: {driver_id: bigint, ts: timestamp, rate: double}\n"
    )
    view = GOOD_VIEW.replace(
        "from {{ source('raw', 'stats') }}",
        "from {{ source('raw', 'stats') }}\nunion all\n"
        "select driver_id, ts, rate from {{ push_source('live') }}\nunion all\n"
        "select driver_id, ts, rate from elsewhere.some_table",
    )
    # elsewhere.some_table hides the key's type: the entity declares it (nothing is asked)
    declared = schema.replace("join_keys: [driver_id]\n", "join_keys: [driver_id]\n    value_type: bigint\n", 1)
    assert declared != schema
    registry = compile_dir(make_project(tmp_path, {"v.sql": view}, schema=declared))
    assert '"main"."mini__push__live"' in registry.feature_views["v"].sql["duckdb"]
    assert registry.feature_views["v"].join_key_types == {"driver_id": "bigint"}
    typo = view.replace(
        "select driver_id, ts, rate from {{ push_source('live') }}",
        "select driver_id, ts, rat from {{ push_source('live') }}",
    )
    typo = typo.replace("\nunion all\nselect driver_id, ts, rate from elsewhere.some_table", "")
    errs = errors_of(make_project(tmp_path / "typo", {"v.sql": typo}, schema=schema))
    assert errs == ["models/v.sql:11:23: unknown column 'rat' (did you mean 'rate'?)"]
