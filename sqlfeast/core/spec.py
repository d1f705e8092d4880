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
from typing import Any, TypeVar

R = TypeVar("R", bound="Record")


def _as_dict(obj: Any) -> dict[str, Any]:
    """Like dataclasses.asdict for these flat records, at a fraction of its cost: containers are
    copied one level deep (their items are plain strings and numbers)."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
    return out


class Record:
    """The JSON form of a flat dataclass: ``to_dict`` and ``from_dict`` (unknown keys ignored, so
    a registry written by a newer version still loads).

    >>> Feature.from_dict({"name": "x", "type": "double", "added_later": 1}).to_dict()
    {'name': 'x', 'type': 'double', 'description': ''}
    """

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self)

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # subclasses are dataclasses
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Entity(Record):
    name: str
    join_keys: list[str]
    description: str = ""
    path: str = ""
    # join key -> neutral type declared by the entity's ``value_type`` (used where the SQL and the
    # warehouse cannot tell the key's type)
    join_key_types: dict[str, str] = field(default_factory=dict)


@dataclass
class SourceTable(Record):
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


@dataclass
class Feature(Record):
    name: str
    type: str  # neutral type text, e.g. "double", "array<bigint>"
    description: str = ""


@dataclass
class Aggregation(Record):
    """One windowed aggregate of an aggregation view: `function` of `column` over the rows with
    ``t - window <= ts <= t`` for each request time t. `type` is the output type."""

    name: str
    function: str  # count, sum, avg, min, max, stddev, last, count_distinct
    window_seconds: int
    column: str | None = None  # None: count of rows
    type: str = "unknown"
    description: str = ""


@dataclass
class DataTest(Record):
    """A data test declared on a feature view: what must hold of its rows in the warehouse.

    `kind` is one of :data:`DATA_TEST_KINDS`; `column` is None for a view-level test (unique on
    join keys and timestamp, freshness, row_count). `config` holds the test's arguments: `values`,
    `min`/`max`, `columns`, `warn_after`/`error_after` (seconds).

    >>> DataTest("accepted_range", "conv_rate", {"min": 0, "max": 1}).id
    'accepted_range(conv_rate)'
    """

    kind: str
    column: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"  # "error" | "warn"
    path: str = ""
    line: int | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}({self.column})" if self.column else self.kind


DATA_TEST_KINDS = ("not_null", "accepted_values", "accepted_range", "unique", "freshness", "row_count")


@dataclass
class FeatureView(Record):
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
    tests: list[DataTest] = field(default_factory=list)  # data tests (header or models/ YAML)
    # An aggregation view has one Aggregation per feature (same names and types) and a tile size.
    aggregations: list[Aggregation] = field(default_factory=list)
    granularity_seconds: int = 0

    @property
    def is_aggregation(self) -> bool:
        """True for a view of windowed aggregates (``aggregations:`` in its header)."""
        return bool(self.aggregations)

    def aggregation(self, name: str) -> Aggregation | None:
        return next((a for a in self.aggregations if a.name == name), None)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = _as_dict(self)
        data["features"] = [f.to_dict() for f in self.features]
        data["aggregations"] = [a.to_dict() for a in self.aggregations]
        if not self.aggregations:  # plain views keep the JSON (and content hash) they had
            del data["aggregations"], data["granularity_seconds"]
        if self.tests:
            data["tests"] = [t.to_dict() for t in self.tests]
        else:  # a view without tests keeps the registry form (and content hash) it had before tests
            del data["tests"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureView":
        view = super().from_dict(data)
        view.features = [Feature.from_dict(f) for f in data.get("features", [])]
        view.aggregations = [Aggregation.from_dict(a) for a in data.get("aggregations", [])]
        view.tests = [DataTest.from_dict(t) for t in data.get("tests", [])]
        return view


@dataclass
class FeatureService(Record):
    name: str
    features: list[str]  # "view:feature" or "view" (all of its features)
    description: str = ""
    path: str = ""


@dataclass
class PushSource(Record):
    name: str
    schema: dict[str, str]  # column -> neutral type
    feature_views: list[str]
    timestamp: str = "event_timestamp"
    description: str = ""
    path: str = ""


@dataclass
class Model(Record):
    """A plain (non feature view) model that feature views can ref()."""

    name: str
    path: str
    sql: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
