"""The OnlineStore contract, run on every online store (SQLite and a real DynamoDB server)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from sqlfeast.errors import OnlineStoreError, RetrievalError
from sqlfeast.online import ReadRequest, open_online_store
from sqlfeast.online.client import NOT_FOUND, OUTSIDE_MAX_AGE, PRESENT, OnlineClient

from .conftest import dynamodb_settings
from .helpers import HOUR, T0, TYPED_VALUES, registry_of, stats_rows, stats_view, typed_rows, typed_view


@pytest.fixture(params=["sqlite", "dynamodb"])
def make_store(request, tmp_path, unique_project):
    """make_store(project=None) -> an online store of the parametrised kind."""
    opened = []

    def make(project: str | None = None):
        if request.param == "sqlite":
            settings = {"type": "sqlite", "path": "online.db"}
        else:
            settings = dynamodb_settings(request.getfixturevalue("dynamodb_endpoint"))
        store = open_online_store(settings, project or unique_project, tmp_path, "{project}.{view}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def applied(store, *views):
    registry = registry_of(store.project, *views)
    store.apply(registry)
    return registry


def run_concurrently(*targets) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def conv_rates(store, registry, ids) -> set:
    """The distinct conv_rate values online for these drivers."""
    return set(
        OnlineClient(store, registry)
        .get_online_features("driver_stats:conv_rate", [{"driver_id": i} for i in ids])
        .to_dict()["conv_rate"]
    )


def test_round_trip_of_every_type_including_null(make_store):
    store = make_store()
    view = typed_view()
    applied(store, view)
    result = store.write_rows(view, typed_rows(T0))
    assert result.written == 2
    client = OnlineClient(store)  # registry read back from the snapshot stored at apply
    resp = client.get_online_features(["typed"], [{"driver_id": 1}, {"driver_id": 2}])
    data = resp.to_dict()
    assert data["driver_id"] == [1, 2]
    for name, expected in TYPED_VALUES.items():
        assert data[name] == expected, name
    assert resp.statuses["f_bigint"] == [PRESENT, PRESENT]
    assert resp.event_timestamps["f_text"] == [T0, T0]
    table = resp.to_arrow()
    assert table.column("f_dec").to_pylist() == TYPED_VALUES["f_dec"]
    assert str(table.schema.field("f_arr").type) == "list<item: int64>"


def test_backfill_never_replaces_a_newer_row(make_store):
    store = make_store()
    view = stats_view()
    registry = applied(store, view)
    store.write_rows(view, stats_rows([1, 2], T0 + 2 * HOUR, 0.9, 9))
    result = store.write_rows(view, stats_rows([1, 2, 3], T0, 0.1, 1))  # older: a backfill
    assert (result.written, result.skipped) == (1, 2)
    # Same event time: the later created timestamp wins; the same row again is a no-op.
    store.write_rows(view, stats_rows([2], T0 + 2 * HOUR, 0.95, 10, created=T0 + 3 * HOUR))
    again = store.write_rows(view, stats_rows([2], T0 + 2 * HOUR, 0.95, 10, created=T0 + 3 * HOUR))
    assert again.written == 0
    data = (
        OnlineClient(store, registry)
        .get_online_features(["driver_stats:conv_rate", "driver_stats:trips"], [{"driver_id": i} for i in (1, 2, 3)])
        .to_dict()
    )
    assert data == {"driver_id": [1, 2, 3], "conv_rate": [0.9, 0.95, 0.1], "trips": [9, 10, 1]}


def test_duplicate_keys_in_one_batch_keep_the_newest(make_store):
    store = make_store()
    view = stats_view()
    registry = applied(store, view)
    import pyarrow as pa

    rows = pa.concat_tables([stats_rows([5], T0 + HOUR, 0.7), stats_rows([5], T0, 0.2)])
    store.write_rows(view, rows)
    data = OnlineClient(store, registry).get_online_features("driver_stats:conv_rate", [{"driver_id": 5}]).to_dict()
    assert data["conv_rate"] == [0.7]


def test_two_concurrent_writers_newer_wins(make_store):
    """Small batches, as pushes write them, from two connections at once."""
    store_old = make_store()
    view = stats_view()
    registry = applied(store_old, view)
    store_new = make_store(store_old.project)  # a second, independent connection
    ids = list(range(400))
    barrier = threading.Barrier(2)
    errors = []

    def writer(store, ts, conv, order):
        # Opposite directions: for half of the keys the older row arrives after the newer one.
        try:
            barrier.wait()
            for i in range(0, len(order), 50):
                store.write_rows(view, stats_rows(order[i : i + 50], ts, conv))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    run_concurrently(lambda: writer(store_old, T0, 0.1, ids[::-1]), lambda: writer(store_new, T0 + HOUR, 0.9, ids))
    assert not errors
    assert conv_rates(store_old, registry, ids) == {0.9}


def test_concurrent_bulk_writers_older_one_opened_first_and_writing_last(make_store):
    """Two materializations of one view: the one with older rows starts first (finds the table
    empty) but writes last, after the newer one has finished. The newer rows must stay."""
    store_old = make_store()
    view = stats_view()
    registry = applied(store_old, view)
    store_new = make_store(store_old.project)
    ids = list(range(300))
    opened, errors = threading.Event(), []

    def older():
        try:
            with store_old.bulk_writer(view, unique_keys=True) as writer:
                opened.set()
                time.sleep(1.0)  # the newer writer runs now, unless it has to wait for us
                writer.write(stats_rows(ids, T0, 0.1))
        except Exception as err:  # pragma: no cover
            errors.append(err)

    def newer():
        try:
            opened.wait()
            with store_new.bulk_writer(view, unique_keys=True) as writer:
                writer.write(stats_rows(ids, T0 + HOUR, 0.9))
        except Exception as err:  # pragma: no cover
            errors.append(err)

    run_concurrently(older, newer)
    assert not errors
    assert conv_rates(store_old, registry, ids) == {0.9}


def test_outside_max_age_and_not_found(make_store):
    store = make_store()
    view = stats_view(ttl=3600)
    registry = applied(store, view)
    now = datetime.utcnow()
    store.write_rows(view, stats_rows([1], now - timedelta(hours=2), 0.5))
    store.write_rows(view, stats_rows([2], now - timedelta(minutes=5), 0.6))
    resp = OnlineClient(store, registry).get_online_features(
        ["driver_stats:conv_rate"], [{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}]
    )
    assert resp.to_dict()["conv_rate"] == [None, 0.6, None]
    assert resp.statuses["conv_rate"] == [OUTSIDE_MAX_AGE, PRESENT, NOT_FOUND]
    assert resp.event_timestamps["conv_rate"][2] is None
    # An expired value is not served, but when it was stamped is still reported.
    assert resp.event_timestamps["conv_rate"][0] == now - timedelta(hours=2)
    assert resp.event_timestamps["conv_rate"][1] == now - timedelta(minutes=5)


def test_composite_keys_in_any_order(make_store):
    store = make_store()
    view = stats_view("pair_stats", keys=("driver_id", "customer_id"))
    registry = applied(store, view)
    store.write_rows(view, stats_rows([(1, 10), (1, 11)], T0, 0.3, keys=("driver_id", "customer_id")))
    client = OnlineClient(store, registry)
    resp = client.get_online_features(
        ["pair_stats:conv_rate"],
        [
            {"customer_id": 11, "driver_id": 1},
            {"driver_id": "1", "customer_id": "10"},
            {"driver_id": 2, "customer_id": 10},
        ],
    )
    assert resp.to_dict()["conv_rate"] == [0.3, 0.3, None]
    with pytest.raises(RetrievalError, match="entity row 0 lacks join key 'customer_id'"):
        client.get_online_features(["pair_stats:conv_rate"], [{"driver_id": 1}])


def test_two_views_and_full_feature_names(make_store):
    store = make_store()
    a, b = stats_view("a"), stats_view("b")
    registry = applied(store, a, b)
    store.write_rows(a, stats_rows([1], T0, 0.1, 1))
    store.write_rows(b, stats_rows([1], T0, 0.2, 2))
    client = OnlineClient(store, registry)
    data = client.get_online_features(
        ["a:conv_rate", "b:conv_rate", "a:trips"], [{"driver_id": 1}], full_feature_names=True
    ).to_dict()
    assert data == {"driver_id": [1], "a__conv_rate": [0.1], "b__conv_rate": [0.2], "a__trips": [1]}
    with pytest.raises(RetrievalError, match="full_feature_names"):
        client.get_online_features(["a:conv_rate", "b:conv_rate"], [{"driver_id": 1}])


def test_projects_are_isolated(make_store):
    one, two = make_store("iso_one_" + make_store().project), make_store("iso_two_" + make_store().project)
    view = stats_view()
    r1 = applied(one, view)
    applied(two, view)
    one.write_rows(view, stats_rows([1], T0, 0.1))
    two.write_rows(view, stats_rows([1], T0, 0.2))
    assert one.table_name("driver_stats") != two.table_name("driver_stats")
    assert OnlineClient(one).get_online_features("driver_stats:conv_rate", [{"driver_id": 1}]).to_dict()[
        "conv_rate"
    ] == [0.1]
    assert OnlineClient(two).get_online_features("driver_stats:conv_rate", [{"driver_id": 1}]).to_dict()[
        "conv_rate"
    ] == [0.2]
    one.teardown(r1)
    assert OnlineClient(two).get_online_features("driver_stats:conv_rate", [{"driver_id": 1}]).to_dict()[
        "conv_rate"
    ] == [0.2]


def test_apply_reuses_tables_and_teardown_removes_them(make_store):
    store = make_store()
    view = stats_view()
    registry = applied(store, view)
    store.write_rows(view, stats_rows([1], T0, 0.4))
    applied(store, view)  # apply again: the table and its rows stay
    kept = store.read([ReadRequest(view, ["driver_id=1"], ["conv_rate"])])[0]
    assert kept["driver_id=1"].values == {"conv_rate": 0.4}
    dropped = store.teardown(registry)
    assert store.table_name("driver_stats") in dropped
    assert store.load_registry() is None
    with pytest.raises(OnlineStoreError, match="run 'sqlfeast apply' first"):
        OnlineClient(store, registry).get_online_features("driver_stats:conv_rate", [{"driver_id": 1}])
    assert store.teardown(registry) == []  # nothing left: a second teardown is a no-op


def test_reserved_feature_name_is_refused(make_store):
    store = make_store()
    view = stats_view()
    view.features[0].name = "_event_ts"
    with pytest.raises(OnlineStoreError, match="feature name '_event_ts' is reserved"):
        store.apply(registry_of(store.project, view))
