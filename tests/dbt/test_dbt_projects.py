"""Two dbt projects of our own, built with real dbt, then every sqlfeast command on the same folder."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import time

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .helpers import BIN, DBT, copy_project, dbt, sqlfeast
from .test_dbt_without_dbt import DBT_ONLY_VIEW

RENDERERS = ["dbt", "sqlfeast"]  # dbt itself (installed here), and sqlfeast's own Jinja


@pytest.fixture(scope="module")
def jaffle(tmp_path_factory):
    root = copy_project("jaffle_features", tmp_path_factory.mktemp("dbt"))
    dbt(root, "build")
    return root


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = copy_project("shop_packages", tmp_path_factory.mktemp("dbt"), "seeds/raw")
    dbt(root, "build")
    return root


ENTITIES = [
    (1, dt.datetime(2018, 1, 2)),
    (1, dt.datetime(2018, 4, 1)),
    (3, dt.datetime(2018, 3, 1)),
    (50, dt.datetime(2018, 3, 1)),
    (64, dt.datetime(2018, 4, 1)),
    (999, dt.datetime(2018, 4, 1)),
]


def expected_training_rows(database) -> list[tuple]:
    """The point-in-time answer written by hand over the tables dbt built."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        con.execute(
            "create temp table ent as select * from (values "
            + ", ".join(f"({i}, {n}, timestamp '{t}')" for n, (i, t) in enumerate(ENTITIES))
            + ") t(customer_id, n, ts)"
        )
        return con.execute("""
            with daily as (
                select customer_id, cast(order_date as timestamp) as t, sum(amount) as spend
                from main.orders where status <> 'returned' group by 1, 2),
            profile as (select customer_id, cast(most_recent_order as timestamp) as t, number_of_orders
                        from main.customers where most_recent_order is not null)
            select e.customer_id, e.ts,
                   (select spend from daily d where d.customer_id = e.customer_id and d.t <= e.ts
                      and d.t >= e.ts - interval 30 day order by d.t desc limit 1),
                   (select number_of_orders from profile p where p.customer_id = e.customer_id and p.t <= e.ts
                      order by p.t desc limit 1)
            from ent e order by n""").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("renderer", RENDERERS)
def test_compile_refs_the_relations_dbt_built(jaffle, renderer, monkeypatch):
    monkeypatch.setenv("SQLFEAST_RENDERER", renderer)
    code, out = sqlfeast(jaffle, "compile")
    assert code == 0, out
    assert "Compiled 2 feature view(s)" in out and "target/sqlfeast/registry.json" in out
    sql = (jaffle / "target/sqlfeast/compiled/duckdb/features/customer_orders_daily.sql").read_text()
    assert 'FROM "jaffle"."main"."orders"' in sql and "WITH" not in sql  # a relation, not an inlined copy
    profile = (jaffle / "target/sqlfeast/compiled/duckdb/features/customer_profile.sql").read_text()
    assert "DATE_DIFF('DAY'" in profile  # the project macro, through dbt.datediff
    assert (jaffle / "target/manifest.json").is_file()  # dbt's own target/ is untouched beside ours


def test_historical_matches_a_hand_written_query(jaffle, tmp_path):
    entities = tmp_path / "entities.parquet"
    pq.write_table(
        pa.table({"customer_id": [e[0] for e in ENTITIES], "event_timestamp": [e[1] for e in ENTITIES]}), entities
    )
    out = tmp_path / "train.parquet"
    code, screen = sqlfeast(
        jaffle,
        "historical",
        "-e",
        str(entities),
        "-f",
        "customer_orders_daily:spend_that_day,customer_profile:number_of_orders",
        "-o",
        str(out),
    )
    assert code == 0, screen
    got = [tuple(r.values()) for r in pq.read_table(out).to_pylist()]
    want = expected_training_rows(jaffle / "jaffle.duckdb")
    assert got == [(c, t, float(s) if s is not None else None, n) for c, t, s, n in want]
    assert any(r[2] is not None for r in got) and any(r[3] is not None for r in got)


