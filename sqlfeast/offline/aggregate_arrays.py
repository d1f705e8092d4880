"""Windowed aggregates of a training set computed in the client from the sorted events.

For a warehouse with the ``aggregate_arrays`` capability (DuckDB), the dispatched macro
``aggregate_sorted`` returns an aggregation view's events and the entity rows' window edges
("probes") in one sorted list. An entity row's window is then a range of positions in the events
(``lo[w] <= i < hi``), read off the probes with one cumulative count, and each aggregate is
O(1) per entity row from prefix sums (count, integer sum, `last`) or one pass over the rows of
its window (floating sums, min, max, stddev, count_distinct), in chunks of a bounded number of
(entity row, event) pairs. ``count_distinct`` counts the rows of the window whose previous row
with the same keys and value lies before the window. docs/benchmarks.md has the measurements.

``compute`` returns None when a column's type has no array form here (a decimal sum, say): the
caller then runs the warehouse's own ``aggregate_join``.

>>> import pyarrow as pa
>>> sorted_rows = pa.table({"__k0": [1, 1, 1, 1], "__w": [-1, 0, 0, 1], "__row": [0, None, None, 0],
...                         "__c0": [None, 2.0, 3.0, None]})
>>> aggs = [{"output": "n", "function": "count", "column": None, "window": 60, "type": "bigint"},
...         {"output": "s", "function": "sum", "column": 0, "window": 60, "type": "double"}]
>>> compute(sorted_rows, 1, 1, [60], aggs).to_pylist()
[{'__sqlfeast_row': 0, 'n': 2, 's': 5.0}]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sqlfeast.core.types import parse_type
from sqlfeast.errors import WarehouseError
from sqlfeast.offline.tile_rows import column

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.warehouse.base import Warehouse

ROW_COLUMN = "__sqlfeast_row"
PAIRS = 1 << 22
"""(entity row, event) pairs gathered at once: 4M pairs are 32 MB a gathered column."""
_INT64 = np.iinfo(np.int64)
_NEEDS_NUMBERS = ("sum", "avg", "stddev")
_PAIRED = ("sum", "avg", "stddev", "min", "max", "count_distinct")


_ARROW = {np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64()}


def _arrow(values: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """A numpy array (int64, float64 or bool) as Arrow, NULL where not `present`; from the
    buffers, as pa.array(ndarray) imports pandas on first use."""
    n = len(values)
    validity = None if present is None or present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    if values.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), n, [validity, pa.py_buffer(np.packbits(values, bitorder="little"))])
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(_ARROW[values.dtype], n, [validity, pa.py_buffer(values)])


class _Column:
    """One aggregated column of the events, in sorted order, with what its aggregates share."""

    def __init__(self, arr: pa.Array) -> None:
        self.arr = arr
        t = arr.type
        self.kind = "int" if pa.types.is_integer(t) else "float" if pa.types.is_floating(t) else "other"
        self.valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
        self.counts = np.concatenate([[0], np.cumsum(self.valid, dtype=np.int64)])
        self._numbers: np.ndarray | None = None
        self._ranks: tuple[np.ndarray, pa.Array] | None = None
        self._prev: np.ndarray | None = None

    @property
    def numbers(self) -> np.ndarray:
        """int64 or float64 values, NULL as 0."""
        if self._numbers is None:
            dtype = np.int64 if self.kind == "int" else np.float64
            filled = pc.fill_null(self.arr, 0) if self.arr.null_count else self.arr
            self._numbers = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=dtype)
        return self._numbers

    def ranks(self) -> tuple[np.ndarray, pa.Array]:
        """For min/max of any orderable type: each value's rank (1 + the position of its first
        occurrence in sorted order; NULLs after every value) and the sorted values."""
        if self._ranks is None:
            ranks = pc.rank(self.arr, sort_keys="ascending", tiebreaker="min")
            ordered = self.arr.take(pc.sort_indices(self.arr))
            self._ranks = (np.asarray(ranks.to_numpy(), dtype=np.int64), ordered)
        return self._ranks

    def previous(self, groups: np.ndarray) -> np.ndarray:
        """Position of the previous event with the same keys and value (-1 when none)."""
        if self._prev is None:
            encoded = pc.dictionary_encode(self.arr)
            codes = np.asarray(pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(), dtype=np.int64)
            width = len(encoded.dictionary) + 1
            if groups.size and int(groups[-1]) >= _INT64.max // width:
                order = np.lexsort((codes, groups))
            else:
                order = np.argsort(groups * width + codes, kind="stable")
            same = (groups[order][1:] == groups[order][:-1]) & (codes[order][1:] == codes[order][:-1])
            prev = np.full(len(codes), -1, dtype=np.int64)
            prev[order[1:][same]] = order[:-1][same]
            self._prev = prev
        return self._prev


@dataclass
class ClientAggregates:
    """One aggregation view's part of a retrieval, computed in the client when the job runs:
    ``run`` queries `sorted_sql` (macro ``aggregate_sorted``) and computes the aggregates, or runs
    `fallback_sql` (``aggregate_join``) when a column's type does not fit; the result is
    registered as `relation` (row number, then the outputs) for the job's final query.

    >>> part = ClientAggregates("r", "select 1", "select 2", 0, 1, [60], [])
    >>> print(part.sql)
    -- "r": windowed aggregates computed in the client from the sorted rows of:
    -- select 1
    """

    relation: str
    sorted_sql: str
    fallback_sql: str
    rows: int
    keys: int
    windows: list[int]
    aggregates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sql(self) -> str:
        lines = self.sorted_sql.splitlines()
        head = f'-- "{self.relation}": windowed aggregates computed in the client from the sorted rows of:'
        return "\n".join([head] + [f"-- {line}" for line in lines])

    def run(self, warehouse: Warehouse) -> pa.Table:
        """The part's table: one row per entity row, in row order."""
        table = compute(warehouse.query_arrow(self.sorted_sql), self.rows, self.keys, self.windows, self.aggregates)
        return table if table is not None else warehouse.query_arrow(self.fallback_sql)


