"""OnlineClient: read the latest feature values of entities, in one round trip per 100 keys.

Needs only the online store: the registry snapshot it resolves feature names with is stored
beside the online data by ``sqlfeast apply``. Importing it pulls in neither duckdb, sqlglot nor
jinja2.

>>> client = OnlineClient.from_project(".")                                   # doctest: +SKIP
>>> client.get_online_features(["driver_hourly_stats:conv_rate"],
...                            [{"driver_id": 1001}]).to_dict()              # doctest: +SKIP
{'driver_id': [1001], 'conv_rate': [0.53]}
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlfeast.core.registry import Registry
from sqlfeast.errors import RetrievalError
from sqlfeast.online.base import (
    MAX_KEY_BYTES,
    TILE_ITEM,
    OnlineStore,
    ReadRequest,
    coerce_key_value,
    entity_key,
    micros_to_datetime,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

FEAST_TS_SUFFIX = "__ts"  # Feast's name suffix for a feature's event time (epoch seconds)
PRESENT = "PRESENT"
NOT_FOUND = "NOT_FOUND"
OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


def _epoch_seconds(ts: datetime | None) -> int:
    """Whole seconds since the epoch of a naive-UTC time; 0 for None (as Feast reports it)."""
    if ts is None:
        return 0
    delta = ts.replace(tzinfo=None) - datetime(1970, 1, 1)
    return delta.days * 86_400 + delta.seconds


def _micros_of(ts: datetime) -> int:
    """Microseconds since the epoch of a datetime (naive = UTC).

    >>> _micros_of(datetime(1970, 1, 1, 0, 0, 1))
    1000000
    """
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    delta = ts - datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def entity_rows_list(entity_rows: Any) -> list[dict[str, Any]]:
    """Entity rows as a list of dicts, from a list of dicts or Feast's columnar form.

    A mapping whose values are all lists (or tuples, arrays, Series) is columnar: one row per
    position. A mapping of scalars is one row.

    >>> entity_rows_list({"driver_id": [1004, 1005]})
    [{'driver_id': 1004}, {'driver_id': 1005}]
    >>> entity_rows_list({"driver_id": 1004})
    [{'driver_id': 1004}]
    """
    if isinstance(entity_rows, dict):
        columnar = {k: _sequence(v) for k, v in entity_rows.items()}
        columns = {k: v for k, v in columnar.items() if v is not None}
        if entity_rows and len(columns) == len(columnar):
            lengths = {len(v) for v in columns.values()}
            if len(lengths) > 1:
                raise RetrievalError(
                    "entity columns have different lengths: " + ", ".join(f"{k}={len(v)}" for k, v in columns.items()),
                    hint="pass one value per row in every column",
                )
            names = list(columns)
            return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        if any(v is not None for v in columnar.values()):
            raise RetrievalError(
                "entity rows mix lists and single values",
                hint="pass {'key': [v1, v2]} (columns) or [{'key': v1}, ...] (rows)",
            )
        return [entity_rows]
    if type(entity_rows).__module__.split(".")[0] == "pandas":
        return entity_rows.to_dict("records")
    return list(entity_rows)


def _sequence(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", 1) == 1:
        return list(value.tolist())  # numpy arrays, pandas Series
    if hasattr(value, "to_pylist"):  # pyarrow arrays
        return list(value.to_pylist())
    return None


class OnlineResponse:
    """Values, statuses and event timestamps of the requested features, one per entity row.

    >>> response = OnlineResponse({"driver_id": [1001]}, {"conv_rate": "double"}, {"conv_rate": [0.5]},
    ...                           {"conv_rate": [PRESENT]}, {"conv_rate": [None]})
    >>> response.to_dict()
    {'driver_id': [1001], 'conv_rate': [0.5]}
    """

    def __init__(
        self,
        entity_columns: dict[str, list[Any]],
        feature_types: dict[str, str],
        values: dict[str, list[Any]],
        statuses: dict[str, list[str]],
        event_timestamps: dict[str, list[datetime | None]],
    ) -> None:
        self.entity_columns = entity_columns
        self.feature_types = feature_types
        self.values = values
        self.statuses = statuses
        self.event_timestamps = event_timestamps

    @property
    def feature_names(self) -> list[str]:
        """The feature columns, in request order.

        >>> OnlineResponse({}, {"a": "bigint"}, {"a": [1]}, {"a": [PRESENT]}, {"a": [None]}).feature_names
        ['a']
        """
        return list(self.values)

    def to_dict(self, include_event_timestamps: bool = False) -> dict[str, list[Any]]:
        """Feast's shape: column name -> list of values (entity keys first, then features).

        With ``include_event_timestamps`` each feature also gets ``<name>__event_timestamp``
        (datetimes, None where not found) and Feast's ``<name>__ts`` (epoch seconds, 0 where not
        found), so code written for either reads its own names.

        >>> r = OnlineResponse({"id": [1]}, {"x": "double"}, {"x": [0.5]}, {"x": ["PRESENT"]},
        ...                    {"x": [datetime(1970, 1, 1, 0, 1)]})
        >>> r.to_dict(include_event_timestamps=True)["x__ts"]
        [60]
        """
        out: dict[str, list[Any]] = {k: list(v) for k, v in self.entity_columns.items()}
        for name, values in self.values.items():
            out[name] = list(values)
            if include_event_timestamps:
                stamps = self.event_timestamps[name]
                out[f"{name}__event_timestamp"] = list(stamps)
                out[f"{name}{FEAST_TS_SUFFIX}"] = [_epoch_seconds(t) for t in stamps]
        return out

    def to_arrow(self, include_event_timestamps: bool = False) -> "pa.Table":
        """The rows as an Arrow table, feature columns typed as declared (timestamps as to_dict)."""
        import pyarrow as pa

        from sqlfeast.core.types import parse_type

        columns: dict[str, pa.Array] = {k: pa.array(v) for k, v in self.entity_columns.items()}
        for name, values in self.values.items():
            columns[name] = pa.array(values, type=parse_type(self.feature_types[name]).arrow())
            if include_event_timestamps:
                stamps = self.event_timestamps[name]
                columns[f"{name}__event_timestamp"] = pa.array(stamps, type=pa.timestamp("us"))
                columns[f"{name}{FEAST_TS_SUFFIX}"] = pa.array([_epoch_seconds(t) for t in stamps], pa.int64())
        return pa.table(columns)

    def to_pandas(self, include_event_timestamps: bool = False) -> Any:
        """The rows as a pandas DataFrame (needs pandas)."""
        return self.to_arrow(include_event_timestamps).to_pandas()

    def to_df(self, include_event_timestamps: bool = False) -> Any:
        """Feast's name for to_pandas."""
        return self.to_pandas(include_event_timestamps)

    def __repr__(self) -> str:
        return f"OnlineResponse({self.to_dict()!r})"


