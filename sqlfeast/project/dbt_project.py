"""A dbt project as a sqlfeast project: dbt_project.yml, its packages, and dbt's relation names.

A folder with dbt_project.yml needs no other file. dbt's paths, vars, profile and
packages-install-path are taken from it; every other dbt key is accepted and left to dbt.
sqlfeast's own settings live under ``vars: {sqlfeast: {...}}``, which dbt allows and ignores::

    vars:
      sqlfeast:
        schema: analytics_features        # where sqlfeast writes (default: <profile schema>_sqlfeast)
        feature-paths: [features]          # feature views and their YAML (default: features)
        online-table-template: "{project}.{view}"
        renderer: auto                     # auto (dbt where installed), dbt, or sqlfeast
        dbt-executable: ../dbt-venv/bin/dbt   # optional: a dbt in a virtualenv of its own

Models of the project that are not feature views are dbt's: a ``ref()`` to them (and to seeds)
means the relation dbt builds, ``database.schema.alias``. Names come from ``target/manifest.json``
when dbt has written one (so every override dbt knows is honoured), else they are worked out the
way dbt does: ``+schema`` per folder in dbt_project.yml, ``config(schema=, alias=)`` in the model,
``config:`` in YAML, and the project's own ``generate_schema_name`` / ``generate_alias_name``.

>>> default_schema_name("main", None), default_schema_name("main", "staging")
('main', 'main_staging')
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlfeast.core.naming import NAME
from sqlfeast.errors import ConfigError, Location, suggest
from sqlfeast.project.envvars import MissingEnvVar, env_var_value
from sqlfeast.project.yamlfile import LineDict, line_of, load_yaml

SQLFEAST_VARS = "sqlfeast"
SQLFEAST_KEYS = ("schema", "feature-paths", "online-table-template", "renderer", "dbt-executable")
RENDERERS = ("auto", "dbt", "sqlfeast")
_JINJA = re.compile(r"{{|{%")
DBT_PROJECT_FILE = "dbt_project.yml"
ProjectConfig = Any  # sqlfeast.project.config.ProjectConfig (which imports this module)


def _render_value(value: Any, rel: str, line: int | None) -> Any:
    """dbt renders env_var() in dbt_project.yml; strings without Jinja are returned as they are."""
    if not isinstance(value, str) or not _JINJA.search(value):
        return value
    import jinja2

    try:
        return (
            jinja2.Environment(undefined=jinja2.StrictUndefined)
            .from_string(value)
            .render(env_var=env_var_value, var=lambda name, default=None: default)
        )
    except MissingEnvVar as err:
        raise ConfigError(
            f"environment variable '{err.name}' is not set",
            Location(rel, line),
            hint=f"export {err.name}=... or give env_var('{err.name}', 'default')",
        ) from None
    except jinja2.TemplateError as err:
        raise ConfigError(f"cannot render {value!r}: {err}", Location(rel, line)) from None


def _paths(data: dict, key: str, default: list[str], rel: str, *old: str) -> list[str]:
    for name in (key, *old):
        if name in data:
            value = data[name]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"'{name}' must be a list of folders", Location(rel, line_of(data, name)))
            return [str(_render_value(v, rel, line_of(data, name))) for v in value]
    return list(default)


def load_dbt_project(root: Path) -> dict[str, Any]:
    """Read dbt_project.yml at `root`: the fields of a ProjectConfig of kind "dbt"."""
    rel = DBT_PROJECT_FILE
    data = load_yaml((root / rel).read_text(), rel) or {}
    if not isinstance(data, dict):
        raise ConfigError("dbt_project.yml must be a mapping", Location(rel, 1))
    name = _render_value(data.get("name"), rel, line_of(data, "name", 1))
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            "project 'name' must be an identifier (letters, digits, underscore)",
            Location(rel, line_of(data, "name", 1)),
        )
    raw_vars = data.get("vars") or {}
    if not isinstance(raw_vars, dict):
        raise ConfigError("'vars' must be a mapping", Location(rel, line_of(data, "vars")))
    ours = raw_vars.get(SQLFEAST_VARS) or {}
    if not isinstance(ours, dict):
        raise ConfigError(f"vars.{SQLFEAST_VARS} must be a mapping", Location(rel, line_of(raw_vars, SQLFEAST_VARS)))
    for key in ours:
        if key not in SQLFEAST_KEYS:
            raise ConfigError(
                f"unknown key '{key}' in vars.{SQLFEAST_VARS}",
                Location(rel, line_of(ours, key)),
                hint=suggest(key, SQLFEAST_KEYS) or f"known keys: {', '.join(SQLFEAST_KEYS)}",
            )
    vars_ = project_vars(raw_vars, name)
    schema = ours.get("schema")
    if schema is not None and (not isinstance(schema, str) or not schema):
        raise ConfigError(f"vars.{SQLFEAST_VARS}.schema must be a schema name", Location(rel, line_of(ours, "schema")))
    renderer = ours.get("renderer", "auto")
    if renderer not in RENDERERS:
        raise ConfigError(
            f"vars.{SQLFEAST_VARS}.renderer must be one of {', '.join(RENDERERS)}",
            Location(rel, line_of(ours, "renderer")),
            hint="auto renders with dbt where it is installed, else with sqlfeast's own Jinja",
        )
    executable = ours.get("dbt-executable")
    if executable is not None and (not isinstance(executable, str) or not executable):
        raise ConfigError(
            f"vars.{SQLFEAST_VARS}.dbt-executable must be the path of a dbt executable",
            Location(rel, line_of(ours, "dbt-executable")),
        )
    return dict(
        root=root,
        name=name,
        kind="dbt",
        renderer=renderer,
        dbt_executable=executable,
        profile=str(_render_value(data.get("profile"), rel, line_of(data, "profile")) or name),
        model_paths=_paths(data, "model-paths", ["models"], rel, "source-paths"),
        macro_paths=_paths(data, "macro-paths", ["macros"], rel),
        seed_paths=_paths(data, "seed-paths", ["seeds"], rel, "data-paths"),
        feature_paths=_paths(ours, "feature-paths", ["features"], rel),
        target_path=str(_render_value(data.get("target-path") or "target", rel, line_of(data, "target-path"))),
        packages_install_path=str(
            _render_value(
                data.get("packages-install-path") or "dbt_packages", rel, line_of(data, "packages-install-path")
            )
        ),
        vars=vars_,
        online_table_template=str(ours.get("online-table-template") or "{project}.{view}"),
        schema=schema,
        dbt=dict(data),
    )


def project_vars(raw: dict[str, Any], project: str) -> dict[str, Any]:
    """dbt's vars for the root project: global keys, then the keys scoped to the project.

    >>> project_vars({"a": 1, "shop": {"a": 2, "b": 3}, "other_pkg": {"c": 4}}, "shop")["a"]
    2
    """
    out = {k: v for k, v in raw.items() if k != project}
    scoped = raw.get(project)
    if isinstance(scoped, dict):
        out.update(scoped)
    return out


# -- packages ----------------------------------------------------------------------------------
@dataclass
class Package:
    """An installed dbt package (a folder under packages-install-path with dbt_project.yml)."""

    name: str
    root: Path
    macro_paths: list[str]
    model_paths: list[str]


def packages(config: ProjectConfig) -> list[Package]:
    """The packages installed under the project's packages-install-path (`dbt deps` puts them there)."""
    base = config.root / config.packages_install_path
    found: list[Package] = []
    if not base.is_dir():
        return found
    for folder in sorted(p for p in base.iterdir() if (p / DBT_PROJECT_FILE).is_file()):
        rel = os.path.relpath(folder / DBT_PROJECT_FILE, config.root)
        try:
            data = load_yaml((folder / DBT_PROJECT_FILE).read_text(), rel) or {}
        except Exception:  # noqa: BLE001 - a broken package is reported by dbt; use the folder name
            data = {}
        name = str(data["name"]) if isinstance(data, dict) and isinstance(data.get("name"), str) else folder.name
        found.append(
            Package(
                name,
                folder,
                _paths(data, "macro-paths", ["macros"], rel) if isinstance(data, dict) else ["macros"],
                _paths(data, "model-paths", ["models"], rel) if isinstance(data, dict) else ["models"],
            )
        )
    return found