def test_apply_run_materialize_online_and_serve_in_a_schema_of_their_own(jaffle):
    outputs = {}
    for args in (["apply"], ["run"], ["materialize", "2018-01-01", "2018-06-01"]):
        code, outputs[args[0]] = sqlfeast(jaffle, *args)
        assert code == 0, outputs[args[0]]
    assert 'created view "main_sqlfeast"."jaffle_features__customer_profile"' in outputs["run"]
    con = duckdb.connect(str(jaffle / "jaffle.duckdb"), read_only=True)
    tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    want = con.execute("select number_of_orders from main.customers where customer_id = 1").fetchone()[0]
    con.close()
    ours = {t for s, t in tables if s == "main_sqlfeast"}
    assert {"jaffle_features__registry", "jaffle_features__customer_profile"} <= ours
    assert not any(t.startswith("jaffle_features__") for s, t in tables if s == "main")  # dbt's schema untouched
    code, out = sqlfeast(jaffle, "get-online", "-f", "customer_profile:number_of_orders", "-e", "customer_id=1")
    assert code == 0 and json.loads(out[out.index("{") :])["number_of_orders"] == [want], out

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(BIN / "sqlfeast"), "serve", "--no-auth", "--port", str(port)],
        cwd=jaffle,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        reply = httpx.post(
            f"http://127.0.0.1:{port}/get-online-features",
            timeout=10,
            json={"features": ["customer_profile:number_of_orders"], "entities": {"customer_id": [1]}},
        ).json()
        assert reply["results"][-1]["values"] == [want], reply
    finally:
        server.terminate()
        server.wait(10)

    # dbt again on the same folder, and dbt clean: nothing sqlfeast needs is lost.
    dbt(jaffle, "build")
    dbt(jaffle, "clean")
    code, out = sqlfeast(jaffle, "get-online", "-f", "customer_profile:number_of_orders", "-e", "customer_id=1")
    assert code == 0 and json.loads(out[out.index("{") :])["number_of_orders"] == [want], out
    code, out = sqlfeast(jaffle, "plan")
    assert code == 0 and "no changes" in out.lower(), out


@pytest.mark.parametrize("renderer", RENDERERS)
def test_packages_versions_and_schema_overrides(shop, renderer, monkeypatch):
    monkeypatch.setenv("SQLFEAST_RENDERER", renderer)
    code, out = sqlfeast(shop, "compile")
    assert code == 0, out
    daily = (shop / "target/sqlfeast/compiled/duckdb/features/customer_daily_orders.sql").read_text()
    first = (shop / "target/sqlfeast/compiled/duckdb/features/customer_first_orders.sql").read_text()
    assert '"shop"."main"."customer_orders_v2"' in daily and "MD5(" in daily  # package macro, duckdb__ dispatch
    assert '"shop"."main"."customer_orders_v1"' in first
    assert '"shop"."raw"."raw_customers"' in first  # seeds/raw +schema through the project's generate_schema_name
    manifest = json.loads((shop / "target/manifest.json").read_text())
    relations = {n["relation_name"] for n in manifest["nodes"].values() if n.get("relation_name")}
    assert {'"shop"."main"."customer_orders_v2"', '"shop"."raw"."raw_customers"'} <= relations
    code, out = sqlfeast(shop, "apply")
    assert code == 0, out
    con = duckdb.connect(str(shop / "shop.duckdb"), read_only=True)
    schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
    con.close()
    assert "shop_features" in schemas  # vars: {sqlfeast: {schema: shop_features}}


def test_relations_without_a_manifest_are_named_as_dbt_names_them(shop, tmp_path, monkeypatch):
    # The same names dbt wrote to its manifest, worked out by sqlfeast with target/ removed.
    monkeypatch.setenv("SQLFEAST_RENDERER", "sqlfeast")
    (shop / "target" / "manifest.json").rename(tmp_path / "manifest.json")
    try:
        code, out = sqlfeast(shop, "compile")
        assert code == 0, out
        first = (shop / "target/sqlfeast/compiled/duckdb/features/customer_first_orders.sql").read_text()
        assert '"shop"."raw"."raw_customers"' in first and '"shop"."main"."customer_orders_v1"' in first
    finally:
        (tmp_path / "manifest.json").rename(shop / "target" / "manifest.json")


def blank_header(text: str) -> str:
    """The file as sqlfeast hands it to a renderer: the header blanked out line for line."""
    end = text.index("*/") + 2
    return "\n" * text[:end].count("\n") + text[end:]


def dbt_inline(root, sql: str) -> str:
    """What `dbt compile --inline` gives for `sql` in the project."""
    out = dbt(root, "compile", "--quiet", "--output", "json", "--inline", sql)
    return json.loads(out[out.index("{") :])["compiled"]


