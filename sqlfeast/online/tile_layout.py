"""The binary layout of an aggregation view's tiles: one ``_tiles`` blob an entity item.

For every non-empty sub-tile (see :mod:`sqlfeast.online.tiles`) the blob holds partial
aggregates: rows, latest event time and, per aggregated column, non-NULL count, sum, sum of
squares, min, max, the last value (latest ts, then created) and the distinct entries (up to 16
exact: the values of an integer column, else their 64-bit hashes; past that a HyperLogLog of
256 four-bit registers).

Layout version 2 is ``MAGIC``, a flag byte (reserved, 0) and a body: the sub-tile count, the
first key, the section lengths, then columnar sections. A numeric section is one ``array`` type
code followed by the array, as narrow as its values allow (keys relative to the first, newest
event times relative to their tile's start, counts unsigned); floats stay float64. Of a numeric
column's partials one, the base (:func:`base_field`), is kept whole and the others only where
they differ from what it implies. Text, times and decimals are JSON lists of codec attribute
values. What each section means comes from the view's declaration (:func:`layout`), so the blob
names nothing; a blob of another layout or section count is a :class:`TileLayoutError` that
asks for the view to be materialized again.

>>> from sqlfeast.core.spec import Aggregation, FeatureView
>>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
...     aggregations=[Aggregation("n", "count", 3600)]))
>>> list(Tiles(p, encode_tiles(p, [8, 9], [1, 2], [4 * 3600 * US, 4 * 3600 * US + 5], [])).n)
[1, 2]
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate, compress, count
from operator import mul, ne, sub
from typing import Any

from sqlfeast.core.tiles import (  # noqa: F401  (US and plan_of: the doctests)
    HLL_BYTES,
    HLL_M,
    HLL_P,
    SPARSE_MAX,
    US,
    ColumnPlan,
    Plan,
    plan_of,
)
from sqlfeast.core.types import parse_type
from sqlfeast.errors import TileLayoutError
from sqlfeast.online.codec import decoder, encoder, from_json_attr, to_json_attr

MAGIC = b"SFT\x02"  # the layout's version is its last byte
FLAGS = b"\x00"  # reserved (a reader refuses other flags)
HLL_CAP = 15
HLL_TAG = 255  # a sub-tile's entry count meaning "a HyperLogLog instead of exact entries"
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
NO_CREATED = I64_MIN  # a row without a created timestamp sorts before every one with
_BODY_HEAD = struct.Struct("<IqH")  # sub-tiles, first key, sections

_HI = bytes(b >> 4 for b in range(256))
_LO = bytes(b & 15 for b in range(256))
assert array("I").itemsize == 4 and array("H").itemsize == 2  # the layout's type codes and widths
_UNSIGNED = (("B", 1 << 8), ("H", 1 << 16), ("I", 1 << 32), ("Q", 1 << 64))
_SIGNED = (("b", 1 << 7), ("h", 1 << 15), ("i", 1 << 31), ("q", 1 << 63))
_CODES = {t: t.encode() for t in "BHIQbhiqd"}
_TYPECODE = [chr(b) for b in range(256)]
_WIDTH = {t: array(t).itemsize for t in "BHIQbhiqd"}
_NOWHERE = (array("B"), array("B"))  # a derived partial that differs from its base nowhere (never changed)


def sub_tile(ts: int, g: int) -> int:
    """The sub-tile key of an event time (microseconds) for tiles of `g` microseconds."""
    i = ts // g
    return 2 * i if ts == i * g else 2 * i + 1


# -- hashing and sketches ------------------------------------------------------------------------
def value_hash(attr: dict[str, Any]) -> int:
    """A 64-bit hash of a value in its codec form (the same from materialize, push and read).

    >>> value_hash({"N": "5"}) == value_hash({"N": "5"}), value_hash({"N": "5"}) == value_hash({"S": "5"})
    (True, False)
    >>> value_hash({"N": "-0.0"}) == value_hash({"N": "0.0"})
    True
    """
    ((kind, value),) = attr.items()
    if kind == "N" and value.startswith("-0") and float(value) == 0:
        value = value[1:]  # -0.0 is 0.0 to the warehouse's DISTINCT
    if kind in ("N", "S"):
        text = kind + value
    else:
        text = json.dumps(to_json_attr(attr), separators=(",", ":"), sort_keys=True)
    return int.from_bytes(_blake(text.encode(), digest_size=8).digest(), "little")


_blake = hashlib.blake2b


def entry_hash(c: ColumnPlan, entry: int) -> int:
    """The hash a distinct entry stands for: an integer column keeps values (hashed here, as
    their codec form), the others keep hashes already.

    >>> entry_hash(ColumnPlan("q", "bigint", "int"), 5) == value_hash({"N": "5"})
    True
    """
    return value_hash({"N": str(entry)}) if c.kind == "int" else entry


def _rank(h: int) -> tuple[int, int]:
    rest = h & ((1 << (64 - HLL_P)) - 1)
    return h >> (64 - HLL_P), min(HLL_CAP, (64 - HLL_P) - rest.bit_length() + 1)


def hll_registers(hashes: Iterable[int]) -> bytes:
    """The HyperLogLog registers of some 64-bit hashes, four bits each (HLL_BYTES bytes).

    >>> len(hll_registers(range(100))) == HLL_BYTES
    True
    """
    regs = bytearray(HLL_M)
    for h in hashes:
        j, r = _rank(h)
        if r > regs[j]:
            regs[j] = r
    return bytes((regs[2 * i] << 4) | regs[2 * i + 1] for i in range(HLL_BYTES))


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


def hll_count(registers: list[bytes], hashes: Iterable[int]) -> int:
    """The HyperLogLog estimate of the union of some register sets and some hashes.

    >>> h = [value_hash({"N": str(v)}) for v in range(2000)]
    >>> 1600 <= hll_count([hll_registers(h[:1000])], h[1000:]) <= 2400
    True
    """
    if not registers:
        hi = lo = bytes(HLL_BYTES)
    elif len(registers) == 1:
        hi, lo = registers[0].translate(_HI), registers[0].translate(_LO)
    else:
        hi = bytes(map(max, *(r.translate(_HI) for r in registers)))
        lo = bytes(map(max, *(r.translate(_LO) for r in registers)))
    regs = [0] * HLL_M
    regs[0::2], regs[1::2] = list(hi), list(lo)
    for h in hashes:
        j, r = _rank(h)
        if r > regs[j]:
            regs[j] = r
    return int(round(hll_estimate(regs)))


def distinct_parts(c: ColumnPlan, groups: Sequence[Iterable[int]]) -> tuple[bytes, list[int], bytes]:
    """The distinct section of sub-tiles from each one's distinct entries (values of an integer
    column, else hashes): entry counts (``HLL_TAG`` for a HyperLogLog), the exact entries one
    sub-tile after the other, and the registers of the HyperLogLog sub-tiles.

    >>> distinct_parts(ColumnPlan("q", "bigint", "int"), [{3, 1}, set(), range(17)])[:2]
    (b'\\x02\\x00\\xff', [1, 3])
    """
    counts = bytearray()
    entries: list[int] = []
    hll = []
    for group in groups:
        got = sorted(set(group))
        if len(got) <= SPARSE_MAX:
            counts.append(len(got))
            entries += got
        else:
            counts.append(HLL_TAG)
            hll.append(hll_registers(entry_hash(c, e) for e in got))
    return bytes(counts), entries, b"".join(hll)


# -- building tiles (materialize) ----------------------------------------------------------------
class TileBuilder:
    """Collects the sub-tiles of one entity (in key order) and encodes them as the ``_tiles`` blob.

    Each sub-tile is given as a dict: ``n`` rows, ``maxts``, and per column ``nn``, ``s``, ``q``,
    ``lo``, ``hi``, ``last`` (a codec attribute) and ``d`` (the distinct entries: values of an
    integer column, else value hashes).

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)]))
    >>> b = TileBuilder(p); b.add(1, 2, 3, []); len(b)
    1
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
            out["nn"].append(part["nn"])
            for what, flag in (("s", c.sum), ("q", c.sumsq), ("lo", c.minmax), ("hi", c.minmax), ("d", c.distinct)):
                if flag:
                    out[what].append(part[what])
            if c.last:
                out["last"].append(part["last"])

    def encode(self) -> bytes:
        cols = []
        for c, out in zip(self.plan.columns, self.cols, strict=True):
            got: dict[str, Any] = {k: v for k, v in out.items() if k not in ("last", "d")}
            if c.last:
                if c.kind == "other":
                    got["last"] = out["last"]
                else:  # codec attributes -> numbers and the sub-tiles whose last value is NULL
                    dec = decoder(parse_type(c.type))
                    values = [dec(a) for a in out["last"]]
                    got["last"] = [0 if v is None else v for v in values]
                    got["last_nulls"] = [i for i, v in enumerate(values) if v is None]
            if c.distinct:
                got["d"] = distinct_parts(c, out["d"])
            cols.append(got)
        return encode_tiles(self.plan, self.keys, self.n, self.maxts, cols)


