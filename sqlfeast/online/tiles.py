"""Tiles of an aggregation view: the online layout, and combining tiles at request time.

An online aggregation view keeps one item per entity. Time is cut into tiles of the view's
`granularity` G, and each tile into two *sub-tiles*: its first instant (``ts == i*G``, the
"edge") and the rest (``i*G < ts < (i+1)*G``). Sub-tile keys are ``2*i`` and ``2*i + 1``, so
they sort in time. For every non-empty sub-tile the item holds partial aggregates: rows,
latest event time and, per aggregated column, non-NULL count, sum, sum of squares, min, max, the
last value (latest ts, then created) and a distinct sketch (the 64-bit hashes of up to 16
distinct values, exact; past that a HyperLogLog of 256 four-bit registers).

A read at time t with ``T = floor(t / G) * G`` combines, for a window W, the sub-tiles from
``2*(T - W)/G`` to ``2*T/G`` when t == T (exactly ``T - W <= ts <= T``, the offline rule) and to
``2*T/G + 1`` otherwise (``T - W <= ts < T + G``: the window's start snapped down to a tile
boundary, the current tile whole).

The binary layout (one ``_tiles`` blob an item) is columnar: a header of section lengths, then
arrays of int64 / float64 (the standard library's ``array``), JSON lists of codec attribute
values for the other types, and the sketches with their offsets. What each section means comes
from the view's declaration (:func:`plan_of`), so the blob names nothing.

Pushed rows (``ts >= `` the item's materialized end) are kept whole beside the tiles, one entry
per identity (ts, created), and folded in at read time.

>>> sub_tile(7200 * 10**6, 3600 * 10**6), sub_tile(7200 * 10**6 + 1, 3600 * 10**6)
(4, 5)
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from sqlfeast.core.tiles import (  # noqa: F401  (re-exported: the plan belongs to the layout)
    HLL_BYTES,
    HLL_M,
    HLL_P,
    HLL_RSE,
    MAX_ITEM_BYTES,
    SPARSE_MAX,
    US,
    ColumnPlan,
    Plan,
    plan_of,
)
from sqlfeast.core.types import parse_type
from sqlfeast.online.codec import decoder, encoder, from_json_attr, to_json_attr

HLL_CAP = 15
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
NO_CREATED = I64_MIN  # a row without a created timestamp sorts before every one with

_HI = bytes(b >> 4 for b in range(256))
_LO = bytes(b & 15 for b in range(256))


def sub_tile(ts: int, g: int) -> int:
    """The sub-tile key of an event time (microseconds) for tiles of `g` microseconds."""
    i = ts // g
    return 2 * i if ts == i * g else 2 * i + 1


# -- hashing and sketches ------------------------------------------------------------------------
def value_hash(attr: dict[str, Any]) -> int:
    """A 64-bit hash of a value in its codec form (the same from materialize, push and read).

    >>> value_hash({"N": "5"}) == value_hash({"N": "5"}), value_hash({"N": "5"}) == value_hash({"S": "5"})
    (True, False)
    """
    ((kind, value),) = attr.items()
    if kind in ("N", "S"):
        text = kind + value
    else:
        text = json.dumps(to_json_attr(attr), separators=(",", ":"), sort_keys=True)
    return int.from_bytes(_blake(text.encode(), digest_size=8).digest(), "little")


_blake = hashlib.blake2b


def _rank(h: int) -> tuple[int, int]:
    rest = h & ((1 << (64 - HLL_P)) - 1)
    return h >> (64 - HLL_P), min(HLL_CAP, (64 - HLL_P) - rest.bit_length() + 1)


def sketch_bytes(hashes: set[int]) -> bytes:
    """One sub-tile's distinct sketch: b'\\x00' + sorted 8-byte hashes (exact) up to SPARSE_MAX,
    else b'\\x01' + HyperLogLog registers, four bits each."""
    if len(hashes) <= SPARSE_MAX:
        return b"\x00" + array("Q", sorted(hashes)).tobytes()
    regs = bytearray(HLL_M)
    for h in hashes:
        j, r = _rank(h)
        if r > regs[j]:
            regs[j] = r
    return b"\x01" + bytes((regs[2 * i] << 4) | regs[2 * i + 1] for i in range(HLL_BYTES))


def hll_estimate(regs: list[int]) -> float:
    """The HyperLogLog estimate of registers (small-range correction by linear counting).

    >>> hll_estimate([0] * HLL_M)
    0.0
    """
    m = len(regs)
    alpha = 0.7213 / (1 + 1.079 / m)
    z = sum(2.0**-r for r in regs)
    estimate = alpha * m * m / z
    zeros = regs.count(0)
    if estimate <= 2.5 * m and zeros:
        return m * math.log(m / zeros)
    return estimate


def distinct_count(sketches: list[bytes], extra: set[int]) -> int:
    """Distinct values over sub-tiles: exact while every sketch is exact, else HyperLogLog.

    >>> distinct_count([sketch_bytes({1, 2}), sketch_bytes({2, 3})], {4})
    4
    """
    dense = [s for s in sketches if s[:1] == b"\x01"]
    hashes = set(extra)
    for s in sketches:
        if s[:1] == b"\x00" and len(s) > 1:
            hashes.update(array("Q", s[1:]))
    if not dense:
        return len(hashes)
    if len(dense) == 1:
        hi, lo = dense[0][1:].translate(_HI), dense[0][1:].translate(_LO)
    else:
        hi = bytes(map(max, *(d[1:].translate(_HI) for d in dense)))
        lo = bytes(map(max, *(d[1:].translate(_LO) for d in dense)))
    regs = [0] * HLL_M
    regs[0::2], regs[1::2] = list(hi), list(lo)
    for h in hashes:
        j, r = _rank(h)
        if r > regs[j]:
            regs[j] = r
    return int(round(hll_estimate(regs)))


# -- building tiles (materialize) ----------------------------------------------------------------
class TileBuilder:
    """Collects the sub-tiles of one entity (in key order) and encodes them as the ``_tiles`` blob.

    Each sub-tile is given as a dict: ``n`` rows, ``maxts``, and per column ``nn``, ``s``, ``q``,
    ``lo``, ``hi``, ``last`` (a codec attribute) and ``d`` (a set of value hashes).
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.keys: list[int] = []
        self.n: list[int] = []
        self.maxts: list[int] = []
        self.cols: list[dict[str, list[Any]]] = [
            {"nn": [], "s": [], "q": [], "lo": [], "hi": [], "last": [], "d": []} for _ in plan.columns
        ]

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: int, n: int, maxts: int, columns: list[dict[str, Any]]) -> None:
        self.keys.append(key)
        self.n.append(n)
        self.maxts.append(maxts)
        for c, out, part in zip(self.plan.columns, self.cols, columns, strict=True):
            nn = part["nn"]
            out["nn"].append(nn)
            if c.sum:
                out["s"].append(part["s"])
            if c.sumsq:
                out["q"].append(part["q"])
            if c.minmax:
                out["lo"].append(part["lo"])
                out["hi"].append(part["hi"])
            if c.last:
                out["last"].append(part["last"])
            if c.distinct:
                out["d"].append(sketch_bytes(part["d"]))

    def encode(self) -> bytes:
        return encode_tiles(self.plan, self.keys, self.n, self.maxts, self.cols)


