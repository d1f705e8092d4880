"""Materializing an aggregation view: per-entity tiles of partial aggregates into the online store.

A materialization up to `end` writes, for every entity with rows in the reach of the longest
window (``floor(end / G) * G - longest <= ts < end``), one item holding the partial aggregates
of each non-empty sub-tile (see :mod:`sqlfeast.online.tiles`), computed in the warehouse by the
dispatched macro ``aggregate_tiles``. Each item is written whole, so re-running converges and an
interrupted run can be re-run; tiles the longest window can no longer reach are dropped because
they are not written, and DynamoDB's TTL attribute (``_ttl``) expires items whose newest tile
nothing can reach any more. Pushed rows stamped at or after `end` are kept; older ones are then
covered by the warehouse.

>>> micros(datetime(1970, 1, 1, 1))
3600000000
"""

from __future__ import annotations

import time
from bisect import bisect_left
from datetime import datetime, timedelta
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from sqlfeast.offline.tile_rows import column as _column
from sqlfeast.offline.tile_rows import sub_tiles
from sqlfeast.online.tiles import US, Plan, expires_at, plan_of, reach_start

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.core.spec import FeatureView
    from sqlfeast.offline.context import OfflineContext

EPOCH = datetime(1970, 1, 1)


def micros(value: datetime) -> int:
    """Microseconds since the epoch of a naive-UTC datetime.

    >>> micros(datetime(1970, 1, 1, 0, 0, 1))
    1000000
    """
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def _time_kind(view: "FeatureView", column: str | None) -> str | None:
    """How a time column is stored: timestamp, timestamptz or date (None without a column)."""
    if not column:
        return None
    text = str((view.columns or {}).get(column, "timestamp")).lower()
    return "timestamptz" if text in ("timestamptz", "timestamp_tz") else "date" if text == "date" else "timestamp"


def tiles_sql(
    ctx: "OfflineContext", view: "FeatureView", end: datetime, part: int = 0, parts: int = 1, events: bool = False
) -> str:
    """The warehouse query of a view's sub-tiles in the reach of its longest window from `end`
    (with `events`, of the events behind them, sorted: macro ``aggregate_events``): of the
    entities whose join keys hash to `part` of `parts` (every entity when `parts` is 1)."""
    from sqlfeast.core.types import parse_type
    from sqlfeast.offline.historical import view_sql

    plan = plan_of(view)
    lower = EPOCH + timedelta(microseconds=reach_start(plan, micros(end)))
    dialect = ctx.warehouse.dialect
    stats = []
    for c in plan.columns:
        t = parse_type(c.type)
        sum_type = "BIGINT" if c.kind == "int" else "DOUBLE" if c.kind == "float" else None
        if t.name == "decimal":
            sum_type = parse_type(f"decimal(38,{t.scale or 0})").sql(dialect)
        stats.append(
            {
                "sum": c.sum,
                "sum_type": sum_type,
                "sumsq": c.sumsq,
                "minmax": c.minmax,
                "last": c.last,
                "distinct": c.distinct,
            }
        )
    context = {
        "name": view.name,
        "sql": view_sql(view, ctx.warehouse),
        "keys": [{"view": k, "entity": k} for k in view.join_keys],
        "ts": view.timestamp,
        "ts_type": _time_kind(view, view.timestamp),
        "created": view.created_timestamp,
        "created_type": _time_kind(view, view.created_timestamp),
        "columns": plan.column_names,
        "lower": lower.isoformat(sep=" ", timespec="microseconds"),
        "upper": None,
        "end": end.isoformat(sep=" ", timespec="microseconds"),
        "granularity_us": plan.granularity_us,
        "stats": stats,
        "part": part,
        "parts": parts,
    }
    return ctx.renderer.call("aggregate_events" if events else "aggregate_tiles", context).strip()


