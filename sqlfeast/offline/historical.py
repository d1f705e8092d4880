"""Historical retrieval: point-in-time correct training rows, built in the warehouse.

The entity rows (Arrow, pandas, a parquet path or a SQL query) are normalised to Arrow, numbered,
and given a naive-UTC copy of their timestamp. Only the join keys, that timestamp and the row
number go to the warehouse (DuckDB scans them zero-copy; Snowflake gets a temporary table). The
dispatched macro ``point_in_time_join`` builds the SQL; the warehouse returns the row number and the
features in row order, and the entity's own columns are re-attached untouched from the input.

Feature references are ``view:feature``, ``view`` (all features) or a feature service name. A view
can be joined through other entity columns, and more than once, with a key mapping:
``location_stats[as=origin, location_id=origin_id]:avg_wait`` joins ``location_stats`` on
``location_id = origin_id`` and names the output ``avg_wait`` (``origin__avg_wait`` with
``full_feature_names``).

>>> parse_feature_ref("location_stats[as=origin, location_id=origin_id]:avg_wait")
FeatureRef(view='location_stats', feature='avg_wait', alias='origin', key_map=(('location_id', 'origin_id'),))
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from sqlfeast.core.naming import quote as _quote
from sqlfeast.core.refs import FeatureRef, parse_feature_ref
from sqlfeast.core.spec import FeatureView
from sqlfeast.errors import RetrievalError, UsageError, suggest

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sqlfeast.core.registry import Registry
    from sqlfeast.offline.context import OfflineContext
    from sqlfeast.warehouse.base import Warehouse

ROW_COLUMN = "__sqlfeast_row"
TS_COLUMN = "__sqlfeast_ts"
TSTZ_COLUMN = "__sqlfeast_tstz"
STRATEGIES = ("asof", "window", "join")
_BOOLEAN = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
_OPTIONS = ("timestamp_column", "filter_by_created_timestamp", "strategy", "stage_views")
_SQL_START = re.compile(r"^\s*(\(|select\b|with\b|from\b|values\b)", re.IGNORECASE)


# -- feature references (grammar in sqlfeast.core.refs) -------------------------------------------
@dataclass
class ViewRequest:
    """One join of one view: its key mapping, alias and the features wanted from it."""

    view: FeatureView
    alias: str | None
    keys: list[tuple[str, str]]  # (view join key, entity column)
    features: list[tuple[str, str]] = field(default_factory=list)  # (feature, output column)

    @property
    def label(self) -> str:
        return self.alias or self.view.name


def expand_references(registry: Registry, features: str | list[str]) -> list[FeatureRef]:
    """Feature service name or list of references -> parsed references, in request order."""
    if isinstance(features, str):
        if features in registry.feature_services:
            refs = list(registry.feature_services[features].features)
        elif ":" in features or "[" in features:
            refs = [features]
        else:
            hint = suggest(features, list(registry.feature_services) + list(registry.feature_views))
            raise RetrievalError(
                f"unknown feature service '{features}'",
                hint=hint or "pass a feature service name or a list of 'view:feature'",
            )
    elif features is None:
        refs = []
    else:
        refs = list(features)
    if not refs:
        raise RetrievalError("no features requested", hint="pass 'view:feature' names or a feature service")
    return [parse_feature_ref(r) for r in refs]


def plan_requests(
    registry: Registry, refs: list[FeatureRef], full_feature_names: bool, entity_columns: list[str]
) -> list[ViewRequest]:
    """Group references into one join per (view, alias, key mapping) and name the outputs."""
    requests: dict[tuple, ViewRequest] = {}
    for ref in refs:
        view = registry.get_feature_view(ref.view)
        mapping = dict(ref.key_map)
        for key in mapping:
            if key not in view.join_keys:
                raise RetrievalError(
                    f"'{key}' in {ref.view}[...] is not a join key of feature view '{view.name}'",
                    hint=suggest(key, view.join_keys) or f"its join keys: {', '.join(view.join_keys)}",
                )
        keys = [(k, mapping.get(k, k)) for k in view.join_keys]
        ident = (view.name, ref.alias, tuple(keys))
        req = requests.get(ident)
        if req is None:
            req = requests[ident] = ViewRequest(view, ref.alias, keys)
        names = view.feature_names if ref.feature is None else [ref.feature]
        for name in names:
            if view.feature(name) is None:
                raise RetrievalError(
                    f"feature view '{view.name}' has no feature '{name}'",
                    hint=suggest(name, view.feature_names) or f"its features: {', '.join(view.feature_names)}",
                )
            output = f"{req.label}__{name}" if full_feature_names else name
            if all(f != name for f, _ in req.features):
                req.features.append((name, output))
    # The same label joined with different keys would give the same output names: ask for an alias.
    labels: dict[str, ViewRequest] = {}
    for req in requests.values():
        other = labels.setdefault(req.label, req)
        if other is not req:
            raise RetrievalError(
                f"feature view '{req.label}' is joined twice with different join keys",
                hint="name each join with [as=...], e.g. "
                f"{req.view.name}[as=origin, {req.keys[0][0]}=origin_{req.keys[0][0]}]:feature",
            )
    seen: dict[str, str] = {c: "an entity column" for c in entity_columns}
    for req in requests.values():
        for name, output in req.features:
            where = f"feature '{req.label}:{name}'"
            if output in seen:
                hint = (
                    "pass full_feature_names=True (--full-feature-names) to name columns view__feature"
                    if not full_feature_names
                    else "rename the entity column"
                )
                raise RetrievalError(f"output column '{output}' of {where} collides with {seen[output]}", hint=hint)
            seen[output] = where
    return list(requests.values())


# -- entity rows -------------------------------------------------------------------------------
def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "columns")


def load_entities(warehouse: Warehouse, entity_df: Any) -> pa.Table:
    """Arrow table / RecordBatchReader / pandas DataFrame / parquet path / SQL text -> Arrow."""
    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pa.RecordBatch):
        return pa.Table.from_batches([entity_df])
    if isinstance(entity_df, pa.RecordBatchReader):
        return entity_df.read_all()
    if _is_pandas(entity_df):
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    if isinstance(entity_df, (str, os.PathLike)):
        text = os.fspath(entity_df)
        if isinstance(entity_df, str) and _SQL_START.match(text):
            return warehouse.result_names(warehouse.query_arrow(text))
        path = Path(text).expanduser()
        if not path.exists():
            raise RetrievalError(
                f"entity file not found: {text}",
                hint="pass a parquet file, a SQL query (select ...), an Arrow table or a pandas DataFrame",
            )
        import pyarrow.parquet as pq

        try:
            # A single file through ParquetFile: read_table goes through pyarrow.dataset, which
            # imports pandas (~0.3 s and ~50 MB per process, measured at 1M entity rows).
            return pq.ParquetFile(path).read() if path.is_file() else pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as err:
            raise RetrievalError(
                f"cannot read entity rows from {text}: {err}", hint="entity files must be parquet"
            ) from None
    raise RetrievalError(
        f"entity rows of type {type(entity_df).__name__} are not supported",
        hint="pass a pyarrow Table, a pandas DataFrame, a parquet path or a SQL query",
    )


def utc_timestamps(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """An entity timestamp column as naive UTC microseconds.

    Timezone-aware values are converted to UTC; naive values are taken to be UTC already; dates
    are midnight UTC. Anything else is refused rather than guessed at.
    """
    t = column.type
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            column = column.cast(pa.timestamp(t.unit, tz="UTC")).cast(pa.timestamp(t.unit))
        return column.cast(pa.timestamp("us"), safe=False) if t.unit != "us" else column
    if pa.types.is_date(t):
        return column.cast(pa.timestamp("us"))
    raise RetrievalError(
        f"entity timestamp column '{name}' has type {t}, not a timestamp",
        hint="convert it to a timestamp (e.g. pandas.to_datetime), or name another column with timestamp_column=",
    )


def _row_numbers(n: int) -> pa.Array:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas, not always with pyarrow
        return pa.array(range(n), pa.int64())
    # From the buffer: pa.array(ndarray) imports pandas on first use (~0.4 s per process).
    return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(np.arange(n, dtype=np.int64))])


def _iso(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")


# -- views ---------------------------------------------------------------------------------------
_TZ_NAMES = ("TIME ZONE", "TIMESTAMPTZ", "TIMESTAMP_TZ", "TIMESTAMP_LTZ")


def _column_kind(view: FeatureView, column: str, described: dict[str, str] | None) -> str:
    """'timestamptz', 'date' or 'timestamp' for a view's time column."""
    declared = (view.columns or {}).get(column)
    if declared:
        name = declared.lower()
    elif described is not None:
        name = described.get(column.lower(), "timestamp").upper()
        return "timestamptz" if any(t in name for t in _TZ_NAMES) else "date" if name == "DATE" else "timestamp"
    else:
        name = "timestamp"
    return (
        "timestamptz"
        if name in ("timestamptz", "timestamp_tz", "timestamp with time zone")
        else "date"
        if name == "date"
        else "timestamp"
    )


