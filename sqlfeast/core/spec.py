"""Typed metadata of a feature project: what the registry stores.

These are plain dataclasses with a stable JSON form (``to_dict`` / ``from_dict``). They carry no
behaviour beyond lookups, so the online client can use them without the compiler's imports.

>>> fv = FeatureView(name="driver_hourly_stats", entities=["driver"], join_keys=["driver_id"],
...                  timestamp="event_timestamp", features=[Feature("conv_rate", "double")])
>>> fv.feature_names
['conv_rate']
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _as_dict(obj) -> dict[str, Any]:
    """Like dataclasses.asdict for these flat records, at a fraction of its cost: containers are
    copied one level deep (their items are plain strings and numbers)."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
    return out


def _build(cls, data: dict[str, Any]):
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Entity:
    name: str
    join_keys: list[str]
    description: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entity":
        return _build(cls, data)


@dataclass
class SourceTable:
    """One table of a dbt-style source; on DuckDB it may point at files."""

    source: str
    name: str
    database: str | None = None
    schema: str | None = None
    identifier: str | None = None
    external_location: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # column -> neutral type
    path: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.source}.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SourceTable":
        return _build(cls, data)


@dataclass
class Feature:
    name: str
    type: str  # neutral type text, e.g. "double", "array<bigint>"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Feature":
        return _build(cls, data)


@dataclass
class FeatureView:
    name: str
    entities: list[str]
    join_keys: list[str]
    timestamp: str
    features: list[Feature]
    created_timestamp: str | None = None
    ttl_seconds: int = 0
    online: bool = True
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    path: str = ""
    depends_on: list[str] = field(default_factory=list)  # models and sources, "model:x" / "source:a.b"
    sql: dict[str, str] = field(default_factory=dict)  # dialect -> self-contained compiled SELECT
    columns: dict[str, str] = field(default_factory=dict)  # every output column -> neutral type
    join_key_types: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # extra header keys the user added

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = _as_dict(self)
        data["features"] = [f.to_dict() for f in self.features]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureView":
        view = _build(cls, data)
        view.features = [Feature.from_dict(f) for f in data.get("features", [])]
        return view


@dataclass
class FeatureService:
    name: str
    features: list[str]  # "view:feature" or "view" (all of its features)
    description: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureService":
        return _build(cls, data)


@dataclass
class PushSource:
    name: str
    schema: dict[str, str]  # column -> neutral type
    feature_views: list[str]
    timestamp: str = "event_timestamp"
    description: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PushSource":
        return _build(cls, data)


@dataclass
class Model:
    """A plain (non feature view) model that feature views can ref()."""

    name: str
    path: str
    sql: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Model":
        return _build(cls, data)
