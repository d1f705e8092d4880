"""Tiles of an aggregation view online: pushed rows beside them, and combining both at request time.

An online aggregation view keeps one item per entity. Time is cut into tiles of the view's
`granularity` G, and each tile into two *sub-tiles*: its first instant (``ts == i*G``, the
"edge") and the rest (``i*G < ts < (i+1)*G``). Sub-tile keys are ``2*i`` and ``2*i + 1``, so
they sort in time. The item holds the partial aggregates of every non-empty sub-tile in one
blob (:mod:`sqlfeast.online.tile_layout`).

A read at time t with ``T = floor(t / G) * G`` combines, for a window W, the sub-tiles from
``2*(T - W)/G`` to ``2*T/G`` when t == T (exactly ``T - W <= ts <= T``, the offline rule) and to
``2*T/G + 1`` otherwise (``T - W <= ts < T + G``: the window's start snapped down to a tile
boundary, the current tile whole).

Pushed rows (``ts >= `` the item's materialized end) are kept whole beside the tiles, one entry
per identity (ts, created), and folded in at read time.

>>> sub_tile(7200 * 10**6, 3600 * 10**6), sub_tile(7200 * 10**6 + 1, 3600 * 10**6)
(4, 5)
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlfeast.core.tiles import (  # noqa: F401  (re-exported: the plan belongs to the tiles)
    HLL_BYTES,
    HLL_RSE,
    MAX_ITEM_BYTES,
    SPARSE_MAX,
    US,
    Plan,
    plan_of,
)
from sqlfeast.core.types import parse_type
from sqlfeast.online.codec import decoder, from_json_attr, to_json_attr
from sqlfeast.online.tile_layout import (  # noqa: F401  (re-exported for the stores and tests)
    HLL_TAG,
    I64_MIN,
    NO_CREATED,
    TileBuilder,
    Tiles,
    encode_tiles,
    entry_hash,
    hll_count,
    sub_tile,
    value_hash,
)


@dataclass
class PushRow:
    """One pushed row kept beside the tiles: identity (ts, created) and the aggregated columns'
    values as codec attributes (in plan order)."""

    ts: int
    created: int
    attrs: list[dict[str, Any]]

    @property
    def identity(self) -> str:
        return f"{self.ts}.{self.created}"

    def to_json(self) -> str:
        return json.dumps([self.ts, self.created, [to_json_attr(a) for a in self.attrs]], separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "PushRow":
        ts, created, attrs = json.loads(text)
        return cls(int(ts), int(created), [from_json_attr(a) for a in attrs])


@dataclass
class TileItem:
    """One entity's stored item: tiles up to the materialized end, pushed rows from it on."""

    materialized_end: int
    tiles: bytes | None
    pushes: list[PushRow] = field(default_factory=list)


@dataclass
class Combined:
    """The aggregates of one entity at one request time."""

    found: bool
    values: dict[str, Any]
    event_ts: int | None


@dataclass
class _Pushed:
    """The pushed rows of one window and their decoded values, per column (on first use)."""

    rows: list[PushRow]
    decs: list[Callable[[dict[str, Any]], Any]]
    by_column: dict[int, list[tuple[PushRow, Any]]] = field(default_factory=dict)

    def values(self, j: int) -> list[tuple[PushRow, Any]]:
        got = self.by_column.get(j)
        if got is None:
            dec = self.decs[j]
            got = self.by_column[j] = [(p, v) for p in self.rows if (v := dec(p.attrs[j])) is not None]
        return got


_NO_PUSHES = _Pushed([], [])


