"""Push: rows that arrive between materializations, written online and/or offline.

A push source is declared in the models/ YAML with a name, a schema (column -> type), the
timestamp column and the feature view(s) it feeds. Pushed rows (Arrow, pandas, a list of dicts,
or a dict of columns as the HTTP /push endpoint sends) are validated against that schema, then:

- online: written to every online feature view it feeds with the same newer-wins rule as
  materialize (an older event never replaces a newer one; the same row twice is a no-op);
- offline: appended to ``"<schema>"."<project>__push__<name>"`` in the warehouse, skipping rows
  already there (same join keys, timestamp and created timestamp), so pushing twice changes
  nothing. The table is typed from the push source's schema, in its column order, and is what
  the built-in macro ``push_source('name')`` renders; a feature view picks pushed rows up with

      select driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips
      from {{ ref('driver_stats_clean') }}
      union all
      select * from {{ push_source('driver_stats_push') }}

>>> from sqlfeast.core.spec import PushSource
>>> src = PushSource("p", {"driver_id": "bigint", "event_timestamp": "timestamp", "x": "double"}, ["v"])
>>> rows_to_arrow(src, [{"driver_id": 1, "event_timestamp": "2024-01-01T00:00:00Z", "x": 2}]).to_pylist()
[{'driver_id': 1, 'event_timestamp': datetime.datetime(2024, 1, 1, 0, 0), 'x': 2.0}]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlfeast.core.naming import push_table_name, quote
from sqlfeast.core.types import FeatureType, parse_type
from sqlfeast.errors import PushError, suggest

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import PushSource

DESTINATIONS = ("online", "offline", "online_and_offline")
_ROW_COLUMN = "__sqlfeast_row"
# One offline push at a time per process: the anti-join insert is not atomic across statements.
_OFFLINE_LOCK = threading.Lock()


@dataclass
class PushResult:
    push_source: str
    rows: int
    online: dict[str, dict[str, int]] = field(default_factory=dict)  # view -> {written, skipped}
    offline_inserted: int | None = None  # None when not pushed offline

    def to_dict(self) -> dict[str, Any]:
        return {
            "push_source": self.push_source,
            "rows": self.rows,
            "online": self.online,
            "offline_inserted": self.offline_inserted,
        }


# -- public entry points -------------------------------------------------------------------------
def push_rows(
    registry: "Registry",
    push_source_name: str,
    rows: Any,
    to: str = "online",
    online_store=None,
    warehouse=None,
    not_after: datetime | None = None,
) -> PushResult:
    """`push` with the parts given explicitly (the feature server holds them itself).

    `not_after` (aware): rows whose event or created timestamp is later are refused, nothing of
    the push written (the server passes its clock plus the allowed skew).
    """
    check_destination(to)
    source = get_push_source(registry, push_source_name)
    keys = [
        k
        for v in source.feature_views
        if v in registry.feature_views
        for k in registry.feature_views[v].join_keys
        if k in source.schema
    ]
    table = rows_to_arrow(source, rows, required=[*keys, source.timestamp])  # created may be NULL
    if not_after is not None:
        check_not_future(table, time_columns(registry, source), not_after)
    result = PushResult(source.name, table.num_rows)
    if to in ("online", "online_and_offline"):
        result.online = write_online(online_store, registry, source, table)
    if to in ("offline", "online_and_offline"):
        result.offline_inserted = write_offline(
            warehouse, registry.project, source, table, identity_columns(registry, source)
        )
    return result


def check_destination(to: str) -> None:
    if to not in DESTINATIONS:
        raise PushError(
            f"'to' must be one of {', '.join(DESTINATIONS)}, not {to!r}", hint=suggest(str(to), DESTINATIONS)
        )


def get_push_source(registry: "Registry", name: str) -> "PushSource":
    try:
        return registry.push_sources[name]
    except (KeyError, TypeError):
        known = list(registry.push_sources)
        raise PushError(
            f"unknown push source '{name}'",
            hint=suggest(str(name), known)
            or (f"push sources: {', '.join(known)}" if known else "declare one under 'push_sources:' in models/"),
        ) from None


def time_columns(registry: "Registry", source: "PushSource") -> list[str]:
    """The columns that order pushed rows online: the event timestamp and the created ones."""
    cols = [source.timestamp]
    for name in source.feature_views:
        view = registry.feature_views.get(name)
        if view is not None and view.created_timestamp and view.created_timestamp in source.schema:
            cols.append(view.created_timestamp)
    return list(dict.fromkeys(cols))


def check_not_future(table: "pa.Table", columns: list[str], not_after: datetime) -> None:
    """Refuse rows stamped after `not_after`: newer-wins would keep such a row against every real
    one until the clock caught up (a push of 9999-12-31 would pin its value forever).

    >>> import pyarrow as pa
    >>> t = pa.table({"ts": pa.array([datetime(9999, 12, 31)], pa.timestamp("us"))})
    >>> check_not_future(t, ["ts"], datetime(2026, 1, 1, tzinfo=UTC))
    Traceback (most recent call last):
    ...
    sqlfeast.errors.PushError: column 'ts' row 0 is 9999-12-31T00:00:00, later than the server's clock allows (2026-01-01T00:00:00Z); nothing was pushed (push rows stamped at or before the time they happened; the allowed clock skew is 'sqlfeast serve --max-clock-skew')
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    limit = not_after.astimezone(UTC).replace(tzinfo=None)
    for col in columns:
        if col not in table.schema.names or table.num_rows == 0:
            continue
        column = table.column(col)
        if pa.types.is_date(column.type):
            column = column.cast(pa.timestamp("us"))
        if not pa.types.is_timestamp(column.type):
            continue
        if column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(pa.timestamp(column.type.unit))
        micros = pc.cast(column, pa.timestamp("us"), safe=False).cast(pa.int64())
        bound = int((limit - datetime(1970, 1, 1)).total_seconds() * 1_000_000)
        latest = pc.max(micros).as_py()
        if latest is None or latest <= bound:
            continue
        row = next(i for i, v in enumerate(micros.to_pylist()) if v is not None and v > bound)
        try:
            shown = column[row].as_py().isoformat()
        except (ValueError, OverflowError):  # past the year 9999
            shown = f"{micros[row].as_py()} microseconds after the epoch"
        raise PushError(
            f"column '{col}' row {row} is {shown}, later than the server's clock allows "
            f"({limit.isoformat(timespec='seconds')}Z); nothing was pushed",
            hint="push rows stamped at or before the time they happened; the allowed clock skew is "
            "'sqlfeast serve --max-clock-skew'",
        )


