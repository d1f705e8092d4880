"""FeatureStore: the Python entry point to one project and one target.

>>> fs = FeatureStore(".")                                     # doctest: +SKIP
>>> [v.name for v in fs.list_feature_views()]                 # doctest: +SKIP
['customer_profile', 'driver_hourly_stats']
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlfeast.project.config import ProjectConfig, Target, load_project, load_target
from sqlfeast.errors import SqlfeastError
from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Entity, FeatureService, FeatureView


class FeatureStore:
    def __init__(self, project_dir: str | os.PathLike = ".", target: str | None = None,
                 profiles_dir: str | None = None, vars: dict[str, Any] | None = None):
        self.project: ProjectConfig = load_project(project_dir)
        self.target: Target = load_target(self.project, profiles_dir, target)
        self.vars = {**self.project.vars, **(vars or {})}
        self._registry: Registry | None = None

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def name(self) -> str:
        return self.project.name

    # -- parts, created on first use ---------------------------------------------------------
    @cached_property
    def warehouse(self):
        from sqlfeast.warehouse import connect

        return connect(self.target, self.root)

    @cached_property
    def renderer(self):
        """Macros with dispatch for this target (project macros override built-ins)."""
        from sqlfeast.compile.pipeline import load_macros

        return load_macros(self.project).renderer(self.target.type, self.target.name, self.target.schema,
                                                  self.project.name, self.vars)

    @cached_property
    def registry_store(self):
        from sqlfeast.offline.state import RegistryStore

        return RegistryStore(self)

    # -- registry ----------------------------------------------------------------------------
    def compile(self, strict: bool = False, write: bool = True) -> Registry:
        """Render and validate every model; write target/compiled and target/registry.json."""
        from sqlfeast.compile.pipeline import compile_project

        registry = compile_project(self.project, self.target, self.vars, strict=strict,
                                   warehouse=self.warehouse if strict else None, write=write)
        return registry

    @property
    def registry(self) -> Registry:
        """The applied registry when there is one, else the project compiled now."""
        if self._registry is None:
            self._registry = self.registry_store.load() or self.compile(write=False)
        return self._registry

    def refresh_registry(self) -> Registry:
        self._registry = None
        return self.registry

    def plan(self) -> list:
        """What apply would change: a list of registry.Change."""
        return self.plan_against(self.compile())

    def plan_against(self, registry: Registry) -> list:
        from sqlfeast.core.registry import diff

        return diff(self.registry_store.load(), registry)

    def apply(self, registry: Registry | None = None) -> Registry:
        """Set up online tables, then record the registry (the commit point) in the warehouse."""
        from sqlfeast.offline.push import ensure_push_tables

        registry = registry or self.compile()
        self.online_store.apply(registry)
        applied = self.registry_store.apply(registry)
        self._registry = applied
        ensure_push_tables(self)  # views that union push_source() run before the first push
        return applied

    def list_entities(self) -> list[Entity]:
        return list(self.registry.entities.values())

    def list_feature_views(self) -> list[FeatureView]:
        return list(self.registry.feature_views.values())

    def get_feature_view(self, name: str) -> FeatureView:
        return self.registry.get_feature_view(name)

    def list_feature_services(self) -> list[FeatureService]:
        return list(self.registry.feature_services.values())

    def get_feature_service(self, name: str) -> FeatureService:
        try:
            return self.registry.feature_services[name]
        except KeyError:
            raise SqlfeastError(f"unknown feature service '{name}'") from None

    # -- historical retrieval (sqlfeast/offline/historical.py) -----------------------------------------
    def get_historical_features(self, entity_df: Any, features: str | list[str],
                                full_feature_names: bool = False, **options: Any):
        """Point-in-time correct training rows; returns a job with to_arrow()/to_pandas()/...."""
        from sqlfeast.offline.historical import get_historical_features

        return get_historical_features(self, entity_df, features, full_feature_names=full_feature_names,
                                       **options)

    # -- online path (sqlfeast/online/, sqlfeast/offline/materialize.py) -------------------------------
    @cached_property
    def online_store(self):
        from sqlfeast.online import open_online_store

        return open_online_store(self.target.online_store, project=self.name, root=self.root,
                                 table_template=self.project.online_table_template)

    def materialize(self, start: Any, end: Any, views: list[str] | None = None, **options: Any):
        from sqlfeast.offline.materialize import materialize

        return materialize(self, start, end, views=views, **options)

    def materialize_incremental(self, end: Any, views: list[str] | None = None, **options: Any):
        from sqlfeast.offline.materialize import materialize_incremental

        return materialize_incremental(self, end, views=views, **options)

    def get_online_features(self, features: str | list[str], entity_rows: list[dict[str, Any]],
                            full_feature_names: bool = False):
        from sqlfeast.online.client import OnlineClient

        client = OnlineClient(self.online_store, self.registry)
        return client.get_online_features(features, entity_rows, full_feature_names=full_feature_names)

    # -- push (sqlfeast/offline/push.py) ---------------------------------------------------------------
    def push(self, push_source_name: str, rows: Any, to: str = "online"):
        from sqlfeast.offline.push import push

        return push(self, push_source_name, rows, to=to)

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.close()
        if "online_store" in self.__dict__:
            self.online_store.close()

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