def int_section(values: Sequence[int]) -> bytes:
    """An integer section: the narrowest ``array`` type code that holds every value, then the array.

    >>> int_section([1, 300]), int_section([-1]), int_section([])
    (b'H\\x01\\x00,\\x01', b'b\\xff', b'B')
    """
    if not len(values):
        return b"B"
    lo, hi = min(values), max(values)
    code = "q"
    if lo >= 0:
        code = next(t for t, limit in _UNSIGNED if hi < limit)
    else:
        code = next((t for t, limit in _SIGNED if -limit <= lo and hi < limit), "q")
    return _CODES[code] + array(code, values).tobytes()


def _float_section(values: Sequence[float]) -> bytes:
    if isinstance(values, memoryview) and values.format == "d":
        return b"d" + values.tobytes()
    return b"d" + array("d", values).tobytes()


def encode_tiles(
    plan: Plan, keys: Sequence[int], n: Sequence[int], maxts: Sequence[int], cols: list[dict[str, Any]]
) -> bytes:
    """The ``_tiles`` blob of one entity from column sequences (one value per sub-tile, in key
    order; lists or memoryviews): per column ``nn``, and as the plan asks ``s``, ``q``, ``lo``,
    ``hi`` (numbers, or Python values for other types; anything where ``nn`` is 0), ``last``
    (numbers with ``last_nulls``, the sub-tiles whose last value is NULL; codec attributes for
    other types) and ``d`` (:func:`distinct_parts`).

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)]))
    >>> encode_tiles(p, [1], [2], [3], [])[:4] == MAGIC
    True
    """
    g = plan.granularity_us
    base = keys[0] if len(keys) else 0
    sections = [
        int_section(list(map((-base).__add__, keys))),
        int_section(n),
        # k >> 1 is the tile of sub-tile k; times relative to the tile's start
        int_section(list(map(sub, maxts, map(g.__mul__, map((1).__rrshift__, keys))))),
    ]
    for c, out in zip(plan.columns, cols, strict=True):
        nn = out["nn"]
        sections.append(b"" if nn == n else int_section(nn))  # empty: every row has a value
        empty = [i for i, k in enumerate(nn) if not k] if 0 in nn else []
        if c.kind == "other":
            if c.sum:
                sections.append(_attr_section(c, out["s"], empty, "s"))
            if c.sumsq:
                sections.append(_float_section(_patched(out["q"], empty, 0.0)))
            if c.minmax:
                sections.append(_attr_section(c, out["lo"], empty, "lo"))
                sections.append(_attr_section(c, out["hi"], empty, "hi"))
            if c.last:
                sections.append(_attrs(out["last"]))
        else:
            sections += _numeric_sections(c, out, empty)
        if c.distinct:
            counts, entries, hll = out["d"]
            sections += [bytes(counts), int_section(entries) if len(entries) else b"", bytes(hll)]
    body = b"".join(
        [_BODY_HEAD.pack(len(keys), base, len(sections)), _lengths(len(sections)).pack(*map(len, sections))] + sections
    )
    return MAGIC + FLAGS + body


