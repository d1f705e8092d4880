"""The compiler's shortcuts give exactly what the general paths give.

Each shortcut (typing single-table SELECTs without qualify, splicing a dependency's SQL once
per dialect, parsing YAML with libyaml) is compared with the path it replaces.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from sqlfeast.compile import analysis
from sqlfeast.compile.pipeline import DIALECTS, assemble_sql, compile_project
from sqlfeast.core.types import from_sqlglot, parse_type
from sqlfeast.errors import SqlfeastError, ValidationError
from sqlfeast.project import yamlfile
from sqlfeast.project.config import load_project, load_target

T = "__sqlfeast_source__raw__t"
COLUMNS = {
    "id": parse_type("bigint"),
    "ts": parse_type("timestamp"),
    "x": parse_type("double"),
    "n": parse_type("integer"),
    "s": parse_type("varchar"),
}


def _full_path_types(sql: str) -> list:
    schema = {T: {c: t.sql("duckdb") for c, t in COLUMNS.items()}}
    typed = qualify(
        sqlglot.parse_one(sql, read="duckdb"),
        schema=schema,
        dialect="duckdb",
        identify=False,
        validate_qualify_columns=True,
        quote_identifiers=False,
    )
    typed = annotate_types(typed, schema=schema, dialect="duckdb")
    return [from_sqlglot(p.type) if p.type else None for p in typed.expressions]


def _fast_path(sql: str):
    schema = MappingSchema({T: {c: t.sql("duckdb") for c, t in COLUMNS.items()}}, dialect="duckdb")
    return analysis._single_table_typed(sqlglot.parse_one(sql, read="duckdb"), {T: COLUMNS}, schema)


@pytest.mark.parametrize(
    "sql",
    [
        f'select id, ts, x from "{T}"',
        f'select id, cast(n as double) as n2, x * 2 as x2, s from "{T}" where x > 0',
        f'select id, case when x is null then 0 else x end as x0, coalesce(n, 0) as n0 from "{T}"',
        f"select id, date_trunc('hour', ts) as ts, avg(x) as ax, sum(n) as sn, count(*) as c "
        f"from \"{T}\" group by id, date_trunc('hour', ts)",
        f'select t.id, t.ts, (x / 100.0) as d, upper(s) as u from "{T}" as t',
        f'select id, ts, least(greatest(x, 0), 1) as c, x / nullif(n, 0) as r from "{T}" '
        f"where ts >= current_date - interval '30 days'",
        f'select id, row_number() over (partition by id order by ts) as rn from "{T}"',
    ],
)
def test_single_table_shortcut_types_match_qualify(sql):
    typed = _fast_path(sql)
    assert typed is not None, "expected the shortcut to apply"
    assert [from_sqlglot(p.type) if p.type else None for p in typed.expressions] == _full_path_types(sql)


@pytest.mark.parametrize(
    "sql",
    [
        f'select id from "{T}" join "{T}" as u on u.id = "{T}".id',  # join
        f'select id from (select id from "{T}")',  # subquery
        f'with a as (select id from "{T}") select id from a',  # CTE
        f'select id, x2 from "{T}"',  # unknown column: the full path reports it
        f'select ID from "{T}"',  # case folding left to qualify
        f'select u.id from "{T}"',  # unknown table qualifier
        f'select * from "{T}"',  # star expansion
        f'select id from "{T}" union all select id from "{T}"',
    ],
)
def test_single_table_shortcut_declines_other_queries(sql):
    assert _fast_path(sql) is None


HEADER = """/* @feature_view
entities: [driver]
timestamp: event_timestamp
features:
  conv_rate: double
*/
"""


def _project(root: Path, models: dict[str, str]) -> None:
    (root / "models").mkdir()
    (root / "sqlfeast_project.yml").write_text("name: fp\nprofile: fp\n")
    (root / "profiles.yml").write_text(
        "fp:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/fp.duckdb\n"
    )
    (root / "models" / "schema.yml").write_text(
        "entities:\n  - name: driver\n    join_keys: [driver_id]\n"
        "sources:\n  - name: raw\n    tables:\n      - name: stats\n        columns:\n"
        "          - {name: driver_id, data_type: bigint}\n"
        "          - {name: event_timestamp, data_type: timestamp}\n"
        "          - {name: conv_rate, data_type: double}\n"
    )
    for name, text in models.items():
        (root / "models" / f"{name}.sql").write_text(text)


def _assembled(root: Path) -> tuple[dict, dict]:
    """Compiled SQL as the compiler produced it, and assembled again without the CTE cache."""
    import sqlfeast.compile.pipeline as compiler

    captured = {}
    original = compiler.assemble_sql

    def spy(model, rendered, loaded, dialect, ref_graph=None, cte_cache=None):
        captured["rendered"], captured["loaded"] = rendered, loaded
        return original(model, rendered, loaded, dialect, ref_graph, cte_cache)

    config = load_project(root)
    compiler.assemble_sql = spy
    try:
        registry = compile_project(config, load_target(config), write=False)
    finally:
        compiler.assemble_sql = original
    compiled = {n: v.sql for n, v in {**registry.models, **registry.feature_views}.items()}
    rendered, loaded = captured["rendered"], captured["loaded"]
    plain = {n: {d: assemble_sql(m, rendered, loaded, d) for d in DIALECTS} for n, m in rendered.items()}
    return compiled, plain


def test_spliced_dependency_sql_equals_full_generation(tmp_path):
    _project(
        tmp_path,
        {
            "clean": "-- cleaned rows\nselect driver_id, event_timestamp, conv_rate\n"
            "from {{ source('raw', 'stats') }}\nwhere driver_id is not null\n",
            "cleaner": "select driver_id, event_timestamp, conv_rate from {{ ref('clean') }} where conv_rate > 0\n",
            "fv": HEADER + "with own as (select * from {{ ref('cleaner') }})\n"
            "select driver_id, event_timestamp, conv_rate from own\n",
            "fv2": HEADER + "select driver_id, event_timestamp, conv_rate from {{ ref('clean') }}\n"
            "union all\nselect driver_id, event_timestamp, conv_rate from {{ ref('cleaner') }}\n",
        },
    )
    compiled, plain = _assembled(tmp_path)
    assert compiled == plain
    assert compiled["fv"]["snowflake"].startswith('WITH "fp__clean" AS (\n  /* cleaned rows */\n  SELECT')


def test_placeholder_spelled_by_the_model_falls_back_to_full_generation(tmp_path):
    _project(
        tmp_path,
        {
            "clean": "select driver_id, event_timestamp, conv_rate from {{ source('raw', 'stats') }}\n",
            # The model's own CTE prints exactly like the splice placeholder.
            "fv": HEADER + "with own as (select '__sqlfeast_cte_0__')\n"
            "select c.driver_id, c.event_timestamp, c.conv_rate\n"
            "from {{ ref('clean') }} as c cross join own\n",
        },
    )
    compiled, plain = _assembled(tmp_path)
    assert compiled == plain
    assert compiled["fv"]["duckdb"].count("__sqlfeast_cte_0__") == 1


def test_yaml_fast_loader_keeps_values_and_lines():
    text = "a: 1\nb:\n  c: [x, 2.5, true]\n  d: {e: null}\nlist:\n  - {name: n, v: '01'}\n"
    fast = yamlfile.load_yaml(text, "f.yml")
    slow = yamlfile.yaml.load(text, Loader=yamlfile._Loader)
    assert fast == slow
    assert (fast.key_line("b"), fast["b"].key_line("d"), fast["list"][0].line) == (2, 4, 6)
    assert (slow.key_line("b"), slow["b"].key_line("d"), slow["list"][0].line) == (2, 4, 6)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: [1, 2\n", "invalid YAML: expected ',' or ']', but got '<stream end>'"),
        ("a: b: c\n", "invalid YAML: mapping values are not allowed here"),
        ("a: 1\na: 2\n", "invalid YAML: found duplicate key 'a'"),
    ],
)
def test_yaml_errors_keep_the_pure_python_messages(text, message):
    with pytest.raises(ValidationError) as err:
        yamlfile.load_yaml(text, "f.yml", line_offset=10)
    assert err.value.message == message


# -- templates made only of literal calls render without compiling a Jinja template ------------------
from sqlfeast.compile.templating import MacroLibrary as _MacroLibrary  # noqa: E402

_SIMPLE = [
    "select a from {{ source('raw', 'stats') }}\nwhere n >= {{ var('n') }}\n",
    "select {{ cents('amount') }} as dollars, {{ var('flag', True) }} as f from t\n",
    "select '{{ var(\"missing\", none) }}' as x, {{ var('ratio') }} as r\n",
    "select 1 as a\n",
]
_NOT_SIMPLE = [
    "{% set x = 1 %}select {{ x }} as a\n",
    "select {{ var('n') + 1 }} as a\n",
    "select {{- var('n') }} as a\n",
    "select {{ var('n') | string }} as a\n",
    "select {{ cents(var('n')) }} as a\n",
    "select {{ unknown_macro() }} as a\n",
]


def _renderers():
    library = _MacroLibrary.builtin()
    library.add("macros/m.sql", "{% macro cents(col) %}({{ col }} / 100.0){% endmacro %}")
    return library.renderer("duckdb", vars={"n": 3, "ratio": 0.5})


def _context():
    return {"source": lambda s, t: f'"{s}__{t}"', "none": None}


@pytest.mark.parametrize("text", _SIMPLE)
def test_simple_templates_skip_jinja_compilation_and_render_the_same(text, monkeypatch):
    renderer = _renderers()
    text_jinja = text.replace("none)", "None)")  # Python literal spelling, same value
    via_jinja = renderer.env.from_string(
        text_jinja, globals={**renderer.base_globals, **renderer.macros, **_context()}
    ).render()

    def no_compile(*args, **kwargs):
        raise AssertionError("Jinja compiled a template the simple path should have rendered")

    monkeypatch.setattr(renderer.env, "compile", no_compile)
    assert renderer.render(text_jinja, "models/x.sql", _context()) == via_jinja


@pytest.mark.parametrize("text", _NOT_SIMPLE)
def test_other_templates_are_rendered_by_jinja(text, monkeypatch):
    renderer = _renderers()
    compiled = []
    real = renderer.env.compile
    monkeypatch.setattr(renderer.env, "compile", lambda *a, **k: compiled.append(1) or real(*a, **k))
    if "unknown_macro" in text:
        with pytest.raises(SqlfeastError, match="unknown_macro"):
            renderer.render(text, "models/x.sql", _context())
    else:
        assert renderer.render(text, "models/x.sql", _context()).startswith("select")
    assert compiled, "the template should have gone through Jinja"


def test_failures_in_simple_calls_name_their_line():
    from sqlfeast.errors import ValidationError

    renderer = _renderers()
    with pytest.raises(ValidationError) as info:
        renderer.render("select 1 as a,\n  {{ var('nope') }} as b\n", "models/x.sql", _context())
    assert info.value.render() == (
        "models/x.sql:2: var('nope') is not defined (set it under 'vars:' in "
        "sqlfeast_project.yml, pass --vars, or give a default)"
    )


def test_builtin_macro_names_read_without_jinja_match_a_full_parse():
    library = _MacroLibrary.builtin()
    assert library.files
    for macro_file in library.files:
        parsed = _MacroLibrary()
        parsed.add(macro_file.path, macro_file.text)  # the full Jinja parse, as for project macros
        assert macro_file.names == parsed.files[0].names, macro_file.path