class _Items:
    """Turns the query's rows (ordered by entity and sub-tile) into one item per entity, column by
    column: each Arrow column is read once as a buffer (numbers) or a list (other values), and an
    entity's blob is built from slices of them. An entity whose rows continue into the next batch
    is held back until they end."""

    def __init__(self, view: "FeatureView", plan: Plan, events: bool = False):
        from sqlfeast.core.types import parse_type

        self.view, self.plan = view, plan
        self.events = events  # rows are events (aggregate_events), built into sub-tiles here
        self.types = [parse_type(c.type) for c in plan.columns]
        self.pending: Any = None  # the held-back rows (an Arrow table) of the last entity
        self.sub_tiles = 0  # sub-tile rows encoded so far

    def rows(self, batch: Any) -> list[tuple[str, int, bytes, int]]:
        import pyarrow as pa

        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if self.pending is not None:
            table = pa.concat_tables([self.pending, table])
            self.pending = None
        table = table.combine_chunks()
        starts = _entity_starts(self.view, table)
        # Hold back the last entity: its rows may go on in the next batch.
        self.pending = table.slice(starts[-1]) if starts else None
        if len(starts) < 2:
            return []
        return self._encode(table.slice(0, starts[-1]), starts[:-1])

    def last(self) -> list[tuple[str, int, bytes, int]]:
        if self.pending is None or not self.pending.num_rows:
            return []
        table, self.pending = self.pending.combine_chunks(), None
        return self._encode(table, _entity_starts(self.view, table))

    def _encode(self, table: Any, starts: list[int]) -> list[tuple[str, int, bytes, int]]:
        import pyarrow as pa
        import pyarrow.compute as pc

        from sqlfeast.offline.tile_blobs import encode_batch
        from sqlfeast.online.base import _keys
        from sqlfeast.online.codec import encode_column

        plan = self.plan
        if self.events:
            table, starts = sub_tiles(self.view, plan, table, starts)
        self.sub_tiles += table.num_rows
        keys = _keys(self.view, table.take(pa.array(starts, pa.int64())))
        tile, n, maxts = (_numbers(table, name, "q") for name in ("__tile", "__n", "__maxts"))
        columns: list[dict[str, Any]] = []
        for j, (c, t) in enumerate(zip(plan.columns, self.types, strict=True)):
            code = "q" if c.kind == "int" else "d"
            got: dict[str, Any] = {"nn": _numbers(table, f"__nn{j}", "q")}
            for what, flag in (("s", c.sum), ("q", c.sumsq), ("lo", c.minmax), ("hi", c.minmax)):
                if flag:
                    if what == "q":
                        got[what] = _numbers(table, f"__q{j}", "d")
                    elif c.kind == "other":
                        got[what] = _column(table, f"__{what}{j}").to_pylist()
                    else:
                        got[what] = _numbers(table, f"__{what}{j}", code)
            if c.last:
                last = _column(table, f"__last{j}")
                if c.kind == "other":
                    got["last"] = encode_column(last.to_pylist(), t)
                else:
                    got["last"] = _numbers(table, f"__last{j}", code)
                    got["last_nulls"] = pc.indices_nonzero(last.is_null()).to_pylist() if last.null_count else []
            if c.distinct:
                got["d"] = _Distinct(c, t, _column(table, f"__d{j}"))
            columns.append(got)
        bounds = [*starts, table.num_rows]
        blobs = encode_batch(plan, bounds, tile, n, maxts, columns)
        newest = _group_max(maxts, bounds)
        return [
            (key, newest[e], blob, expires_at(plan, tile[bounds[e + 1] - 1]))
            for e, (key, blob) in enumerate(zip(keys, blobs, strict=True))
        ]


def _group_max(values: Any, bounds: list[int]) -> list[int]:
    """The largest value of each group of rows [bounds[e], bounds[e+1]).

    >>> _group_max([3, 1, 7, 2], [0, 2, 4])
    [3, 7]
    """
    import numpy as np

    if len(bounds) < 2:
        return []
    return np.maximum.reduceat(np.asarray(values, dtype=np.int64), bounds[:-1]).tolist()


