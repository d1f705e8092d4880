"""Sub-tiles built in the client from the sorted events (offline/tile_rows.py) are the rows the
warehouse's GROUP BY gives (macro aggregate_tiles): on events with NULLs, equal instants, rows on
tile boundaries, negative and wide integers, signed zeros and NaN; and integer sums past BIGINT
are refused as the warehouse refuses them."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from sqlfeast.errors import WarehouseError
from sqlfeast.offline.materialize import materialize_view
from sqlfeast.offline.tile_rows import sub_tiles
from sqlfeast.offline.tiles import _entity_starts, tiles_sql
from sqlfeast.online.sqlite import SQLiteOnlineStore
from sqlfeast.online.tiles import plan_of
from tests.online.tiles_helpers import BASE, COLUMNS, HOUR, TileStore, aggregations, events, tile_view

NUMERIC = {c: t for c, t in COLUMNS.items() if c != "store"}


def _store(tmp_path, rows) -> TileStore:
    view = tile_view(aggregations(columns=NUMERIC))
    return TileStore(view, rows, SQLiteOnlineStore("rows", tmp_path / "online.db"), tmp_path)


def _comparable(name: str, value):
    if isinstance(value, list):  # distinct values: a set, as the reader counts them (-0.0 is 0.0)
        return sorted({repr(v + 0.0) if isinstance(v, float) else repr(v) for v in value})
    if value is None and name.startswith(("__s", "__q", "__lo", "__hi")):
        return 0  # a sub-tile without values: the warehouse's NULL, read as 0
    return value


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return a == b


def _check(ts: TileStore, end: dt.datetime) -> int:
    view, ctx = ts.view, ts.ctx
    want = ctx.warehouse.query_arrow(tiles_sql(ctx, view, end))
    events_table = ctx.warehouse.query_arrow(tiles_sql(ctx, view, end, events=True))
    starts = _entity_starts(view, events_table)
    got, got_starts = sub_tiles(view, plan_of(view), events_table, starts)
    assert got.num_rows == want.num_rows
    assert got_starts == _entity_starts(view, want)
    assert set(want.column_names) <= set(got.column_names)
    for name in want.column_names:
        for i, (g, w) in enumerate(zip(got.column(name).to_pylist(), want.column(name).to_pylist(), strict=True)):
            assert _same(_comparable(name, g), _comparable(name, w)), (name, i, g, w)
    return got.num_rows


@pytest.mark.parametrize("seed", [3, 4])
def test_sub_tiles_from_events_are_the_warehouse_group_by(tmp_path, seed):
    rnd = random.Random(seed)
    rows = events(seed=seed, keys=15, rows=2500, hours=60)
    seen = {(r["k1"], r["event_timestamp"], r["created"]) for r in rows}
    for row in rows[::7]:  # equal instants: the ts of another row of the key, another created
        twin = rnd.choice(rows)
        created = rnd.choice([None, twin["event_timestamp"] + dt.timedelta(microseconds=rnd.randrange(1, 9))])
        if (twin["k1"], twin["event_timestamp"], created) not in seen:  # `last` keeps one answer
            seen.add((twin["k1"], twin["event_timestamp"], created))
            row.update(k1=twin["k1"], event_timestamp=twin["event_timestamp"], created=created)
    for row in rows:
        if row["amount"] is not None and rnd.random() < 0.1:
            row["amount"] = rnd.choice([0.0, -0.0, float("nan"), -1e300, 5e-324])
        if row["qty"] is not None and rnd.random() < 0.1:
            row["qty"] = rnd.choice([-(2**40), 2**40, 2**31, -128, 0])
    ts = _store(tmp_path, rows)
    for hour in (12, 37, 60):
        assert _check(ts, BASE + HOUR * hour + dt.timedelta(microseconds=rnd.choice([0, 1]))) > 0


def test_an_integer_sum_past_bigint_is_refused_on_both_paths(tmp_path):
    at = BASE + HOUR * 3 + dt.timedelta(seconds=1)  # both rows in one sub-tile
    rows = [
        {"k1": 1, "event_timestamp": at, "created": None, "amount": 1.0, "qty": 2**62, "store": None},
        {
            "k1": 1,
            "event_timestamp": at + dt.timedelta(seconds=1),
            "created": None,
            "amount": 1.0,
            "qty": 2**62,
            "store": None,
        },
    ]
    ts = _store(tmp_path, rows)
    end = at + HOUR
    with pytest.raises(WarehouseError):
        ts.warehouse.query_arrow(tiles_sql(ts.ctx, ts.view, end))
    with pytest.raises(WarehouseError, match="BIGINT"):
        materialize_view(ts.ctx, ts.view, end - dt.timedelta(days=1), end, quiet=True)