# -- rows -> a typed Arrow table -----------------------------------------------------------------
def rows_to_arrow(source: "PushSource", rows: Any, required: list[str] | None = None) -> "pa.Table":
    """Rows in any accepted shape -> an Arrow table with exactly the source's columns and types.

    `required` columns (join keys, timestamps) may not hold NULL.
    """
    import pyarrow as pa

    types = {col: parse_type(t) for col, t in source.schema.items()}
    if isinstance(rows, pa.RecordBatch):
        rows = pa.Table.from_batches([rows])
    if type(rows).__module__.split(".")[0] == "pandas":  # pandas stays an optional import
        rows = pa.Table.from_pandas(rows, preserve_index=False)
    if isinstance(rows, pa.Table):
        _check_columns(source, rows.schema.names)
        columns = [_cast_arrow(source, col, rows.column(col), types[col]) for col in types]
    elif isinstance(rows, dict):
        _check_columns(source, list(rows))
        lengths = {len(v) if isinstance(v, (list, tuple)) else -1 for v in rows.values()}
        if -1 in lengths:
            bad = next(k for k, v in rows.items() if not isinstance(v, (list, tuple)))
            raise PushError(f"column '{bad}' must be a list of values")
        if len(lengths) > 1:
            raise PushError("columns have different lengths: " + ", ".join(f"{k}={len(v)}" for k, v in rows.items()))
        columns = [_python_column(source, col, list(rows[col]), types[col]) for col in types]
    elif isinstance(rows, (list, tuple)):
        if not all(isinstance(r, dict) for r in rows):
            raise PushError("rows must be dicts (column -> value)")
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        if rows:
            _check_columns(source, list(seen))
            for i, r in enumerate(rows):
                missing = [c for c in types if c not in r]
                if missing:
                    raise PushError(f"row {i} lacks column(s) {', '.join(missing)}")
        columns = [_python_column(source, col, [r.get(col) for r in rows], types[col]) for col in types]
    else:
        raise PushError(
            f"cannot push rows of type {type(rows).__name__}",
            hint="pass a pyarrow Table, a pandas DataFrame, a list of dicts or a dict of lists",
        )
    table = pa.Table.from_arrays(columns, names=list(types))
    _check_required(source, table, required or [source.timestamp])
    return table