@lru_cache(maxsize=64)
def _lengths(sections: int) -> struct.Struct:
    return struct.Struct(f"<{sections}I")


def _patched(values: Sequence[Any], at: list[int], fill: Any) -> Sequence[Any]:
    if not at:
        return values
    out = list(values)
    for i in at:
        out[i] = fill
    return out


def base_field(c: ColumnPlan) -> str | None:
    """The partial of a numeric column kept whole; the others are kept as their differences from
    it (a sub-tile of one value has sum = min = max = last = that value, sum of squares its square).

    >>> base_field(ColumnPlan("a", "double", "float", minmax=True, last=True))
    'lo'
    """
    if c.kind == "other":
        return None
    return "s" if c.sum else "lo" if c.minmax else "last" if c.last else None


def _numeric_sections(c: ColumnPlan, out: dict[str, Any], empty: list[int]) -> list[bytes]:
    """The sections of an int64 or float64 column: its base partial (:func:`base_field`) as an
    array, each other one as the sub-tiles where it differs from what the base implies (none
    where every sub-tile holds one value). A sub-tile without values holds a neutral filler so
    that plain ``min()`` and ``max()`` over a slice skip it: for floats +-inf, for integers the
    item's largest minimum / smallest maximum."""
    full: dict[str, Sequence[Any]] = {}
    floats = c.kind == "float"
    if c.sum:
        full["s"] = _patched(out["s"], empty, 0.0 if floats else 0)
    if c.minmax:
        for what in ("lo", "hi"):
            fill: Any = (math.inf if what == "lo" else -math.inf) if floats else 0
            if empty and not floats:
                skip = set(empty)
                real = [v for i, v in enumerate(out[what]) if i not in skip]
                fill = (max(real) if what == "lo" else min(real)) if real else 0
            full[what] = _patched(out[what], empty, fill)
    base_name = base_field(c)
    if base_name is None:  # counts and distinct entries only
        return []
    nulls = out["last_nulls"] if c.last else []
    if c.last:
        values = out["last"]
        if nulls:  # a NULL last value: its number is whatever the base implies (never read)
            base_values = full.get(base_name)
            values = list(values)
            for i in nulls:
                values[i] = base_values[i] if base_values is not None else 0
        full["last"] = values
    base = full[base_name]
    sections = []
    for what in ("s", "q", "lo", "hi", "last"):
        if what == "q":
            if c.sumsq:
                fb = base if floats else array("d", base)
                implied = list(map(mul, fb, fb))
                sections.append(_differences(_patched(out["q"], empty, 0.0), implied, True))
        elif what in full:
            if what == base_name:
                sections.append(_float_section(base) if floats else int_section(base))
            else:
                sections.append(_differences(full[what], base, floats))
        if what == "last" and c.last:
            sections.append(int_section(nulls) if len(nulls) else b"")
    return sections


