"""Combining the tiles of every entity of one read at once, with array operations.

:func:`combine_many` gives, for a list of items, what :func:`sqlfeast.online.tiles.combine`
gives for each (floating sums to rounding: numpy adds in another order than Python's ``sum``).
Instead of decoding each blob's sections and combining each aggregate in Python per entity,
it joins the blobs into one buffer, reads every blob's header and sections with a few gathers,
finds each entity's window as a count of its sub-tile keys below the window's edges, and reduces
every aggregate over all entities in one call (``reduceat`` over the windows' bounds; a sort for
distinct counts). Its cost is a few dozen numpy calls an answer, whatever its entity count.

An item goes through :func:`~sqlfeast.online.tiles.combine` instead when this way does not
apply to it: pushed rows beside its tiles, a sub-tile whose distinct values are a HyperLogLog,
an integer sum section with values past 32 bits (its window sum could pass int64), or a blob of
another layout (which ``combine`` then reports). A view with columns of other types (decimals,
text, times) goes through ``combine`` whole.

>>> from sqlfeast.core.spec import Aggregation, FeatureView
>>> from sqlfeast.online.tiles import TileBuilder, TileItem, US, plan_of, sub_tile
>>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
...     aggregations=[Aggregation("n", "count", 3600)])
>>> p = plan_of(v)
>>> b = TileBuilder(p); b.add(sub_tile(10 * US, 3600 * US), 2, 10 * US, [])
>>> combine_many(v, p, [TileItem(20 * US, b.encode()), None], 3600 * US, ["n"]).values
{'n': [2, 0]}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sqlfeast.core.tiles import Plan
from sqlfeast.online.tile_layout import FLAGS, HLL_TAG, MAGIC, layout, section_count
from sqlfeast.online.tiles import TileItem, combine, read_steps

_HEAD = MAGIC + FLAGS
_SECTIONS_AT = len(_HEAD) + 14  # the body head: sub-tiles (u32), first key (i64), sections (u16)
_WIDTH = np.zeros(256, np.int64)
_DTYPE: dict[int, np.dtype] = {}
_FLOAT = ord("d")
# Fewer items are quicker one by one (CPU of 8 aggregates, one by one vs at once: 16 items
# 0.61-0.67 vs 0.69-0.82 ms, 24 items 1.07-1.13 vs 0.86-0.96 ms).
_BATCH_FROM = 20
_GATHER_BELOW = 16384  # bytes of a section across items below which numpy gathers them (else a join)
for _code in "BHIQbhiqd":
    _WIDTH[ord(_code)] = np.dtype("<" + _code).itemsize
    _DTYPE[ord(_code)] = np.dtype("<" + _code)


class _Unfit(Exception):
    """Raised inside the batch when some item must go through ``combine`` (names them)."""

    def __init__(self, entities: np.ndarray):
        self.entities = entities


@dataclass
class Combinations:
    """The aggregates of several entities at one request time, a list each (in entity order)."""

    found: list[bool]
    event_ts: list[int | None]
    values: dict[str, list[Any]]


def combine_many(view: Any, plan: Plan, items: list[TileItem | None], at_us: int, names: list[str]) -> Combinations:
    """The aggregates `names` of `view` for each item at request time `at_us`, in item order
    (None: no item stored).

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> from sqlfeast.online.tiles import plan_of
    >>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)])
    >>> combine_many(v, plan_of(v), [None], 0, ["n"])
    Combinations(found=[False], event_ts=[None], values={'n': [0]})
    """
    steps = read_steps(view, plan, names)
    batch: list[int] = []
    if not any(plan.columns[j].kind == "other" for _, _, _, j in steps if j >= 0):
        for i, item in enumerate(items):
            if item is not None and item.tiles and not item.pushes and item.tiles[: len(_HEAD)] == _HEAD:
                batch.append(i)
    got: Combinations | None = None
    while len(batch) >= _BATCH_FROM:
        try:
            got = _Batch(view, plan, [items[i] for i in batch]).combine(at_us, steps)
            break
        except _Unfit as unfit:  # those items one by one, the rest again as a batch
            drop = set(np.asarray(batch)[unfit.entities].tolist())
            batch = [i for i in batch if i not in drop]
    if got is not None and len(batch) == len(items):
        return got
    out = Combinations([False] * len(items), [None] * len(items), {name: [None] * len(items) for name in names})
    done = set()
    if got is not None:
        done = set(batch)
        for e, i in enumerate(batch):
            out.found[i], out.event_ts[i] = got.found[e], got.event_ts[e]
        for name, values in got.values.items():
            column = out.values[name]
            for e, i in enumerate(batch):
                column[i] = values[e]
    for i, item in enumerate(items):
        if i not in done:
            one = combine(view, plan, item, at_us, names)
            out.found[i], out.event_ts[i] = one.found, one.event_ts
            for name in names:
                out.values[name][i] = one.values[name]
    return out


def _ranges(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The concatenated index ranges [start, start + length) (int64)."""
    total = int(length.sum())
    if not total:
        return np.empty(0, np.int64)
    before = np.cumsum(length) - length
    return np.repeat(start - before, length) + np.arange(total, dtype=np.int64)