def view_sql(view: FeatureView, warehouse: Warehouse) -> str:
    """The view's compiled SQL, ready to run on `warehouse`."""
    sql = (view.sql or {}).get(warehouse.dialect)
    if not sql:
        raise RetrievalError(
            f"feature view '{view.name}' has no compiled SQL for {warehouse.dialect}",
            hint="run 'sqlfeast compile' (or apply) for this target",
        )
    return warehouse.localize(sql.strip().rstrip(";"))


def _view_context(
    req: ViewRequest, warehouse: Warehouse, dialect: str, lo: dt.datetime | None, hi: dt.datetime | None
) -> dict[str, Any]:
    view = req.view
    sql = view_sql(view, warehouse)
    time_columns = [c for c in (view.timestamp, view.created_timestamp) if c]
    described = None
    if any(c not in (view.columns or {}) for c in time_columns):
        described = {n.lower(): t for n, t in warehouse.describe(f"select * from ({sql}) as q")}
    ttl = int(view.ttl_seconds or 0)
    requested = [f for f, _ in req.features]
    return {
        "name": view.name,
        "alias": req.alias,
        "sql": sql,
        "keys": [{"view": vk, "entity": ec} for vk, ec in req.keys],
        "ts": view.timestamp,
        "ts_type": _column_kind(view, view.timestamp, described),
        "created": view.created_timestamp,
        "created_type": _column_kind(view, view.created_timestamp, described) if view.created_timestamp else None,
        "ttl_seconds": ttl,
        "lower": _iso(lo - dt.timedelta(seconds=ttl)) if (lo is not None and ttl > 0) else None,
        "upper": _iso(hi) if hi is not None else None,
        "features": [{"name": f, "output": o, "type": _declared_sql(view, f, dialect)} for f, o in req.features],
        # The tie-break runs over every declared feature, requested or not, so it is the same
        # total order whatever is asked for (and the one materialization uses).
        "extra": [
            {"name": f.name, "type": _declared_sql(view, f.name, dialect), "alias": f"__x{j}"}
            for j, f in enumerate(view.features)
            if f.name not in requested
        ],
        "order": [
            {
                "alias": f"__f{requested.index(f.name)}" if f.name in requested else f"__x{j}",
                "type": _declared_sql(view, f.name, dialect),
            }
            for j, f in enumerate(view.features)
        ],
    }


