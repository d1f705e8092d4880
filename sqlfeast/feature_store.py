"""FeatureStore: the Python entry point to one project and one target.

Feast's keyword names and forms are accepted beside sqlfeast's own (``repo_path=``,
``materialize(start_date=, end_date=, feature_views=)``, ``push(name, df=, to=PushMode.ONLINE)``,
columnar entity rows, ``to_df()`` ...), so code written for Feast's FeatureStore runs as it is;
docs/feast.md lists them.

>>> fs = FeatureStore(".")                                     # doctest: +SKIP
>>> [v.name for v in fs.list_feature_views()]                 # doctest: +SKIP
['customer_profile', 'driver_hourly_stats']
"""

from __future__ import annotations

import os
from datetime import datetime
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Entity, FeatureService, FeatureView, PushSource, SourceTable
from sqlfeast.errors import PushError, SqlfeastError, UsageError, suggest
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


class PushMode(Enum):
    """Where push() writes, under Feast's names; push() also takes Feast's own PushMode and strings.

    >>> push_destination(PushMode.ONLINE_AND_OFFLINE)
    'online_and_offline'
    """

    ONLINE = 1
    OFFLINE = 2
    ONLINE_AND_OFFLINE = 3


def push_destination(to: Any) -> Any:
    """'online' | 'offline' | 'online_and_offline' from a string (any case) or a PushMode-like member.

    Anything else is returned as it is, for push() to refuse with its own message.

    >>> push_destination("ONLINE")
    'online'
    """
    name = getattr(to, "name", to)
    if isinstance(name, str) and name.lower() in ("online", "offline", "online_and_offline"):
        return name.lower()
    return to


def _alias(ours: Any, feasts: Any, our_name: str, feast_name: str) -> Any:
    """One value from a sqlfeast keyword and its Feast spelling; both at once is a usage error."""
    if ours is not None and feasts is not None:
        raise UsageError(f"pass '{our_name}' or '{feast_name}', not both")
    return feasts if ours is None else ours


def _tagged(objects: list, tags: dict[str, str] | None) -> list:
    """Objects carrying every tag in `tags` (Feast's filter); all of them without tags."""
    if not tags:
        return objects
    return [o for o in objects if all((getattr(o, "tags", None) or {}).get(k) == v for k, v in tags.items())]


def _rows_as_columns(df: Any) -> dict[str, list[Any]]:
    """A dict of columns from a pandas DataFrame, an Arrow table, a list of dicts or a dict."""
    if isinstance(df, dict):
        return {k: list(v) for k, v in df.items()}
    if type(df).__module__.split(".")[0] == "pandas":
        return {str(k): v for k, v in df.to_dict("list").items()}
    if hasattr(df, "to_pydict"):
        return df.to_pydict()
    if isinstance(df, list):
        names = list(dict.fromkeys(k for row in df for k in row))
        return {k: [row.get(k) for row in df] for k in names}
    raise UsageError(
        f"cannot write rows of type {type(df).__name__}",
        hint="pass a pandas DataFrame, a pyarrow Table, a dict of lists or a list of dicts",
    )


