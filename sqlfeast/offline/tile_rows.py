"""Sub-tiles built in the client from the events the warehouse hands over sorted.

Where the warehouse's ``tile_rows`` capability is set (DuckDB), materializing an aggregation
view of numeric columns reads its events ordered by the join keys and the order of ``last``
(macro ``aggregate_events``) and :func:`sub_tiles` turns each batch into the rows the
``aggregate_tiles`` macro would have given: one per entity and sub-tile, with the same columns
(``__tile``, ``__n``, ``__maxts``, and per column ``__nn<j>``, ``__s<j>``, ``__q<j>``,
``__lo<j>``, ``__hi<j>``, ``__last<j>``, ``__d<j>``). The events of a sub-tile are consecutive,
so every partial is one ``reduceat`` over the sub-tiles' first rows, ``last`` is the value of a
sub-tile's last row and the distinct values are one sort of (sub-tile, value) pairs. This is
several times cheaper than the warehouse's GROUP BY, where most sub-tiles hold one event.

>>> import pyarrow as pa
>>> from sqlfeast.core.spec import Aggregation, FeatureView
>>> from sqlfeast.core.tiles import plan_of
>>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], columns={"a": "double"}, granularity_seconds=1,
...     aggregations=[Aggregation("s", "sum", 10, "a")])
>>> events = pa.table({"c_id": [1, 1, 1, 2], "__us": [0, 500_000, 700_000, 0], "__c0": [1.0, 2.0, None, 4.0]})
>>> table, starts = sub_tiles(v, plan_of(v), events, [0, 3])
>>> table.column("__tile").to_pylist(), table.column("__s0").to_pylist(), starts
([0, 1, 0], [1.0, 2.0, 4.0], [0, 2])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlfeast.core.tiles import Plan
from sqlfeast.errors import WarehouseError

I64 = 2**63


def column(table: pa.Table, name: str) -> pa.Array:
    """One column of `table` as a single array (chunks combined).

    >>> column(pa.table({"a": pa.chunked_array([[1], [2]])}), "a").to_pylist()
    [1, 2]
    """
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def sub_tiles(view: Any, plan: Plan, events: pa.Table, starts: list[int]) -> tuple[pa.Table, list[int]]:
    """The sub-tile rows of `events` (at least one row, ordered by the join keys, then ts and
    created; `starts`: the rows where an entity begins), and the rows of the result where each
    entity begins."""
    rows = events.num_rows
    us = column(events, "__us").to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    g = plan.granularity_us
    tile_index = us // g
    tile = 2 * tile_index + (us != tile_index * g)
    begins = np.empty(rows, bool)
    begins[0] = True
    np.not_equal(tile[1:], tile[:-1], out=begins[1:])
    begins[np.asarray(starts, dtype=np.int64)] = True
    first = np.flatnonzero(begins)
    last = np.append(first[1:], rows) - 1
    n = last - first + 1
    out: dict[str, Any] = {k: column(events, k).take(pa.array(first)) for k in view.join_keys}
    out["__tile"] = tile[first]
    out["__n"] = n
    out["__maxts"] = us[last]  # the rows of a sub-tile are in time order
    for j, c in enumerate(plan.columns):
        out.update(_partials(j, c, column(events, f"__c{j}"), first, last, n))
    return pa.table(out), np.searchsorted(first, starts).tolist()


def _partials(j: int, c: Any, arr: pa.Array, first: np.ndarray, last: np.ndarray, n: np.ndarray) -> dict[str, Any]:
    """Column j's partial aggregates of every sub-tile (rows first[i] .. last[i])."""
    floats = c.kind == "float"
    kind = np.float64 if floats else np.int64
    values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(kind, copy=False)
    valid = None if not arr.null_count else arr.is_valid().to_numpy(zero_copy_only=False)
    nn = n if valid is None else np.add.reduceat(valid.astype(np.int64), first)
    out: dict[str, Any] = {f"__nn{j}": nn}
    empty = nn == 0
    if c.sum:  # NULLs are 0 in `values`
        out[f"__s{j}"] = _sums(c, values, first, n) if not floats else np.add.reduceat(values, first)
    if c.sumsq:
        wide = values.astype(np.float64, copy=False)
        with np.errstate(over="ignore"):  # a square past the doubles is inf, as in the warehouse
            out[f"__q{j}"] = np.add.reduceat(wide * wide, first)
    if c.minmax:
        # NaN is above every number, as in the warehouse's order: max keeps it, min skips it (and
        # the NULLs, as NaN fillers) unless a sub-tile holds nothing else
        for what, ufunc, fill in (("lo", np.fmin, np.nan), ("hi", np.maximum, -np.inf)):
            if not floats:
                fill = np.iinfo(np.int64).max if what == "lo" else np.iinfo(np.int64).min
            got = ufunc.reduceat(values if valid is None else np.where(valid, values, fill), first)
            got[empty] = 0  # no value: what the warehouse's NULL reads as
            out[f"__{what}{j}"] = got
    if c.last:
        null = None if valid is None else ~valid[last]
        out[f"__last{j}"] = pa.array(values[last], mask=null)
    if c.distinct:
        out[f"__d{j}"] = _distinct(values, valid, first, n, floats)
    return out


def _sums(c: Any, values: np.ndarray, first: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Integer sums of every sub-tile, exact: in int64 where no sum can pass it, else in Python
    integers, refused (as the warehouse's BIGINT cast refuses) where one does."""
    if not len(values):
        return np.zeros(0, np.int64)
    widest = max(-int(values.min()), int(values.max()))
    if widest * int(n.max()) < I64:
        return np.add.reduceat(values, first)
    exact = np.add.reduceat(values.astype(object), first)
    if any(not -I64 <= s < I64 for s in exact.tolist()):
        raise WarehouseError(
            f"a sum of column '{c.name}' within one tile passes the BIGINT range",
            hint="aggregate a narrower column, or cast it to double in the view's SQL",
        )
    return exact.astype(np.int64)


def _distinct(values: np.ndarray, valid: np.ndarray | None, first: np.ndarray, n: np.ndarray, floats: bool) -> pa.Array:
    """The distinct non-NULL values of every sub-tile, as a list column (-0.0 is 0.0 and NaN one
    value, as in the warehouse's DISTINCT). Only the rows of sub-tiles of several rows are sorted
    to find repeats; each value is kept at its first row."""
    owner = np.repeat(np.arange(len(first)), n)
    keep = np.ones(len(values), bool) if valid is None else valid.copy()
    if floats:
        values = np.where(np.isnan(values), np.nan, values + 0.0)  # one NaN, and -0.0 + 0.0 is 0.0
        keys = values.view(np.int64)
    else:
        keys = values
    shared = np.flatnonzero(np.repeat(n > 1, n) & keep)
    if len(shared):
        k, o = keys[shared], owner[shared]
        low = int(k.min())
        span = int(k.max()) - low + 1
        if span * len(first) < I64 // 2:  # (sub-tile, value) as one number
            order = np.argsort(o * span + (k - low), kind="stable")
        else:
            order = np.lexsort((k, o))
        k, o = k[order], o[order]
        again = np.zeros(len(order), bool)
        again[1:] = (k[1:] == k[:-1]) & (o[1:] == o[:-1])
        keep[shared[order[again]]] = False
    offsets = np.zeros(len(first) + 1, np.int32)
    np.cumsum(np.bincount(owner[keep], minlength=len(first)), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[keep]))
