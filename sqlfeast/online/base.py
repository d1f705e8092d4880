"""The OnlineStore contract every online store implements, and what they share.

An online store keeps, per feature view, the latest row of each entity: a canonical entity key
(``driver_id=1001``; composite keys sorted by name, ``customer_id=7,driver_id=1001``), the event
timestamp, the created timestamp and the feature values. Writes are newer-wins: a row replaces the
stored one only when its (event timestamp, created timestamp) is strictly greater, so re-running or
back-filling never moves a value back in time, and re-writing the same row is a no-op.

Timestamps travel as integer microseconds since the Unix epoch (UTC; naive timestamps are read as
UTC). Values are encoded by :mod:`sqlfeast.online.codec`.

>>> entity_key(["driver_id"], [1001])
'driver_id=1001'
>>> entity_key(["b", "a"], ["x,y", 2])
'a=2,b=x%2Cy'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlfeast.core.types import parse_type
from sqlfeast.errors import OnlineRowsError, OnlineStoreError, RegistrySnapshotError, RetrievalError
from sqlfeast.online.codec import attr_size, encode_column

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import FeatureView

# Attribute names sqlfeast writes beside the features; a feature may not use them.
KEY_ATTR = "entity_key"
EVENT_ATTR = "_event_ts"
CREATED_ATTR = "_created_ts"
TTL_ATTR = "_ttl"
RESERVED = (KEY_ATTR, EVENT_ATTR, CREATED_ATTR, TTL_ATTR)
# DynamoDB's limit on a partition key (UTF-8 bytes); every store keeps it, so keys behave alike.
MAX_KEY_BYTES = 2048
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit; every store keeps it too
# The pseudo view name of the table holding the registry snapshot and writer leases. A hyphen is
# not allowed in view names, so it never collides with a real view.
META_VIEW = "sqlfeast-meta"


@dataclass
class StoredRow:
    """One entity's row as read back from an online store."""

    event_ts: int  # microseconds since the epoch, UTC
    created_ts: int
    values: dict[str, Any]


@dataclass
class ReadRequest:
    """Read `features` of `view` for entity `keys` (canonical keys, see :func:`entity_key`)."""

    view: "FeatureView"
    keys: list[str]
    features: list[str]


@dataclass
class WriteResult:
    written: int = 0  # rows that replaced an older row or filled an empty key
    skipped: int = 0  # rows not newer than what was stored (newer-wins)


@dataclass
class PreparedRows:
    """Rows of one view, ready for a store: canonical keys, timestamps, encoded features."""

    keys: list[str]
    event_ts: list[int]
    created_ts: list[int]
    features: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)

    def newest_per_key(self) -> list[int]:
        """Indexes of the newest row of each key (a batch may repeat a key, e.g. a push)."""
        best: dict[str, int] = {}
        for i, key in enumerate(self.keys):
            j = best.get(key)
            if j is None or (self.event_ts[i], self.created_ts[i]) > (self.event_ts[j], self.created_ts[j]):
                best[key] = i
        return sorted(best.values()) if len(best) != len(self.keys) else list(range(len(self.keys)))


# -- entity keys ---------------------------------------------------------------------------------
def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    # Escape the separators so that every key has exactly one spelling.
    return str(value).replace("%", "%25").replace(",", "%2C").replace("=", "%3D")


def entity_key(join_keys: list[str], values: list[Any]) -> str:
    """The canonical key of one entity: `name=value` pairs sorted by name, joined by commas."""
    pairs = sorted(zip(join_keys, values), key=lambda kv: kv[0])
    return ",".join(f"{k}={_key_text(v)}" for k, v in pairs)


INTEGER_TEXT = re.compile(r"\A-?[0-9]+\Z")  # plain decimal: no spaces, underscores, signs twice or other digits
FLOAT_TEXT = re.compile(r"\A-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")


def parse_integer_text(text: str) -> int | None:
    """The integer a plain decimal text spells (ASCII digits, an optional leading minus), else None.

    >>> parse_integer_text("-42"), parse_integer_text(" 5"), parse_integer_text("1_0"), parse_integer_text("\u0660")
    (-42, None, None, None)
    """
    if len(text) > 4000 or not INTEGER_TEXT.match(text):  # Python converts at most 4,300 digits
        return None
    return int(text)