# -- relations ---------------------------------------------------------------------------------
def default_schema_name(target_schema: str, custom: str | None) -> str:
    """dbt's built-in generate_schema_name: the target's schema, or `<target schema>_<custom>`."""
    return target_schema if not custom else f"{target_schema}_{custom.strip()}"


@dataclass
class DbtNode:
    """A model or seed dbt builds: its name, kind, path and the config sqlfeast needs to name it."""

    name: str
    kind: str  # "model" | "seed"
    path: str  # relative to the project root
    package: str
    fqn: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> its YAML entry
    latest_version: str | None = None
    relation: str | None = None  # database.schema.alias, once known


def folder_config(tree: Any, fqn: list[str]) -> dict[str, Any]:
    """The `+key` settings that apply to a node with `fqn` in dbt_project.yml's models:/seeds: tree.

    >>> folder_config({"shop": {"+schema": "a", "marts": {"+schema": "b", "+materialized": "table"}}},
    ...               ["shop", "marts", "orders"])
    {'schema': 'b', 'materialized': 'table'}
    """
    out: dict[str, Any] = {}
    node = tree
    for part in [None, *fqn]:
        if part is not None:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        if not isinstance(node, dict):
            break
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("+"):
                out[key[1:]] = value
            elif isinstance(key, str) and not isinstance(value, dict) and key in _CONFIG_KEYS:
                out[key] = value
    return out


