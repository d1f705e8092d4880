"""Materialization: copy the latest row of each entity from the warehouse to the online ctx.

For each online feature view, the dispatched macro ``latest_rows`` selects the latest row per
entity with a timestamp in [start, end) (ties to the latest created timestamp) in the warehouse.
Its result streams out as Arrow record batches (memory bounded by the batch size whatever the
range) into the online store's bulk writer, which writes with newer-wins: re-running a range, or
back-filling an old one, never moves a value back in time, so an interrupted run converges when
re-run.

``materialize_incremental(end)`` continues each view from its last materialized end (kept per view
by the registry store), or from ``end - ttl`` the first time. A watermark records the identity of
the online table it was written into; when the table is another one now (dropped and re-created,
a fresh server, another target's store), the view is refilled as the first time and the result
says so.

>>> parse_time("2024-01-02T03:04:05Z")
datetime.datetime(2024, 1, 2, 3, 4, 5)
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlfeast.errors import SqlfeastError, UsageError, suggest

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.core.spec import FeatureView
    from sqlfeast.offline.context import OfflineContext
    from sqlfeast.warehouse.base import Warehouse

EPOCH = datetime(1970, 1, 1)


@dataclass
class ViewResult:
    view: str
    start: datetime
    end: datetime
    rows: int = 0  # latest rows read from the warehouse
    written: int = 0  # rows that went online
    skipped: int = 0  # rows not newer than what was online already
    seconds: float = 0.0
    refilled: bool = False  # the watermark described other online tables: filled from the start
    tiles: bool = False  # an aggregation view: rows are sub-tiles, written are entity items

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        if self.start >= self.end:
            return f"{self.view}: up to date (materialized up to {iso(self.start)})"
        note = "refilled: the watermark described other online tables; " if self.refilled else ""
        if self.tiles:
            return (
                f"{self.view}: {note}tiles up to {iso(self.end)}: {self.rows} sub-tiles -> {self.written} "
                f"entity items written, {self.seconds:.1f}s ({self.rows_per_second:,.0f} sub-tiles/s)"
            )
        return (
            f"{self.view}: {note}{self.rows} rows [{iso(self.start)}, {iso(self.end)}) -> "
            f"{self.written} written, {self.skipped} unchanged (online already as new or newer), "
            f"{self.seconds:.1f}s ({self.rows_per_second:,.0f} rows/s)"
        )


def parse_time(value: Any, name: str = "time") -> datetime:
    """A naive-UTC datetime from a datetime, date, ISO text or 'now'."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return parse_time(value.to_pydatetime(), name)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "now":
            return datetime.now(UTC).replace(tzinfo=None)
        try:
            return parse_time(datetime.fromisoformat(text.replace("Z", "+00:00")), name)
        except ValueError:
            pass
    raise UsageError(
        f"{name} {value!r} is not a timestamp", hint="use ISO 8601 such as 2024-01-31 or 2024-01-31T12:00:00, or 'now'"
    )