def _check_columns(source: "PushSource", names: list[str]) -> None:
    unknown = [n for n in names if n not in source.schema]
    if unknown:
        hint = suggest(str(unknown[0]), source.schema) or f"its columns: {', '.join(source.schema)}"
        raise PushError(f"push source '{source.name}' has no column '{unknown[0]}'", hint=hint)
    missing = [c for c in source.schema if c not in names]
    if missing:
        raise PushError(f"push source '{source.name}': rows lack column(s) {', '.join(missing)}")


def _check_required(source: "PushSource", table: "pa.Table", required: list[str]) -> None:
    for col in dict.fromkeys(required):
        if col in table.schema.names and table.column(col).null_count:
            raise PushError(
                f"push source '{source.name}': column '{col}' is null in {table.column(col).null_count} row(s)"
            )


def _cast_arrow(source: "PushSource", col: str, column: "pa.ChunkedArray", ftype: FeatureType):
    import pyarrow as pa

    target = ftype.arrow()
    if column.type == target:
        return column
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type) and target.tz is None and column.type.tz:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(pa.timestamp(column.type.unit))
    if pa.types.is_integer(target) and not (pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        raise PushError(f"column '{col}' must be {ftype}, not {column.type}")
    try:
        return column.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise PushError(f"column '{col}' must be {ftype}, not {column.type}: {err}") from None


def _python_column(source: "PushSource", col: str, values: list[Any], ftype: FeatureType):
    import pyarrow as pa

    convert = _converter(ftype)
    out: list[Any] = []
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(convert(value))
        except (TypeError, ValueError, ArithmeticError):
            raise PushError(f"column '{col}' must be {ftype}: row {i} has {value!r}") from None
    return pa.array(out, type=ftype.arrow())


def _converter(ftype: FeatureType):
    """A strict per-value converter: refuses what would change meaning (1.5 -> bigint, '1' -> bigint)."""
    name = ftype.name
    if name == "array":
        assert ftype.element is not None  # parse_type gives every array an element type
        inner = _converter(ftype.element)

        def arr(v):
            if not isinstance(v, (list, tuple)):
                raise TypeError
            return [None if x is None else inner(x) for x in v]

        return arr
    if name in ("bigint", "integer"):

        def integer(v):
            if isinstance(v, bool):
                raise TypeError
            if isinstance(v, int):
                return v
            if isinstance(v, float) and v.is_integer():
                return int(v)
            raise TypeError

        return integer
    if name in ("double", "float"):

        def number(v):
            if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
                raise TypeError
            return float(v)

        return number
    if name == "decimal":

        def dec(v):
            if isinstance(v, bool) or not isinstance(v, (int, float, str, Decimal)):
                raise TypeError
            return Decimal(str(v))

        return dec
    if name == "boolean":

        def boolean(v):
            if not isinstance(v, bool):
                raise TypeError
            return v

        return boolean
    if name == "varchar":

        def text(v):
            if not isinstance(v, str):
                raise TypeError
            return v

        return text
    if name == "bytes":

        def binary(v):
            if isinstance(v, (bytes, bytearray)):
                return bytes(v)
            if isinstance(v, str):  # JSON carries bytes as base64
                import base64

                return base64.b64decode(v, validate=True)
            raise TypeError

        return binary
    if name in ("timestamp", "timestamptz"):
        aware = name == "timestamptz"

        def ts(v):
            if isinstance(v, str):
                v = datetime.fromisoformat(v)
            if not isinstance(v, datetime):
                raise TypeError
            if v.tzinfo is not None:
                v = v.astimezone(UTC)
                return v if aware else v.replace(tzinfo=None)
            return v.replace(tzinfo=UTC) if aware else v

        return ts
    if name == "date":

        def day(v):
            if isinstance(v, datetime):
                return v.date()
            if isinstance(v, date):
                return v
            if isinstance(v, str):
                return date.fromisoformat(v)
            raise TypeError

        return day
    raise ValueError(f"no push conversion for {ftype}")  # pragma: no cover


# -- online --------------------------------------------------------------------------------------
def online_batch(registry: "Registry", source: "PushSource", view_name: str, table: "pa.Table") -> "pa.Table":
    """The columns one online view needs, named as the view names them."""
    view = registry.get_feature_view(view_name)
    wanted = view.feature_names
    if view.is_aggregation:  # the aggregated columns, folded into the view's tiles
        wanted = list(dict.fromkeys(a.column for a in view.aggregations if a.column))
    missing = [f for f in wanted if f not in table.schema.names]
    if missing:
        raise PushError(
            f"push source '{source.name}' cannot write feature view '{view.name}' online: "
            f"it lacks feature(s) {', '.join(missing)}",
            hint="online rows are written whole; add the features to the push source's schema",
        )
    columns = {k: table.column(k) for k in view.join_keys}
    columns[view.timestamp] = table.column(source.timestamp)
    if view.created_timestamp and view.created_timestamp in table.schema.names:
        columns[view.created_timestamp] = table.column(view.created_timestamp)
    for f in wanted:
        columns[f] = table.column(f)
    import pyarrow as pa

    return pa.table(columns)


def write_online(
    online_store, registry: "Registry", source: "PushSource", table: "pa.Table"
) -> dict[str, dict[str, int]]:
    """Write the rows to every online view the source feeds; newer-wins in the store."""
    if online_store is None:
        raise PushError("no online store to push to")
    views = [registry.get_feature_view(v) for v in source.feature_views]
    batches = [(v, online_batch(registry, source, v.name, table)) for v in views if v.online]
    out: dict[str, dict[str, int]] = {}
    for view, batch in batches:
        if batch.num_rows == 0:
            out[view.name] = {"written": 0, "skipped": 0}
            continue
        if view.is_aggregation:
            from sqlfeast.online.base import prepare_push_rows

            result = online_store.push_tiles(view, prepare_push_rows(view, batch))
        else:
            result = online_store.write_rows(view, batch)
        out[view.name] = {"written": result.written, "skipped": result.skipped}
    return out


# -- offline -------------------------------------------------------------------------------------
def identity_columns(registry: "Registry", source: "PushSource") -> list[str]:
    """What makes a pushed row the same row: join keys of the fed views, timestamp, created."""
    cols: list[str] = []
    for name in source.feature_views:
        view = registry.feature_views.get(name)
        if view is None:
            continue
        cols += [k for k in view.join_keys if k in source.schema]
        if view.created_timestamp and view.created_timestamp in source.schema:
            cols.append(view.created_timestamp)
    cols.append(source.timestamp)
    return list(dict.fromkeys(cols))


def ensure_push_table(warehouse, project: str, source: "PushSource") -> str:
    """Create the push source's table when it does not exist; returns its relation."""
    relation = warehouse.relation(push_table_name(project, source.name))
    columns = ", ".join(f"{quote(c)} {parse_type(t).sql(warehouse.dialect)}" for c, t in source.schema.items())
    warehouse.ensure_schema()
    warehouse.execute(f"CREATE TABLE IF NOT EXISTS {relation} ({columns})")
    return relation


def ensure_push_tables(warehouse, registry: "Registry") -> list[str]:
    """Create every push source's table, so views that union push_source() run before any push."""
    return [ensure_push_table(warehouse, registry.project, s) for s in registry.push_sources.values()]


def write_offline(warehouse, project: str, source: "PushSource", table: "pa.Table", identity: list[str]) -> int:
    """Append rows whose `identity` columns are not in the push table yet; returns how many."""
    import pyarrow as pa

    if warehouse is None:
        raise PushError("no warehouse to push to")
    if table.num_rows == 0:
        return 0
    ident = identity
    staged_name = f"__sqlfeast_push_{source.name}_{threading.get_ident()}"
    staged = table.append_column(_ROW_COLUMN, pa.array(range(table.num_rows), pa.int64()))
    cols = ", ".join(quote(c) for c in source.schema)
    partition = ", ".join(quote(c) for c in ident)
    matches = " AND ".join(f"t.{quote(c)} IS NOT DISTINCT FROM d.{quote(c)}" for c in ident)
    with _OFFLINE_LOCK:
        relation = ensure_push_table(warehouse, project, source)
        staged_rel = warehouse.register_arrow(staged_name, staged)
        try:
            before = _count(warehouse, relation)
            # First row of each identity in the batch, and only identities not stored yet.
            warehouse.execute(
                f"INSERT INTO {relation} ({cols}) SELECT {cols} FROM ("
                f"SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {quote(_ROW_COLUMN)}) AS __sqlfeast_rn "
                f"FROM {staged_rel}) d WHERE d.__sqlfeast_rn = 1 "
                f"AND NOT EXISTS (SELECT 1 FROM {relation} t WHERE {matches})"
            )
            return _count(warehouse, relation) - before
        finally:
            warehouse.unregister(staged_name)


def _count(warehouse, relation: str) -> int:
    return int(warehouse.query_arrow(f"SELECT COUNT(*) AS n FROM {relation}").column(0)[0].as_py())
