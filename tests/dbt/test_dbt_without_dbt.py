"""dbt projects rendered by sqlfeast's own dbt-compatible Jinja, where dbt cannot be imported."""

from __future__ import annotations

import duckdb
import pytest

from sqlfeast.compile.templating import MacroLibrary

from .helpers import copy_project, hide_dbt, sqlfeast


@pytest.fixture(autouse=True)
def without_dbt(monkeypatch, tmp_path_factory):
    """Every sqlfeast command here runs as on a machine where dbt is not installed."""
    hide_dbt(monkeypatch, tmp_path_factory.mktemp("no-dbt"))


def renderer(*macro_files: tuple[str, str, str | None]):
    lib = MacroLibrary.builtin()
    lib.add_dbt_builtins()
    for path, text, package in macro_files:
        lib.add(path, text, package)
    return lib.renderer(
        "duckdb",
        "dev",
        "main",
        "shop",
        {},
        dbt=True,
        target_settings={"threads": 4, "path": "x.duckdb"},
        database="x",
        sqlfeast_schema="main_sqlfeast",
    )


def render(r, text: str) -> str:
    return r.render(text, "features/x.sql", {"this": "t"}).strip()


def test_return_do_dispatch_namespaces_and_dbt_blocks():
    pkg = (
        "dbt_packages/tu/macros/k.sql",
        """
{% macro key(fields) %}{{ return(adapter.dispatch('key', 'tu')(fields)) }}{% endmacro %}
{% macro default__key(fields) %}{% set p = [] %}{% do p.append(fields | join('|')) %}{{ return(p[0]) }}{% endmacro %}
{% test positive(model, column_name) %}select 1{% endtest %}
{% materialization odd, adapter='duckdb' %}{% call statement('main') %}x{% endcall %}{% endmaterialization %}
{% snapshot s %}select 1{% endsnapshot %}""",
        "tu",
    )
    own = (
        "macros/k.sql",
        "{% macro duckdb__key(fields) %}{{ return('own:' ~ (fields | join(','))) }}{% endmacro %}",
        "shop",
    )
    r = renderer(pkg)
    assert render(r, "{{ tu.key(['a', 'b']) }}") == "a|b"
    assert render(renderer(pkg, own), "{{ tu.key(['a', 'b']) }}") == "own:a,b"  # the project's override wins
    assert "test_positive" in r.macros
    assert (
        render(
            r,
            "{{ target.threads }} {{ target.database }} {{ target.schema }} {{ is_incremental() }}"
            "{{ log('x', info=true) }} {{ modules.datetime.date(2020, 1, 2) }} {{ sqlfeast_schema }}",
        )
        == "4 x main False 2020-01-02 main_sqlfeast"
    )


def test_cross_database_macros_run_on_duckdb():
    r = renderer()
    sql = render(
        r,
        """select {{ dbt.date_trunc('month', "date '2020-05-17'") }} as a,
        {{ dbt.dateadd('day', 3, "date '2020-05-17'") }} as b,
        {{ dbt.datediff("date '2020-05-17'", "date '2020-06-01'", 'day') }} as c,
        {{ dbt.safe_cast("'x'", dbt.type_int()) }} as d,
        {{ dbt.concat(["'a'", "'b'"]) }} as e,
        {{ dbt.hash("'a'") }} as f,
        cast(1 as {{ type_bigint() }}) as g""",
    )
    row = duckdb.sql(sql).fetchall()[0]
    assert str(row[0])[:10] == "2020-05-01" and str(row[1])[:10] == "2020-05-20" and row[2] == 15
    assert row[3] is None and row[4] == "ab" and row[5] == "0cc175b9c0f1b6a831c399e269772661" and row[6] == 1


@pytest.fixture
def unbuilt(tmp_path):
    """The second test project, never built by dbt: seeds are read from their CSV files. Nothing
    is built for the warehouse to describe, so the entity declares its key's type."""
    root = copy_project("shop_packages", tmp_path, "seeds/raw")
    declare_customer_key_type(root / "features" / "features.yml")
    return root


def declare_customer_key_type(path) -> None:
    text = path.read_text()
    assert "    join_keys: [customer_id]\n" in text
    path.write_text(
        text.replace("    join_keys: [customer_id]\n", "    join_keys: [customer_id]\n    value_type: bigint\n")
    )


def test_seeds_read_from_csv_when_dbt_has_not_loaded_them(unbuilt):
    (unbuilt / "features" / "customer_daily_orders.sql").unlink()  # it reads a model dbt has not built
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 0, out
    sql = (unbuilt / "target/sqlfeast/compiled/duckdb/features/customer_first_orders.sql").read_text()
    assert "READ_CSV_AUTO('seeds/raw/raw_customers.csv')" in sql