def _entity_starts(view: "FeatureView", table: Any) -> list[int]:
    """The rows where a new entity begins (the rows are ordered by the join keys)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from sqlfeast.online.base import _keys

    rows = table.num_rows
    if not rows:
        return []
    columns = [_column(table, name) for name in view.join_keys]
    if any(c.null_count or pa.types.is_floating(c.type) for c in columns):
        keys = _keys(view, table)  # raises on a NULL key; NaN keys are equal as text
        return [i for i in range(rows) if i == 0 or keys[i] != keys[i - 1]]
    changed = None
    for col in columns:
        step = pc.not_equal(col.slice(1), col.slice(0, rows - 1))
        changed = step if changed is None else pc.or_(changed, step)
    if changed is None:
        return [0]
    return [0, *(i + 1 for i in pc.indices_nonzero(changed).to_pylist())]


def _numbers(table: Any, name: str, code: Any) -> memoryview:
    """A numeric column as a memoryview of int64 (``q``) or float64 (``d``); NULL reads as 0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _column(table, name)
    target = pa.int64() if code == "q" else pa.float64()
    if arr.type != target:
        arr = arr.cast(target)
    if arr.null_count:
        arr = pc.fill_null(arr, 0 if code == "q" else 0.0)
    if not len(arr):
        return memoryview(b"").cast(code)
    return memoryview(arr.buffers()[1]).cast(code)[arr.offset : arr.offset + len(arr)]


class _Distinct:
    """A batch's distinct lists of one column, as the entries of every sub-tile (values of an
    integer column, else value hashes) one after the other; sub-tiles of more than SPARSE_MAX
    values get HyperLogLog registers instead."""

    def __init__(self, c: Any, ftype: Any, lists: Any):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from sqlfeast.online.codec import encode_column
        from sqlfeast.online.tile_layout import HLL_TAG, SPARSE_MAX, entry_hash, hll_registers, value_hash

        flat = lists.flatten()
        if flat.null_count:
            keep = [[v for v in vs if v is not None] if vs else [] for vs in lists.to_pylist()]
            lists = pa.array(keep, type=lists.type)
            flat = lists.flatten()
        sizes = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        entries: Any
        if c.kind == "int":
            entries = _numbers(pa.table({"v": flat}), "v", "q")
        else:
            entries = [value_hash(a) for a in encode_column(flat.to_pylist(), ftype)]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.hll_rows = np.flatnonzero(sizes > SPARSE_MAX).tolist()
        self.registers = []
        if self.hll_rows:
            lengths = sizes.tolist()
            kept: list[int] = []
            for i, k in enumerate(lengths):
                mine = entries[self.starts[i] : self.starts[i + 1]]
                if k > SPARSE_MAX:
                    self.registers.append(hll_registers(entry_hash(c, e) for e in mine))
                else:
                    kept.extend(mine)
            entries = kept
            self.starts = list(accumulate((0 if k > SPARSE_MAX else k for k in lengths), initial=0))
            self.counts = bytes(HLL_TAG if k > SPARSE_MAX else k for k in lengths)
        else:
            self.counts = sizes.astype(np.uint8).tobytes()
        self.entries = entries

    def parts(self, a: int, b: int) -> tuple[bytes, Any, bytes]:
        """The distinct parts (see ``distinct_parts``) of the rows [a, b)."""
        first, last = bisect_left(self.hll_rows, a), bisect_left(self.hll_rows, b)
        return self.counts[a:b], self.entries[self.starts[a] : self.starts[b]], b"".join(self.registers[first:last])


def materialize_tiles(
    ctx: "OfflineContext", view: "FeatureView", end: datetime, result: Any, on_written: Any = None
) -> None:
    """Write the tiles of `view` at `end` into the online store; fills `result` (a ViewResult):
    rows = sub-tiles read, written = entity items written. The query runs in the warehouse's
    ``tile_query_parts`` parts (each entity in one), so writes start after the first part."""
    parts = max(1, ctx.warehouse.tile_query_parts)
    plan = plan_of(view)
    began = time.perf_counter()
    # Events sorted, built into sub-tiles here, where the warehouse can and the columns are numbers.
    events = ctx.warehouse.tile_rows and all(c.kind != "other" for c in plan.columns)
    items = _Items(view, plan, events)
    assert ctx.online_store is not None
    with ctx.online_store.tile_writer(view, micros(end), on_written=on_written) as writer:
        for part in range(parts):
            sql = tiles_sql(ctx, view, end, part, parts, events)
            for batch in ctx.warehouse.query_batches(sql, batch_size=50_000):
                if batch.num_rows:
                    ready = items.rows(batch)
                    if ready:
                        writer.write_items(ready)
        ready = items.last()
        if ready:
            writer.write_items(ready)
    result.rows = items.sub_tiles
    result.written = writer.result.written
    result.skipped = writer.result.skipped
    result.seconds = time.perf_counter() - began
