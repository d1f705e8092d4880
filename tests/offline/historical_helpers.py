"""Shared pieces of the historical retrieval tests: a store over real warehouses, and the oracle.

The oracle is the definition of point-in-time correctness written as plainly as possible in
Python: for every entity row and view, scan every feature row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sqlfeast.compile.templating import MacroLibrary
from sqlfeast.core.registry import Registry
from sqlfeast.core.spec import Feature, FeatureService, FeatureView
from sqlfeast.project.config import Target
from sqlfeast.warehouse import connect
from sqlfeast.warehouse.base import quote

UTC = dt.UTC


@dataclass
class Store:
    """A registry, a warehouse and its target, without a project on disk: builds the
    OfflineContext that sqlfeast.offline.historical takes."""

    registry: Registry
    warehouse: Any
    target: Target
    renderer: Any = None

    def __post_init__(self):
        if self.renderer is None:
            self.renderer = MacroLibrary.builtin().renderer(self.target.type)

    def get_historical_features(self, entity_df, features, full_feature_names=False, **options):
        from sqlfeast.offline.context import OfflineContext
        from sqlfeast.offline.historical import get_historical_features

        ctx = OfflineContext(self.warehouse, self.renderer, self.registry, settings=dict(self.target.settings))
        return get_historical_features(ctx, entity_df, features, full_feature_names=full_feature_names, **options)


def duckdb_target(**settings) -> Target:
    return Target(
        profile="t",
        name="dev",
        type="duckdb",
        schema="main",
        settings={"path": ":memory:", **settings},
        online_store={},
        path="profiles.yml",
    )


def snowflake_target(**settings) -> Target:
    base = {"account": "fake", "user": "u", "password": "p", "database": "DB", "schema": "PUBLIC"}
    return Target(
        profile="t",
        name="sf",
        type="snowflake",
        schema="PUBLIC",
        settings={**base, **settings},
        online_store={},
        path="profiles.yml",
    )


@dataclass
class ViewData:
    """A feature view and its rows (a list of dicts)."""

    name: str
    keys: list[str]
    features: list[str]
    rows: list[dict]
    ttl_seconds: int = 0
    created: bool = True
    types: dict[str, pa.DataType] = field(default_factory=dict)

    def arrow(self) -> pa.Table:
        cols = self.keys + ["event_timestamp"] + (["created"] if self.created else []) + self.features
        schema = pa.schema(
            [
                (
                    c,
                    self.types.get(
                        c,
                        pa.int64()
                        if c in self.keys
                        else pa.timestamp("us")
                        if c in ("event_timestamp", "created")
                        else pa.float64(),
                    ),
                )
                for c in cols
            ]
        )
        return pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in self.rows], schema=schema)

    def spec(self, sql: dict[str, str]) -> FeatureView:
        return FeatureView(
            name=self.name,
            entities=[f"e_{k}" for k in self.keys],
            join_keys=list(self.keys),
            timestamp="event_timestamp",
            created_timestamp="created" if self.created else None,
            features=[Feature(f, "double") for f in self.features],
            ttl_seconds=self.ttl_seconds,
            sql=sql,
        )


def registry_for(
    views: list[ViewData], sql: dict[str, dict[str, str]], services: dict[str, list[str]] | None = None
) -> Registry:
    reg = Registry(project="t")
    for v in views:
        reg.feature_views[v.name] = v.spec(sql[v.name])
    for name, feats in (services or {}).items():
        reg.feature_services[name] = FeatureService(name, feats)
    return reg


def duckdb_store(views: list[ViewData], services=None, tmp: Path | None = None, **settings) -> Store:
    """Feature rows as DuckDB tables; views select from them."""
    wh = connect(duckdb_target(**settings), tmp or Path("."))
    sql = {}
    for v in views:
        table = v.arrow()
        wh.con.register("__src", table)
        wh.con.execute(f'create or replace table {quote("src_" + v.name)} as select * from "__src"')
        wh.con.unregister("__src")
        sql[v.name] = {"duckdb": f"select * from {quote('src_' + v.name)}"}
    return Store(registry_for(views, sql, services), wh, wh.target)


def snowflake_store(views: list[ViewData], services=None, **settings) -> Store:
    """Feature rows uploaded through the Snowflake connector (run under fakesnow.patch())."""
    wh = connect(snowflake_target(**settings), Path("."))
    wh.execute("create database if not exists DB")
    wh.execute("use database DB")
    wh.execute("create schema if not exists DB.PUBLIC")
    wh.execute("use schema DB.PUBLIC")
    sql = {}
    for v in views:
        from snowflake.connector.pandas_tools import write_pandas

        write_pandas(
            wh.con,
            v.arrow().to_pandas(),
            f"SRC_{v.name.upper()}",
            auto_create_table=True,
            quote_identifiers=False,
            overwrite=True,
            use_logical_type=True,
        )
        sql[v.name] = {"snowflake": f"select * from SRC_{v.name.upper()}"}
    return Store(registry_for(views, sql, services), wh, wh.target)


# -- the oracle ----------------------------------------------------------------------------------
def _naive_utc(value):
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def oracle(
    entity_rows: list[dict],
    views: list[tuple[ViewData, dict[str, str], str | None]],
    ts_column: str = "event_timestamp",
    full_feature_names: bool = False,
    filter_by_created: bool = False,
) -> list[dict]:
    """views: (data, key mapping view key -> entity column, alias). Returns full output rows."""
    out = []
    for erow in entity_rows:
        result = dict(erow)
        t = _naive_utc(erow[ts_column])
        for data, mapping, alias in views:
            best = None
            for frow in data.rows:
                if t is None or any(
                    erow[mapping.get(k, k)] is None or frow[k] is None or frow[k] != erow[mapping.get(k, k)]
                    for k in data.keys
                ):
                    continue
                fts = _naive_utc(frow["event_timestamp"])
                if fts is None or fts > t:
                    continue
                if data.ttl_seconds > 0 and fts < t - dt.timedelta(seconds=data.ttl_seconds):
                    continue
                created = _naive_utc(frow.get("created")) if data.created else None
                if filter_by_created and data.created and (created is None or created > t):
                    continue
                # The one total order: ts, then created (a missing one last), then every feature
                # in declared order, greater first, NULL above every value.
                rank = (
                    fts,
                    created is not None,
                    created or dt.datetime.min,
                    *[(1, 0) if frow.get(f) is None else (0, frow[f]) for f in data.features],
                )
                if best is None or rank > best[0]:
                    best = (rank, frow)
            label = alias or data.name
            for f in data.features:
                result[f"{label}__{f}" if full_feature_names else f] = best[1][f] if best else None
        out.append(result)
    return out