def _differences(values: Sequence[Any], implied: Sequence[Any], floats: bool) -> bytes:
    """Where `values` differ from `implied`: their count, positions and values (empty: nowhere)."""
    at = list(compress(count(), map(ne, values, implied)))
    if not at:
        return b""
    got = [values[i] for i in at]
    return struct.pack("<I", len(at)) + int_section(at) + (_float_section(got) if floats else int_section(got))


def _attr_section(c: ColumnPlan, values: Sequence[Any], empty: list[int], what: str) -> bytes:
    """Sums, minimums or maximums of other types (decimals, text, times) as codec attributes. A
    sub-tile without values holds NULL, and for sums 0, so that a window's sum adds them all.

    >>> _attr_section(ColumnPlan("p", "decimal(10,2)", "other", sum=True), [None], [0], "s")
    b'[{"N":"0"}]'
    """
    enc = encoder(parse_type(c.type if what != "s" else _sum_type(c)))
    fill = Decimal(0) if what == "s" else None
    skip = set(empty)
    return _attrs([enc(fill if i in skip else v) for i, v in enumerate(values)] if empty else map(enc, values))


def _sum_type(c: ColumnPlan) -> str:
    t = parse_type(c.type)
    return f"decimal(38,{t.scale or 0})" if t.name == "decimal" else c.type


def _attrs(attrs: Iterable[dict[str, Any]]) -> bytes:
    return json.dumps([to_json_attr(a) for a in attrs], separators=(",", ":")).encode()


