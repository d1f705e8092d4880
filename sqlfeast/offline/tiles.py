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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

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


def tiles_sql(ctx: "OfflineContext", view: "FeatureView", end: datetime) -> str:
    """The warehouse query of a view's sub-tiles in the reach of its longest window from `end`."""
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
    }
    return ctx.renderer.call("aggregate_tiles", context).strip()


class _Items:
    """Turns the query's rows (ordered by entity and sub-tile) into one item per entity; an
    entity whose rows continue into the next batch is held back until they end."""

    def __init__(self, view: "FeatureView", plan: Plan):
        from sqlfeast.core.types import parse_type

        self.view, self.plan = view, plan
        self.types = [parse_type(c.type) for c in plan.columns]
        self.pending: Any = None  # the held-back rows (an Arrow table) of the last entity

    def rows(self, batch: Any) -> list[tuple[str, int, bytes, int]]:
        import pyarrow as pa

        if self.pending is not None:
            batch = pa.concat_tables([self.pending, pa.Table.from_batches([batch])]).combine_chunks()
            self.pending = None
        from sqlfeast.online.base import _keys

        keys = _keys(self.view, batch)
        # Hold back the last entity: its rows may go on in the next batch.
        cut = len(keys)
        while cut > 0 and keys[cut - 1] == keys[-1]:
            cut -= 1
        if cut == 0:
            self.pending = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
            return []
        held = batch.slice(cut)
        self.pending = held if isinstance(held, pa.Table) else pa.Table.from_batches([held])
        return self._encode(batch.slice(0, cut), keys[:cut])

    def last(self) -> list[tuple[str, int, bytes, int]]:
        if self.pending is None or not self.pending.num_rows:
            return []
        from sqlfeast.online.base import _keys

        table, self.pending = self.pending.combine_chunks(), None
        return self._encode(table, _keys(self.view, table))

    def _encode(self, batch: Any, keys: list[str]) -> list[tuple[str, int, bytes, int]]:
        from sqlfeast.online.codec import encode_column
        from sqlfeast.online.tiles import encode_tiles, sketch_bytes, value_hash

        plan = self.plan
        tile = batch.column("__tile").to_pylist()
        n = batch.column("__n").to_pylist()
        maxts = batch.column("__maxts").to_pylist()
        cols = []
        for j, (c, t) in enumerate(zip(plan.columns, self.types, strict=True)):
            got: dict[str, list[Any]] = {"nn": batch.column(f"__nn{j}").to_pylist()}
            for what, flag in (("s", c.sum), ("q", c.sumsq), ("lo", c.minmax), ("hi", c.minmax)):
                if flag:
                    got[what] = batch.column(f"__{what}{j}").to_pylist()
            if c.last:
                got["last"] = encode_column(batch.column(f"__last{j}").to_pylist(), t)
            if c.distinct:
                # One pass over every distinct value of the batch, then regrouped per sub-tile.
                lists = [[v for v in vs if v is not None] if vs else [] for vs in batch.column(f"__d{j}").to_pylist()]
                hashes = [value_hash(a) for a in encode_column([v for vs in lists for v in vs], t)]
                sketches, pos = [], 0
                for vs in lists:
                    sketches.append(sketch_bytes(set(hashes[pos : pos + len(vs)])))
                    pos += len(vs)
                got["d"] = sketches
            cols.append(got)
        out = []
        start = 0
        total = len(keys)
        while start < total:
            key = keys[start]
            end = start + 1
            while end < total and keys[end] == key:
                end += 1
            blob = encode_tiles(
                plan,
                tile[start:end],
                n[start:end],
                maxts[start:end],
                [{k: v[start:end] for k, v in got.items()} for got in cols],
            )
            out.append((key, max(maxts[start:end]), blob, expires_at(plan, tile[end - 1])))
            start = end
        return out


def materialize_tiles(
    ctx: "OfflineContext", view: "FeatureView", end: datetime, result: Any, on_written: Any = None
) -> None:
    """Write the tiles of `view` at `end` into the online store; fills `result` (a ViewResult):
    rows = sub-tiles read, written = entity items written."""
    sql = tiles_sql(ctx, view, end)
    plan = plan_of(view)
    began = time.perf_counter()
    items = _Items(view, plan)
    assert ctx.online_store is not None
    with ctx.online_store.tile_writer(view, micros(end), on_written=on_written) as writer:
        for batch in ctx.warehouse.query_batches(sql, batch_size=50_000):
            if batch.num_rows:
                result.rows += batch.num_rows
                ready = items.rows(batch)
                if ready:
                    writer.write_items(ready)
        ready = items.last()
        if ready:
            writer.write_items(ready)
    result.written = writer.result.written
    result.skipped = writer.result.skipped
    result.seconds = time.perf_counter() - began