def _fits(columns: list[_Column], aggregates: list[dict[str, Any]]) -> bool:
    for a in aggregates:
        if a["column"] is None:
            continue
        kind = columns[a["column"]].kind
        if a["function"] in _NEEDS_NUMBERS and kind == "other":
            return False
    return True


def _edges(table: pa.Table, n_rows: int, windows: list[int]) -> tuple[pa.Array, np.ndarray, dict[int, np.ndarray]]:
    """The events mask, `hi` and `lo[window]`: entity row r's window is events lo[w][r]..hi[r]-1."""
    w = np.asarray(column(table, "__w").to_numpy(zero_copy_only=False), dtype=np.int64)
    is_event = w == 0
    before = np.cumsum(is_event, dtype=np.int64)  # a probe's position: the events before it
    probe = ~is_event
    rows = np.asarray(column(table, "__row").filter(_arrow(probe)).to_numpy(zero_copy_only=False), dtype=np.int64)
    kinds, positions = w[probe], before[probe]

    def scatter(kind: int) -> np.ndarray:
        picked = kinds == kind
        if int(picked.sum()) != n_rows:
            raise WarehouseError("internal error: aggregate_sorted did not return one probe per entity row and edge")
        out = np.zeros(n_rows, dtype=np.int64)
        out[rows[picked]] = positions[picked]
        return out

    return _arrow(is_event), scatter(1), {win: scatter(-1 - j) for j, win in enumerate(windows)}


def _groups(table: pa.Table, n_keys: int, events: pa.Array, n_events: int) -> np.ndarray:
    """A group number per event: events are sorted by their keys, so a group is a run."""
    change = np.zeros(max(n_events - 1, 0), dtype=bool)
    for j in range(n_keys if n_events > 1 else 0):
        keys = column(table, f"__k{j}").filter(events)
        change |= np.asarray(
            pc.not_equal(keys.slice(1), keys.slice(0, n_events - 1)).to_numpy(zero_copy_only=False), dtype=bool
        )
    return np.concatenate([[0], np.cumsum(change, dtype=np.int64)])[:n_events]