def read_steps(view: Any, plan: Plan, names: list[str]) -> list[tuple[str, int, Callable[..., Any], int]]:
    """What a read of `names` does (worked out once per plan and names): per aggregate its name,
    window in tiles, combining function and column.

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 7200)])
    >>> [(n, w, f.__name__) for n, w, f, _ in read_steps(v, plan_of(v), ["n"])]
    [('n', 2, '_rows')]
    """
    key = tuple(names)
    got = plan.reads.get(key)
    if got is None:
        if not plan.decoders and plan.columns:
            plan.decoders = [decoder(parse_type(c.type)) for c in plan.columns]
        got = []
        for name in names:
            agg = view.aggregation(name)
            j = plan.column_names.index(agg.column) if agg.column is not None else -1
            fn = _rows if agg.column is None else _FUNCTIONS.get(agg.function)
            if fn is None:
                raise ValueError(f"unknown aggregation function {agg.function!r}")  # pragma: no cover
            got.append((name, agg.window_seconds * US // plan.granularity_us, fn, j))
        if len(plan.reads) >= 256:  # many different feature lists: keep the cache bounded
            plan.reads = {}
        plan.reads[key] = got
    return got


def combine(view: Any, plan: Plan, item: TileItem | None, at_us: int, names: list[str]) -> Combined:
    """The aggregates `names` of `view` for one entity's item at request time `at_us`.

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)])
    >>> p = plan_of(v)
    >>> b = TileBuilder(p); b.add(sub_tile(10 * US, 3600 * US), 2, 10 * US, [])
    >>> combine(v, p, TileItem(20 * US, b.encode()), 3600 * US, ["n"]).values
    {'n': 2}
    """
    steps = read_steps(view, plan, names)
    g = plan.granularity_us
    tile = at_us // g
    hi_key = 2 * tile if at_us == tile * g else 2 * tile + 1
    tiles = Tiles(plan, item.tiles if item is not None else None, view.name)
    keys, base = tiles.keys, tiles.base
    end = bisect_right(keys, hi_key - base) if tiles.count else 0
    pushes = (
        [p for p in item.pushes if p.ts >= item.materialized_end and sub_tile(p.ts, g) <= hi_key]
        if item is not None and item.pushes
        else []
    )
    values: dict[str, Any] = {}
    found = False
    event_ts: int | None = None
    windows: dict[int, tuple[int, _Pushed]] = {}
    for name, span, fn, j in steps:
        window = windows.get(span)
        if window is None:
            lo_key = 2 * (tile - span)
            start = bisect_left(keys, lo_key - base, 0, end) if end else 0
            rows = [p for p in pushes if sub_tile(p.ts, g) >= lo_key] if pushes else []
            window = windows[span] = (start, _Pushed(rows, plan.decoders) if rows else _NO_PUSHES)
            if end > start or rows:
                found = True
                newest = tiles.maxts_at(end - 1) if end > start else None
                if rows:
                    pushed_newest = max(p.ts for p in rows)
                    newest = pushed_newest if newest is None else max(newest, pushed_newest)
                if event_ts is None or (newest is not None and newest > event_ts):
                    event_ts = newest
        values[name] = fn(tiles, j, window[0], end, window[1])
    return Combined(found, values, event_ts)


# Combining one aggregate over the sub-tiles [a, b) of `tiles` and the window's pushed rows.
def _rows(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> int:
    return (sum(tiles.n[a:b]) if b > a else 0) + len(pushed.rows)


def _window_sum(tiles: Tiles, j: int, what: str, a: int, b: int) -> Any:
    """The sum of column j's partial `what` over [a, b) (once per window: `b` is the same for
    every window of one read)."""
    key = (what, j, a)
    got = tiles._cache.get(key)
    if got is None:
        got = tiles._cache[key] = (
            (sum(tiles.nn(j)[a:b]) if what == "nn" else sum(tiles.values(j, what)[a:b])) if b > a else 0
        )
    return got


def _nn(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> int:
    return _window_sum(tiles, j, "nn", a, b) + (len(pushed.values(j)) if pushed.rows else 0)


def _sum_of(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    s = _window_sum(tiles, j, "s", a, b)
    return s + sum(v for _, v in pushed.values(j)) if pushed.rows else s


def _sum(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    return _sum_of(tiles, j, a, b, pushed) if _nn(tiles, j, a, b, pushed) else None


def _avg(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    nn = _nn(tiles, j, a, b, pushed)
    return float(_sum_of(tiles, j, a, b, pushed)) / nn if nn else None


def _stddev(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    nn = _nn(tiles, j, a, b, pushed)
    if nn < 2:
        return None
    s = float(_sum_of(tiles, j, a, b, pushed))
    q = tiles.squares(j, a, b) if b > a else 0.0
    if pushed.rows:
        q += sum(float(v) * float(v) for _, v in pushed.values(j))
    mean = s / nn
    var = (q - nn * mean * mean) / (nn - 1)
    return math.sqrt(var) if var > 0 else 0.0


def _extreme(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed, what: str) -> Any:
    pick = min if what == "lo" else max
    candidates = [v for _, v in pushed.values(j)] if pushed.rows else []
    if _window_sum(tiles, j, "nn", a, b):  # empty sub-tiles hold fillers that never win
        part = tiles.values(j, what)[a:b]
        if tiles.plan.columns[j].kind == "other":
            candidates += [v for v, k in zip(part, tiles.nn(j)[a:b], strict=True) if k and v is not None]
        else:
            candidates.append(pick(part))
    return pick(candidates) if candidates else None


def _min(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    return _extreme(tiles, j, a, b, pushed, "lo")


def _max(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    return _extreme(tiles, j, a, b, pushed, "hi")


def _count(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> int:
    return _nn(tiles, j, a, b, pushed)


def _last(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> Any:
    if pushed.rows:  # pushed rows are newer than every sub-tile
        rows = [(p, tiles.plan.decoders[j](p.attrs[j])) for p in pushed.rows]
        return max(rows, key=lambda pv: (pv[0].ts, pv[0].created))[1]
    return tiles.last(j, b - 1) if b > a else None


def _count_distinct(tiles: Tiles, j: int, a: int, b: int, pushed: _Pushed) -> int:
    c = tiles.plan.columns[j]
    extra: set[int] = set()
    if pushed.rows:
        values = pushed.values(j)
        extra = {v if c.kind == "int" else value_hash(p.attrs[j]) for p, v in values}
    if b <= a:
        return len(extra)
    counts, starts, entries, hll = tiles.distinct(j)
    exact = entries[starts[a] : starts[b]]
    if HLL_TAG not in counts[a:b]:  # every sub-tile exact: one set of entries
        if not extra:
            return len(set(exact))
        extra.update(exact)
        return len(extra)
    first = counts[:a].count(HLL_TAG)
    dense = counts[a:b].count(HLL_TAG)
    registers = [bytes(hll[k * HLL_BYTES : (k + 1) * HLL_BYTES]) for k in range(first, first + dense)]
    return hll_count(registers, {entry_hash(c, e) for e in (*exact, *extra)})


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "count": _count,
    "count_distinct": _count_distinct,
    "sum": _sum,
    "avg": _avg,
    "stddev": _stddev,
    "min": _min,
    "max": _max,
    "last": _last,
}


def reach_start(plan: Plan, end_us: int) -> int:
    """The first instant whose tile the longest window can still reach from `end_us`.

    >>> reach_start(plan_of(type("V", (), {"granularity_seconds": 3600, "aggregations": [], "columns": {}})()), 7201 * US)
    7200000000
    """
    return (end_us // plan.granularity_us) * plan.granularity_us - plan.longest_us


def expires_at(plan: Plan, last_key: int) -> int:
    """Epoch seconds after which no read can reach the sub-tile `last_key` (DynamoDB's TTL)."""
    return ((last_key // 2 + 1) * plan.granularity_us + plan.longest_us) // US + 1
