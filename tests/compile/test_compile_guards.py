"""Compile catches what would break later: a join key whose type the SQL does not reveal is
declared by its entity (``value_type``) or learnt from the warehouse, else it is an error at the
view's file:line; models named like sqlfeast's own tables are refused at their file:line.
`sqlfeast` runs on a terminal."""

from __future__ import annotations

import json
import re

import pytest

from tests.clirun import sqlfeast
from tests.conftest import copy_example

CUSTOMER_COLUMNS = re.compile(
    r"(      - name: customer_profile\n        external_location: [^\n]+\n)        columns:\n(?:          - [^\n]+\n)+"
)


def without_customer_columns(root, location: str | None = None) -> None:
    schema = root / "models" / "schema.yml"
    text, count = CUSTOMER_COLUMNS.subn(r"\1", schema.read_text())
    assert count == 1
    if location:
        text = text.replace("read_parquet('data/customer_profile.parquet')", location)
    schema.write_text(text)


def assert_serves_customer_2001(root) -> None:
    """apply, materialize and get-online of one customer through the CLI: a value comes back."""
    assert sqlfeast("apply", cwd=root).exit_code == 0
    assert sqlfeast("materialize", "2020-01-01", "2027-01-01", cwd=root).exit_code == 0
    got = sqlfeast("get-online", "-f", "customer_profile:current_balance", "-e", "customer_id=2001", cwd=root)
    assert got.exit_code == 0 and "Traceback" not in got.raw, str(got)
    assert json.loads(got.screen[got.screen.index("{") :])["current_balance"][0] is not None


def test_an_undeclared_join_key_type_is_learnt_from_the_warehouse(tmp_path):
    root = copy_example(tmp_path / "demo")
    without_customer_columns(root, "read_parquet('data/customer_*.parquet')")  # a glob, no columns
    compiled = sqlfeast("compile", cwd=root)
    assert compiled.exit_code == 0, str(compiled)
    registry = json.loads((root / "target" / "registry.json").read_text())
    assert registry["feature_views"]["customer_profile"]["join_key_types"] == {"customer_id": "bigint"}
    assert_serves_customer_2001(root)


def entities_line(root) -> int:
    text = (root / "models/customers/customer_profile.sql").read_text().splitlines()
    return next(i for i, t in enumerate(text, 1) if t.startswith("entities:"))


def test_a_join_key_type_nobody_can_tell_is_a_compile_error_at_the_view(tmp_path):
    root = copy_example(tmp_path / "demo")
    without_customer_columns(root, "read_parquet('data/nothing_here_*.parquet')")  # not describable
    compiled = sqlfeast("compile", cwd=root)
    assert compiled.exit_code == 1, str(compiled)
    assert "Traceback" not in compiled.raw
    assert re.search(
        rf"models/customers/customer_profile\.sql:{entities_line(root)}(:\d+)?: the type of join key 'customer_id' of "
        r"online feature view 'customer_profile' is not known \(the warehouse cannot describe the view",
        compiled.screen,
    ), str(compiled)
    hint = " ".join(compiled.screen.split())
    assert "'value_type: bigint' on entity 'customer'" in hint, hint
    assert "data_type in the source's columns" in hint and "dbt run" in hint, hint
    written = {p.name for p in (root / "target").iterdir()} if (root / "target").exists() else set()
    assert written <= {"dev.duckdb"}, written  # the warehouse asked to DESCRIBE; no registry, no compiled SQL
    applied = sqlfeast("apply", cwd=root)  # apply compiles first: it stops at the same error
    assert applied.exit_code == 1 and "the type of join key 'customer_id'" in applied.screen, str(applied)


def declare_customer_type(root, value_type: str) -> None:
    schema = root / "models" / "schema.yml"
    text = schema.read_text()
    old = "    join_keys: [customer_id]\n"
    assert old in text
    schema.write_text(text.replace(old, old + f"    value_type: {value_type}\n"))


def test_an_entity_declared_key_type_serves_a_view_the_warehouse_is_not_asked_about(tmp_path):
    root = copy_example(tmp_path / "demo")
    without_customer_columns(root, "read_parquet('data/customer_*.parquet')")
    # integer, not the bigint DESCRIBE would report: the registry shows where the type came from
    declare_customer_type(root, "integer")
    compiled = sqlfeast("compile", cwd=root)
    assert compiled.exit_code == 0, str(compiled)
    registry = json.loads((root / "target" / "registry.json").read_text())
    assert registry["feature_views"]["customer_profile"]["join_key_types"] == {"customer_id": "integer"}
    assert registry["entities"]["customer"]["join_key_types"] == {"customer_id": "integer"}
    assert_serves_customer_2001(root)


@pytest.mark.parametrize(
    "value_type, message",
    [
        ("int64x", "entity 'customer': value_type: unknown type 'int64x'"),
        ("{region: varchar}", "entity 'customer': value_type names 'region', which is not one of its join keys"),
        ("[bigint]", "entity 'customer': value_type must be a type (value_type: bigint) or a mapping"),
        ("varchar", "entity 'customer' declares join key 'customer_id' as varchar, but feature view"),
    ],
    ids=["unknown-type", "not-a-join-key", "not-a-type", "disagrees-with-the-sql"],
)
def test_a_bad_entity_value_type_is_an_error_at_the_entity(tmp_path, value_type, message):
    root = copy_example(tmp_path / "demo", with_data=False)
    declare_customer_type(root, value_type)
    compiled = sqlfeast("compile", cwd=root)
    assert compiled.exit_code == 1, str(compiled)
    assert "Traceback" not in compiled.raw
    line = 7 if value_type != "varchar" else 5  # value_type's line, or the entity's for a disagreement
    assert f"models/schema.yml:{line}" in compiled.screen and message in " ".join(compiled.screen.split()), str(
        compiled
    )


@pytest.mark.parametrize(
    "file, text, line, name",
    [
        ("models/registry.sql", "select 1 as x\n", 1, "registry"),
        ("models/materialization.sql", "select 1 as x\n", 1, "materialization"),
        (
            "models/pushed.sql",
            "/* @feature_view\nentities: [driver]\nname: push__driver_stats_push\n*/\nselect 1\n",
            3,
            "push__driver_stats_push",
        ),
    ],
    ids=["registry", "materialization", "push-table"],
)
def test_models_named_like_sqlfeasts_own_tables_are_refused(tmp_path, file, text, line, name):
    root = copy_example(tmp_path / "demo", with_data=False)
    (root / file).write_text(text)
    compiled = sqlfeast("compile", cwd=root)
    assert compiled.exit_code == 1, str(compiled)
    assert (
        f"{file}:{line}: model name '{name}' is reserved: its relation would be sqlfeast's own table 'demo__{name}'"
        in compiled.screen
    )
    assert "Traceback" not in compiled.raw
    ran = sqlfeast("run", cwd=root)
    assert ran.exit_code == 1 and f"model name '{name}' is reserved" in ran.screen, str(ran)