class FeatureStore:
    """One project and one target: registry, historical and online retrieval, materialize, push.

    `repo_path` is Feast's name for `project_dir`.

    >>> FeatureStore(repo_path=".").list_feature_views(tags={"team": "drivers"})   # doctest: +SKIP
    [FeatureView(name='driver_hourly_stats', ...)]
    """

    def __init__(
        self,
        project_dir: str | os.PathLike | None = None,
        target: str | None = None,
        profiles_dir: str | None = None,
        vars: dict[str, Any] | None = None,
        *,
        repo_path: str | os.PathLike | None = None,
    ):
        project_dir = _alias(project_dir, repo_path, "project_dir", "repo_path") or "."
        self.project: ProjectConfig = load_project(project_dir)
        self.target: Target = load_target(self.project, profiles_dir, target)
        self.vars = {**self.project.vars, **(vars or {})}
        self._registry: Registry | None = None
        self._project_registry: tuple[tuple, Registry] | None = None  # (files fingerprint, registry)

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
        from sqlfeast.compile.pipeline import load_macros, make_renderer

        if self.project.is_dbt:
            return make_renderer(self.project, self.target, self.vars)
        return load_macros(self.project).renderer(
            self.target.type, self.target.name, self.target.schema, self.project.name, self.vars
        )

    @cached_property
    def registry_store(self) -> "RegistryStore":
        """Where the applied registry is kept (a table in the warehouse, a local copy).

        >>> FeatureStore(".").registry_store.load()                                 # doctest: +SKIP
        """
        from sqlfeast.offline.state import LOCAL_COPY, RegistryStore

        return RegistryStore(self.warehouse, self.name, self.project.target_dir / LOCAL_COPY)

    def _offline(self, online: bool = False, registry: Registry | None = None) -> "OfflineContext":
        """The collaborators of the offline stage, for one call (`registry`: default the store's)."""
        from sqlfeast.offline.context import OfflineContext

        return OfflineContext(
            self.warehouse,
            self.renderer,
            registry or self.registry,
            self.registry_store,
            self.online_store if online else None,
            dict(self.target.settings or {}),
        )

    def online_problems(self) -> list[str]:
        """What is wrong between the applied registry, its online tables and the materialization
        watermarks (missing tables, watermarks of other tables); empty when all is well.

        >>> FeatureStore(".").online_problems()                                     # doctest: +SKIP
        []
        """
        from sqlfeast.offline.materialize import online_problems

        return online_problems(self._offline(online=True))

    # -- registry ----------------------------------------------------------------------------
    def compile(self, strict: bool = False, write: bool = True) -> Registry:
        """Render and validate every model; write target/compiled and target/registry.json.

        >>> registry = FeatureStore(".").compile(strict=True)                      # doctest: +SKIP
        >>> sorted(registry.feature_views)                                          # doctest: +SKIP
        ['driver_hourly_stats']
        """
        from sqlfeast.compile.pipeline import compile_project

        registry = compile_project(
            self.project,
            self.target,
            self.vars,
            strict=strict,
            warehouse=self.warehouse if strict or self.project.is_dbt else None,
            write=write,
            learn_from=lambda: self.warehouse,  # opened only for join keys of unknown type
        )
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

    def project_registry(self) -> Registry:
        """The project's definitions as its files are now: compiled (without writing target/),
        and compiled again only when a project file, a variable or the environment changed.
        Compile errors raise ValidationErrors naming file:line.

        >>> FeatureStore(".").project_registry().feature_views.keys()   # doctest: +SKIP
        dict_keys(['customer_profile', 'driver_hourly_stats'])
        """
        fingerprint = self._project_fingerprint()
        if self._project_registry is None or self._project_registry[0] != fingerprint:
            self._project_registry = (fingerprint, self.compile(write=False))
        return self._project_registry[1]

    def _project_fingerprint(self) -> tuple:
        files: list[tuple[str, int, int]] = []
        for folder in [*self.project.model_paths, *self.project.macro_paths, *self.project.feature_paths]:
            base = self.root / folder
            if base.is_dir():
                for path in sorted(base.rglob("*")):
                    if path.is_file():
                        st = path.stat()
                        files.append((str(path), st.st_mtime_ns, st.st_size))
        project_file = self.root / ("dbt_project.yml" if self.project.is_dbt else "sqlfeast_project.yml")
        project_stat = project_file.stat() if project_file.exists() else None
        return (
            tuple(files),
            project_stat and (project_stat.st_mtime_ns, project_stat.st_size),
            repr(sorted(self.vars.items())),
            hash(frozenset(os.environ.items())),
        )

    def applied_registry(self) -> Registry:
        """The registry `apply` recorded last; SqlfeastError when nothing was applied yet."""
        registry = self.registry_store.load()
        if registry is None:
            raise SqlfeastError(
                f"no applied registry for project '{self.name}' on target '{self.target.name}'",
                hint="run 'sqlfeast apply' first, or build from the project files",
            )
        return registry

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
        from sqlfeast.errors import RegistryUnreadableError

        try:
            applied = self.registry_store.load()
        except RegistryUnreadableError:  # nothing readable: applying records every object anew
            applied = None
        return diff(applied, registry)

    def apply(self, registry: Registry | None = None) -> Registry:
        """Set up online tables, then record the registry (the commit point) in the warehouse.

        >>> applied = FeatureStore(".").apply()                                     # doctest: +SKIP
        """
        from sqlfeast.offline.push import ensure_push_tables

        registry = registry or self.compile()
        self.online_store.apply(registry)
        applied = self.registry_store.apply(registry)
        # The snapshot stored above predates the version and time the warehouse assigned; store
        # the applied one, so servers report (GET /health) what is applied.
        self.online_store.save_registry(applied)
        self._registry = applied
        ensure_push_tables(self.warehouse, applied)  # views that union push_source() run before the first push
        return applied

    def list_entities(self, allow_cache: bool = True, tags: dict[str, str] | None = None) -> list[Entity]:
        """Every entity (with `tags`: those carrying all of them; entities carry none)."""
        return _tagged(list(self.registry.entities.values()), tags)

    def get_entity(self, name: str, allow_registry_cache: bool = True) -> Entity:
        """One entity by name."""
        try:
            return self.registry.entities[name]
        except KeyError:
            raise SqlfeastError(f"unknown entity '{name}'", hint=suggest(name, self.registry.entities)) from None

    def list_feature_views(self, allow_cache: bool = True, tags: dict[str, str] | None = None) -> list[FeatureView]:
        """Every feature view, or those whose tags include all of `tags`."""
        return _tagged(list(self.registry.feature_views.values()), tags)

    def get_feature_view(self, name: str, allow_registry_cache: bool = True) -> FeatureView:
        return self.registry.get_feature_view(name)

    def list_feature_services(
        self, allow_cache: bool = True, tags: dict[str, str] | None = None
    ) -> list[FeatureService]:
        """Every feature service, or those whose tags include all of `tags`."""
        return _tagged(list(self.registry.feature_services.values()), tags)

    def get_feature_service(self, name: str, allow_cache: bool = True) -> FeatureService:
        try:
            return self.registry.feature_services[name]
        except KeyError:
            raise SqlfeastError(f"unknown feature service '{name}'") from None

    def list_data_sources(
        self, allow_cache: bool = True, tags: dict[str, str] | None = None
    ) -> list[SourceTable | PushSource]:
        """The source tables declared in models/ and the push sources (Feast's data sources)."""
        return _tagged([*self.registry.sources.values(), *self.registry.push_sources.values()], tags)

    def get_data_source(self, name: str) -> SourceTable | PushSource:
        """A data source by name: 'source.table', a table name used by one source, or a push source."""
        registry = self.registry
        if name in registry.push_sources:
            return registry.push_sources[name]
        if name in registry.sources:
            return registry.sources[name]
        matches = [t for t in registry.sources.values() if t.name == name]
        if len(matches) == 1:
            return matches[0]
        names = [*registry.sources, *registry.push_sources]
        if matches:
            raise SqlfeastError(
                f"data source name '{name}' is ambiguous",
                hint="use one of " + ", ".join(t.qualified_name for t in matches),
            )
        raise SqlfeastError(f"unknown data source '{name}'", hint=suggest(name, names))

    # -- historical retrieval (sqlfeast/offline/historical.py) -----------------------------------------
    def get_historical_features(
        self, entity_df: Any, features: Any, full_feature_names: bool = False, registry: str = "project", **options: Any
    ) -> RetrievalJob:
        """Point-in-time correct training rows; returns a job with to_arrow()/to_pandas()/....

        Feature definitions come from the project files as they are now (``registry="project"``,
        the default: an edited model is used without `apply`), or from the applied registry
        (``registry="applied"``). Online reads and serving always use the applied registry.

        >>> job = FeatureStore(".").get_historical_features(
        ...     "select 1001 as driver_id, timestamp '2026-01-01' as event_timestamp",
        ...     ["driver_hourly_stats:conv_rate"], registry="applied")              # doctest: +SKIP
        >>> job.to_arrow().column_names                                             # doctest: +SKIP
        ['driver_id', 'event_timestamp', 'conv_rate']
        """
        from sqlfeast.errors import UsageError
        from sqlfeast.offline.historical import get_historical_features
        from sqlfeast.online.client import feature_names_of

        features = feature_names_of(features)

        if registry == "project":
            chosen = self.project_registry()
        elif registry == "applied":
            chosen = self.applied_registry()
        else:
            raise UsageError(f"registry must be 'project' or 'applied', not {registry!r}")
        return get_historical_features(
            self._offline(registry=chosen), entity_df, features, full_feature_names=full_feature_names, **options
        )

    # -- online path (sqlfeast/online/, sqlfeast/offline/materialize.py) -------------------------------
    @cached_property
    def online_store(self) -> OnlineStore:
        """The target's online store, opened on first use.

        >>> FeatureStore(".").online_store.project                                  # doctest: +SKIP
        'driver_stats'
        """
        from sqlfeast.online import open_online_store

        return open_online_store(
            self.target.online_store,
            project=self.name,
            root=self.root,
            table_template=self.project.online_table_template,
        )

    def materialize(
        self,
        start: Any = None,
        end: Any = None,
        views: list[str] | None = None,
        *,
        start_date: Any = None,
        end_date: Any = None,
        feature_views: list[str] | None = None,
        disable_event_timestamp: bool = False,
        full_feature_names: bool = False,
        version: str | None = None,
        **options: Any,
    ) -> list[ViewResult]:
        """Latest rows in [start, end) of the online views (all, or `views`) into the online store.

        Feast's names work too: ``materialize(start_date=..., end_date=..., feature_views=[...])``.

        Example::

            results = store.materialize("2021-04-01", "2021-04-13", views=["driver_hourly_stats"])
            print(results[0].written)
        """
        from sqlfeast.offline.materialize import materialize

        start = _alias(start, start_date, "start", "start_date")
        end = _alias(end, end_date, "end", "end_date")
        views = _alias(views, feature_views, "views", "feature_views")
        if start is None or end is None:
            raise UsageError("materialize needs a start and an end (start_date= / end_date=)")
        self._feast_job_options(disable_event_timestamp, version)
        return materialize(self._offline(online=True), start, end, views=views, **options)

    def materialize_incremental(
        self,
        end: Any = None,
        views: list[str] | None = None,
        *,
        end_date: Any = None,
        feature_views: list[str] | None = None,
        full_feature_names: bool = False,
        version: str | None = None,
        **options: Any,
    ) -> list[ViewResult]:
        """Each online view from where it stopped up to `end` (Feast: end_date=, feature_views=).

        Example::

            store.materialize_incremental("now")  # every online view, from its watermark to now
        """
        from sqlfeast.offline.materialize import materialize_incremental

        end = _alias(end, end_date, "end", "end_date")
        views = _alias(views, feature_views, "views", "feature_views")
        if end is None:
            raise UsageError("materialize_incremental needs an end (end_date=)")
        self._feast_job_options(False, version)
        return materialize_incremental(self._offline(online=True), end, views=views, **options)

    @staticmethod
    def _feast_job_options(disable_event_timestamp: bool, version: str | None) -> None:
        if disable_event_timestamp:
            raise UsageError("disable_event_timestamp=True is not supported: online rows keep their event time")
        if version is not None:
            raise UsageError("version= is not supported: feature views are not versioned")

    def get_online_features(
        self,
        features: Any,
        entity_rows: Any,
        full_feature_names: bool = False,
        include_feature_view_version_metadata: bool = False,
        *,
        request_time: datetime | None = None,
    ) -> OnlineResponse:
        """Latest values for entity rows: a list of dicts or Feast's columnar {"key": [v1, v2]}.
        Aggregation views combine their tiles for the windows ending at `request_time` (default now).

        Example::

            store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}]).to_dict()
        """
        from sqlfeast.online.client import OnlineClient

        client = OnlineClient(self.online_store, self.registry)
        return client.get_online_features(
            features, entity_rows, full_feature_names=full_feature_names, request_time=request_time
        )

    async def get_online_features_async(
        self,
        features: Any,
        entity_rows: Any,
        full_feature_names: bool = False,
        include_feature_view_version_metadata: bool = False,
    ) -> OnlineResponse:
        """get_online_features for asyncio code: the read runs in a worker thread.

        Example::

            response = await store.get_online_features_async(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}])
        """
        import asyncio

        return await asyncio.to_thread(self.get_online_features, features, entity_rows, full_feature_names)

    def write_to_online_store(
        self,
        feature_view_name: str,
        df: Any = None,
        inputs: Any = None,
        allow_registry_cache: bool = True,
        transform_on_write: bool = True,
    ) -> dict[str, int]:
        """Write rows of one feature view straight to the online store (newer wins).

        The rows hold the join keys, the view's timestamp (or ``event_timestamp``), its created
        column if it has one, and every feature. Returns {"written": n, "skipped": m}.
        """
        from sqlfeast.serving.feast import write_rows

        rows = _alias(df, inputs, "df", "inputs")
        if rows is None:
            raise UsageError("write_to_online_store needs the rows (df=)")
        try:
            return write_rows(self.registry, self.online_store, feature_view_name, _rows_as_columns(rows))
        except PushError as err:
            raise UsageError(err.message.replace("push source", "feature view"), hint=err.hint) from None

    # -- push (sqlfeast/offline/push.py) ---------------------------------------------------------------
    def push(
        self,
        push_source_name: str,
        rows: Any = None,
        to: Any = "online",
        *,
        df: Any = None,
        allow_registry_cache: bool = True,
        transform_on_write: bool = True,
    ) -> PushResult:
        """Rows of a push source online, offline or both; `to` is a string or a PushMode.

        Feast's form works: ``push("driver_stats_push", df=frame, to=PushMode.ONLINE)``.
        """
        from sqlfeast.offline.push import check_destination, push_rows

        rows = _alias(rows, df, "rows", "df")
        if rows is None:
            raise UsageError("push needs the rows (df=)")
        to = push_destination(to)
        check_destination(to)
        return push_rows(
            self.registry,
            push_source_name,
            rows,
            to,
            online_store=self.online_store if to != "offline" else None,
            warehouse=self.warehouse if to != "online" else None,
        )

    def teardown(self) -> list[str]:
        """Remove the project's online tables and the registry snapshot stored with them."""
        return self.online_store.teardown(self.registry)

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