_CONFIG_KEYS = {"schema", "alias", "database", "materialized", "enabled", "tags"}


def read_manifest(config: ProjectConfig) -> dict[str, str]:
    """`name` / `package.name` / `name.vN` -> relation_name from target/manifest.json, when dbt wrote one."""
    path = config.root / config.target_path / "manifest.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, str] = {}
    for node in (data.get("nodes") or {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot") or not node.get("relation_name"):
            continue
        name, package, version = node.get("name"), node.get("package_name"), node.get("version")
        keys = [f"{package}.{name}"] if package != config.name else [name, f"{package}.{name}"]
        if version is not None:
            keys = [f"{k}.v{version}" for k in keys]
            if str(version) == str(node.get("latest_version")):
                keys += [f"{package}.{name}"] + ([name] if package == config.name else [])
        for key in keys:
            out.setdefault(key, node["relation_name"])
    return out


def is_yaml_entry(item: Any) -> bool:
    return isinstance(item, LineDict) and isinstance(item.get("name"), str)


_CONFIG_CALL = re.compile(r"{{-?\s*config\((.*?)\)\s*-?}}", re.DOTALL)


def file_config(text: str) -> dict[str, Any]:
    """The literal keyword arguments of `{{ config(...) }}` in a model file.

    >>> file_config("{{ config(materialized='table', schema='marts') }} select 1")
    {'materialized': 'table', 'schema': 'marts'}
    """
    import ast

    out: dict[str, Any] = {}
    for match in _CONFIG_CALL.finditer(text):
        try:
            call = ast.parse(f"f({match.group(1)})", mode="eval").body
        except SyntaxError:
            continue
        for kw in getattr(call, "keywords", []):
            try:
                out[kw.arg] = ast.literal_eval(kw.value)
            except ValueError:
                continue
    return out


class AttrDict(dict):
    """A mapping templates can read as attributes too (dbt's `node.name`)."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def node_config(config: ProjectConfig, node: DbtNode) -> dict[str, Any]:
    """dbt's config for `node`: dbt_project.yml folders, then YAML `config:`, then the file's config()."""
    tree = config.dbt.get("seeds" if node.kind == "seed" else "models") or {}
    out = folder_config(tree, node.fqn)
    out.update(node.config)
    if node.kind == "model":
        try:
            out.update(file_config((config.root / node.path).read_text()))
        except OSError:
            pass
    return out


def node_relation(
    config: ProjectConfig, node: DbtNode, version: str | None, call: Callable[..., Any], manifest: dict[str, str]
) -> str:
    """The relation dbt builds for `node` (and `version`): from the manifest when dbt wrote one,
    else from the project's generate_database_name / generate_schema_name / generate_alias_name
    (dbt's built-ins unless the project overrides them), called with the node's config."""
    key = node.name if node.package == config.name else f"{node.package}.{node.name}"
    if version is not None:
        key += f".v{version}"
    if key in manifest:
        return manifest[key]
    cfg = node_config(config, node)
    if version is not None:
        entry = node.versions.get(version) or {}
        if isinstance(entry.get("config"), dict):
            cfg.update(entry["config"])
    info = AttrDict(
        name=node.name,
        resource_type=node.kind,
        package_name=node.package,
        fqn=node.fqn,
        path=node.path,
        original_file_path=node.path,
        config=AttrDict(cfg),
        version=version,
        unique_id=f"{node.kind}.{node.package}.{node.name}" + (f".v{version}" if version else ""),
    )
    database = str(call("generate_database_name", cfg.get("database"), info)).strip()
    schema = str(call("generate_schema_name", cfg.get("schema"), info)).strip()
    alias = str(call("generate_alias_name", cfg.get("alias"), info)).strip()
    return ".".join('"' + p.replace('"', '""') + '"' for p in (database, schema, alias) if p and p != "None")