def encode_tiles(
    plan: Plan, keys: list[int], n: list[int], maxts: list[int], cols: list[dict[str, list[Any]]]
) -> bytes:
    """The ``_tiles`` blob of one entity from column lists (one value per sub-tile, in key order):
    per column ``nn``, and as the plan asks ``s``, ``q``, ``lo``, ``hi`` (numbers or values),
    ``last`` (codec attributes) and ``d`` (sketch bytes, :func:`sketch_bytes`).

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)]))
    >>> len(encode_tiles(p, [1], [2], [3], []))
    40
    """
    sections: list[bytes] = [array("q", keys).tobytes(), array("q", n).tobytes(), array("q", maxts).tobytes()]
    for c, out in zip(plan.columns, cols, strict=True):
        sections.append(array("q", out["nn"]).tobytes())
        if c.sum:
            sections.append(_numbers(c, out["s"], 0))
        if c.sumsq:
            sections.append(array("d", [v or 0.0 for v in out["q"]]).tobytes())
        if c.minmax:
            sections.append(_numbers(c, out["lo"], "lo"))
            sections.append(_numbers(c, out["hi"], "hi"))
        if c.last:
            sections.append(_attrs(out["last"]))
        if c.distinct:
            # Offsets (bytes into the payload), one tag a sub-tile (0 exact hashes, 1 HyperLogLog),
            # the payloads; every payload is a multiple of 8 bytes, so a window of exact sketches
            # reads as one array of hashes.
            offsets = array("I", [0])
            total = 0
            for sk in out["d"]:
                total += len(sk) - 1
                offsets.append(total)
            tags = bytes(sk[0] for sk in out["d"])
            sections.append(offsets.tobytes() + tags + b"".join(sk[1:] for sk in out["d"]))
    header = struct.pack(f"<I{len(sections)}I", len(sections), *(len(x) for x in sections))
    return header + b"".join(sections)


