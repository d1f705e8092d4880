"""The ``_tiles`` blobs of many entities at once, from a batch's columns (numpy over the batch).

:func:`sqlfeast.online.tile_layout.encode_tiles` builds one entity's blob in Python, section by
section. Here every section is worked out for the whole batch at once: per entity the narrowest
type code from grouped minimums and maximums, each batch column cast once per type code and cut
into the entities' bytes, and the derived partials compared with what their base implies in one
pass. The bytes are those of ``encode_tiles``; an entity with a sub-tile without values or a
NULL last value (rare) is left to ``encode_tiles``, and so is a batch with a column of another
type (text, times, decimals).

>>> from sqlfeast.core.spec import Aggregation, FeatureView
>>> from sqlfeast.online.tile_layout import encode_tiles, plan_of
>>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
...     aggregations=[Aggregation("n", "count", 3600)]))
>>> keys, n, ts = [8, 9, 4], [1, 2, 1], [4 * 3600 * 10**6, 4 * 3600 * 10**6 + 5, 2 * 3600 * 10**6]
>>> blobs = encode_batch(p, [0, 2, 3], keys, n, ts, [])
>>> blobs == [encode_tiles(p, keys[:2], n[:2], ts[:2], []), encode_tiles(p, keys[2:], n[2:], ts[2:], [])]
True
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from sqlfeast.online.tile_layout import (
    _BODY_HEAD,
    FLAGS,
    MAGIC,
    Plan,
    _lengths,
    base_field,
    encode_tiles,
    int_section,
)

_HEAD = MAGIC + FLAGS
_LIMITS = (  # type code, lowest and highest value it holds (the order int_section tries them)
    ("B", 0, (1 << 8) - 1),
    ("H", 0, (1 << 16) - 1),
    ("I", 0, (1 << 32) - 1),
    ("Q", 0, (1 << 63) - 1),  # int64 input: never larger
    ("b", -(1 << 7), (1 << 7) - 1),
    ("h", -(1 << 15), (1 << 15) - 1),
    ("i", -(1 << 31), (1 << 31) - 1),
    ("q", -(1 << 63), (1 << 63) - 1),
)


def encode_batch(
    plan: Plan,
    bounds: Sequence[int],
    keys: Sequence[int],
    n: Sequence[int],
    maxts: Sequence[int],
    cols: list[dict[str, Any]],
) -> list[bytes]:
    """The blobs of the entities whose sub-tiles are the rows [bounds[e], bounds[e+1]) of the
    batch columns (as ``encode_tiles`` takes them, over the whole batch: ``last_nulls`` as batch
    rows, ``d`` an object with ``parts(a, b)``); the same bytes as ``encode_tiles`` per entity.

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> from sqlfeast.online.tile_layout import plan_of
    >>> p = plan_of(FeatureView("o", ["c"], ["c_id"], "ts", [], granularity_seconds=3600,
    ...     aggregations=[Aggregation("n", "count", 3600)]))
    >>> len(encode_batch(p, [0, 1], [8], [1], [4 * 3600 * 10**6], []))
    1
    """
    entities = len(bounds) - 1
    if any(c.kind == "other" for c in plan.columns):
        return [_one(plan, bounds, e, keys, n, maxts, cols) for e in range(entities)]
    at = np.asarray(bounds[:-1], dtype=np.int64)
    sizes = np.asarray(bounds[1:], dtype=np.int64) - at
    key_arr = np.asarray(keys, dtype=np.int64)
    n_arr = np.asarray(n, dtype=np.int64)
    g = plan.granularity_us
    per_entity: list[list[bytes]] = [
        _ints(key_arr - np.repeat(key_arr[at], sizes), at, sizes),
        _ints(n_arr, at, sizes),
        _ints(np.asarray(maxts, dtype=np.int64) - g * (key_arr >> 1), at, sizes),
    ]
    slow = np.zeros(entities, dtype=bool)  # entities left to encode_tiles
    for c, out in zip(plan.columns, cols, strict=True):
        nn = np.asarray(out["nn"], dtype=np.int64)
        empty = nn == 0
        if empty.any():
            slow |= np.add.reduceat(empty, at) > 0 if len(nn) else False
        if c.last and len(out["last_nulls"]):
            rows = np.asarray(out["last_nulls"], dtype=np.int64)
            slow[np.searchsorted(at, rows, side="right") - 1] = True
        same = ~_differs(nn != n_arr, at, sizes)
        nn_secs = _ints(nn, at, sizes)
        per_entity.append([b"" if s else sec for s, sec in zip(same.tolist(), nn_secs, strict=True)])
        per_entity += _numeric(c, out, at, sizes)
        if c.distinct:
            d = out["d"]
            parts = [d.parts(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            per_entity.append([bytes(p[0]) for p in parts])
            per_entity.append(_entries(c, d, parts, bounds))
            per_entity.append([bytes(p[2]) for p in parts])
    count = len(per_entity)
    head, lengths = _BODY_HEAD, _lengths(count)
    blobs = []
    bases = key_arr[at].tolist() if entities else []
    slow_list = slow.tolist()
    for e, sections in enumerate(zip(*per_entity, strict=True)):
        if slow_list[e]:
            blobs.append(_one(plan, bounds, e, keys, n, maxts, cols))
            continue
        blobs.append(
            b"".join((_HEAD, head.pack(bounds[e + 1] - bounds[e], bases[e], count), lengths.pack(*map(len, sections))))
            + b"".join(sections)
        )
    return blobs


def _one(plan: Plan, bounds: Sequence[int], e: int, keys: Any, n: Any, maxts: Any, cols: list[dict[str, Any]]) -> bytes:
    """Entity e's blob by ``encode_tiles`` (slices of the batch columns)."""
    from bisect import bisect_left

    a, b = bounds[e], bounds[e + 1]
    parts = []
    for got in cols:
        part = {}
        for what, values in got.items():
            if what == "last_nulls":
                part[what] = [i - a for i in values[bisect_left(values, a) : bisect_left(values, b)]]
            elif what == "d":
                part[what] = values.parts(a, b)
            else:
                part[what] = values[a:b]
        parts.append(part)
    return encode_tiles(plan, keys[a:b], n[a:b], maxts[a:b], parts)


