"""Aggregation views at compile time: header keys, every bad-input message with its file:line, the
recorded output types, the CLI exit code, and the golden Snowflake SQL of aggregate_join."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from sqlfeast.core.spec import Aggregation, Feature, FeatureView
from sqlfeast.feature_store import FeatureStore
from sqlfeast.warehouse import connect
from tests.compile.test_compile import SCHEMA, compile_dir, errors_of, make_project
from tests.offline.historical_helpers import Store, ViewData, registry_for, snowflake_target

AGG_SCHEMA = SCHEMA.replace(
    "          - {name: label, data_type: varchar}",
    "          - {name: label, data_type: varchar}\n"
    "          - {name: qty, data_type: integer}\n"
    "          - {name: price, data_type: 'decimal(10,2)'}\n"
    "          - {name: loaded, data_type: timestamp}",
)


def view(header: str, select: str = "driver_id, ts, loaded, rate, label, qty, price") -> str:
    return f"/* @feature_view\nentities: [driver]\ntimestamp: ts\n{header}*/\nselect {select}\nfrom {{{{ source('raw', 'stats') }}}}\n"


GOOD = view(
    "created_timestamp: loaded\ngranularity: 1h\naggregations:\n"
    "  n_7d: {function: count, window: 7d}\n"
    "  qty_sum_1d: {function: sum, column: qty, window: 1d}\n"
    "  price_sum_1d: {function: sum, column: price, window: 1d}\n"
    "  rate_sum_1d: {function: sum, column: rate, window: 1d}\n"
    "  rate_avg_30d: {function: avg, column: rate, window: 30d}\n"
    "  rate_std_30d: {function: stddev, column: rate, window: 30d}\n"
    "  qty_max_1d: {function: max, column: qty, window: 1d}\n"
    "  label_min_1d: {function: min, column: label, window: 1d}\n"
    "  last_label_30d: {function: last, column: label, window: 30d, description: Latest label}\n"
    "  labels_30d: {function: count_distinct, column: label, window: 30d}\n"
)


def test_aggregation_view_compiles_with_output_types(tmp_path):
    root = make_project(tmp_path / "p", {"orders.sql": GOOD}, schema=AGG_SCHEMA)
    registry = compile_dir(root)
    v = registry.feature_views["orders"]
    assert v.is_aggregation and v.granularity_seconds == 3600 and not v.online
    assert {f.name: f.type for f in v.features} == {
        "n_7d": "bigint",
        "qty_sum_1d": "bigint",
        "price_sum_1d": "decimal(38,2)",
        "rate_sum_1d": "double",
        "rate_avg_30d": "double",
        "rate_std_30d": "double",
        "qty_max_1d": "integer",
        "label_min_1d": "varchar",
        "last_label_30d": "varchar",
        "labels_30d": "bigint",
    }
    assert v.aggregation("rate_avg_30d").window_seconds == 30 * 86400
    assert v.feature("last_label_30d").description == "Latest label"
    # The registry round-trips through JSON; plain views keep their JSON shape.
    again = type(registry).from_json(registry.to_json())
    assert again.feature_views["orders"].aggregations == v.aggregations


@pytest.mark.parametrize(
    "header, select, expected",
    [
        (
            "features: {rate: double}\naggregations:\n  n: {function: count, window: 1d}\n",
            "driver_id, ts, rate",
            "models/orders.sql:5: a view has 'features:' (latest values) or 'aggregations:' (windowed aggregates), not both",
        ),
        (
            "aggregations:\n  n: {function: mean, column: rate, window: 1d}\n",
            "driver_id, ts, rate",
            "models/orders.sql:5: aggregation 'n' has unknown function 'mean'",
        ),
        (
            "aggregations:\n  n: {function: sum, window: 1d}\n",
            "driver_id, ts, rate",
            "models/orders.sql:5: aggregation 'n' (sum) needs 'column:' (e.g. column: amount)",
        ),
        (
            "aggregations:\n  n: {function: count}\n",
            "driver_id, ts",
            "models/orders.sql:5: aggregation 'n' needs 'window:' (e.g. window: 7d (units s, m, h, d, w))",
        ),
        (
            "aggregations:\n  n: {function: count, window: 7x}\n",
            "driver_id, ts",
            "models/orders.sql:5: aggregation 'n': invalid window '7x'; use a number with a unit s, m, h, d or w (e.g. 2d)",
        ),
        (
            "aggregations:\n  n: {function: count, window: 0}\n",
            "driver_id, ts",
            "models/orders.sql:5: the window of aggregation 'n' must be positive (e.g. window: 7d)",
        ),
        (
            "aggregations:\n  n: {function: count, window: 90m}\n",
            "driver_id, ts",
            "models/orders.sql:5: the window of aggregation 'n' (90m) is not a whole number of tiles of granularity 1h",
        ),
        (
            "granularity: -1\naggregations:\n  n: {function: count, window: 1h}\n",
            "driver_id, ts",
            "models/orders.sql:4: granularity cannot be negative",
        ),
        (
            "aggregations:\n  n: {function: count, window: 1h, colum: rate}\n",
            "driver_id, ts",
            "models/orders.sql:5: unknown key 'colum' in aggregation 'n' (did you mean 'column'?)",
        ),
        (
            "aggregations: [count]\n",
            "driver_id, ts",
            "models/orders.sql:4: 'aggregations:' must map each aggregate's name to {function, column, window}",
        ),
        (
            "aggregations:\n  n: {function: sum, column: label, window: 1d}\n",
            "driver_id, ts, label",
            "models/orders.sql:5: sum of column 'label' (varchar) is not possible (aggregation 'n')",
        ),
        (
            "aggregations:\n  n: {function: max, column: amount, window: 1d}\n",
            "driver_id, ts, rate",
            "models/orders.sql:5: aggregation 'n' aggregates column 'amount', which the SELECT does not give",
        ),
        (
            "aggregations:\n  n: {function: count, window: 1d}\n",
            "driver_id, ts, rate",
            "models/orders.sql:7:23: column 'rate' is selected but no aggregation uses it",
        ),
        (
            "ttl: 1d\naggregations:\n  n: {function: count, window: 1d}\n",
            "driver_id, ts",
            "models/orders.sql:4: 'ttl' does not apply to an aggregation view: each aggregation has its own window",
        ),
        (
            "granularity: 1h\nfeatures: {rate: double}\n",
            "driver_id, ts, rate",
            "models/orders.sql:4: 'granularity' applies only to a view with 'aggregations:'",
        ),
        (
            "granularity: 1m\nonline: true\naggregations:\n  n: {function: count_distinct, column: label, window: 30d}\n",
            "driver_id, ts, label",
            "models/orders.sql:4: online, aggregation view 'orders' keeps up to 86402 sub-tiles of 1m per entity: "
            "up to 13922 KB, above DynamoDB's 400 KB item limit (use granularity: 1h or coarser",
        ),
        (
            "aggregations:\n  n: {function: count, window: 1d}\n",
            "ts",
            "models/orders.sql:2: join key 'driver_id' is not selected",
        ),
    ],
)
def test_bad_aggregation_headers_name_file_and_line(tmp_path, header, select, expected):
    root = make_project(tmp_path / "p", {"orders.sql": view(header, select)}, schema=AGG_SCHEMA)
    errors = errors_of(root)
    assert any(e.startswith(expected) for e in errors), errors


def test_cli_compile_error_exits_1_and_changes_nothing(tmp_path):
    root = make_project(tmp_path / "p", {"orders.sql": GOOD}, schema=AGG_SCHEMA)
    compile_dir(root)
    before = (root / "target" / "registry.json").read_text()
    (root / "models" / "orders.sql").write_text(GOOD.replace("sum, column: rate", "sum, column: label"))
    proc = subprocess.run(
        [sys.executable, "-m", "sqlfeast", "--project-dir", str(root), "compile"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "models/orders.sql:10: sum of column 'label' (varchar) is not possible (aggregation 'rate_sum_1d') "
        "(sum takes integer, float columns)",
        "1 error found",
    ]
    assert (root / "target" / "registry.json").read_text() == before


def test_apply_refuses_an_online_view_whose_tiles_cannot_fit_and_changes_nothing(tmp_path):
    root = make_project(tmp_path / "p", {"orders.sql": GOOD}, schema=AGG_SCHEMA)
    run = [sys.executable, "-m", "sqlfeast", "--project-dir", str(root)]
    assert subprocess.run([*run, "apply"], capture_output=True, text=True).returncode == 0
    applied = (root / "target" / "applied_registry.json").read_text()
    text = (root / "models" / "orders.sql").read_text()
    (root / "models" / "orders.sql").write_text(text.replace("granularity: 1h", "granularity: 1s\nonline: true"))
    proc = subprocess.run([*run, "apply"], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("models/orders.sql:") and "above DynamoDB's 400 KB item limit" in first, proc.stderr
    assert "(use granularity: 2h or coarser" in first
    assert (root / "target" / "applied_registry.json").read_text() == applied


def test_example_project_trains_on_its_aggregation_view(example_project):
    fs = FeatureStore(example_project)
    fs.compile(write=False)
    table = fs.get_historical_features(
        str(example_project / "data" / "entities.parquet"), ["driver_trip_windows", "driver_hourly_stats:conv_rate"]
    ).to_arrow()
    assert table.num_rows == 1000
    rows = table.to_pylist()
    known = [r for r in rows if r["driver_id"] <= 1050 and r["last_conv_6h"] is not None]
    assert known and all(r["last_conv_6h"] == r["conv_rate"] for r in known)  # hourly rows: the latest one
    assert all(r["stats_rows_1d"] == 0 for r in rows if r["driver_id"] > 1050)  # unknown drivers


# -- golden Snowflake SQL ------------------------------------------------------------------------
GOLDEN = Path(__file__).parents[1] / "offline" / "golden"
T = dt.datetime(2024, 1, 1)


def test_golden_snowflake_aggregate_sql():
    wh = connect(snowflake_target(), Path("."))
    data = ViewData("orders", ["customer_id"], ["amount"], [], created=True)
    registry = registry_for([data], {"orders": {"snowflake": "select * from SRC_ORDERS"}})
    aggs = [
        Aggregation("n_7d", "count", 7 * 86400, None, "bigint"),
        Aggregation("amount_sum_7d", "sum", 7 * 86400, "amount", "double"),
        Aggregation("last_amount_30d", "last", 30 * 86400, "amount", "double"),
        Aggregation("stores_30d", "count_distinct", 30 * 86400, "store_id", "bigint"),
    ]
    registry.feature_views["orders"] = FeatureView(
        "orders",
        ["customer"],
        ["customer_id"],
        "ordered_at",
        [Feature(a.name, a.type) for a in aggs],
        created_timestamp="loaded_at",
        sql={"snowflake": "select * from SRC_ORDERS"},
        columns={"ordered_at": "timestamptz", "loaded_at": "timestamp"},
        aggregations=aggs,
        granularity_seconds=3600,
    )
    entity = pa.table({"customer_id": [1, 2], "event_timestamp": pa.array([T, T], pa.timestamp("us"))})
    job = Store(registry, wh, wh.target).get_historical_features(entity, [f"orders:{a.name}" for a in aggs])
    assert wh._con is None  # really offline
    sql = job.sql.replace(job._name, "__sqlfeast_entities")
    path = GOLDEN / "aggregate_join.sql"
    if os.environ.get("SQLFEAST_UPDATE_GOLDEN"):
        path.write_text(sql + "\n")
    assert sql + "\n" == path.read_text(), f"{path} differs; rerun with SQLFEAST_UPDATE_GOLDEN=1 and review"
    tree = sqlglot.parse_one(path.read_text(), read="snowflake")
    assert tree.find(exp.Group) is not None and "CONVERT_TIMEZONE" in sql and "DATEADD" in sql


def test_thirty_days_at_one_hour_with_all_eight_functions_fits_one_item():
    from sqlfeast.compile.aggregations import check_online_size
    from sqlfeast.core.spec import Aggregation, FeatureView
    from sqlfeast.core.tiles import MAX_ITEM_BYTES, plan_of

    day = 86400
    aggs = [
        Aggregation("orders_7d", "count", 7 * day),
        Aggregation("amount_sum_7d", "sum", 7 * day, "amount"),
        Aggregation("amount_avg_30d", "avg", 30 * day, "amount"),
        Aggregation("amount_max_1d", "max", day, "amount"),
        Aggregation("amount_min_30d", "min", 30 * day, "amount"),
        Aggregation("amount_std_30d", "stddev", 30 * day, "amount"),
        Aggregation("last_amount_30d", "last", 30 * day, "amount"),
        Aggregation("stores_30d", "count_distinct", 30 * day, "store_id"),
    ]
    v = FeatureView(
        "customer_orders", ["customer"], ["customer_id"], "ordered_at", [], online=True,
        columns={"amount": "double", "store_id": "bigint"}, aggregations=aggs, granularity_seconds=3600,
    )  # fmt: skip
    assert check_online_size(v, "models/customer_orders.sql", {}) == []
    plan = plan_of(v)
    assert plan.max_sub_tiles == 2 * 721 and plan.max_item_bytes() <= MAX_ITEM_BYTES
