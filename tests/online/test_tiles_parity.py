"""The invariant of online aggregation views: read at a tile boundary T, every aggregate equals
the offline value of the entity row (k, T); on SQLite and on the DynamoDB-compatible servers
(moto and AWS DynamoDB Local). Also: re-materializing converges, NOT_FOUND counts 0, and
between boundaries the documented rule holds (T - W <= ts < T + G)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from sqlfeast.online import tile_batch
from sqlfeast.online.client import NOT_FOUND, PRESENT
from tests.online.tiles_helpers import (
    BASE,
    COLUMNS,
    HOUR,
    TileStore,
    aggregations,
    events,
    every_store,  # noqa: F401  (the online_store fixture)
    same,
    tile_view,
)


def check_parity(ts: TileStore, keys: list[int], at: dt.datetime, names: list[str]) -> None:
    offline = ts.offline(keys, at, names)
    online = ts.online_values(keys, at, names).to_dict()
    for i, k in enumerate(keys):
        for name in names:
            assert same(online[name][i], offline[i][name]), (k, at, name, online[name][i], offline[i][name])


def test_parity_at_tile_boundaries(online_store, tmp_path):
    aggs = aggregations()
    names = [a.name for a in aggs]
    rows = events(seed=7)
    ts = TileStore(tile_view(aggs), rows, online_store, tmp_path)
    keys = list(range(14))  # 12 with events, 2 never seen
    rnd = random.Random(3)
    for hour in (24, 25, 37, 50, 59):
        boundary = BASE + HOUR * hour
        # Materialized past the boundary: rows at T itself are in, later ones must not count.
        end = boundary + dt.timedelta(microseconds=rnd.choice([1, 1, 1_000_000, 1_800_000_000]))
        ts.materialize(end)
        check_parity(ts, keys, boundary, names)


def test_parity_of_an_answer_combined_at_once(online_store, tmp_path, monkeypatch):
    """Numeric columns and more entities than one by one is quicker for: the client combines the
    answer's tiles together (online/tile_batch.py), and every value still equals the offline one."""
    aggs = aggregations(columns={c: t for c, t in COLUMNS.items() if c != "store"})
    names = [a.name for a in aggs]
    ts = TileStore(tile_view(aggs), events(seed=17, keys=40, rows=1500), online_store, tmp_path)
    one_by_one = []
    entity_path = tile_batch.combine
    monkeypatch.setattr(tile_batch, "combine", lambda *a: one_by_one.append(a[2]) or entity_path(*a))
    for hour in (24, 37, 59):
        boundary = BASE + HOUR * hour
        ts.materialize(boundary + dt.timedelta(microseconds=1))
        check_parity(ts, list(range(42)), boundary, names)
    assert len(one_by_one) == 6 and set(one_by_one) == {None}  # only the two keys never seen


def test_rematerializing_converges_and_empty_entities_count_zero(online_store, tmp_path):
    aggs = aggregations((3600, 24 * 3600))
    names = [a.name for a in aggs]
    ts = TileStore(tile_view(aggs), events(seed=11, keys=5), online_store, tmp_path)
    boundary = BASE + HOUR * 30
    first = ts.materialize(boundary + dt.timedelta(minutes=5))
    again = ts.materialize(boundary + dt.timedelta(minutes=5))
    assert first.written == again.written > 0
    check_parity(ts, list(range(5)), boundary, names)
    response = ts.online_values([99], boundary, names)
    values = response.to_dict()
    assert values["rows_3600"] == [0] and values["count_distinct_store_3600"] == [0]
    assert values["sum_amount_3600"] == [None] and values["last_store_86400"] == [None]
    assert set(s for col in response.statuses.values() for s in col) == {NOT_FOUND}


def test_between_boundaries_the_window_starts_at_the_boundary_and_takes_the_current_tile(online_store, tmp_path):
    from sqlfeast.core.spec import Aggregation

    aggs = [Aggregation("n", "count", 2 * 3600, None, "bigint"), Aggregation("s", "sum", 2 * 3600, "qty", "bigint")]
    t0 = BASE + HOUR * 10
    rows = [
        {"k1": 1, "event_timestamp": t, "created": None, "amount": 1.0, "qty": q, "store": "a"}
        for t, q in [
            (t0 - 2 * HOUR, 1),  # T - W: in at T, and in throughout the next tile
            (t0 - 2 * HOUR + dt.timedelta(minutes=10), 2),
            (t0, 4),  # T itself
            (t0 + dt.timedelta(minutes=20), 8),  # after T in the current tile
            (t0 + HOUR, 16),  # the next boundary
        ]
    ]
    ts = TileStore(tile_view(aggs), rows, online_store, tmp_path)
    ts.materialize(t0 + dt.timedelta(minutes=50))  # the reach: tiles from T - W on; the row at T + G is later
    at = ts.online_values([1], t0, ["n", "s"])
    assert at.to_dict()["s"] == [1 + 2 + 4] and at.statuses["n"] == [PRESENT]
    # 30 minutes past T: the window still starts at T - W (not t - W) and takes the tile [T, T + G) whole.
    mid = ts.online_values([1], t0 + dt.timedelta(minutes=30), ["n", "s"]).to_dict()
    assert mid["s"] == [1 + 2 + 4 + 8] and mid["n"] == [4]
    # Offline at t = T + 30 min, [t - 2h, t] leaves out both rows of the tile at T - W.
    assert ts.offline([1], t0 + dt.timedelta(minutes=30), ["s"])[0]["s"] == 4 + 8


@pytest.mark.parametrize("numeric", [False, True], ids=["warehouse-sub-tiles", "client-sub-tiles"])
def test_parity_holds_for_values_of_every_width(online_store, tmp_path, numeric):
    """Integers from one byte to past 32 bits, negative ones, floats tiny, huge and signed zero:
    the narrow sections, the fillers of empty sub-tiles and the differences from the sums all
    give the offline values back; with a text column the warehouse builds the sub-tiles
    (aggregate_tiles), with numbers only the client does from the sorted events (tile_rows)."""
    rnd = random.Random(5)
    widths = [0, 1, -1, 127, -128, 255, 256, -129, 32767, -32769, 65536, 2**31, -(2**31) - 1, 2**40, -(2**40)]
    floats = [0.0, -0.0, 1e15, -1e-15, 123.45, -7.5, 2.0**-40]
    rows = events(seed=13, keys=6, rows=500, hours=30)
    for row in rows:
        if row["qty"] is not None:
            row["qty"] = rnd.choice(widths)
        if row["amount"] is not None:
            row["amount"] = rnd.choice(floats)
    aggs = aggregations((3600, 12 * 3600), {c: t for c, t in COLUMNS.items() if c != "store" or not numeric})
    names = [a.name for a in aggs]
    ts = TileStore(tile_view(aggs), rows, online_store, tmp_path)
    for hour in (12, 29):
        boundary = BASE + HOUR * hour
        ts.materialize(boundary + dt.timedelta(minutes=1))
        check_parity(ts, list(range(7)), boundary, names)