def _numbers(c: ColumnPlan, values: list[Any], empty: Any) -> bytes:
    """int64 / float64 arrays; an empty sub-tile's min is the greatest value, its max the least,
    so plain min() and max() over a slice skip it. Other types: codec attributes as JSON."""
    if c.kind == "int":
        fill = I64_MAX if empty == "lo" else I64_MIN if empty == "hi" else 0
        return array("q", [fill if v is None else int(v) for v in values]).tobytes()
    if c.kind == "float":
        ffill = math.inf if empty == "lo" else -math.inf if empty == "hi" else 0.0
        return array("d", [ffill if v is None else float(v) for v in values]).tobytes()
    enc = encoder(parse_type(c.type if empty != 0 else _sum_type(c)))
    return _attrs([enc(v) for v in values])


def _sum_type(c: ColumnPlan) -> str:
    t = parse_type(c.type)
    return f"decimal(38,{t.scale or 0})" if t.name == "decimal" else c.type


def _attrs(attrs: list[dict[str, Any]]) -> bytes:
    return json.dumps([to_json_attr(a) for a in attrs], separators=(",", ":")).encode()


# -- reading tiles back --------------------------------------------------------------------------
class Tiles:
    """The decoded ``_tiles`` blob of one item (sections decoded on first use)."""

    def __init__(self, plan: Plan, blob: bytes | None):
        self.plan = plan
        self.sections: list[memoryview] = []
        if blob:
            (count,) = struct.unpack_from("<I", blob, 0)
            lengths = struct.unpack_from(f"<{count}I", blob, 4)
            pos = 4 + 4 * count
            view = memoryview(blob)
            for size in lengths:
                self.sections.append(view[pos : pos + size])
                pos += size
        self.keys = self._ints(0) if self.sections else array("q")
        self._cache: dict[tuple[int, str], Any] = {}

    @property
    def maxts(self) -> array:
        """The newest event time of each sub-tile."""
        got = self._cache.get((-1, "maxts"))
        if got is None:
            got = self._cache[(-1, "maxts")] = self._ints(2)
        return got

    def _ints(self, i: int) -> array:
        out = array("q")
        out.frombytes(self.sections[i])
        return out

    def _floats(self, i: int) -> array:
        out = array("d")
        out.frombytes(self.sections[i])
        return out

    def column_sections(self, j: int) -> dict[str, int]:
        """Section numbers of column j's partials (worked out once per plan)."""
        plan = self.plan
        if not plan.sections and plan.columns:
            pos = 3
            for c in plan.columns:
                found = {"nn": pos}
                pos += 1
                for what, flag in (("s", c.sum), ("q", c.sumsq), ("lo", c.minmax), ("hi", c.minmax)):
                    if flag:
                        found[what] = pos
                        pos += 1
                for what, flag in (("last", c.last), ("d", c.distinct)):
                    if flag:
                        found[what] = pos
                        pos += 1
                plan.sections.append(found)
        return plan.sections[j]

    def get(self, j: int, what: str) -> Any:
        """Column j's partial `what` for every sub-tile (decoded once)."""
        cached = self._cache.get((j, what))
        if cached is not None:
            return cached
        c = self.plan.columns[j]
        i = self.column_sections(j)[what]
        if what == "nn":
            value: Any = self._ints(i)
        elif what == "q":
            value = self._floats(i)
        elif what in ("s", "lo", "hi"):
            if c.kind == "int":
                value = self._ints(i)
            elif c.kind == "float":
                value = self._floats(i)
            else:
                dec = decoder(parse_type(_sum_type(c) if what == "s" else c.type))
                value = [dec(from_json_attr(a)) for a in json.loads(bytes(self.sections[i]))]
        elif what == "last":
            value = json.loads(bytes(self.sections[i]))
        else:  # distinct sketches: (offsets, tags, payload)
            raw = self.sections[i]
            n = len(self.keys)
            offsets = array("I")
            offsets.frombytes(raw[: 4 * (n + 1)])
            base = 4 * (n + 1)
            value = (offsets, bytes(raw[base : base + n]), raw[base + n :])
        self._cache[(j, what)] = value
        return value


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
    g = plan.granularity_us
    tile = at_us // g
    hi_key = 2 * tile if at_us == tile * g else 2 * tile + 1
    tiles = Tiles(plan, item.tiles if item is not None else None)
    keys = tiles.keys
    end = bisect_right(keys, hi_key)
    pushes = (
        [p for p in item.pushes if p.ts >= item.materialized_end and sub_tile(p.ts, g) <= hi_key]
        if item is not None
        else []
    )
    if not plan.decoders and plan.columns:
        plan.decoders = [decoder(parse_type(c.type)) for c in plan.columns]
    decs = plan.decoders
    values: dict[str, Any] = {}
    found = False
    event_ts: int | None = None
    for name in names:
        agg = view.aggregation(name)
        lo_key = 2 * (tile - agg.window_seconds * US // g)
        start = bisect_left(keys, lo_key, 0, end)
        rows = [p for p in pushes if sub_tile(p.ts, g) >= lo_key]
        n_tiles = end - start
        if n_tiles or rows:
            found = True
            newest = tiles.maxts[end - 1] if n_tiles else None
            for p in rows:
                newest = p.ts if newest is None else max(newest, p.ts)
            if event_ts is None or (newest is not None and newest > event_ts):
                event_ts = newest
        values[name] = _aggregate(agg, plan, tiles, start, end, rows, decs)
    return Combined(found, values, event_ts)


def _aggregate(agg: Any, plan: Plan, tiles: Tiles, a: int, b: int, rows: list[PushRow], decs: list) -> Any:
    f = agg.function
    if agg.column is None:
        if b <= a:
            return len(rows)
        if (-1, "n") not in tiles._cache:
            tiles._cache[(-1, "n")] = tiles._ints(1)
        return sum(tiles._cache[(-1, "n")][a:b]) + len(rows)
    j = plan.column_names.index(agg.column)
    c = plan.columns[j]
    pushed = [(p, decs[j](p.attrs[j])) for p in rows] if rows else []
    pushed_values = [v for _, v in pushed if v is not None]
    nn = (sum(tiles.get(j, "nn")[a:b]) if b > a else 0) + len(pushed_values)
    if f == "count":
        return nn
    if f == "count_distinct":
        if not nn:
            return 0
        extra = {value_hash(p.attrs[j]) for p, v in pushed if v is not None}
        if b <= a:
            return len(extra)
        offsets, tags, payload = tiles.get(j, "d")
        if 1 not in tags[a:b]:  # every sub-tile exact: one array of hashes
            hashes = array("Q")
            hashes.frombytes(payload[offsets[a] : offsets[b]])
            extra.update(hashes)
            return len(extra)
        sketches = [bytes(tags[k : k + 1]) + bytes(payload[offsets[k] : offsets[k + 1]]) for k in range(a, b)]
        return distinct_count(sketches, extra)
    if f in ("sum", "avg", "stddev"):
        if not nn:
            return None
        s = (sum(tiles.get(j, "s")[a:b]) if b > a else 0) + sum(pushed_values)
        if f == "sum":
            return s
        if f == "avg":
            return float(s) / nn
        if nn < 2:
            return None
        q = (sum(tiles.get(j, "q")[a:b]) if b > a else 0.0) + sum(float(v) * float(v) for v in pushed_values)
        mean = float(s) / nn
        var = (q - nn * mean * mean) / (nn - 1)
        return math.sqrt(var) if var > 0 else 0.0
    if f in ("min", "max"):
        if not nn:
            return None
        pick = min if f == "min" else max
        candidates = list(pushed_values)
        if b > a:
            part = tiles.get(j, "lo" if f == "min" else "hi")[a:b]
            if c.kind == "other":
                candidates += [v for v, k in zip(part, tiles.get(j, "nn")[a:b]) if k and v is not None]
            elif nn > len(pushed_values):  # some sub-tile has a value; empty ones hold +-inf / int64 bounds
                candidates.append(pick(part))
        return pick(candidates)
    if f == "last":
        if pushed:
            return max(pushed, key=lambda pv: (pv[0].ts, pv[0].created))[1]
        if b > a:
            return decs[j](from_json_attr(tiles.get(j, "last")[b - 1]))
        return None
    raise ValueError(f"unknown aggregation function {f!r}")  # pragma: no cover


def reach_start(plan: Plan, end_us: int) -> int:
    """The first instant whose tile the longest window can still reach from `end_us`.

    >>> reach_start(plan_of(type("V", (), {"granularity_seconds": 3600, "aggregations": [], "columns": {}})()), 7201 * US)
    7200000000
    """
    return (end_us // plan.granularity_us) * plan.granularity_us - plan.longest_us


def expires_at(plan: Plan, last_key: int) -> int:
    """Epoch seconds after which no read can reach the sub-tile `last_key` (DynamoDB's TTL)."""
    return ((last_key // 2 + 1) * plan.granularity_us + plan.longest_us) // US + 1
