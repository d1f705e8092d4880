"""The registry: a versioned, self-describing JSON document of one project.

It holds entities, sources, models, feature views (with compiled SQL per dialect), feature
services and push sources, a content hash over all of them, and, once applied, when it was
applied. ``diff`` compares two registries for ``sqlfeast plan``.

>>> reg = Registry(project="demo")
>>> Registry.from_json(reg.to_json()).project
'demo'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlfeast.core.refs import parse_feature_ref
from sqlfeast.core.spec import Entity, FeatureService, FeatureView, Model, PushSource, SourceTable
from sqlfeast.errors import RetrievalError, suggest

SCHEMA_VERSION = 1


@dataclass
class Registry:
    project: str
    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[str, SourceTable] = field(default_factory=dict)  # "source.table" -> table
    models: dict[str, Model] = field(default_factory=dict)
    feature_views: dict[str, FeatureView] = field(default_factory=dict)
    feature_services: dict[str, FeatureService] = field(default_factory=dict)
    push_sources: dict[str, PushSource] = field(default_factory=dict)
    applied_at: str | None = None
    version: int | None = None
    # Incremental materialization state: view -> ISO timestamp of the last materialized end.
    materialized: dict[str, str] = field(default_factory=dict)

    # -- serialization -------------------------------------------------------------------------
    def content(self) -> dict[str, Any]:
        """The hashed part: everything the user wrote, nothing about when it was applied."""
        return {
            "schema_version": SCHEMA_VERSION,
            "project": self.project,
            "entities": {k: v.to_dict() for k, v in sorted(self.entities.items())},
            "sources": {k: v.to_dict() for k, v in sorted(self.sources.items())},
            "models": {k: v.to_dict() for k, v in sorted(self.models.items())},
            "feature_views": {k: v.to_dict() for k, v in sorted(self.feature_views.items())},
            "feature_services": {k: v.to_dict() for k, v in sorted(self.feature_services.items())},
            "push_sources": {k: v.to_dict() for k, v in sorted(self.push_sources.items())},
        }

    @property
    def content_hash(self) -> str:
        return _hash(self.content())

    def to_dict(self) -> dict[str, Any]:
        data = self.content()
        data["content_hash"] = _hash(data)  # the same content, built once
        data["applied_at"] = self.applied_at
        data["version"] = self.version
        data["materialized"] = dict(sorted(self.materialized.items()))
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Registry":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"registry schema version {version!r} is not supported "
                f"(this sqlfeast reads version {SCHEMA_VERSION}); run 'sqlfeast apply' again"
            )
        return cls(
            project=data["project"],
            entities={k: Entity.from_dict(v) for k, v in data.get("entities", {}).items()},
            sources={k: SourceTable.from_dict(v) for k, v in data.get("sources", {}).items()},
            models={k: Model.from_dict(v) for k, v in data.get("models", {}).items()},
            feature_views={k: FeatureView.from_dict(v) for k, v in data.get("feature_views", {}).items()},
            feature_services={k: FeatureService.from_dict(v) for k, v in data.get("feature_services", {}).items()},
            push_sources={k: PushSource.from_dict(v) for k, v in data.get("push_sources", {}).items()},
            applied_at=data.get("applied_at"),
            version=data.get("version"),
            materialized=dict(data.get("materialized") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> "Registry":
        """A registry from its JSON document; ValueError when the text is not one.

        >>> Registry.from_json("[]")
        Traceback (most recent call last):
        ...
        ValueError: not a registry document: a JSON list, not an object
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"not a registry document: a JSON {_json_kind(data)}, not an object")
        try:
            return cls.from_dict(data)
        except (TypeError, KeyError, AttributeError, IndexError) as err:
            raise ValueError(f"not a registry document: {type(err).__name__}: {err}") from None

    # -- lookups -------------------------------------------------------------------------------
    def get_feature_view(self, name: str) -> FeatureView:
        try:
            return self.feature_views[name]
        except KeyError:
            hint = suggest(name, self.feature_views)
            raise RetrievalError(f"unknown feature view '{name}'", hint=hint) from None

    def resolve_features(self, features: str | list[str]) -> list[tuple[str, str]]:
        """Expand feature references into (view, feature) pairs, in request order.

        Accepts a feature service name, or a list of "view:feature" / "view" (all features).
        """
        if isinstance(features, str):
            if features in self.feature_services:
                refs = self.feature_services[features].features
            elif ":" in features or "[" in features:
                refs = [features]
            else:
                hint = suggest(features, list(self.feature_services) + list(self.feature_views))
                raise RetrievalError(f"unknown feature service '{features}'", hint=hint)
        else:
            refs = list(features)
        if not refs:
            raise RetrievalError("no features requested; pass 'view:feature' names or a feature service")
        out: list[tuple[str, str]] = []
        for text in refs:
            ref = parse_feature_ref(text)
            if ref.alias or ref.key_map:
                raise RetrievalError(
                    f"feature reference {text!r} maps join keys, which only historical retrieval does",
                    hint=f"name the entity columns after the join keys of '{ref.view}' and drop the [...] part",
                )
            view_name, feature_name = ref.view, ref.feature
            view = self.get_feature_view(view_name)
            if not feature_name:
                out.extend((view.name, f) for f in view.feature_names)
                continue
            if view.feature(feature_name) is None:
                hint = suggest(feature_name, view.feature_names)
                raise RetrievalError(f"feature view '{view.name}' has no feature '{feature_name}'", hint=hint)
            out.append((view.name, feature_name))
        return out


def _hash(content: dict[str, Any]) -> str:
    blob = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


# -- diff ----------------------------------------------------------------------------------------
@dataclass
class Change:
    kind: str  # "entity", "feature_view", ...
    name: str
    action: str  # "added" | "changed" | "removed"
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        sign = {"added": "+", "changed": "~", "removed": "-"}[self.action]
        detail = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"  {sign} {self.kind.replace('_', ' ')} {self.name}{detail}"


def diff(old: Registry | None, new: Registry) -> list[Change]:
    """What `apply` would change: added, changed (with the changed fields) and removed objects."""
    old_content = old.content() if old else {}
    new_content = new.content()
    changes: list[Change] = []
    for kind in ("entities", "sources", "models", "feature_views", "feature_services", "push_sources"):
        before, after = old_content.get(kind, {}), new_content[kind]
        singular = {"entities": "entity", "sources": "source"}.get(kind, kind[:-1])
        for name in sorted(after.keys() - before.keys()):
            changes.append(Change(singular, name, "added"))
        for name in sorted(before.keys() & after.keys()):
            changed = sorted(
                k
                for k in after[name].keys() | before[name].keys()
                if after[name].get(k) != before[name].get(k) and k != "path"
            )
            if changed:
                changes.append(Change(singular, name, "changed", changed))
        for name in sorted(before.keys() - after.keys()):
            changes.append(Change(singular, name, "removed"))
    return changes


def _json_kind(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "null")