def _chunks(lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """Entity rows in runs of about PAIRS pairs: (r0, r1, rows with events, pair index, offsets),
    the pair index holding the event positions of each such row's window one after another."""
    lengths = hi - lo
    done = np.concatenate([[0], np.cumsum(lengths)])
    r0, n = 0, len(lo)
    while r0 < n:
        r1 = int(np.searchsorted(done, done[r0] + PAIRS, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        sizes = lengths[r0:r1]
        rows = np.nonzero(sizes)[0]
        sizes = sizes[rows]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        total = int(sizes.sum())
        index = np.repeat(lo[r0:r1][rows] - offsets, sizes) + np.arange(total, dtype=np.int64)
        yield r0, r1, r0 + rows, index, offsets
        r0 = r1


def compute(
    table: pa.Table, n_rows: int, n_keys: int, windows: list[int], aggregates: list[dict[str, Any]]
) -> pa.Table | None:
    """The aggregates of every entity row, in row order, from ``aggregate_sorted``'s result.

    `aggregates` are aggregate_join's (output, function, column index, window, type). Returns a
    table of the row number then one column per aggregate, or None when a column's type does not
    fit (see the module docstring).
    """
    events, hi, lo = _edges(table, n_rows, windows)
    n_columns = sum(1 for name in table.column_names if name.startswith("__c"))
    columns = [_Column(column(table, f"__c{j}").filter(events)) for j in range(n_columns)]
    if not _fits(columns, aggregates):
        return None
    n_events = len(columns[0].arr) if columns else 0
    groups = (
        _groups(table, n_keys, events, n_events) if any(a["function"] == "count_distinct" for a in aggregates) else None
    )
    out: dict[str, pa.Array] = {ROW_COLUMN: _arrow(np.arange(n_rows, dtype=np.int64))}
    paired: dict[int, list[dict[str, Any]]] = {}
    for a in aggregates:
        if a["function"] in _PAIRED:
            paired.setdefault(a["window"], []).append(a)
        else:
            out[a["output"]] = _direct(a, columns, lo[a["window"]], hi)
    for window, wanted in paired.items():
        results = _over_pairs(wanted, columns, lo[window], hi, groups)
        out.update(results)
    names = [ROW_COLUMN] + [a["output"] for a in aggregates]
    return pa.table([out[name] for name in names], names=names)


def _typed(values: np.ndarray, present: np.ndarray, a: dict[str, Any], natural: pa.DataType) -> pa.Array:
    """`values` as an Arrow array of the aggregate's declared type, NULL where not `present`."""
    arr = _arrow(values, present)
    declared = str(a.get("type") or "unknown")
    target = natural
    if a["function"] in ("count", "count_distinct", "sum", "avg", "stddev") and declared != "unknown":
        target = parse_type(declared).arrow()
    return arr if arr.type == target else arr.cast(target)


def _direct(a: dict[str, Any], columns: list[_Column], lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    """count and last: O(1) an entity row."""
    fn = a["function"]
    everywhere = np.ones(len(lo), dtype=bool)
    if fn == "count" and a["column"] is None:
        return _typed(hi - lo, everywhere, a, pa.int64())
    c = columns[a["column"]]
    if fn == "count":
        return _typed(c.counts[hi] - c.counts[lo], everywhere, a, pa.int64())
    # last: the final event of the window (sorted by ts, then created with NULL first)
    assert fn == "last"
    return c.arr.take(_arrow(hi - 1, hi > lo))


def _over_pairs(
    wanted: list[dict[str, Any]], columns: list[_Column], lo: np.ndarray, hi: np.ndarray, groups: np.ndarray | None
) -> dict[str, pa.Array]:
    """The aggregates of one window that read every event of it, chunk by chunk."""
    n = len(lo)
    acc: dict[str, np.ndarray] = {}
    for a in wanted:
        c = columns[a["column"]]
        if a["function"] == "sum" and c.kind == "int":
            continue  # from prefix sums below
        floats = a["function"] in ("sum", "avg", "stddev") or (c.kind == "float" and a["function"] != "count_distinct")
        dtype = np.float64 if floats else np.int64
        acc[a["output"]] = np.zeros(n, dtype=dtype)
    for _r0, _r1, rows, index, offsets in _chunks(lo, hi):
        if not len(rows):
            continue
        starts = np.repeat(lo[rows], np.diff(np.append(offsets, len(index))))
        for a in wanted:
            c = columns[a["column"]]
            fn = a["function"]
            if fn == "sum" and c.kind == "int":
                continue
            valid = c.valid[index]
            if fn == "count_distinct":
                assert groups is not None
                first = valid & (c.previous(groups)[index] < starts)
                acc[a["output"]][rows] = np.add.reduceat(first.astype(np.int64), offsets)
            elif fn in ("min", "max"):
                acc[a["output"]][rows] = _extreme(fn, c, index, valid, offsets)
            else:
                x = c.numbers[index].astype(np.float64, copy=False)
                total = np.add.reduceat(np.where(valid, x, 0.0), offsets)
                if fn == "stddev":
                    nn = np.add.reduceat(valid.astype(np.int64), offsets)
                    mean = total / np.maximum(nn, 1)
                    dev = np.where(valid, x - np.repeat(mean, np.diff(np.append(offsets, len(index)))), 0.0)
                    total = np.add.reduceat(dev * dev, offsets)
                acc[a["output"]][rows] = total
    out: dict[str, pa.Array] = {}
    for a in wanted:
        c = columns[a["column"]]
        fn = a["function"]
        nn = c.counts[hi] - c.counts[lo]
        if fn == "count_distinct":
            out[a["output"]] = _typed(acc[a["output"]], np.ones(n, dtype=bool), a, pa.int64())
        elif fn == "sum" and c.kind == "int":
            out[a["output"]] = _typed(_int_sums(c, lo, hi), nn > 0, a, pa.int64())
        elif fn == "sum":
            out[a["output"]] = _typed(acc[a["output"]], nn > 0, a, pa.float64())
        elif fn == "avg":
            sums = _int_sums(c, lo, hi).astype(np.float64) if c.kind == "int" else acc[a["output"]]
            out[a["output"]] = _typed(sums / np.maximum(nn, 1), nn > 0, a, pa.float64())
        elif fn == "stddev":
            variance = acc[a["output"]] / np.maximum(nn - 1, 1)
            out[a["output"]] = _typed(np.sqrt(variance), nn >= 2, a, pa.float64())
        elif c.kind == "other":  # min/max by rank
            ranks, ordered = c.ranks()
            picked = np.clip(acc[a["output"]] - 1, 0, max(len(ordered) - 1, 0))
            out[a["output"]] = ordered.take(_arrow(picked, nn > 0))
        else:
            out[a["output"]] = _typed(acc[a["output"]], nn > 0, a, c.arr.type)
    return out


def _extreme(fn: str, c: _Column, index: np.ndarray, valid: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """min or max of each window's non-NULL values (filler where a window has none). Floats:
    NaN is above every number, as in SQL (max keeps it, min skips it unless it is all there is)."""
    if c.kind == "other":
        ranks = c.ranks()[0][index]
        filler = _INT64.max if fn == "min" else 0
        return (np.minimum if fn == "min" else np.maximum).reduceat(np.where(valid, ranks, filler), offsets)
    x = c.numbers[index]
    if c.kind == "float":
        if fn == "min":
            return np.fmin.reduceat(np.where(valid, x, np.nan), offsets)
        return np.maximum.reduceat(np.where(valid, x, -np.inf), offsets)
    if fn == "min":
        return np.minimum.reduceat(np.where(valid, x, _INT64.max), offsets)
    return np.maximum.reduceat(np.where(valid, x, _INT64.min), offsets)


def _int_sums(c: _Column, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Exact integer window sums from wrapping int64 prefix sums (a difference of wrapped
    prefixes is exact when the window's sum fits); sums past BIGINT are refused, as SQL does."""
    x = c.numbers
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[0], np.cumsum(x, dtype=np.int64)])
        sums = prefix[hi] - prefix[lo]
    rough = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    near = np.nonzero(np.abs(rough[hi] - rough[lo]) >= 2.0**62)[0]
    for r in near:  # rare: check exactly
        exact = sum(int(v) for v in x[lo[r] : hi[r]])
        if not _INT64.min <= exact <= _INT64.max:
            raise WarehouseError(f"a windowed sum ({exact}) is out of range for BIGINT")
        sums[r] = exact
    return sums