def feature_names_of(features: Any) -> str | list[str]:
    """A feature service object (anything with a ``name`` and ``features``) becomes its name.

    >>> feature_names_of(["v:f"])
    ['v:f']
    """
    if isinstance(features, (str, list)):
        return features
    if hasattr(features, "name") and hasattr(features, "features"):
        return features.name
    return list(features)


def _unstorable(key: str) -> bool:
    """A key no store can hold: over the key limit, or not UTF-8 (a lone surrogate)."""
    try:
        return len(key.encode()) > MAX_KEY_BYTES
    except UnicodeEncodeError:
        return True


class OnlineClient:
    """Reads online features through an OnlineStore, resolving names with a registry.

    >>> with OnlineClient.from_project("feature_repo") as client:                 # doctest: +SKIP
    ...     client.get_online_features("driver_hourly_stats", [{"driver_id": 1001}]).to_dict()
    {'driver_id': [1001], 'conv_rate': [0.53], 'acc_rate': [0.91]}
    """

    def __init__(self, online_store: OnlineStore, registry: Registry | None = None) -> None:
        """A client over `online_store`; without `registry` the stored snapshot is read on first use.

        >>> client = OnlineClient(FeatureStore(".").online_store)                  # doctest: +SKIP
        """
        self.online_store = online_store
        self._registry = registry
        self._plans: dict[str, Any] = {}

    @classmethod
    def from_settings(
        cls,
        project: str,
        online_store: dict[str, Any],
        root: str | os.PathLike[str] = ".",
        table_template: str = "{project}.{view}",
    ) -> "OnlineClient":
        """A client from just the project name and the online store settings.

        >>> client = OnlineClient.from_settings("driver_stats",
        ...     {"type": "dynamodb", "region": "eu-west-1"})                        # doctest: +SKIP
        """
        from sqlfeast.online import open_online_store

        return cls(open_online_store(online_store, project=project, root=Path(root), table_template=table_template))

    @classmethod
    def from_project(
        cls, project_dir: str | os.PathLike[str] = ".", target: str | None = None, profiles_dir: str | None = None
    ) -> "OnlineClient":
        """A client for a project directory's target (profiles.yml decides the online store).

        >>> client = OnlineClient.from_project("feature_repo", target="prod")       # doctest: +SKIP
        """
        from sqlfeast.project.config import load_project, load_target

        project = load_project(project_dir)
        tgt = load_target(project, profiles_dir, target)
        return cls.from_settings(project.name, tgt.online_store, project.root, project.online_table_template)

    @property
    def registry(self) -> Registry:
        """The registry snapshot names are resolved with, read from the online store once.

        >>> sorted(OnlineClient.from_project(".").registry.feature_views)          # doctest: +SKIP
        ['driver_hourly_stats']
        """
        if self._registry is None:
            registry = self.online_store.load_registry()
            if registry is None:
                raise RetrievalError(
                    f"no registry stored in the online store of project '{self.online_store.project}'",
                    hint="run 'sqlfeast apply' first",
                )
            self._registry = registry
        return self._registry

    def refresh(self) -> None:
        """Forget the cached registry; the next call reads the stored snapshot again.

        >>> OnlineClient.from_project(".").refresh()                                # doctest: +SKIP
        """
        self._registry = None

    def get_online_features(
        self,
        features: Any,
        entity_rows: Any,
        full_feature_names: bool = False,
        *,
        request_time: datetime | None = None,
    ) -> OnlineResponse:
        """Latest values of `features` (list of "view:feature" / "view", or a feature service).

        `entity_rows` is a list of dicts or Feast's columnar ``{"driver_id": [1001, 1002]}``.
        Aggregates of aggregation views are combined from their tiles for the window that ends
        at `request_time` (naive UTC or aware; default now).

        >>> client.get_online_features(["customer_orders:orders_7d"], [{"customer_id": 7}],
        ...                            request_time=datetime(2024, 1, 8)).to_dict()   # doctest: +SKIP
        {'customer_id': [7], 'orders_7d': [3]}
        """
        entity_rows = entity_rows_list(entity_rows)
        features = feature_names_of(features)
        registry = self.registry
        refs = registry.resolve_features(features)
        by_view: dict[str, list[str]] = {}
        for view_name, feature in refs:
            if feature not in by_view.setdefault(view_name, []):
                by_view[view_name].append(feature)

        requests, row_keys, entity_names = [], [], []
        typed_rows: list[dict[str, Any]] = [{} for _ in entity_rows]  # join keys with their types
        for view_name, feats in by_view.items():
            view = registry.get_feature_view(view_name)
            if not view.online:
                raise RetrievalError(f"feature view '{view_name}' is not online (online: false)")
            keys = []
            for i, row in enumerate(entity_rows):
                key_values = []
                for k in view.join_keys:
                    if k not in row:
                        raise RetrievalError(
                            f"entity row {i} lacks join key '{k}' of feature view '{view_name}'",
                            hint=f"pass e.g. {{'{k}': ...}} in every entity row",
                        )
                    key_values.append(coerce_key_value(row[k], view.join_key_types.get(k)))
                # A NULL key never matches, and a key past the stores' limit cannot be stored:
                # both read as NOT_FOUND without asking the store.
                key = None if any(v is None for v in key_values) else entity_key(view.join_keys, key_values)
                if key is not None and _unstorable(key):
                    key = None
                keys.append(key)
                for k, v in zip(view.join_keys, key_values):
                    typed_rows[i].setdefault(k, v)
            for k in view.join_keys:
                if k not in entity_names:
                    entity_names.append(k)
            requests.append(ReadRequest(view, [k for k in keys if k is not None], feats))
            row_keys.append(keys)

        names: dict[tuple[str, str], str] = {}
        for view_name, feature in refs:
            name = f"{view_name}__{feature}" if full_feature_names else feature
            if name in names.values() and names.get((view_name, feature)) != name:
                raise RetrievalError(
                    f"feature name '{feature}' is requested from more than one view",
                    hint="pass full_feature_names=True",
                )
            names[(view_name, feature)] = name

        stored = self.online_store.read(requests) if entity_rows else [{} for _ in requests]
        now_us = int(time.time() * 1_000_000) if request_time is None else _micros_of(request_time)
        values: dict[str, list[Any]] = {}
        statuses: dict[str, list[str]] = {}
        stamps: dict[str, list[datetime | None]] = {}
        types: dict[str, str] = {}
        for req, keys, found in zip(requests, row_keys, stored):
            if req.view.is_aggregation:
                self._aggregates(req, keys, found, now_us, names, values, statuses, stamps, types)
                continue
            ttl_us = (req.view.ttl_seconds or 0) * 1_000_000
            for feature in req.features:
                name = names[(req.view.name, feature)]
                spec = req.view.feature(feature)
                assert spec is not None  # resolve_features only returns features the view has
                types[name] = spec.type
                vals: list[Any] = []
                stats: list[str] = []
                ts: list[datetime | None] = []
                for key in keys:
                    stored_row = found.get(key) if key is not None else None
                    if stored_row is None:
                        vals.append(None)
                        stats.append(NOT_FOUND)
                        ts.append(None)
                    elif ttl_us and stored_row.event_ts < now_us - ttl_us:
                        vals.append(None)
                        stats.append(OUTSIDE_MAX_AGE)
                        ts.append(micros_to_datetime(stored_row.event_ts))
                    else:
                        vals.append(stored_row.values.get(feature))
                        stats.append(PRESENT)
                        ts.append(micros_to_datetime(stored_row.event_ts))
                values[name], statuses[name], stamps[name] = vals, stats, ts
        # Output in request order.
        order = [names[ref] for ref in dict.fromkeys(refs)]
        entity_columns = {k: [row.get(k) for row in typed_rows] for k in entity_names}
        return OnlineResponse(
            entity_columns,
            {n: types[n] for n in order},
            {n: values[n] for n in order},
            {n: statuses[n] for n in order},
            {n: stamps[n] for n in order},
        )

    def _aggregates(
        self,
        req: ReadRequest,
        keys: list[str | None],
        found: dict[str, Any],
        now_us: int,
        names: dict[tuple[str, str], str],
        values: dict[str, list[Any]],
        statuses: dict[str, list[str]],
        stamps: dict[str, list[datetime | None]],
        types: dict[str, str],
    ) -> None:
        """An aggregation view's features: each entity's tiles combined for the windows ending
        at `now_us`; PRESENT when any sub-tile or pushed row falls in the window, else NOT_FOUND
        (counts 0, the rest None)."""
        from sqlfeast.online.tile_batch import combine_many

        view = req.view
        plan = self._plan(view)
        items = []
        for key in keys:
            stored_row = found.get(key) if key is not None else None
            items.append(stored_row.values.get(TILE_ITEM) if stored_row is not None else None)
        got = combine_many(view, plan, items, now_us, req.features)
        # One status and event time an entity, the same for every feature of the view.
        found_statuses = [PRESENT if found else NOT_FOUND for found in got.found]
        found_stamps = [micros_to_datetime(ts) if ts is not None else None for ts in got.event_ts]
        for feature in req.features:
            name = names[(view.name, feature)]
            spec = view.feature(feature)
            assert spec is not None
            types[name] = spec.type
            values[name] = got.values[feature]
            statuses[name] = list(found_statuses)
            stamps[name] = list(found_stamps)

    def _plan(self, view: Any) -> Any:
        from sqlfeast.online.tiles import plan_of

        cached = self._plans.get(view.name)
        if cached is None or cached[0] is not view:
            cached = self._plans[view.name] = (view, plan_of(view))
        return cached[1]

    async def get_online_features_async(
        self, features: Any, entity_rows: Any, full_feature_names: bool = False
    ) -> OnlineResponse:
        """get_online_features in a worker thread, for asyncio code (Feast's async name)."""
        import asyncio

        return await asyncio.to_thread(self.get_online_features, features, entity_rows, full_feature_names)

    def close(self) -> None:
        """Close the online store.

        >>> OnlineClient.from_project(".").close()                                  # doctest: +SKIP
        """
        self.online_store.close()

    def __enter__(self) -> "OnlineClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