def _ints(values: Any, at: Any, sizes: Any) -> list[bytes]:
    """Each group's ``int_section`` of an int64 column, the groups [at[i], at[i] + sizes[i])
    lying one after the other up to the column's end."""
    if not len(values):
        return [b"B"] * len(at)
    lo = np.minimum.reduceat(values, at)
    hi = np.maximum.reduceat(values, at)
    codes = np.full(len(at), len(_LIMITS) - 1, dtype=np.int64)
    for i in range(len(_LIMITS) - 2, -1, -1):  # the first code that holds the entity's values wins
        _, low, high = _LIMITS[i]
        codes[(lo >= low) & (hi <= high) & ((lo >= 0) == (low == 0))] = i
    codes[sizes == 0] = 0
    out: list[bytes] = [b"B"] * len(at)
    starts, ends = at.tolist(), (at + sizes).tolist()
    code_list = codes.tolist()
    for i in set(code_list):
        code = _LIMITS[i][0]
        buf = values.astype(np.dtype(code)).tobytes()
        width, prefix = np.dtype(code).itemsize, code.encode()
        for e in np.flatnonzero(codes == i).tolist():
            out[e] = prefix + buf[starts[e] * width : ends[e] * width]
    return out


def _entries(c: Any, d: Any, parts: list[Any], bounds: Sequence[int]) -> list[bytes]:
    """Each entity's section of distinct entries: from the batch's entries at once where they
    are an integer column's values laid out one entity after the other (``starts``), else one
    ``int_section`` an entity."""
    entries, starts = getattr(d, "entries", None), getattr(d, "starts", None)
    if c.kind != "int" or entries is None or starts is None or not len(entries):
        return [int_section(p[1]) if len(p[1]) else b"" for p in parts]
    cut = np.asarray(starts, dtype=np.int64)[np.asarray(bounds, dtype=np.int64)]
    at, sizes = cut[:-1], cut[1:] - cut[:-1]
    secs = _ints(np.asarray(entries, dtype=np.int64), np.minimum(at, len(entries) - 1), sizes)
    return [sec if k else b"" for sec, k in zip(secs, sizes.tolist(), strict=True)]


def _floats(values: Any, at: Any, sizes: Any) -> list[bytes]:
    buf = np.ascontiguousarray(values, dtype=np.float64).tobytes()
    return [b"d" + buf[a * 8 : (a + k) * 8] for a, k in zip(at.tolist(), sizes.tolist(), strict=True)]


def _differs(mask: Any, at: Any, sizes: Any) -> Any:
    """Per entity: whether any of its rows is set in `mask`."""
    if not len(mask):
        return np.zeros(len(at), dtype=bool)
    return np.add.reduceat(mask, at) > 0


def _numeric(c: Any, out: dict[str, Any], at: Any, sizes: Any) -> list[list[bytes]]:
    """The sections ``_numeric_sections`` writes for a column, per entity (entities with empty
    sub-tiles or NULL last values are rebuilt by ``encode_tiles``, so none are assumed here)."""
    base_name = base_field(c)
    if base_name is None:
        return []
    floats = c.kind == "float"
    dtype = np.float64 if floats else np.int64
    full = {what: np.asarray(out[what], dtype=dtype) for what in ("s", "lo", "hi", "last") if what in out}
    base = full[base_name]
    sections: list[list[bytes]] = []
    empty = [b""] * len(at)
    for what in ("s", "q", "lo", "hi", "last"):
        if what == "q":
            if c.sumsq:
                fb = base.astype(np.float64)
                sections.append(_diff_sections(np.asarray(out["q"], dtype=np.float64), fb * fb, at, sizes, True))
        elif what in full:
            if what == base_name:
                sections.append(_floats(base, at, sizes) if floats else _ints(base, at, sizes))
            else:
                sections.append(_diff_sections(full[what], base, at, sizes, floats))
        if what == "last" and c.last:
            sections.append(empty)
    return sections


def _diff_sections(values: Any, implied: Any, at: Any, sizes: Any, floats: bool) -> list[bytes]:
    """Per entity, ``_differences``: where `values` differ from `implied` (empty: nowhere)."""
    rows = np.flatnonzero(values != implied)
    out = [b""] * len(at)
    if not len(rows):
        return out
    first = np.searchsorted(rows, at)
    counts = np.searchsorted(rows, at + sizes) - first
    has = np.flatnonzero(counts)
    starts, sizes_of = first[has], counts[has]
    rel = rows - np.repeat(at[has], sizes_of)
    got = values[rows]
    positions = _ints(rel, starts, sizes_of)
    tails = _floats(got, starts, sizes_of) if floats else _ints(got, starts, sizes_of)
    for e, k, pos, tail in zip(has.tolist(), sizes_of.tolist(), positions, tails, strict=True):
        out[e] = struct.pack("<I", k) + pos + tail
    return out