def _declared_sql(view: FeatureView, feature: str, dialect: str) -> str:
    """The feature's declared type as the warehouse spells it in a CAST."""
    from sqlfeast.core.types import parse_type

    return parse_type(_feature_type(view, feature)).sql(dialect)


def _feature_type(view: FeatureView, feature: str) -> str:
    found = view.feature(feature)
    assert found is not None  # plan_requests checked every name
    return found.type


def declared_arrow_types(requests: list[ViewRequest]) -> list[pa.DataType]:
    """The Arrow type of every output column, from the declared feature types.

    >>> declared_arrow_types([])
    []
    """
    from sqlfeast.core.types import parse_type

    return [parse_type(_feature_type(req.view, f)).arrow() for req in requests for f, _ in req.features]


# -- the job -----------------------------------------------------------------------------------
class RetrievalJob:
    """A prepared point-in-time query; nothing runs until a to_* method is called.

    The work is either one query, or (``stages``) one query per view but the last, each kept in a
    temporary table in entity-row order, and a final query that runs the last view's join and
    lines the staged results up beside it by position. ``sql`` is the whole script either way.

    >>> job = FeatureStore(".").get_historical_features(
    ...     "select 1001 as driver_id, timestamp '2026-01-01' as event_timestamp",
    ...     ["driver_hourly_stats:conv_rate"])                                      # doctest: +SKIP
    >>> job.to_arrow().num_rows                                                     # doctest: +SKIP
    1
    """

    def __init__(
        self,
        warehouse: Warehouse,
        final_sql: str,
        entities: pa.Table,
        keys_table: pa.Table,
        relation_name: str,
        output_names: list[str],
        stages: Sequence[tuple[str, str]] = (),
        output_types: list[pa.DataType] | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.final_sql = final_sql
        self.stages = list(stages)  # (temporary table, query), built in order before final_sql
        self._entities = entities  # the user's columns, untouched
        self._keys = keys_table  # what the warehouse sees: row number, join keys, UTC ts
        self._name = relation_name
        self.output_names = output_names
        self.output_types = output_types  # declared Arrow types; the SQL casts, this fixes spelling

    @property
    def sql(self) -> str:
        """Every statement run, in order, as one script.

        >>> print(job.sql)                                                          # doctest: +SKIP
        """
        staged = "".join(f"CREATE TEMPORARY TABLE {_quote(name)} AS\n{sql};\n\n" for name, sql in self.stages)
        return staged + self.final_sql

    @property
    def _row_columns(self) -> int:
        # The final query starts with a row-number column per joined query (the last view's, then
        # one per stage) so iter_batches can check that they all line up.
        return 1 + len(self.stages)

    def _feature_batches(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        self.warehouse.register_arrow(self._name, self._keys)
        built: list[str] = []
        try:
            for name, sql in self.stages:
                self.warehouse.execute(f"CREATE TEMPORARY TABLE {_quote(name)} AS {sql}")
                built.append(name)
            empty = True
            for batch in self.warehouse.query_batches(self.final_sql, batch_size=batch_size):
                if batch.num_rows:
                    empty = False
                    yield batch
            if empty:  # an empty result still carries its schema
                schema = self.warehouse.query_arrow(self.final_sql).schema
                yield pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
        finally:
            for name in built:
                self.warehouse.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
            self.warehouse.unregister(self._name)

    def iter_batches(self, batch_size: int = 262_144) -> Iterator[pa.RecordBatch]:
        """Result batches in entity order: the entity's columns followed by the features.

        >>> for batch in job.iter_batches(batch_size=100_000): print(batch.num_rows)  # doctest: +SKIP
        1
        """
        start = 0
        for batch in self._feature_batches(batch_size):
            n = batch.num_rows
            # The SQL promises rows start..start+n-1 in order; check it rather than trust it.
            expected = self._keys.column(0).slice(start, n)
            expected = expected.chunk(0) if expected.num_chunks == 1 else expected.combine_chunks()
            if any(not batch.column(i).equals(expected) for i in range(self._row_columns)):
                raise RetrievalError("internal error: the warehouse returned entity rows out of order")
            ent = self._entities.slice(start, n)
            # A slice of a one-chunk column is a zero-copy view; only split columns are copied.
            arrays = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in ent.columns]
            features = [batch.column(i) for i in range(self._row_columns, batch.num_columns)]
            if self.output_types is not None:
                # The SQL cast to the declared types; what is left is Arrow's spelling of them
                # (a time zone named Etc/UTC, a NUMBER(38,0) as decimal): a safe cast, not a guess.
                features = [a if a.type == t else a.cast(t) for a, t in zip(features, self.output_types)]
            arrays += features
            names = self._entities.column_names + self.output_names
            yield pa.RecordBatch.from_arrays(arrays, names=names)
            start += n
        if start != self._entities.num_rows:
            raise RetrievalError(f"internal error: {start} result rows for {self._entities.num_rows} entity rows")

    def to_arrow(self) -> pa.Table:
        """The whole result as one pyarrow Table.

        >>> job.to_arrow().column_names                                             # doctest: +SKIP
        ['driver_id', 'event_timestamp', 'conv_rate']
        """
        return pa.Table.from_batches(list(self.iter_batches()))

    def to_pandas(self) -> pd.DataFrame:
        """The whole result as a pandas DataFrame (needs the pandas extra).

        >>> job.to_pandas().shape                                                   # doctest: +SKIP
        (1, 3)
        """
        return self.to_arrow().to_pandas()

    def to_df(self, validation_reference: Any = None, timeout: int | None = None) -> Any:
        """Feast's name for to_pandas (a validation reference is not supported)."""
        if validation_reference is not None:
            raise UsageError("validation_reference is not supported by to_df()")
        return self.to_pandas()

    def to_sql(self) -> str:
        """The SQL the job runs (Feast's name for ``sql``)."""
        return self.sql

    def to_parquet(self, path: str | os.PathLike, batch_size: int = 262_144) -> int:
        """Stream the result into a parquet file (bounded memory); returns the row count."""
        import pyarrow.parquet as pq

        writer = None
        rows = 0
        try:
            for batch in self.iter_batches(batch_size):
                if writer is None:
                    writer = pq.ParquetWriter(str(path), batch.schema)
                writer.write_batch(batch)
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        return rows

    def to_table(self, name: str) -> str:
        """Write the result to a table in the target's schema (replaced if it exists).

        >>> job.to_table("training_rows")                                           # doctest: +SKIP
        '"main"."training_rows"'
        """
        table = self.to_arrow()
        temp = f"__sqlfeast_result_{uuid.uuid4().hex[:12]}"
        relation = self.warehouse.relation(name)
        self.warehouse.ensure_schema()
        self.warehouse.register_arrow(temp, table)
        try:
            self.warehouse.execute(f"CREATE OR REPLACE TABLE {relation} AS SELECT * FROM {_quote(temp)}")
        finally:
            self.warehouse.unregister(temp)
        return relation


# -- entry point ---------------------------------------------------------------------------------
def get_historical_features(
    ctx: "OfflineContext", entity_df: Any, features: str | list[str], full_feature_names: bool = False, **options: Any
) -> RetrievalJob:
    """Build the point-in-time join for `entity_df` and `features`; see the module docstring.

    Options: ``timestamp_column`` (default ``event_timestamp``), ``filter_by_created_timestamp``
    (also require created <= entity timestamp), ``strategy`` (asof | window | join; default from
    the target's ``pit_strategy`` setting, else asof), ``stage_views`` (DuckDB: join each view in
    its own query to bound memory; default from ``pit_stage_views``, else true).
    """
    unknown = [k for k in options if k not in _OPTIONS]
    if unknown:
        raise UsageError(
            f"unknown option '{unknown[0]}' for get_historical_features",
            hint=suggest(unknown[0], _OPTIONS) or f"options: {', '.join(_OPTIONS)}",
        )
    settings = ctx.settings
    # asof by default: at 1M x 5M (docs/benchmarks.md) 3.6 s = the fastest hand-written query, window 6.0 s; window peaks lower (1.2 vs 1.6 GB).
    strategy = str(options.get("strategy") or settings.get("pit_strategy") or "asof").lower()
    if strategy not in STRATEGIES:
        raise UsageError(
            f"unknown point-in-time strategy '{strategy}'", hint=f"pit_strategy is one of {', '.join(STRATEGIES)}"
        )
    stage_views = _stage_views(options, settings) and ctx.warehouse.positional_join
    ts_column = options.get("timestamp_column") or "event_timestamp"
    registry = ctx.registry
    warehouse = ctx.warehouse
    refs = expand_references(registry, features)  # fail fast on bad references, before any I/O

    entities = load_entities(warehouse, entity_df)
    columns = entities.column_names
    internal = [c for c in columns if c.startswith("__sqlfeast")]
    if internal:
        raise RetrievalError(
            f"entity column '{internal[0]}' uses the reserved prefix __sqlfeast", hint="rename the column"
        )
    if ts_column not in columns:
        raise RetrievalError(
            f"entity rows have no timestamp column '{ts_column}'",
            hint=suggest(ts_column, columns)
            or f"pass timestamp_column= (--timestamp-column); columns: {', '.join(columns)}",
        )
    requests = plan_requests(registry, refs, full_feature_names, columns)
    needed: list[str] = []
    for req in requests:
        for view_key, column in req.keys:
            if column not in columns:
                raise RetrievalError(
                    f"entity rows have no column '{column}' (join key '{view_key}' of feature view '{req.view.name}')",
                    hint=suggest(column, columns) or f"columns: {', '.join(columns)}",
                )
            if column not in needed:
                needed.append(column)

    ts = utc_timestamps(entities.column(ts_column), ts_column)
    bounds = pc.min_max(ts)
    lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
    name = f"__sqlfeast_entities_{uuid.uuid4().hex[:12]}"
    keys_table = pa.table(
        [_row_numbers(entities.num_rows)]
        + [entities.column(c) for c in needed]
        + [ts, ts.cast(pa.timestamp("us", tz="UTC"))],
        names=[ROW_COLUMN] + needed + [TS_COLUMN, TSTZ_COLUMN],
    )

    dialect = warehouse.dialect
    views = [_view_context(req, warehouse, dialect, lo, hi) for req in requests]
    context_entity = {"relation": _quote(name), "row": ROW_COLUMN, "ts": TS_COLUMN, "tstz": TSTZ_COLUMN}
    context_options = {
        "strategy": strategy,
        "filter_by_created_timestamp": bool(options.get("filter_by_created_timestamp")),
    }
    outputs = [o for req in requests for _, o in req.features]
    types = declared_arrow_types(requests)

    def join(subset: list[dict[str, Any]]) -> str:
        return ctx.renderer.call("point_in_time_join", context_entity, subset, context_options).strip()

    # -- aggregation views (sqlfeast/offline/aggregate_join.py): one aggregate_join query each
    if any(req.view.is_aggregation for req in requests):
        from sqlfeast.offline import aggregate_join

        views = [
            aggregate_join.view_context(req, base, dialect, lo, hi) if req.view.is_aggregation else base
            for req, base in zip(requests, views, strict=True)
        ]
        final, stages = aggregate_join.build(
            requests,
            views,
            join,
            lambda view: ctx.renderer.call("aggregate_join", context_entity, view, context_options).strip(),
            stage_views and len(views) > 1,
            lambda i: f"{name}_stage{i}",
            lambda staged, last, reqs: _positional_select(warehouse, staged, last, reqs),
        )
        return RetrievalJob(warehouse, final, entities, keys_table, name, outputs, stages)
    # -- end of aggregation views
    if len(views) < 2 or not stage_views:
        return RetrievalJob(warehouse, join(views), entities, keys_table, name, outputs, output_types=types)
    stages = [(f"{name}_stage{i}", join([view])) for i, view in enumerate(views[:-1])]
    final = _positional_select(warehouse, [s for s, _ in stages], join(views[-1:]), requests)
    return RetrievalJob(warehouse, final, entities, keys_table, name, outputs, stages, output_types=types)


def _stage_views(options: dict[str, Any], settings: dict[str, Any]) -> bool:
    """Join each view in its own query? On by default, where the warehouse can line results up
    by position (``Warehouse.positional_join``: DuckDB).

    One query holds every view's sorted feature rows at once; one view at a time, peak memory is
    the largest single view's (1M x 5M, two views: 1.56 GB -> 1.01 GB) for the same time. Snowflake
    gets one statement: its memory is the warehouse's business, and a round trip costs more there.
    """
    value = options.get("stage_views")
    if value is None:
        value = settings.get("pit_stage_views", True)
    text = str(value).strip().lower()
    if text not in _BOOLEAN:
        raise UsageError(
            f"pit_stage_views / stage_views must be true or false, not {value!r}",
            hint="set pit_stage_views: true (one query per view) or false (one query) in profiles.yml",
        )
    return _BOOLEAN[text]


def _positional_select(warehouse: Warehouse, stages: list[str], last_sql: str, requests: list[ViewRequest]) -> str:
    """The last view's join beside the staged ones, row by row (``Warehouse.line_up``).

    Every query is ordered by entity row and has one row per entity row, so position is identity;
    the row numbers of all of them are selected first and checked by RetrievalJob.iter_batches.
    """
    aliases = [f'"__s{i}"' for i in range(len(stages))] + ['"__last"']
    columns = [f'"__last".{_quote(ROW_COLUMN)}']
    columns += [f"{a}.{_quote(ROW_COLUMN)} as {_quote(f'{ROW_COLUMN}_{i}')}" for i, a in enumerate(aliases[:-1])]
    for alias, req in zip(aliases, requests):
        columns += [f"{alias}.{_quote(output)}" for _, output in req.features]
    return warehouse.line_up(stages, last_sql, columns)
