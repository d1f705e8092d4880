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

from sqlfeast.online.tiles import US, Plan, TileBuilder, expires_at, plan_of, reach_start

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


def tiles_sql(ctx: "OfflineContext", view: "FeatureView", end: datetime) -> str:
    """The warehouse query of a view's sub-tiles in the reach of its longest window from `end`."""
    from sqlfeast.core.types import parse_type
    from sqlfeast.offline.historical import view_sql
    from sqlfeast.offline.materialize import _time_kind

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
    """Turns the query's rows (ordered by entity and sub-tile) into one item per entity."""

    def __init__(self, view: "FeatureView", plan: Plan):
        self.view, self.plan = view, plan
        self.key: str | None = None
        self.builder = TileBuilder(plan)
        self.maxts = 0

    def rows(self, batch: Any) -> list[tuple[str, int, bytes, int]]:
        from sqlfeast.online.base import _keys
        from sqlfeast.online.codec import encoder

        keys = _keys(self.view, batch)
        tile = batch.column("__tile").to_pylist()
        n = batch.column("__n").to_pylist()
        maxts = batch.column("__maxts").to_pylist()
        cols = []
        for j, c in enumerate(self.plan.columns):
            got = {"nn": batch.column(f"__nn{j}").to_pylist()}
            for what, flag in (("s", c.sum), ("q", c.sumsq), ("lo", c.minmax), ("hi", c.minmax), ("last", c.last)):
                if flag:
                    got[what] = batch.column(f"__{what}{j}").to_pylist()
            if c.distinct:
                got["d"] = batch.column(f"__d{j}").to_pylist()
            cols.append(got)
        from sqlfeast.core.types import parse_type
        from sqlfeast.online.tiles import value_hash

        encs = [encoder(parse_type(c.type)) for c in self.plan.columns]
        out = []
        for i, key in enumerate(keys):
            if key != self.key:
                if self.key is not None and len(self.builder):
                    out.append(self._finish())
                self.key = key
            parts = []
            for j, c in enumerate(self.plan.columns):
                got = cols[j]
                part: dict[str, Any] = {"nn": got["nn"][i]}
                if c.sum:
                    part["s"] = got["s"][i]
                if c.sumsq:
                    part["q"] = got["q"][i]
                if c.minmax:
                    part["lo"], part["hi"] = got["lo"][i], got["hi"][i]
                if c.last:
                    part["last"] = encs[j](got["last"][i])
                if c.distinct:
                    part["d"] = {value_hash(encs[j](v)) for v in (got["d"][i] or []) if v is not None}
                parts.append(part)
            self.builder.add(int(tile[i]), int(n[i]), int(maxts[i]), parts)
        return out

    def _finish(self) -> tuple[str, int, bytes, int]:
        b = self.builder
        assert self.key is not None
        item = (self.key, max(b.maxts), b.encode(), expires_at(self.plan, b.keys[-1]))
        self.builder = TileBuilder(self.plan)
        return item

    def last(self) -> list[tuple[str, int, bytes, int]]:
        if self.key is not None and len(self.builder):
            return [self._finish()]
        return []


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