# -- reading tiles back --------------------------------------------------------------------------
def layout(plan: Plan) -> list[dict[str, int]]:
    """Section numbers of each column's partials in the blob (worked out once per plan).

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> layout(plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], columns={"a": "double"},
    ...     granularity_seconds=3600, aggregations=[Aggregation("m", "max", 3600, "a")])))
    [{'nn': 3, 'lo': 4, 'hi': 5}]
    """
    if not plan.sections and plan.columns:
        pos = 3
        built = []
        for c in plan.columns:
            found = {}
            names = ["nn"] + ["s"] * c.sum + ["q"] * c.sumsq + ["lo", "hi"] * c.minmax
            names += (["last"] if c.kind == "other" else ["last", "last_nulls"]) * c.last
            names += ["d_counts", "d_entries", "d_hll"] * c.distinct
            for what in names:
                found[what] = pos
                pos += 1
            built.append(found)
        plan.sections = built  # whole at once: readers in other threads never see part of it
    return plan.sections


def section_count(plan: Plan) -> int:
    """Sections a blob of this plan has.

    >>> section_count(plan_of(type("V", (), {"granularity_seconds": 3600, "aggregations": [], "columns": {}})()))
    3
    """
    plan.section_total = 3 + sum(len(s) for s in layout(plan))
    return plan.section_total


