"""Compile catches what would break later: a join key whose type the SQL does not reveal is
learnt from the warehouse (else a read names the fix instead of crashing), and models named like
sqlfeast's own tables are refused at their file:line. `sqlfeast` runs on a terminal."""

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


def test_an_undeclared_join_key_type_is_learnt_from_the_warehouse(tmp_path):
    root = copy_example(tmp_path / "demo")
    without_customer_columns(root, "read_parquet('data/customer_*.parquet')")  # a glob, no columns
    compiled = sqlfeast("compile", cwd=root)
    assert compiled.exit_code == 0, str(compiled)
    registry = json.loads((root / "target" / "registry.json").read_text())
    assert registry["feature_views"]["customer_profile"]["join_key_types"] == {"customer_id": "bigint"}
    assert sqlfeast("apply", cwd=root).exit_code == 0
    assert sqlfeast("materialize", "2020-01-01", "2027-01-01", cwd=root).exit_code == 0
    got = sqlfeast("get-online", "-f", "customer_profile:current_balance", "-e", "customer_id=2001", cwd=root)
    assert got.exit_code == 0 and "Traceback" not in got.raw, str(got)
    assert json.loads(got.screen[got.screen.index("{") :])["current_balance"][0] is not None


def test_a_join_key_type_nobody_can_tell_gives_a_clear_message_on_read(tmp_path):
    root = copy_example(tmp_path / "demo")
    without_customer_columns(root, "read_parquet('data/nothing_here_*.parquet')")  # not describable
    assert sqlfeast("compile", cwd=root).exit_code == 0
    assert sqlfeast("apply", cwd=root).exit_code == 0
    got = sqlfeast("get-online", "-f", "customer_profile:current_balance", "-e", "customer_id=2001", cwd=root)
    assert got.exit_code == 1, str(got)
    assert "Traceback" not in got.raw and "ValueError" not in got.raw
    assert "entity value '2001': the join key's type is not known" in got.screen
    assert "declare the source's columns" in got.screen


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
