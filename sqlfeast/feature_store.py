"""FeatureStore: the Python entry point to one project and one target.

>>> fs = FeatureStore(".")                                     # doctest: +SKIP
>>> [v.name for v in fs.list_feature_views()]                 # doctest: +SKIP
['customer_profile', 'driver_hourly_stats']
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Entity, FeatureService, FeatureView
from sqlfeast.errors import SqlfeastError
from sqlfeast.project.config import ProjectConfig, Target, load_project, load_target

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.compile.templating import Renderer
    from sqlfeast.core.registry import Change
    from sqlfeast.offline.context import OfflineContext
    from sqlfeast.offline.historical import RetrievalJob
    from sqlfeast.offline.materialize import ViewResult
    from sqlfeast.offline.push import PushResult
    from sqlfeast.offline.state import RegistryStore
    from sqlfeast.online.base import OnlineStore
    from sqlfeast.online.client import OnlineResponse
    from sqlfeast.warehouse.base import Warehouse


class FeatureStore:
    """A project directory bound to one target: compile, apply, retrieve, materialize, push.

    >>> store = FeatureStore("feature_repo", target="dev")                        # doctest: +SKIP
    >>> store.apply()                                                               # doctest: +SKIP
    >>> store.get_online_features(["driver_hourly_stats:conv_rate"],
    ...                           [{"driver_id": 1001}]).to_dict()                 # doctest: +SKIP
    {'driver_id': [1001], 'conv_rate': [0.53]}
    """

    def __init__(self, project_dir: str | os.PathLike[str] = ".", target: str | None = None,
                 profiles_dir: str | None = None, vars: dict[str, Any] | None = None) -> None:
        """Load ``sqlfeast_project.yml`` from `project_dir` and the `target` of profiles.yml.

        >>> store = FeatureStore(".", target="prod", vars={"region": "eu"})         # doctest: +SKIP
        """
        self.project: ProjectConfig = load_project(project_dir)
        self.target: Target = load_target(self.project, profiles_dir, target)
        self.vars = {**self.project.vars, **(vars or {})}
        self._registry: Registry | None = None

    @property
    def root(self) -> Path:
        """The project directory.

        >>> FeatureStore("feature_repo").root                                      # doctest: +SKIP
        PosixPath('/home/me/feature_repo')
        """
        return self.project.root

    @property
    def name(self) -> str:
        """The project name (``name:`` in sqlfeast_project.yml).

        >>> FeatureStore("feature_repo").name                                      # doctest: +SKIP
        'driver_stats'
        """
        return self.project.name

    # -- parts, created on first use ---------------------------------------------------------
    @cached_property
    def warehouse(self) -> Warehouse:
        """The target's warehouse connection, opened on first use.

        >>> FeatureStore(".").warehouse.query_arrow("select 1 as x").num_rows        # doctest: +SKIP
        1
        """
        from sqlfeast.warehouse import connect

        return connect(self.target, self.root)

    @cached_property
    def renderer(self) -> Renderer:
        """Macros with dispatch for this target (project macros override built-ins).

        >>> FeatureStore(".").renderer                                              # doctest: +SKIP
        """
        from sqlfeast.compile.pipeline import load_macros

        return load_macros(self.project).renderer(self.target.type, self.target.name, self.target.schema,
                                                  self.project.name, self.vars)

    @cached_property
    def registry_store(self) -> "RegistryStore":
        """Where the applied registry is kept (a table in the warehouse, a local copy).

        >>> FeatureStore(".").registry_store.load()                                 # doctest: +SKIP
        """
        from sqlfeast.offline.state import LOCAL_COPY, RegistryStore

        return RegistryStore(self.warehouse, self.name, self.project.target_dir / LOCAL_COPY)

    def _offline(self, online: bool = False) -> "OfflineContext":
        """The collaborators of the offline stage, for one call."""
        from sqlfeast.offline.context import OfflineContext

        return OfflineContext(self.warehouse, self.renderer, self.registry, self.registry_store,
                              self.online_store if online else None, dict(self.target.settings or {}))

    # -- registry ----------------------------------------------------------------------------
    def compile(self, strict: bool = False, write: bool = True) -> Registry:
        """Render and validate every model; write target/compiled and target/registry.json.

        >>> registry = FeatureStore(".").compile(strict=True)                      # doctest: +SKIP
        >>> sorted(registry.feature_views)                                          # doctest: +SKIP
        ['driver_hourly_stats']
        """
        from sqlfeast.compile.pipeline import compile_project

        registry = compile_project(self.project, self.target, self.vars, strict=strict,
                                   warehouse=self.warehouse if strict else None, write=write)
        return registry

    @property
    def registry(self) -> Registry:
        """The applied registry when there is one, else the project compiled now.

        >>> FeatureStore(".").registry.project                                      # doctest: +SKIP
        'driver_stats'
        """
        if self._registry is None:
            self._registry = self.registry_store.load() or self.compile(write=False)
        return self._registry

    def refresh_registry(self) -> Registry:
        """Forget the cached registry and load it again.

        >>> FeatureStore(".").refresh_registry()                                    # doctest: +SKIP
        """
        self._registry = None
        return self.registry

    def plan(self) -> list[Change]:
        """What apply would change: a list of registry.Change.

        >>> for change in FeatureStore(".").plan(): print(change)                   # doctest: +SKIP
        """
        return self.plan_against(self.compile())

    def plan_against(self, registry: Registry) -> list[Change]:
        """What applying `registry` would change against the applied one.

        >>> store = FeatureStore(".")                                               # doctest: +SKIP
        >>> store.plan_against(store.compile(write=False))                          # doctest: +SKIP
        []
        """
        from sqlfeast.core.registry import diff

        return diff(self.registry_store.load(), registry)

    def apply(self, registry: Registry | None = None) -> Registry:
        """Set up online tables, then record the registry (the commit point) in the warehouse.

        >>> applied = FeatureStore(".").apply()                                     # doctest: +SKIP
        """
        from sqlfeast.offline.push import ensure_push_tables

        registry = registry or self.compile()
        self.online_store.apply(registry)
        applied = self.registry_store.apply(registry)
        self._registry = applied
        ensure_push_tables(self.warehouse, applied)  # views that union push_source() run before the first push
        return applied

    def list_entities(self) -> list[Entity]:
        """The entities of the registry.

        >>> [e.name for e in FeatureStore(".").list_entities()]                    # doctest: +SKIP
        ['driver']
        """
        return list(self.registry.entities.values())

    def list_feature_views(self) -> list[FeatureView]:
        """The feature views of the registry.

        >>> [v.name for v in FeatureStore(".").list_feature_views()]               # doctest: +SKIP
        ['driver_hourly_stats']
        """
        return list(self.registry.feature_views.values())

    def get_feature_view(self, name: str) -> FeatureView:
        """One feature view by name; an unknown name is an error that lists the known ones.

        >>> FeatureStore(".").get_feature_view("driver_hourly_stats").join_keys     # doctest: +SKIP
        ['driver_id']
        """
        return self.registry.get_feature_view(name)

    def list_feature_services(self) -> list[FeatureService]:
        """The feature services of the registry.

        >>> [s.name for s in FeatureStore(".").list_feature_services()]            # doctest: +SKIP
        ['driver_activity']
        """
        return list(self.registry.feature_services.values())

    def get_feature_service(self, name: str) -> FeatureService:
        """One feature service by name.

        >>> FeatureStore(".").get_feature_service("driver_activity").name           # doctest: +SKIP
        'driver_activity'
        """
        try:
            return self.registry.feature_services[name]
        except KeyError:
            raise SqlfeastError(f"unknown feature service '{name}'") from None

    # -- historical retrieval (sqlfeast/offline/historical.py) -----------------------------------------
    def get_historical_features(self, entity_df: Any, features: str | list[str],
                                full_feature_names: bool = False, **options: Any) -> RetrievalJob:
        """Point-in-time correct training rows; returns a job with to_arrow()/to_pandas()/....

        >>> job = FeatureStore(".").get_historical_features(
        ...     "select 1001 as driver_id, timestamp '2026-01-01' as event_timestamp",
        ...     ["driver_hourly_stats:conv_rate"])                                  # doctest: +SKIP
        >>> job.to_arrow().column_names                                             # doctest: +SKIP
        ['driver_id', 'event_timestamp', 'conv_rate']
        """
        from sqlfeast.offline.historical import get_historical_features

        return get_historical_features(self._offline(), entity_df, features, full_feature_names=full_feature_names,
                                       **options)

    # -- online path (sqlfeast/online/, sqlfeast/offline/materialize.py) -------------------------------
    @cached_property
    def online_store(self) -> OnlineStore:
        """The target's online store, opened on first use.

        >>> FeatureStore(".").online_store.project                                  # doctest: +SKIP
        'driver_stats'
        """
        from sqlfeast.online import open_online_store

        return open_online_store(self.target.online_store, project=self.name, root=self.root,
                                 table_template=self.project.online_table_template)

    def materialize(self, start: Any, end: Any, views: list[str] | None = None,
                    **options: Any) -> list[ViewResult]:
        """Copy the latest rows in [start, end) of the online views (all, or `views`) online.

        >>> FeatureStore(".").materialize("2026-01-01", "2026-02-01")               # doctest: +SKIP
        """
        from sqlfeast.offline.materialize import materialize

        return materialize(self._offline(online=True), start, end, views=views, **options)

    def materialize_incremental(self, end: Any, views: list[str] | None = None,
                                **options: Any) -> list[ViewResult]:
        """Materialize each online view from where it stopped (or END - ttl the first time) to `end`.

        >>> FeatureStore(".").materialize_incremental("2026-02-01T00:00:00Z")       # doctest: +SKIP
        """
        from sqlfeast.offline.materialize import materialize_incremental

        return materialize_incremental(self._offline(online=True), end, views=views, **options)

    def get_online_features(self, features: str | list[str], entity_rows: list[dict[str, Any]],
                            full_feature_names: bool = False) -> OnlineResponse:
        """Latest values of `features` for `entity_rows`, read from the online store.

        >>> FeatureStore(".").get_online_features(["driver_hourly_stats:conv_rate"],
        ...                                       [{"driver_id": 1001}]).to_dict()  # doctest: +SKIP
        {'driver_id': [1001], 'conv_rate': [0.53]}
        """
        from sqlfeast.online.client import OnlineClient

        client = OnlineClient(self.online_store, self.registry)
        return client.get_online_features(features, entity_rows, full_feature_names=full_feature_names)

    # -- push (sqlfeast/offline/push.py) ---------------------------------------------------------------
    def push(self, push_source_name: str, rows: Any, to: str = "online") -> PushResult:
        """Write `rows` to the views fed by a push source: "online", "offline" or "online_and_offline".

        >>> FeatureStore(".").push("driver_stats_push", [{"driver_id": 1001, "conv_rate": 0.6,
        ...     "event_timestamp": "2026-01-01T00:00:00Z"}])                        # doctest: +SKIP
        """
        from sqlfeast.offline.push import check_destination, push_rows

        check_destination(to)
        return push_rows(self.registry, push_source_name, rows, to,
                         online_store=self.online_store if to != "offline" else None,
                         warehouse=self.warehouse if to != "online" else None)

    def close(self) -> None:
        """Close the warehouse connection and the online store if they were opened.

        >>> FeatureStore(".").close()                                               # doctest: +SKIP
        """
        if "warehouse" in self.__dict__:
            self.warehouse.close()
        if "online_store" in self.__dict__:
            self.online_store.close()

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