def test_bad_input_in_a_dbt_project_is_located(unbuilt):
    fv = unbuilt / "features" / "customer_first_orders.sql"
    text = fv.read_text()
    fv.write_text(text.replace("ref('customer_orders', v=1)", "ref('customer_orders', v=3)"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "Traceback" not in out
    assert (
        "features/customer_first_orders.sql:12: ref('customer_orders', v=3): model 'customer_orders' has no version 3"
        in out
    )
    fv.write_text(text.replace("{% if is_incremental() %}", "{% if run_query('select 1') %}"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "Traceback" not in out
    assert "features/customer_first_orders.sql:14: run_query() needs a database connection" in out
    assert "install sqlfeast[dbt] to render with dbt" in out
    fv.write_text(text.replace("ref('raw_customers')", "ref('raw_customer')"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "names no model or seed of this dbt project (did you mean 'raw_customers'?)" in out
    project = unbuilt / "dbt_project.yml"
    project.write_text(project.read_text().replace("schema: shop_features", "schemaa: shop_features"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "dbt_project.yml:10: unknown key 'schemaa' in vars.sqlfeast (did you mean 'schema'?)" in out


def test_source_yaml_jinja_is_rendered_and_dbt_keys_are_accepted(tmp_path):
    root = copy_project("jaffle_features", tmp_path)
    fv = root / "features" / "payments.sql"
    fv.write_text(
        "/* @feature_view\nentities: [customer]\ntimestamp: ts\nfeatures: {amount: double}\n*/\n"
        "select order_id as customer_id, current_timestamp as ts, cast(amount as double) as amount\n"
        "from {{ source('raw', 'raw_payments') }}\n"
    )
    declare_customer_key_type(root / "features" / "features.yml")  # dbt has built nothing to describe
    code, out = sqlfeast(root, "--vars", "{raw_schema: landing}", "compile")
    assert code == 0, out
    assert "FROM landing.raw_payments" in (root / "target/sqlfeast/compiled/duckdb/features/payments.sql").read_text()


def test_a_version_on_a_standalone_ref_is_an_error(example_project):
    model = next(example_project.glob("models/**/driver_hourly_stats.sql"))
    model.write_text(model.read_text().replace("ref('driver_stats_clean')", "ref('driver_stats_clean', v=2)"))
    code, out = sqlfeast(example_project, "compile")
    assert code == 1 and "model versions exist only for dbt models" in out and "Traceback" not in out


def test_asking_for_dbt_without_dbt_says_what_to_install(unbuilt, monkeypatch):
    project = unbuilt / "dbt_project.yml"
    project.write_text(project.read_text().replace("schema: shop_features", "schema: shop_features\n    renderer: dbt"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "Traceback" not in out
    assert "the project asks for dbt to render its feature views, but dbt-core is not installed" in out
    assert "install sqlfeast[dbt] to render with dbt" in out
    project.write_text(project.read_text().replace("renderer: dbt", "renderer: dbtt"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "dbt_project.yml:11: vars.sqlfeast.renderer must be one of auto, dbt, sqlfeast" in out
    project.write_text(project.read_text().replace("renderer: dbtt", "renderer: auto"))
    monkeypatch.setenv("SQLFEAST_RENDERER", "nope")
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "SQLFEAST_RENDERER='nope' is not one of auto, dbt, sqlfeast" in out and "Traceback" not in out
    monkeypatch.setenv("SQLFEAST_RENDERER", "auto")
    monkeypatch.setenv("SQLFEAST_DBT", str(unbuilt / "no" / "dbt"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "SQLFEAST_DBT names " in out and "which is not a dbt executable" in out, out


def test_introspection_without_dbt_is_located(unbuilt):
    (unbuilt / "features" / "customer_columns.sql").write_text(DBT_ONLY_VIEW)
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "Traceback" not in out
    assert "features/customer_columns.sql:8: run_query() needs a database connection while rendering" in out, out
    assert "install sqlfeast[dbt] to render with dbt" in out
    text = DBT_ONLY_VIEW.replace(DBT_ONLY_VIEW.splitlines()[7], "")
    (unbuilt / "features" / "customer_columns.sql").write_text(text.replace("{{ latest }}", "2100-01-01"))
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "features/customer_columns.sql:9: adapter.get_columns_in_relation is not available" in out
    assert "install sqlfeast[dbt] to render with dbt" in out
    # A macro's own compiler error (as dbt_utils.star raises for what is not a dbt Relation).
    (unbuilt / "macros" / "checks.sql").write_text(
        "{% macro need_relation(x) %}{{ exceptions.raise_compiler_error('expected a Relation') }}{% endmacro %}"
    )
    (unbuilt / "features" / "customer_columns.sql").write_text(
        text.replace("{{ latest }}", "2100-01-01").replace("{{ tiny_utils.columns_except(", "{{ need_relation(")
    )
    code, out = sqlfeast(unbuilt, "compile")  # two arguments for one
    assert code == 1 and "Traceback" not in out
    assert (
        "features/customer_columns.sql:9: template error: macro 'need_relation' takes not more than 1 argument(s)"
        in out
    )
    (unbuilt / "macros" / "checks.sql").write_text(
        "{% macro need_relation(x, y) %}{{ exceptions.raise_compiler_error('expected a Relation') }}{% endmacro %}"
    )
    (unbuilt / "features" / "customer_columns.sql").write_text(
        text.replace("{{ latest }}", "2100-01-01").replace("{{ tiny_utils.columns_except(", "{{ need_relation(")
    )
    code, out = sqlfeast(unbuilt, "compile")
    assert code == 1 and "Traceback" not in out
    assert (
        "features/customer_columns.sql:9: expected a Relation (if dbt renders this, install sqlfeast[dbt] to render with dbt)"
        in out
    ), out


# A feature view only dbt can render: a package macro that asks the warehouse for a relation's
# columns (adapter.get_columns_in_relation) and a run_query() result in the SQL.
DBT_ONLY_VIEW = """/* @feature_view
entities: [customer]
timestamp: event_timestamp
features:
  orders: bigint
  completed_orders: bigint
*/
{%- set latest = run_query("select max(order_date) from " ~ ref('customer_orders', v=2)).columns[0].values()[0] if execute else '2100-01-01' %}
select {{ tiny_utils.columns_except(ref('customer_orders', v=2), ['order_date']) }},
       cast(order_date as timestamp) as event_timestamp
from {{ ref('customer_orders', v=2) }}
where order_date <= date '{{ latest }}'
"""