def coerce_key_value(value: Any, type_text: str | None) -> Any:
    """Entity values from a command line or JSON arrive as text; give them the key's type.

    Integer keys take plain decimal text only (``"-5"``, not ``" -5 "``, ``"-0_5"`` or ``"\u0660"``).

    >>> coerce_key_value("1001", "bigint"), coerce_key_value("x", "varchar")
    (1001, 'x')
    """
    if not isinstance(value, str) or not type_text:
        return value
    try:
        family = parse_type(type_text).family
    except ValueError:
        raise RetrievalError(
            f"entity value {value!r}: the join key's type is not known (the compiler could not learn it)",
            hint="declare it (value_type on the entity, or the source's columns: [{name: ..., data_type: "
            "bigint}]), then 'sqlfeast apply' again: compile now refuses an online key of unknown type",
        ) from None
    if family == "integer":
        number = parse_integer_text(value)
        if number is None:
            raise RetrievalError(f"entity value {value!r} is not a valid {type_text} (plain decimal digits)")
        return number
    if family == "float":
        if not FLOAT_TEXT.match(value):
            raise RetrievalError(f"entity value {value!r} is not a valid {type_text} (a decimal number)")
        return float(value)
    if family == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


# -- Arrow batches -> prepared rows --------------------------------------------------------------
def _micros(column: "pa.Array") -> list[int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("us"))
    if pa.types.is_timestamp(column.type):
        if column.type.unit != "us":
            column = pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False)
        column = column.cast(pa.int64())
    if column.null_count:
        column = pc.fill_null(column, 0)
    return column.to_pylist()


def _keys(view: "FeatureView", batch: "pa.RecordBatch") -> list[str]:
    import pyarrow as pa
    import pyarrow.compute as pc

    names = sorted(view.join_keys)
    columns = []
    for name in names:
        col = batch.column(name)
        if col.null_count:
            raise OnlineRowsError(
                f"feature view '{view.name}': join key '{name}' is NULL in {col.null_count} row(s)",
                hint="filter NULL keys out in the model",
            )
        columns.append(col)
    if len(names) == 1 and pa.types.is_integer(columns[0].type):
        prefix = f"{names[0]}="  # fast path: the common single integer key
        return [prefix + s for s in pc.cast(columns[0], pa.string()).to_pylist()]
    values = [c.to_pylist() for c in columns]
    return [entity_key(names, list(row)) for row in zip(*values)]