def _window(ufunc: np.ufunc, values: np.ndarray, a: np.ndarray, b: np.ndarray, empty: float | int = 0) -> np.ndarray:
    """`ufunc` reduced over values[a[e]:b[e]] for each entity (`empty` where a == b)."""
    if not len(a):
        return np.empty(0, values.dtype)
    bounds = np.empty(2 * len(a), np.int64)
    bounds[0::2], bounds[1::2] = a, b
    padded = np.concatenate([values, np.zeros(1, values.dtype)])  # b may be len(values)
    got = ufunc.reduceat(padded, bounds)[0::2]
    got[a == b] = empty
    return got


class _Batch:
    """The tiles of several items in one buffer: every section of every blob found by offset."""

    def __init__(self, view: Any, plan: Plan, items: list[TileItem | None]):
        self.view, self.plan = view, plan
        self.layout = plan.sections or layout(plan)
        sections = plan.section_total or section_count(plan)
        blobs = [item.tiles for item in items if item is not None and item.tiles]
        sizes = np.fromiter(map(len, blobs), np.int64, len(blobs))
        buffer = b"".join(blobs)
        self.bytes = memoryview(buffer)
        self.u8 = u8 = np.frombuffer(buffer, np.uint8)
        starts = np.cumsum(sizes) - sizes
        head_bytes = _SECTIONS_AT + 4 * sections
        short = sizes < head_bytes
        if short.any():
            raise _Unfit(np.flatnonzero(short))
        head = u8[starts[:, None] + np.arange(head_bytes)]  # E x head, a copy
        self.count = head[:, 5:9].copy().view("<u4")[:, 0].astype(np.int64)
        self.base = head[:, 9:17].copy().view("<i8")[:, 0]
        found = head[:, 17:19].copy().view("<u2")[:, 0]
        lengths = head[:, _SECTIONS_AT:].copy().view("<u4").astype(np.int64)
        bad = (found != sections) | (head_bytes + lengths.sum(axis=1) != sizes)
        if bad.any():
            raise _Unfit(np.flatnonzero(bad))
        self.lengths = lengths
        self.offsets = starts[:, None] + head_bytes + np.cumsum(lengths, axis=1) - lengths
        # flat sub-tile positions: entity e's sub-tiles are first[e] .. first[e + 1]
        self.first = np.concatenate([[0], np.cumsum(self.count)])
        self.entities = len(blobs)
        self._cache: dict[Any, np.ndarray] = {}

    # -- sections --------------------------------------------------------------------------------
    def _typed(self, start: np.ndarray, nbytes: np.ndarray, floats: bool) -> tuple[np.ndarray, np.ndarray]:
        """Arrays at byte `start` (a type code, then the values) of `nbytes` bytes each, code
        included, concatenated as float64 or int64; and their lengths."""
        kind = np.float64 if floats else np.int64
        counts = np.zeros(len(start), np.int64)
        has = np.flatnonzero(nbytes)
        if not len(has):
            return np.empty(0, kind), counts
        start, payload = start[has], nbytes[has] - 1
        codes = self.u8[start]
        code = int(codes[0])
        if np.count_nonzero(codes != code):  # several type codes: one array each, then merged
            total = np.zeros(len(has), np.int64)
            pieces = []
            for c in np.unique(codes).tolist():
                sel = codes == c
                values, got = self._typed(start, np.where(sel, payload + 1, 0), floats)
                total += got
                pieces.append((sel, values, got))
            into = np.cumsum(total) - total
            out = np.empty(int(total.sum()), kind)
            for sel, values, got in pieces:
                out[_ranges(into[sel], got[sel])] = values
            counts[has] = total
            return out, counts
        width = int(_WIDTH[code])
        if not width or (code == _FLOAT) != floats or np.count_nonzero(payload % width):
            raise _Unfit(has)
        counts[has] = payload // width
        return self.payloads(start + 1, payload).view(_DTYPE[code]).astype(kind), counts

    def payloads(self, start: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
        """The byte ranges [start, start + nbytes) of the buffer, one after the other."""
        if int(nbytes.sum()) < _GATHER_BELOW:  # small sections: one gather of their bytes
            return self.u8[_ranges(start, nbytes)]
        data = self.bytes
        pieces = [data[a : a + n] for a, n in zip(start.tolist(), nbytes.tolist(), strict=True)]
        return np.frombuffer(b"".join(pieces), np.uint8)

    def numbers(self, i: int, floats: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Section i of every blob as one flat array, and each blob's count of values."""
        key = ("n", i)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self._typed(self.offsets[:, i], self.lengths[:, i], floats)  # type: ignore[assignment]
        return got  # type: ignore[return-value]

    def per_sub_tile(self, i: int, floats: bool = False) -> np.ndarray:
        """Section i, one value a sub-tile (checked)."""
        values, counts = self.numbers(i, floats)
        wrong = counts != self.count
        if wrong.any():
            raise _Unfit(np.flatnonzero(wrong))
        return values

    def owners(self, flags: np.ndarray) -> np.ndarray:
        """The entities of the flat sub-tiles where `flags` holds."""
        return np.unique(np.searchsorted(self.first, np.flatnonzero(flags), "right") - 1)

    def sub_tile_positions(self, i: int) -> np.ndarray:
        """Section i of sub-tile numbers (last_nulls) as flat sub-tile positions."""
        at, counts = self.numbers(i)
        return at + np.repeat(self.first[:-1], counts)

    def differences(self, i: int, floats: bool) -> tuple[np.ndarray, np.ndarray]:
        """A derived partial's section i: the flat sub-tile positions where it differs from
        what its base implies, and its values there."""
        start, nbytes = self.offsets[:, i], self.lengths[:, i]
        has = nbytes > 0
        if not has.any():
            return np.empty(0, np.int64), np.empty(0, np.float64 if floats else np.int64)
        count = np.zeros(len(start), np.int64)
        count[has] = self.u8[start[has, None] + np.arange(4)].copy().view("<u4")[:, 0]
        codes = np.zeros(len(start), np.int64)
        codes[has] = self.u8[start[has] + 4]
        pos_bytes = np.where(has, 1 + count * _WIDTH[codes], 0)
        value_bytes = np.where(has, nbytes - 4 - pos_bytes, 0)
        if (has & (value_bytes <= 0)).any():
            raise _Unfit(np.flatnonzero(has & (value_bytes <= 0)))
        positions, got = self._typed(start + 4, pos_bytes, False)
        values, got_values = self._typed(start + 4 + pos_bytes, value_bytes, floats)
        wrong = has & ((got != count) | (got_values != count))
        if wrong.any():
            raise _Unfit(np.flatnonzero(wrong))
        return positions + np.repeat(self.first[:-1], count), values

    def partial(self, j: int, what: str) -> np.ndarray:
        """Column j's partial `what` (nn, s, q, lo, hi, last), one value a flat sub-tile."""
        key = (j, what)
        got = self._cache.get(key)
        if got is not None:
            return got
        c = self.plan.columns[j]
        floats = c.kind == "float"
        sec = self.layout[j]
        i = sec[what]
        if what == "nn":
            has = self.lengths[:, i] > 0
            got = self.per_sub_tile(1).copy()
            if has.any():
                values, counts = self.numbers(i)
                wrong = has & (counts != self.count)
                if wrong.any():
                    raise _Unfit(np.flatnonzero(wrong))
                got[np.repeat(has, self.count)] = values
        else:
            base_name = "s" if c.sum else "lo" if c.minmax else "last"
            if what == base_name:
                got = self.per_sub_tile(i, floats)
                if what == "s" and not floats and len(got) and np.abs(got).max() >= 2**31:
                    raise _Unfit(self.owners(np.abs(got) >= 2**31))  # a window's sum could pass int64
            else:
                base = self.partial(j, base_name)
                got = base.astype(np.float64) ** 2 if what == "q" else base.copy()
                at, values = self.differences(i, floats or what == "q")
                got[at] = values
        self._cache[key] = got
        return got

    # -- combining -------------------------------------------------------------------------------
    def combine(self, at_us: int, steps: list[tuple[str, int, Any, int]]) -> Combinations:
        g = self.plan.granularity_us
        tile = at_us // g
        hi_key = 2 * tile if at_us == tile * g else 2 * tile + 1
        keys = self.per_sub_tile(0) + np.repeat(self.base, self.count)
        first = self.first

        def below(edge_is: np.ndarray) -> np.ndarray:  # per entity: its sub-tiles where edge_is
            seen = np.concatenate([[0], np.cumsum(edge_is)])
            return first[:-1] + seen[first[1:]] - seen[first[:-1]]

        end = below(keys <= hi_key)
        spans = sorted({span for _, span, _, _ in steps})
        starts = {span: below(keys < 2 * (tile - span)) for span in spans}
        widest = starts[spans[-1]] if spans else end
        found = end > widest
        newest = np.zeros(self.entities, np.int64)
        if found.any():
            k = end[found] - 1
            newest[found] = self.per_sub_tile(2)[k] + (keys[k] >> 1) * g
        columns: dict[str, list[Any]] = {}
        for name, span, _, j in steps:
            function = self.view.aggregation(name).function if j >= 0 else "rows"
            columns[name] = self._aggregate(function, j, span, starts[span], end)
        return Combinations(found.tolist(), _with_none(newest.tolist(), ~found), columns)

    def _aggregate(self, function: str, j: int, span: int, a: np.ndarray, b: np.ndarray) -> list[Any]:
        """One aggregate of every entity over its window [a, b) of flat sub-tiles."""
        if function == "rows":
            return _window(np.add, self.per_sub_tile(1), a, b).tolist()
        if function == "count_distinct":
            return self._distinct(j, a, b)
        if function == "last":
            return self._last(j, a, b)
        nn = self._window_sum(j, "nn", span, a, b)
        if function == "count":
            return nn.tolist()
        none = nn == 0
        if function in ("min", "max"):
            what = "lo" if function == "min" else "hi"
            got = _window(np.minimum if what == "lo" else np.maximum, self.partial(j, what), a, b)
            return _with_none(got.tolist(), none)
        s = self._window_sum(j, "s", span, a, b)
        if function == "sum":
            return _with_none(s.tolist(), none)
        count = np.where(none, 1, nn)
        if function == "avg":
            return _with_none((s.astype(np.float64) / count).tolist(), none)
        # stddev: the sample deviation from the window's count, sum and sum of squares
        q = self._window_sum(j, "q", span, a, b)
        mean = s.astype(np.float64) / count
        var = (q - nn * mean * mean) / np.maximum(nn - 1, 1)
        dev = [math.sqrt(v) if v > 0 else 0.0 for v in var.tolist()]
        return _with_none(dev, nn < 2)

    def _window_sum(self, j: int, what: str, span: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Column j's partial `what` summed over each entity's window (once a window)."""
        key = ("sum", j, what, span)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = _window(np.add, self.partial(j, what), a, b)
        return got

    def _last(self, j: int, a: np.ndarray, b: np.ndarray) -> list[Any]:
        sec = self.layout[j]
        c = self.plan.columns[j]
        values = self.partial(j, "last")
        none = b <= a
        k = np.where(none, 0, b - 1)
        got = values[k] if len(values) else np.zeros(len(k), values.dtype)
        if (self.lengths[:, sec["last_nulls"]] > 0).any():
            nulls = np.zeros(len(values) + 1, bool)
            nulls[self.sub_tile_positions(sec["last_nulls"])] = True
            none = none | nulls[k]
        return _with_none(got.astype(np.float64).tolist() if c.kind == "float" else got.tolist(), none)

    def _distinct(self, j: int, a: np.ndarray, b: np.ndarray) -> list[Any]:
        sec = self.layout[j]
        at, size = self.offsets[:, sec["d_counts"]], self.lengths[:, sec["d_counts"]]
        counts = self.payloads(at, size).astype(np.int64)  # raw bytes: no type code
        if len(counts) != len(self.per_sub_tile(0)):
            raise _Unfit(np.flatnonzero(self.lengths[:, sec["d_counts"]] != self.count))
        if (counts == HLL_TAG).any():
            raise _Unfit(self.owners(counts == HLL_TAG))
        entries, _ = self.numbers(sec["d_entries"])
        before = np.concatenate([[0], np.cumsum(counts)])
        if before[-1] != len(entries):
            raise _Unfit(np.arange(self.entities))
        lo, hi = before[a], before[b]
        picked = _ranges(lo, hi - lo)
        values = entries[picked]
        owner = np.repeat(np.arange(self.entities), hi - lo)
        if not len(values):
            return [0] * self.entities
        low = int(values.min())
        span = int(values.max()) - low + 1
        cells = span * self.entities
        if cells <= max(1 << 16, 8 * len(values)):  # few values: which of them each entity has
            seen = np.bincount(owner * span + (values - low), minlength=cells).reshape(self.entities, span)
            return np.count_nonzero(seen, axis=1).tolist()
        if cells < 2**62:  # (owner, value) as one number: one plain sort
            ordered = np.sort(owner * span + (values - low))
            new = np.ones(len(ordered), bool)
            new[1:] = ordered[1:] != ordered[:-1]
            return np.bincount(ordered[new] // span, minlength=self.entities).tolist()
        order = np.lexsort((values, owner))
        values, owner = values[order], owner[order]
        new = np.ones(len(values), bool)
        new[1:] = (values[1:] != values[:-1]) | (owner[1:] != owner[:-1])
        return np.bincount(owner[new], minlength=self.entities).tolist()


def _with_none(values: list[Any], none: np.ndarray) -> list[Any]:
    """`values` with None where `none` holds."""
    if none.any():
        for e in np.flatnonzero(none).tolist():
            values[e] = None
    return values
