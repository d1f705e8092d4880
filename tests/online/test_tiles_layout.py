"""The tile item layout: the worst case of 30 days at 1h with all eight functions fits one
DynamoDB item (AWS DynamoDB Local enforces the 400 KB limit), the TTL attribute is set and
enabled, and count_distinct is exact while sub-tiles are small and within its stated bound of
three standard errors otherwise."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from sqlfeast.core.spec import Aggregation
from sqlfeast.online.dynamodb import DynamoDBOnlineStore
from sqlfeast.online.sqlite import SQLiteOnlineStore
from sqlfeast.online.tiles import HLL_RSE, SPARSE_MAX, TileBuilder, plan_of
from tests.online.conftest import dynamodb_settings
from tests.online.tiles_helpers import HOUR, TileStore, tile_view

DAY = 86400
ISSUE_AGGS = [
    Aggregation("orders_7d", "count", 7 * DAY, None, "bigint"),
    Aggregation("amount_sum_7d", "sum", 7 * DAY, "amount", "double"),
    Aggregation("amount_avg_30d", "avg", 30 * DAY, "amount", "double"),
    Aggregation("amount_max_1d", "max", DAY, "amount", "double"),
    Aggregation("amount_min_30d", "min", 30 * DAY, "amount", "double"),
    Aggregation("amount_std_30d", "stddev", 30 * DAY, "amount", "double"),
    Aggregation("last_amount_30d", "last", 30 * DAY, "amount", "double"),
    Aggregation("stores_30d", "count_distinct", 30 * DAY, "qty", "bigint"),
]


@pytest.fixture(params=["sqlite", "dynamodb_local"])
def online_store(request, tmp_path, unique_project):
    if request.param == "sqlite":
        store = SQLiteOnlineStore(unique_project, tmp_path / "online.db")
    else:
        store = DynamoDBOnlineStore(
            unique_project, dynamodb_settings(request.getfixturevalue("dynamodb_local_endpoint"))
        )
    yield store
    store.close()


def test_the_fullest_item_of_thirty_days_at_one_hour_fits(online_store, tmp_path):
    """One entity with rows on every tile boundary and inside every tile, 17 distinct values in
    each sub-tile (every sketch a HyperLogLog): the largest item the declaration allows. The rows
    of one instant differ in created, so `last` has one answer."""
    end = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + dt.timedelta(minutes=31)
    first = end.replace(minute=0) - 30 * DAY * dt.timedelta(seconds=1)
    view = tile_view(ISSUE_AGGS)
    ts = TileStore(view, [], online_store, tmp_path)
    ts.warehouse.con.execute(
        f"""insert into "src_orders"
        select 1, t + to_microseconds(off), t + to_microseconds(off + v), (h * 17 + v) * 1.25, h * 100 + v, 's'
        from (select ?::TIMESTAMP + to_hours(h) as t, h from range(0, 721) r(h)) tiles,
             (select 0 as off union all select 1800000000) offsets,
             (select v from range(0, {SPARSE_MAX + 1}) s(v)) vals
        where t + to_microseconds(off) < ?::TIMESTAMP""",
        [first, end],
    )
    result = ts.materialize(end)
    assert result.written == 1 and result.rows == 2 * 721
    at = end.replace(minute=0)
    names = [a.name for a in ISSUE_AGGS]
    online = ts.online_values([1], at, names).to_dict()
    offline = ts.offline([1], at, names)[0]
    for name in names:
        if name == "stores_30d":
            assert abs(online[name][0] - offline[name]) <= 3 * HLL_RSE * offline[name], (online[name], offline[name])
        elif isinstance(offline[name], float):
            assert online[name][0] == pytest.approx(offline[name], rel=1e-9), name
        else:
            assert online[name][0] == offline[name], name


def test_ttl_attribute_expires_the_item_once_no_window_reaches_its_newest_tile(
    dynamodb_local_endpoint, unique_project, tmp_path
):
    store = DynamoDBOnlineStore(unique_project, dynamodb_settings(dynamodb_local_endpoint))
    try:
        view = tile_view([Aggregation("n", "count", 2 * 3600, None, "bigint")])
        newest = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) + dt.timedelta(
            minutes=5
        )
        rows = [{"k1": 3, "event_timestamp": newest, "created": None, "amount": 1.0, "qty": 1, "store": "a"}]
        ts = TileStore(view, rows, store, tmp_path)
        ts.materialize(newest + dt.timedelta(minutes=1))
        table = store.table_name(view.name)
        ttl = store.call("describe_time_to_live", TableName=table)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING") and ttl["AttributeName"] == "_ttl"
        item = store.call("get_item", TableName=table, Key={"entity_key": {"S": "k1=3"}})["Item"]
        tile_end = newest.replace(minute=0) + HOUR
        expected = int((tile_end - dt.datetime(1970, 1, 1)).total_seconds()) + 2 * 3600 + 1
        assert int(item["_ttl"]["N"]) == expected
        # The last read that still counts the row is just before the TTL; after it, nothing.
        last_read = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=expected - 1)
        assert ts.online_values([3], last_read - dt.timedelta(seconds=1), ["n"]).to_dict()["n"] == [1]
        assert ts.online_values([3], last_read + dt.timedelta(seconds=1), ["n"]).to_dict()["n"] == [0]
    finally:
        store.close()


def test_count_distinct_is_exact_for_small_sub_tiles_and_within_three_standard_errors_past_them():
    """48 sub-tiles through the blob and back: exact entries while each has at most SPARSE_MAX
    values, else the HyperLogLog estimate; also with pushed rows on top."""
    from sqlfeast.online.tiles import US, PushRow, TileItem, combine

    view = tile_view([Aggregation("d", "count_distinct", 48 * 3600, "qty", "bigint")])
    plan = plan_of(view)
    g = plan.granularity_us
    j = plan.column_names.index("qty")
    rnd = random.Random(1)
    for cardinality, per_tile in [(12, 3), (300, SPARSE_MAX), (300, 40), (5000, 200), (40000, 2000), (200000, 9000)]:
        builder = TileBuilder(plan)
        truth: set[int] = set()
        exact = True
        for key in range(48):
            values = {rnd.randrange(cardinality) for _ in range(per_tile)}
            truth |= values
            exact = exact and len(values) <= SPARSE_MAX
            part = {"nn": len(values), "lo": None, "hi": None, "s": None, "q": None, "last": {"NULL": True}}
            builder.add(
                2 * key + 1,
                len(values),
                key * g + 1,
                [part | {"d": values} if i == j else part for i in range(len(plan.columns))],
            )
        at = 48 * g  # the boundary: the window is every sub-tile built
        pushed = [PushRow(at + 5, 0, [{"N": str(cardinality + 7)}] * len(plan.columns))]
        for pushes, want in (([], len(truth)), (pushed, len(truth) + 1)):
            item = TileItem(at, builder.encode(), pushes)
            got = combine(view, plan, item, at + US if pushes else at, ["d"]).values["d"]
            if exact:
                assert got == want, (cardinality, per_tile)
            else:
                assert abs(got - want) <= 3 * HLL_RSE * want, (cardinality, per_tile, got, want)


def test_tiles_of_another_layout_or_declaration_ask_for_a_new_materialization(tmp_path, unique_project):
    """An item written by the first layout, or one whose view has since gained an aggregate, is
    not misread: the read names the view and the command that rewrites its tiles."""
    from sqlfeast.errors import TileLayoutError
    from sqlfeast.online.client import OnlineClient
    from tests.online.tiles_helpers import BASE, events

    store = SQLiteOnlineStore(unique_project, tmp_path / "online.db")
    aggs = [Aggregation("n", "count", 3 * 3600, None, "bigint"), Aggregation("s", "sum", 3 * 3600, "qty", "bigint")]
    ts = TileStore(tile_view(aggs), events(seed=3, keys=3, rows=60, hours=10), store, tmp_path)
    end = BASE + 10 * HOUR
    ts.materialize(end)
    assert ts.online_values([1], end, ["n"]).to_dict()["n"][0] > 0

    grown = tile_view([*aggs, Aggregation("m", "max", 3 * 3600, "amount", "double")])
    client = OnlineClient(store, ts.registry.__class__(**{**vars(ts.registry), "feature_views": {"orders": grown}}))
    with pytest.raises(TileLayoutError) as err:
        client.get_online_features(["orders:m"], [{"k1": 1}], request_time=end)
    assert "aggregation view 'orders'" in str(err.value) and "sqlfeast materialize --select orders" in str(err.value)

    table = store.table_name("orders")
    before = store.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    old = b"\x05\x00\x00\x00" + bytes(40)  # the first layout began with its section count
    store.con.execute(f'UPDATE "{table}" SET tiles = ?', [old])
    with pytest.raises(TileLayoutError) as err:
        ts.online_values([1], end, ["n"])
    assert "another layout" in str(err.value) and "sqlfeast materialize --select orders" in str(err.value)
    assert store.con.execute(f'SELECT count(*) FROM "{table}"').fetchone() == before
    store.close()


def test_composite_keys_with_a_float_key_and_nan_keep_one_item_per_entity(tmp_path, unique_project):
    """Entities are told apart on every join key (NaN equal to itself, as the key text is), so
    each gets one item whose values equal the offline ones."""
    import pyarrow as pa

    from sqlfeast.compile.templating import MacroLibrary
    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import Entity, Feature, FeatureView
    from sqlfeast.offline.context import OfflineContext
    from sqlfeast.offline.historical import get_historical_features
    from sqlfeast.offline.materialize import materialize_view
    from sqlfeast.online.client import OnlineClient
    from sqlfeast.warehouse import connect
    from tests.offline.historical_helpers import duckdb_target
    from tests.online.tiles_helpers import BASE

    rnd = random.Random(2)
    rows = [
        {
            "a": rnd.randrange(3),
            "b": rnd.choice([0.5, 1.5, float("nan")]),
            "ts": BASE + dt.timedelta(seconds=rnd.randrange(18 * 3600)),
            "v": rnd.randrange(100),
        }
        for _ in range(400)
    ]
    warehouse = connect(duckdb_target(), tmp_path)
    warehouse.con.register("rows", pa.Table.from_pylist(rows))
    warehouse.con.execute('create table "ev" as select * from "rows"')
    aggs = [
        Aggregation("n", "count", 6 * 3600, None, "bigint"),
        Aggregation("s", "sum", 6 * 3600, "v", "bigint"),
        Aggregation("d", "count_distinct", 6 * 3600, "v", "bigint"),
    ]
    view = FeatureView(
        name="o",
        entities=["e"],
        join_keys=["b", "a"],
        timestamp="ts",
        features=[Feature(x.name, x.type) for x in aggs],
        sql={"duckdb": 'select * from "ev"'},
        columns={"a": "bigint", "b": "double", "ts": "timestamp", "v": "bigint"},
        join_key_types={"a": "bigint", "b": "double"},
        aggregations=aggs,
        granularity_seconds=3600,
        online=True,
    )
    store = SQLiteOnlineStore(unique_project, tmp_path / "online.db")
    registry = Registry(project=unique_project, entities={"e": Entity("e", ["b", "a"])}, feature_views={"o": view})
    store.apply(registry)
    ctx = OfflineContext(warehouse, MacroLibrary.builtin().renderer("duckdb"), registry, online_store=store)
    at = BASE + 19 * HOUR
    result = materialize_view(ctx, view, at - 24 * HOUR, at + dt.timedelta(microseconds=1), quiet=True)
    assert result.written == 9  # 3 x (0.5, 1.5, NaN)
    entities = [{"a": a, "b": b} for a in range(3) for b in (0.5, 1.5)]
    online = OnlineClient(store, registry).get_online_features(["o:n", "o:s", "o:d"], entities, request_time=at)
    rows_at = pa.table({"a": [e["a"] for e in entities], "b": [e["b"] for e in entities], "event_timestamp": [at] * 6})
    offline = get_historical_features(ctx, rows_at, ["o:n", "o:s", "o:d"]).to_arrow().to_pylist()
    got = online.to_dict()
    for i in range(len(entities)):
        assert [got[n][i] for n in "nsd"] == [offline[i][n] for n in "nsd"], entities[i]
    store.close()


def test_decimal_windows_with_a_sub_tile_of_only_nulls():
    """A decimal column's sub-tile whose rows are all NULL adds nothing to the window's sum,
    minimum or mean, and its NULL last value is the window's last."""
    from decimal import Decimal

    from sqlfeast.core.spec import FeatureView
    from sqlfeast.online.tiles import TileItem, combine

    view = FeatureView(
        "o",
        ["c"],
        ["c_id"],
        "ts",
        [],
        columns={"p": "decimal(10,2)"},
        granularity_seconds=3600,
        aggregations=[
            Aggregation("s", "sum", 7200, "p"),
            Aggregation("m", "min", 7200, "p"),
            Aggregation("x", "max", 7200, "p"),
            Aggregation("l", "last", 7200, "p"),
            Aggregation("a", "avg", 7200, "p"),
        ],
    )
    plan = plan_of(view)
    g = plan.granularity_us
    builder = TileBuilder(plan)
    value = Decimal("2.50")
    builder.add(1, 2, 1, [{"nn": 2, "s": 2 * value, "lo": value, "hi": value, "last": {"N": "2.50"}}])
    builder.add(3, 1, g + 1, [{"nn": 0, "s": None, "lo": None, "hi": None, "last": {"NULL": True}}])
    got = combine(view, plan, TileItem(2 * g, builder.encode()), 2 * g, ["s", "m", "x", "l", "a"]).values
    assert got == {"s": Decimal("5.00"), "m": value, "x": value, "l": None, "a": 2.5}
    assert combine(view, plan, TileItem(2 * g, builder.encode()), g, ["l"]).values == {"l": value}
