"""combine_many (every entity of a read at once) gives what combine gives for each entity, on
random tiles: every function, windows from one tile to thirty days, read times on and between
tile boundaries, empty sub-tiles, NULL last values, wide integers, HyperLogLog sub-tiles, pushed
rows, missing items and blobs of another layout."""

from __future__ import annotations

import math
import random

import pytest

from sqlfeast.core.spec import Aggregation, FeatureView
from sqlfeast.errors import TileLayoutError
from sqlfeast.online.tile_batch import combine_many
from sqlfeast.online.tile_layout import encode_tiles, plan_of
from sqlfeast.online.tiles import US, PushRow, TileItem, combine
from tests.tile_batches import random_batch, slice_columns

HOUR = 3600
WINDOWS = [HOUR, 6 * HOUR, 48 * HOUR, 30 * 24 * HOUR]
AGGS = [Aggregation(f"rows_{w}", "count", w) for w in WINDOWS]
AGGS += [
    Aggregation(f"{col}_{fn}_{w}", fn, w, col, "double" if col == "a" else "bigint")
    for col in ("a", "q")
    for fn in ("count", "sum", "avg", "stddev", "min", "max", "last")
    for w in WINDOWS
]
AGGS += [Aggregation(f"s_distinct_{w}", "count_distinct", w, "s", "bigint") for w in WINDOWS]
VIEW = FeatureView(
    "o",
    ["c"],
    ["c_id"],
    "ts",
    [],
    columns={"a": "double", "q": "bigint", "s": "bigint"},
    granularity_seconds=HOUR,
    aggregations=AGGS,
)
NAMES = [a.name for a in AGGS]


def _items(rnd: random.Random, odd: bool) -> tuple[list[TileItem | None], list[int]]:
    plan = plan_of(VIEW)
    bounds, keys, n, maxts, cols = random_batch(rnd, 40, odd, start_below=200)
    items: list[TileItem | None] = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        blob = encode_tiles(plan, keys[a:b], n[a:b], maxts[a:b], slice_columns(cols, a, b))
        items.append(TileItem(maxts[b - 1] + 1, blob))
    return items, keys


def _same(got, want) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)
    return type(got) is type(want) and got == want


def _check(items: list[TileItem | None], at_us: int, names: list[str]) -> None:
    plan = plan_of(VIEW)
    got = combine_many(VIEW, plan, items, at_us, names)
    want = [combine(VIEW, plan, item, at_us, names) for item in items]
    assert list(got.values) == names
    assert all(len(column) == len(items) for column in (got.found, got.event_ts, *got.values.values()))
    for e, w in enumerate(want):
        assert (got.found[e], got.event_ts[e]) == (w.found, w.event_ts), e
        bad = {k: (got.values[k][e], w.values[k]) for k in names if not _same(got.values[k][e], w.values[k])}
        assert not bad, (e, bad)


@pytest.mark.parametrize("odd", [False, True], ids=["full-sub-tiles", "empty-sub-tiles-and-null-lasts"])
def test_the_batch_combines_as_each_entity_alone(odd):
    rnd = random.Random(11 if odd else 5)
    for _ in range(8):
        items, keys = _items(rnd, odd)
        for _ in range(6):
            key = rnd.choice(keys) + rnd.randrange(-3, 60)
            at = (key >> 1) * HOUR * US + rnd.choice([0, 0, 1, rnd.randrange(HOUR * US)])
            _check(items, at, NAMES)
            _check(items, at, rnd.sample(NAMES, 5))


def test_missing_items_pushed_rows_and_other_layouts_take_the_entity_path():
    rnd = random.Random(3)
    items, keys = _items(rnd, True)
    end = items[0].materialized_end
    items[1] = None
    items[2] = TileItem(end, None)
    items[3] = TileItem(end, items[3].tiles, [PushRow(end + 5, 0, [{"N": "2.5"}, {"N": "3"}, {"N": "4"}])])
    at = (end // (HOUR * US) + 1) * HOUR * US
    _check(items, at, NAMES)
    items[4] = TileItem(end, b"SFT\x01" + items[4].tiles[4:])
    with pytest.raises(TileLayoutError):
        combine_many(VIEW, plan_of(VIEW), items, at, NAMES)
    items[4] = TileItem(end, items[5].tiles[:-3])
    with pytest.raises(TileLayoutError):
        combine_many(VIEW, plan_of(VIEW), items, at, NAMES)