def _python_values(column: "pa.Array") -> list[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    # Nanosecond timestamps would come back as pandas objects; microseconds are enough online.
    if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
        column = pc.cast(column, pa.timestamp("us", tz=column.type.tz), safe=False)
    return column.to_pylist()


def prepare_rows(view: "FeatureView", batch: "pa.RecordBatch | pa.Table") -> PreparedRows:
    """Turn an Arrow batch (join keys, timestamp, created, features) into store-ready rows."""
    missing = [c for c in [*view.join_keys, view.timestamp, *view.feature_names] if c not in batch.schema.names]
    if missing:
        raise OnlineRowsError(f"feature view '{view.name}': rows lack column(s) {', '.join(missing)}")
    import pyarrow as pa

    if isinstance(batch, pa.Table):  # one contiguous batch: columns index the same rows
        batch = batch.combine_chunks()
    keys = _keys(view, batch)
    event = _micros(batch.column(view.timestamp))
    created = (
        _micros(batch.column(view.created_timestamp))
        if view.created_timestamp and view.created_timestamp in batch.schema.names
        else [0] * len(keys)
    )
    for key in keys:
        if len(key) * 4 > MAX_KEY_BYTES and len(key.encode()) > MAX_KEY_BYTES:
            raise OnlineRowsError(
                f"feature view '{view.name}': entity key {key[:80]!r}... is {len(key.encode())} "
                f"bytes, above the online stores' {MAX_KEY_BYTES}-byte key limit; nothing of "
                "this batch was written",
                hint="shorten the join key values",
            )
    features = {}
    for feature in view.features:
        column = _typed_column(view, feature.name, parse_type(feature.type), batch.column(feature.name), keys)
        features[feature.name] = encode_column(_python_values(column), parse_type(feature.type))
    check_item_sizes(view, keys, features)
    return PreparedRows(keys, event, created, features)


# The families whose values have a small bounded size: only the others can approach the limit.
_BOUNDED = ("integer", "float", "boolean", "timestamp", "date", "decimal")


def check_item_sizes(view: "FeatureView", keys: list[str], features: dict[str, list[dict[str, Any]]]) -> None:
    """DynamoDB's 400 KB item limit, on every store alike (moto and SQLite do not enforce it):
    a row above it is refused naming view and entity key before anything is written. Only
    strings, bytes and arrays are measured; the rest is bounded by a fixed allowance."""
    variable = [f.name for f in view.features if parse_type(f.type).family not in _BOUNDED]
    if not variable:
        return
    names = [KEY_ATTR, EVENT_ATTR, CREATED_ATTR, TTL_ATTR, *(f.name for f in view.features)]
    base = sum(len(n) for n in names) + 30 * len(names)  # names, plus numbers of at most 30 bytes
    columns = [features[n] for n in variable]
    for i, key in enumerate(keys):
        size = base + len(key.encode()) + sum(attr_size(col[i]) for col in columns)
        if size > MAX_ITEM_BYTES:
            raise OnlineRowsError(
                f"feature view '{view.name}': the row of {key[:80]} is {size // 1024} KB, above the "
                f"online stores' {MAX_ITEM_BYTES // 1024} KB item limit; nothing of this batch was written",
                hint="shrink the large feature values or keep them elsewhere",
            )


def _arrow_group(t: "pa.DataType") -> str:
    import pyarrow as pa

    if pa.types.is_null(t):
        return "null"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytes"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array"
    return str(t)


def _typed_column(view: "FeatureView", name: str, ftype, column: "pa.Array", keys: list[str]) -> "pa.Array":
    """The column as the declared type: a lossless cast within a kind of value (numbers, text,
    times, ...), else an OnlineStoreError naming view, column and the first entity whose value
    does not fit, before anything of the batch is written.

    >>> import pyarrow as pa
    >>> from sqlfeast.core.types import parse_type
    >>> _typed_column(None, "x", parse_type("bigint"), pa.array([1, 2], pa.int32()), ["a", "b"]).type
    DataType(int64)
    """
    import pyarrow as pa

    target = ftype.arrow()
    if column.type == target:
        return column
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()

    def fail(i: int, why: str) -> OnlineStoreError:
        where = f"feature view '{view.name}'" if view is not None else "rows"
        return OnlineRowsError(
            f"{where}: column '{name}' is declared {ftype} but the row of {keys[i]} holds "
            f"{column[i].as_py()!r} ({why}); nothing of this batch was written",
            hint=f"cast '{name}' to {ftype} in the model, or fix its declared type",
        )

    got, want = _arrow_group(column.type), _arrow_group(target)
    compatible = got == "null" or got == want and got != "array" or (got == want == "array")
    if not compatible:
        first = next((i for i in range(len(column)) if column[i].is_valid), 0)
        raise fail(first, f"a {column.type} value")
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type) and target.tz is None and column.type.tz:
        column = column.cast(pa.timestamp(column.type.unit, tz="UTC")).cast(pa.timestamp(column.type.unit))
    try:
        return column.cast(target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        for i in range(len(column)):
            try:
                column.slice(i, 1).cast(target, safe=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                raise fail(i, "it does not fit without loss") from None
        raise OnlineRowsError(f"column '{name}' cannot be stored as {ftype}: {err}") from None


def check_view(view: "FeatureView") -> None:
    clash = [f for f in view.feature_names if f in RESERVED]
    if clash:
        raise OnlineStoreError(
            f"feature view '{view.name}': feature name '{clash[0]}' is reserved by the online store",
            hint="rename the feature (alias it in the model)",
        )


def decode_registry_snapshot(blob: bytes, project: str) -> "Registry":
    """The registry of a stored snapshot (zlib-compressed JSON); RegistrySnapshotError naming the
    way out when it is damaged or not a registry.

    >>> decode_registry_snapshot(b"garbage", "demo")
    Traceback (most recent call last):
    ...
    sqlfeast.errors.RegistrySnapshotError: the registry snapshot of project 'demo' in the online store cannot be read (zlib: Error -3 while decompressing data: incorrect header check) (run 'sqlfeast apply' to store it again)
    """
    import zlib

    from sqlfeast.core.registry import Registry

    try:
        text = zlib.decompress(blob).decode()
        return Registry.from_json(text)
    except zlib.error as err:
        why = f"zlib: {err}"
    except UnicodeDecodeError as err:
        why = f"not UTF-8 text: {err}"
    except ValueError as err:  # JSON errors are ValueErrors too
        why = str(err)
    raise RegistrySnapshotError(
        f"the registry snapshot of project '{project}' in the online store cannot be read ({why})",
        hint="run 'sqlfeast apply' to store it again",
    )


def micros_to_datetime(value: int | None) -> datetime | None:
    """Microseconds since the epoch -> naive UTC datetime (how timestamps come back)."""
    if value is None:
        return None
    return _EPOCH + timedelta(microseconds=value)


_EPOCH = datetime(1970, 1, 1)


# -- the contract --------------------------------------------------------------------------------
class _Flushing:
    """A writer as a context manager: leaving it flushes (unless an error is on its way) and closes."""

    def flush(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
        finally:
            self.close()


class BulkWriter(_Flushing):
    """Writes a stream of Arrow batches of one view; a context manager.

    `write` may return before the rows are acknowledged (writes are pipelined); leaving the
    context waits for all of them and raises the first error. `on_written(n)` is called as rows
    are acknowledged (for progress bars).
    """

    def __init__(self, on_written: Callable[[int], None] | None = None):
        self.on_written = on_written or (lambda n: None)
        self.result = WriteResult()

    def write(self, batch: "pa.RecordBatch | pa.Table") -> None:
        raise NotImplementedError

    def flush(self) -> WriteResult:
        return self.result


class OnlineStore:
    """Latest feature rows per entity, one table per project and view.

    Lifecycle: ``apply(registry)`` creates (or reuses) the tables of the registry's online views
    and stores the registry snapshot; ``teardown(registry)`` removes them. Data: ``bulk_writer``
    / ``write_rows`` (newer-wins), ``read`` (any number of views in one call).
    """

    kind = ""

    def __init__(self, project: str, table_template: str = "{project}.{view}"):
        self.project = project
        self.table_template = table_template or "{project}.{view}"

    @classmethod
    def from_settings(
        cls, project: str, settings: dict[str, Any], root: Path, table_template: str = "{project}.{view}"
    ) -> "OnlineStore":
        """The store for a target's ``online_store:`` settings (paths relative to `root`)."""
        raise NotImplementedError

    @classmethod
    def serving_settings(cls, settings: dict[str, Any], deadline_seconds: float, threads: int) -> dict[str, Any]:
        """Settings for a feature server whose requests answer within `deadline_seconds`, on
        `threads` worker threads: fail fast rather than retry for minutes. Unchanged by default."""
        return dict(settings)

    def table_name(self, view: str) -> str:
        try:
            return self.table_template.format(project=self.project, view=view)
        except (KeyError, IndexError, ValueError) as err:
            raise OnlineStoreError(
                f"online table template {self.table_template!r} is invalid: {err}",
                hint="use the placeholders {project} and {view}",
            ) from None

    # lifecycle -------------------------------------------------------------------------------
    def apply(self, registry: "Registry") -> None:
        """Create or reuse the tables of every online view, then store the registry snapshot."""
        for view in registry.feature_views.values():
            if view.online:
                check_view(view)
                self.create_table(view)
        self.save_registry(registry)

    def teardown(self, registry: "Registry | None" = None) -> list[str]:
        """Drop the tables of the registry's views (default: the stored snapshot) and the snapshot."""
        registry = registry or self.load_registry()
        dropped = []
        if registry is not None:
            for view in registry.feature_views.values():
                if self.drop_table(view.name):
                    dropped.append(self.table_name(view.name))
        if self.drop_table(META_VIEW):
            dropped.append(self.table_name(META_VIEW))
        return dropped

    def create_table(self, view: "FeatureView") -> None:
        raise NotImplementedError

    def drop_table(self, view_name: str) -> bool:
        """Drop a view's table; False when it did not exist."""
        raise NotImplementedError

    def table_identity(self, view_name: str) -> str | None:
        """Text that names this very table of a view (a new one after a drop and re-create, or on
        another server, has another), or None when the table does not exist. The materialization
        watermark records it, so a watermark never vouches for tables it does not describe."""
        raise NotImplementedError

    def save_registry(self, registry: "Registry") -> None:
        raise NotImplementedError

    def load_registry(self) -> "Registry | None":
        raise NotImplementedError

    # data ------------------------------------------------------------------------------------
    def bulk_writer(
        self, view: "FeatureView", on_written: Callable[[int], None] | None = None, unique_keys: bool = False
    ) -> BulkWriter:
        """A writer of Arrow batches of one view (a context manager). `unique_keys=True` promises
        that no entity repeats across its batches (true for materialization), which a store may
        use to skip work."""
        raise NotImplementedError

    def write_rows(self, view: "FeatureView", rows: "pa.RecordBatch | pa.Table") -> WriteResult:
        """Write one batch of rows with newer-wins; returns what was written and skipped."""
        with self.bulk_writer(view) as writer:
            writer.write(rows)
        return writer.result

    def read(self, requests: Iterable[ReadRequest]) -> list[dict[str, StoredRow]]:
        """For each request, entity key -> stored row (keys with nothing stored are absent).

        For an aggregation view the row's values hold the entity's ``TileItem`` under
        ``TILE_ITEM`` (tiles and pushed rows, combined by the client at request time)."""
        raise NotImplementedError

    # aggregation views: tiles ------------------------------------------------------------------
    def tile_writer(
        self, view: "FeatureView", materialized_end: int, on_written: Callable[[int], None] | None = None
    ) -> "TileWriter":
        """A writer of whole tile items of an aggregation view materialized up to
        `materialized_end` (microseconds); see :class:`TileWriter`."""
        raise NotImplementedError

    def push_tiles(self, view: "FeatureView", rows: list[tuple[str, Any]]) -> WriteResult:
        """Fold pushed rows ``(entity key, PushRow)`` into an aggregation view's items: each row is
        kept once per identity (ts, created), and only when it is stamped at or after the item's
        materialized end (older rows are the warehouse's to count)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


# -- aggregation views: tiles --------------------------------------------------------------------
# The value under which a read of an aggregation view returns an entity's TileItem.
TILE_ITEM = "__tile_item"
MAT_END_ATTR = "_mat_end"
TILES_ATTR = "_tiles"
PUSH_PREFIX = "p:"


class TileWriter(_Flushing):
    """Writes whole tile items of one aggregation view (a context manager). Each item is
    ``(entity key, newest event ts, tiles blob, expires at (epoch seconds))``; pushed rows the
    store holds for the entity at or after the materialized end are kept, older ones dropped."""

    def __init__(self, on_written: Callable[[int], None] | None = None):
        self.on_written = on_written or (lambda n: None)
        self.result = WriteResult()

    def write_items(self, items: list[tuple[str, int, bytes, int]]) -> None:
        raise NotImplementedError

    def flush(self) -> WriteResult:
        return self.result


def prepare_push_rows(view: "FeatureView", batch: "pa.RecordBatch | pa.Table") -> list[tuple[str, Any]]:
    """Rows pushed to an aggregation view -> (entity key, PushRow), the aggregated columns typed
    and encoded as the tiles keep them.

    >>> import pyarrow as pa
    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> v = FeatureView("o", ["c_id"], ["c_id"], "ts", [], columns={"amount": "double"},
    ...     granularity_seconds=3600, aggregations=[Aggregation("s", "sum", 3600, "amount")])
    >>> rows = prepare_push_rows(v, pa.table({"c_id": [1], "ts": pa.array([0], pa.timestamp("us")), "amount": [2.5]}))
    >>> rows[0][0], rows[0][1].attrs
    ('c_id=1', [{'N': '2.5'}])
    """
    import pyarrow as pa

    from sqlfeast.online.tiles import NO_CREATED, PushRow, plan_of

    plan = plan_of(view)
    missing = [c for c in [*view.join_keys, view.timestamp, *plan.column_names] if c not in batch.schema.names]
    if missing:
        raise OnlineStoreError(f"feature view '{view.name}': rows lack column(s) {', '.join(missing)}")
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks()
    keys = _keys(view, batch)
    ts_col = batch.column(view.timestamp)
    if ts_col.null_count:
        raise OnlineStoreError(f"feature view '{view.name}': the timestamp '{view.timestamp}' is NULL in a row")
    event = _micros(ts_col)
    if view.created_timestamp and view.created_timestamp in batch.schema.names:
        col = batch.column(view.created_timestamp)
        valid = col.is_valid().to_pylist()
        created = [c if ok else NO_CREATED for c, ok in zip(_micros(col), valid, strict=True)]
    else:
        created = [NO_CREATED] * len(keys)
    columns = []
    for c in plan.columns:
        ftype = parse_type(c.type)
        column = _typed_column(view, c.name, ftype, batch.column(c.name), keys)
        columns.append(encode_column(_python_values(column), ftype))
    return [(key, PushRow(event[i], created[i], [col[i] for col in columns])) for i, key in enumerate(keys)]