def iso(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")


def _time_kind(view: "FeatureView", column: str | None) -> str | None:
    if not column:
        return None
    text = str((view.columns or {}).get(column, "timestamp")).lower()
    return "timestamptz" if text in ("timestamptz", "timestamp_tz") else "date" if text == "date" else "timestamp"


def _bound(value: datetime, kind: str | None) -> str:
    """A [start, end) bound for the stored column: a DATE d is in range when its midnight is, so
    the bound is the first day at or after the instant."""
    if kind == "date":
        day = datetime(value.year, value.month, value.day)
        return iso(day if day == value else day + timedelta(days=1))[:10]
    return iso(value)


def latest_rows_sql(ctx: "OfflineContext", view: "FeatureView", start: datetime, end: datetime) -> str:
    """The warehouse query of a view's latest rows in [start, end), from the `latest_rows` macro."""
    from sqlfeast.core.types import parse_type
    from sqlfeast.offline.historical import view_sql

    context = {
        "name": view.name,
        "sql": view_sql(view, ctx.warehouse),
        "keys": list(view.join_keys),
        "ts": view.timestamp,
        "ts_type": _time_kind(view, view.timestamp),
        "created": view.created_timestamp,
        "created_type": _time_kind(view, view.created_timestamp),
        "features": view.feature_names,
        "feature_types": {f.name: parse_type(f.type).sql(ctx.warehouse.dialect) for f in view.features},
        "start": _bound(start, _time_kind(view, view.timestamp)),
        "end": _bound(end, _time_kind(view, view.timestamp)),
    }
    return ctx.renderer.call("latest_rows", context).strip()


def _online_views(ctx: "OfflineContext", views: list[str] | None) -> list["FeatureView"]:
    registry = ctx.registry
    if not views:
        return [v for v in registry.feature_views.values() if v.online]
    out = []
    for name in views:
        if name not in registry.feature_views:
            raise UsageError(f"unknown feature view '{name}'", hint=suggest(name, registry.feature_views))
        view = registry.feature_views[name]
        if not view.online:
            raise UsageError(f"feature view '{name}' is not online (online: false in its header)")
        out.append(view)
    return out


def _progress(warehouse: "Warehouse", view: str, sql: str | None, quiet: bool, unit: str = " rows") -> Any:
    """A tqdm bar on a terminal (rows written, rows/s, and the total when the warehouse can count
    the rows cheaply); None when quiet or when stderr is not a terminal (piped output stays clean).
    """
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    try:  # a terminal that reports no width (some ptys) gets 80 columns rather than an empty bar
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        width = 0
    size: dict[str, Any] = {"dynamic_ncols": True} if width else {"ncols": 80, "nrows": 24}
    total = warehouse.count_rows(sql) if sql is not None else None
    return tqdm(desc=view, total=total, unit=unit, file=sys.stderr, **size)


def _prepare_online(ctx: "OfflineContext") -> None:
    # The tables and registry snapshot come from `apply`; if this online store never saw one
    # (a new target), set it up now so that materializing just works.
    online = _online(ctx)
    if online.load_registry() is None:
        online.apply(ctx.registry)


def materialize_view(
    ctx: "OfflineContext",
    view: "FeatureView",
    start: datetime,
    end: datetime,
    quiet: bool = False,
    batch_size: int = 50_000,
) -> ViewResult:
    result = ViewResult(view.name, start, end, tiles=view.is_aggregation)
    if start >= end:
        return result
    if view.is_aggregation:
        # Tiles: every entity's item is rewritten whole for the reach of the longest window from
        # `end` (offline/tiles.py), whatever `start`: re-runs converge.
        from sqlfeast.offline.tiles import materialize_tiles

        bar = _progress(ctx.warehouse, view.name, None, quiet, unit=" entities")
        try:
            materialize_tiles(ctx, view, end, result, on_written=bar.update if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
        return result
    sql = latest_rows_sql(ctx, view, start, end)
    began = time.perf_counter()
    bar = _progress(ctx.warehouse, view.name, sql, quiet)
    try:
        # `bar is not None`, never `if bar`: a tqdm without a total has no truth value.
        with _online(ctx).bulk_writer(
            view, on_written=bar.update if bar is not None else None, unique_keys=True
        ) as writer:
            for batch in ctx.warehouse.query_batches(sql, batch_size=batch_size):
                if batch.num_rows:
                    result.rows += batch.num_rows
                    writer.write(batch)
        result.written, result.skipped = writer.result.written, writer.result.skipped
    finally:
        if bar is not None:
            bar.close()
    result.seconds = time.perf_counter() - began
    return result


def materialize(
    ctx: "OfflineContext",
    start: Any,
    end: Any,
    views: list[str] | None = None,
    quiet: bool = False,
    batch_size: int = 50_000,
) -> list[ViewResult]:
    """Materialize the latest rows in [start, end) of the online views (all, or `views`)."""
    start, end = parse_time(start, "start"), parse_time(end, "end")
    if start >= end:
        raise UsageError(f"start {iso(start)} is not before end {iso(end)}")
    selected = _online_views(ctx, views)
    _prepare_online(ctx)
    results = []
    for view in selected:
        results.append(materialize_view(ctx, view, start, end, quiet=quiet, batch_size=batch_size))
        _advance(ctx, view.name, start, end)
    return results


def materialize_incremental(
    ctx: "OfflineContext", end: Any, views: list[str] | None = None, quiet: bool = False, batch_size: int = 50_000
) -> list[ViewResult]:
    """Materialize each online view from where it stopped (or END - ttl the first time) to END."""
    end = parse_time(end, "end")
    selected = _online_views(ctx, views)
    _prepare_online(ctx)
    marks = _state(ctx).load_watermarks()
    results = []
    for view in selected:
        identity = _online(ctx).table_identity(view.name)
        mark = marks.get(view.name)
        refill = mark is not None and (identity is None or mark[1] != identity)
        if mark is not None and not refill:
            start = parse_time(mark[0])
        else:
            start = end - timedelta(seconds=view.ttl_seconds) if view.ttl_seconds else EPOCH
        if identity is None:  # its table is gone: set the online store up again
            _online(ctx).apply(ctx.registry)
            identity = _online(ctx).table_identity(view.name)
        result = materialize_view(ctx, view, start, end, quiet=quiet, batch_size=batch_size)
        result.refilled = refill
        results.append(result)
        if start < end:
            _save_state(ctx, view.name, end, identity)
    return results


def online_problems(ctx: "OfflineContext") -> list[str]:
    """What is wrong between the applied registry, its online tables and the watermarks: missing
    tables, watermarks that describe other tables. Empty when all is well.

    >>> # e.g. ["feature view 'driver_hourly_stats': online table 'demo.driver_hourly_stats' is missing (run 'sqlfeast apply')"]
    """
    registry = _state(ctx).load()
    if registry is None:
        return []
    online = _online(ctx)
    marks = _state(ctx).load_watermarks()
    problems = []
    for view in registry.feature_views.values():
        if not view.online:
            continue
        identity = online.table_identity(view.name)
        if identity is None:
            problems.append(
                f"feature view '{view.name}': online table '{online.table_name(view.name)}' is "
                "missing (run 'sqlfeast apply', then 'sqlfeast materialize-incremental')"
            )
        elif view.name in marks and marks[view.name][1] != identity:
            problems.append(
                f"feature view '{view.name}': its materialization watermark describes other "
                "online tables (the next 'sqlfeast materialize-incremental' refills it)"
            )
    return problems


def _advance(ctx: "OfflineContext", view: str, start: datetime, end: datetime) -> None:
    """A plain materialize moves the incremental state forward when it leaves no gap."""
    identity = _online(ctx).table_identity(view)
    mark = _state(ctx).load_watermarks().get(view)
    if mark is not None and mark[1] != identity:
        mark = None  # it describes other tables: as if there were none
    if mark is None or (start <= parse_time(mark[0]) < end):
        _save_state(ctx, view, end, identity)


def _save_state(ctx: "OfflineContext", view: str, end: datetime, identity: str | None = None) -> None:
    end_iso = end.isoformat(timespec="microseconds")
    try:
        _state(ctx).save_materialized(view, end_iso, identity)
    except SqlfeastError:
        raise
    ctx.registry.materialized[view] = end_iso


@dataclass
class TeardownResult:
    dropped: list[str]  # online tables removed
    watermarks: list[str]  # views whose materialization watermark was removed
    kept: list[str]  # what stays, in words (registry history, push tables, local files)


def teardown(ctx: "OfflineContext") -> TeardownResult:
    """Drop the project's online tables and the watermarks that described them; list what stays.

    >>> # teardown(FeatureStore(".")).kept -> ['applied registry history: table ... (3 versions)', ...]
    """
    registry = ctx.registry
    dropped = _online(ctx).teardown(registry)
    forgotten = _state(ctx).forget_materialized(list(registry.feature_views))
    registry.materialized = {}
    kept = []
    history = _state(ctx).history()
    if history:
        kept.append(
            f"applied registry history: {_state(ctx).registry_table} ({len(history)} "
            "version(s); 'sqlfeast apply' sets the online tables up again from it)"
        )
    from sqlfeast.offline.push import push_table_name

    for source in registry.push_sources.values():
        kept.append(f"offline push rows: {ctx.warehouse.relation(push_table_name(registry.project, source.name))}")
    if _state(ctx).local_path.exists():
        kept.append(f"local copy of the applied registry: {_state(ctx).local_path}")
    kept.append("the warehouse's own tables, views and files (sqlfeast run's views included)")
    return TeardownResult(dropped, forgotten, kept)


def _online(ctx: "OfflineContext") -> Any:
    if ctx.online_store is None:
        raise SqlfeastError("materialization needs an online store")
    return ctx.online_store


def _state(ctx: "OfflineContext") -> Any:
    if ctx.registry_store is None:
        raise SqlfeastError("materialization needs the registry store to record its progress")
    return ctx.registry_store