def test_dbt_renders_what_only_dbt_can_exactly_as_dbt_compiles_it(shop, monkeypatch):
    """A package macro asking the warehouse for columns and a run_query() in the view: dbt
    renders it, the text equals `dbt compile --inline`, and the view compiles and runs."""
    monkeypatch.setenv("SQLFEAST_RENDERER", "dbt")
    view = shop / "features" / "customer_columns.sql"
    view.write_text(DBT_ONLY_VIEW)
    try:
        code, out = sqlfeast(shop, "compile")
        assert code == 0, out
        rendered = (shop / "target/sqlfeast/dbt/rendered/features/customer_columns.sql").read_text()
        assert rendered == dbt_inline(shop, blank_header(DBT_ONLY_VIEW))
        assert '"customer_id", "orders", "completed_orders"' in rendered and "2018-04-09" in rendered
        sql = (shop / "target/sqlfeast/compiled/duckdb/features/customer_columns.sql").read_text()
        assert 'FROM "shop"."main"."customer_orders_v2"' in sql and "CAST('2018-04-09' AS DATE)" in sql
        registry = json.loads((shop / "target/sqlfeast/registry.json").read_text())
        assert registry["feature_views"]["customer_columns"]["columns"]["orders"] == "bigint"  # typed via DESCRIBE
        code, out = sqlfeast(shop, "run", "-s", "customer_columns")
        assert code == 0, out

        # The view reads the data while rendering, so it is rendered again when the data changes.
        con = duckdb.connect(str(shop / "shop.duckdb"))
        con.execute("insert into main.customer_orders_v2 values (1, date '2019-01-01', 1, 1)")
        con.close()
        code, out = sqlfeast(shop, "compile")
        assert (
            code == 0
            and "2019-01-01" in (shop / "target/sqlfeast/dbt/rendered/features/customer_columns.sql").read_text()
        )
    finally:
        view.unlink()
        con = duckdb.connect(str(shop / "shop.duckdb"))
        con.execute("delete from main.customer_orders_v2 where order_date = date '2019-01-01'")
        con.close()


def test_dbt_renderings_follow_every_change_and_errors_are_located(shop, monkeypatch):
    monkeypatch.setenv("SQLFEAST_RENDERER", "dbt")
    macro = shop / "dbt_packages" / "tiny_utils" / "macros" / "keys.sql"
    text = macro.read_text()
    view = shop / "features" / "broken.sql"
    try:
        code, out = sqlfeast(shop, "compile")
        assert code == 0, out
        daily = shop / "target/sqlfeast/dbt/rendered/features/customer_daily_orders.sql"
        assert "md5(customer_id || '-' || order_date)" in daily.read_text()
        # A package macro edited: the next compile renders with it (nothing stale is reused).
        macro.write_text(text.replace("join(\" || '-' || \")", "join(\" || '~' || \")"))
        code, out = sqlfeast(shop, "compile")
        assert code == 0 and "md5(customer_id || '~' || order_date)" in daily.read_text(), out
        # dbt's own errors, at the view's line.
        view.write_text(
            "/* @feature_view\nentities: [customer]\ntimestamp: ts\nfeatures: {x: bigint}\n*/\n"
            "select customer_id, current_timestamp as ts,\n  {{ no_such_macro('x') }} as x\n"
            "from {{ ref('customer_orders', v=2) }}\n"
        )
        code, out = sqlfeast(shop, "compile")
        assert code == 1 and "Traceback" not in out
        assert "features/broken.sql:7: dbt: 'no_such_macro' is undefined" in out, out
        view.write_text(view.read_text().replace("{{ no_such_macro('x') }}", "1").replace("v=2", "v=7"))
        code, out = sqlfeast(shop, "compile")
        assert (
            code == 1
            and "features/broken.sql:8: dbt: depends on a node named 'customer_orders' with version '7'" in out
        )
        view.write_text(view.read_text().replace("v=7", "v=2").replace("as x", "as x {% if %}"))
        code, out = sqlfeast(shop, "compile")
        assert code == 1 and "features/broken.sql:7: dbt: " in out and "Traceback" not in out, out
    finally:
        macro.write_text(text)
        view.unlink(missing_ok=True)


def test_dbt_of_another_virtualenv_renders(shop, tmp_path, monkeypatch):
    """SQLFEAST_DBT names a dbt executable; its virtualenv's Python renders (here a wrapper that
    leaves a mark, then runs the Python this dbt is installed in)."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    mark = tmp_path / "ran"
    (bin_dir / "python").write_text(f'#!/bin/sh\ntouch {mark}\nexec {BIN / "python"} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    (bin_dir / "dbt").symlink_to(DBT)
    monkeypatch.setenv("SQLFEAST_DBT", str(bin_dir / "dbt"))
    monkeypatch.setenv("SQLFEAST_RENDERER", "dbt")
    (shop / "features" / "customer_daily_orders.sql").touch()  # not the last rendering again
    code, out = sqlfeast(shop, "compile")
    assert code == 0 and mark.exists(), out