class Tiles:
    """The decoded ``_tiles`` blob of one item: sections decoded on first use.

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)]))
    >>> t = Tiles(p, encode_tiles(p, [8, 9], [1, 2], [4 * 3600 * US, 4 * 3600 * US + 5], []))
    >>> list(t.keys), t.base, list(t.n), t.maxts_at(1) - 4 * 3600 * US
    ([0, 1], 8, [1, 2], 5)
    """

    __slots__ = ("plan", "count", "base", "keys", "_body", "_offsets", "_cache", "_layout")

    def __init__(self, plan: Plan, blob: bytes | None, view_name: str = "?"):
        self.plan = plan
        self._cache: dict[Any, Any] = {}
        self._layout = plan.sections or layout(plan)
        if not blob:
            self.count, self.base, self.keys = 0, 0, array("B")
            return
        if blob[:5] != MAGIC + FLAGS:
            raise TileLayoutError(
                f"the stored tiles of aggregation view '{view_name}' are in another layout than this "
                f"version reads (layout {MAGIC[3]})",
                hint=f"run 'sqlfeast materialize --select {view_name}' to rewrite them",
            )
        body = memoryview(blob)[5:]
        try:
            self.count, self.base, sections = _BODY_HEAD.unpack_from(body, 0)
            lengths = _lengths(sections).unpack_from(body, _BODY_HEAD.size)
        except struct.error:
            sections, lengths = -1, ()
        if sections != (plan.section_total or section_count(plan)) or _BODY_HEAD.size + 4 * sections + sum(
            lengths
        ) != len(body):
            raise TileLayoutError(
                f"the stored tiles of aggregation view '{view_name}' do not match its declaration "
                "(changed since they were written, or damaged)",
                hint=f"run 'sqlfeast materialize --select {view_name}' to rewrite them",
            )
        self._body = body
        self._offsets = list(accumulate(lengths, initial=_BODY_HEAD.size + 4 * sections))
        self.keys = self.numbers(0)

    def section(self, i: int) -> memoryview:
        """The bytes of section i."""
        return self._body[self._offsets[i] : self._offsets[i + 1]]

    def numbers(self, i: int) -> array:
        """Section i as the array its type code names (decoded once)."""
        got = self._cache.get(i)
        if got is None:
            sec = self.section(i)
            got = self._cache[i] = array(_TYPECODE[sec[0]])
            got.frombytes(sec[1:])
        return got

    @property
    def n(self) -> array:
        """Rows of each sub-tile."""
        return self.numbers(1)

    def maxts_at(self, k: int) -> int:
        """The newest event time in sub-tile k."""
        return self.numbers(2)[k] + ((self.base + self.keys[k]) >> 1) * self.plan.granularity_us

    def nn(self, j: int) -> array:
        """Column j's non-NULL count of each sub-tile."""
        got = self._cache.get(("nn", j))
        if got is None:
            i = self._layout[j]["nn"]
            got = self._cache[("nn", j)] = (
                self.numbers(i) if self._offsets[i + 1] > self._offsets[i] else self.numbers(1)
            )
        return got

    def values(self, j: int, what: str) -> Any:
        """Column j's sums (``s``), sums of squares (``q``), minimums (``lo``), maximums (``hi``)
        or, for numbers, last values (``last``; see :meth:`last`)."""
        i = self._layout[j][what]
        got = self._cache.get(i)
        if got is not None:
            return got
        c = self.plan.columns[j]
        base_name = base_field(c)
        if base_name is None:  # other types: codec attributes
            if what == "q":
                return self.numbers(i)
            dec = decoder(parse_type(_sum_type(c) if what == "s" else c.type))
            got = [dec(from_json_attr(a)) for a in json.loads(bytes(self.section(i)))]
        elif what == base_name:
            return self.numbers(i)
        else:
            base = self.values(j, base_name)
            if what == "q":
                fb = base if c.kind == "float" else array("d", base)
                got = array("d", map(mul, fb, fb))
            elif self._offsets[i + 1] == self._offsets[i]:
                got = base  # nowhere different: the base itself (arrays read here are never changed)
            else:
                got = array(base.typecode, base)  # a copy in C
            at, differ = self.differences(i)
            try:
                for k, v in zip(at, differ, strict=True):
                    got[k] = v
            except OverflowError:  # an integer wider than the base's: widen the copy
                got = array("q", base)
                for k, v in zip(at, differ, strict=True):
                    got[k] = v
        self._cache[i] = got
        return got

    def differences(self, i: int) -> tuple[Any, Any]:
        """Section i of a derived partial: the sub-tiles where it differs from what the base
        implies, and its values there (memoryviews of the blob)."""
        start, end = self._offsets[i], self._offsets[i + 1]
        if start == end:
            return _NOWHERE
        body = self._body
        code = _TYPECODE[body[start + 4]]
        cut = start + 5 + int.from_bytes(body[start : start + 4], "little") * _WIDTH[code]
        # views of the blob in place (memoryview reads unaligned items by copying them)
        return body[start + 5 : cut].cast(code), body[cut + 1 : end].cast(_TYPECODE[body[cut]])

    def squares(self, j: int, a: int, b: int) -> float:
        """Column j's sum of squares over the sub-tiles [a, b), without building the array: the
        squares of the base there, corrected where the stored sums of squares differ."""
        base = self.values(j, "s")
        part = base[a:b] if self.plan.columns[j].kind == "float" else array("d", base[a:b])
        total = float(sum(map(mul, part, part)))
        at, differ = self.differences(self._layout[j]["q"])
        if len(at):
            lo, hi = bisect_left(at, a), bisect_left(at, b)
            for k, v in zip(at[lo:hi], differ[lo:hi], strict=True):
                x = float(base[k])
                total += v - x * x
        return total

    def last(self, j: int, k: int) -> Any:
        """Column j's last value in sub-tile k (None for NULL)."""
        sec = self._layout[j]
        c = self.plan.columns[j]
        if c.kind == "other":
            got = self._cache.get(sec["last"])
            if got is None:
                got = self._cache[sec["last"]] = json.loads(bytes(self.section(sec["last"])))
            return decoder(parse_type(c.type))(from_json_attr(got[k]))
        nulls = sec["last_nulls"]
        if self._offsets[nulls + 1] > self._offsets[nulls] and k in self.numbers(nulls):
            return None
        base_name = base_field(c)
        if base_name is None or base_name == "last":
            value = self.numbers(sec["last"])[k]
        else:  # the base's value unless sub-tile k is listed as differing
            at, differ = self.differences(sec["last"])
            pos = bisect_left(at, k)
            value = differ[pos] if pos < len(at) and at[pos] == k else self.values(j, base_name)[k]
        return float(value) if c.kind == "float" else value

    def distinct(self, j: int) -> tuple[bytes, list[int], array, memoryview]:
        """Column j's distinct entries: counts a sub-tile (``HLL_TAG``: a HyperLogLog), where each
        sub-tile's exact entries start, the entries, and the HyperLogLog registers."""
        got = self._cache.get(("d", j))
        if got is None:
            sec = self._layout[j]
            counts = bytes(self.section(sec["d_counts"]))
            starts = list(accumulate(counts.replace(bytes([HLL_TAG]), b"\x00"), initial=0))
            entries = (
                self.numbers(sec["d_entries"])
                if self._offsets[sec["d_entries"] + 1] > self._offsets[sec["d_entries"]]
                else array("B")
            )
            got = self._cache[("d", j)] = (counts, starts, entries, self.section(sec["d_hll"]))
        return got
