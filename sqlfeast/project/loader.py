"""Loading a project's files: model SQL, YAML declarations (entities, sources, feature services,
push sources) and macros. Loading only reads and shapes; rendering and SQL checks come later.

Every problem is collected (not raised) so that one run reports all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlfeast.core.naming import NAME, RESERVED_MODEL_NAMES, RESERVED_MODEL_PREFIX, reserved_model_name
from sqlfeast.core.spec import Entity, FeatureService, PushSource, SourceTable
from sqlfeast.core.types import parse_type
from sqlfeast.errors import Location, SqlfeastError, ValidationError, suggest
from sqlfeast.project.config import MissingEnvVar, ProjectConfig, env_var_value
from sqlfeast.project.dbt_project import DbtNode, packages
from sqlfeast.project.header import Header, parse_header
from sqlfeast.project.yamlfile import line_of, load_yaml

YAML_KEYS = ("version", "entities", "sources", "feature_services", "push_sources", "models")
# dbt's own top-level keys: accepted in every YAML file and left to dbt.
DBT_YAML_KEYS = (
    "seeds",
    "snapshots",
    "analyses",
    "macros",
    "exposures",
    "groups",
    "semantic_models",
    "metrics",
    "saved_queries",
    "unit_tests",
    "data_tests",
    "tests",
)
SOURCE_KEYS = (
    "name",
    "database",
    "schema",
    "tables",
    "description",
    "meta",
    "tags",
    "loader",
    "loaded_at_field",
    "loaded_at_query",
    "freshness",
    "config",
    "quoting",
    "overrides",
    "tests",
    "data_tests",
    "enabled",
    "event_time",
)
SOURCE_TABLE_KEYS = (
    "name",
    "identifier",
    "external_location",
    "columns",
    "description",
    "meta",
    "tags",
    "loaded_at_field",
    "loaded_at_query",
    "freshness",
    "config",
    "quoting",
    "tests",
    "data_tests",
    "constraints",
    "docs",
    "access",
    "event_time",
    "external",
)
_RENDERED_SOURCE_KEYS = ("database", "schema", "identifier", "external_location")


@dataclass
class ModelFile:
    name: str
    path: str  # relative to the project root, for messages
    text: str
    header: Header


@dataclass
class LoadedProject:
    config: ProjectConfig
    models: dict[str, ModelFile] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[str, SourceTable] = field(default_factory=dict)
    feature_services: dict[str, FeatureService] = field(default_factory=dict)
    push_sources: dict[str, PushSource] = field(default_factory=dict)
    macro_files: list[tuple[str, str]] = field(default_factory=list)  # (path, text)
    dbt_nodes: dict[str, DbtNode] = field(default_factory=dict)  # dbt projects: models and seeds dbt builds
    package_macro_files: list[tuple[str, str, str]] = field(default_factory=list)  # (package, path, text)
    vars: dict[str, Any] = field(default_factory=dict)
    # dbt-style `models:` entries of the YAML files (name -> (path, entry)), for data tests
    model_entries: dict[str, tuple[str, dict]] = field(default_factory=dict)
    # name -> location, for members checked once every model is known
    lines: dict[tuple[str, str], Location] = field(default_factory=dict)
    errors: list[SqlfeastError] = field(default_factory=list)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _files(root: Path, dirs: list[str], patterns: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for d in dirs:
        base = root / d
        if base.is_dir():
            for pattern in patterns:
                found.extend(base.rglob(pattern))
    return sorted(set(found))


def load(config: ProjectConfig, vars: dict[str, Any] | None = None) -> LoadedProject:
    """Read every model, YAML declaration and macro of the project (errors collected, not raised).

    >>> from sqlfeast.project.config import ProjectConfig
    >>> load(ProjectConfig(Path("/nonexistent"), "p", "p")).models
    {}
    """
    project = LoadedProject(config, vars={**config.vars, **(vars or {})})
    root = config.root
    if config.is_dbt:
        _load_dbt(project)
        return project
    for path in _files(root, config.model_paths, ("*.sql",)):
        _load_model(project, path)
    for path in _files(root, config.model_paths, ("*.yml", "*.yaml")):
        _load_yaml_file(project, path)
    for path in _files(root, config.macro_paths, ("*.sql",)):
        project.macro_files.append((_rel(root, path), path.read_text()))
    return project


def _load_dbt(project: LoadedProject) -> None:
    """A dbt project: feature views (and their YAML) from the feature paths and any model file
    with a @feature_view header; every other model and seed is dbt's, known by its relation."""
    config, root = project.config, project.config.root
    for path in _files(root, config.feature_paths, ("*.sql",)):
        _load_model(project, path)
    for path in _files(root, config.model_paths, ("*.sql",)):
        text = path.read_text()
        if "@feature_view" in text[:4000]:
            _load_model(project, path)
            continue
        _dbt_node(project, path, "model", config.model_paths, config.name)
    for path in _files(root, config.seed_paths, ("*.csv",)):
        _dbt_node(project, path, "seed", config.seed_paths, config.name)
    for package in packages(config):
        for path in _files(package.root, package.model_paths, ("*.sql",)):
            _dbt_node(project, path, "model", package.model_paths, package.name, package.root)
        for path in _files(package.root, package.macro_paths, ("*.sql",)):
            project.package_macro_files.append((package.name, _rel(root, path), path.read_text()))
    for path in _files(root, config.model_paths + config.seed_paths + config.feature_paths, ("*.yml", "*.yaml")):
        _load_yaml_file(project, path)
    for path in _files(root, config.macro_paths, ("*.sql",)):
        project.macro_files.append((_rel(root, path), path.read_text()))


def _dbt_node(
    project: LoadedProject, path: Path, kind: str, dirs: list[str], package: str, base: Path | None = None
) -> None:
    base = base or project.config.root
    rel_parts = path.relative_to(base).parts
    folders = list(rel_parts[1:-1]) if rel_parts and rel_parts[0] in {Path(d).parts[0] for d in dirs} else []
    node = DbtNode(path.stem, kind, _rel(project.config.root, path), package, [package, *folders, path.stem])
    if package == project.config.name:
        if path.stem in project.models:  # a feature view of the same name wins; dbt would refuse anyway
            return
        project.dbt_nodes.setdefault(path.stem, node)
    project.dbt_nodes.setdefault(f"{package}.{path.stem}", node)


def _load_model(project: LoadedProject, path: Path) -> None:
    rel = _rel(project.config.root, path)
    text = path.read_text()
    try:
        header = parse_header(text, rel)
    except SqlfeastError as err:
        project.errors.append(err)
        return
    name = path.stem
    if header.data is not None and header.data.get("name"):
        name = str(header.data["name"])
    if not NAME.match(name):
        project.errors.append(
            ValidationError(
                f"model name '{name}' is not an identifier",
                Location(rel, 1),
                hint="use letters, digits and underscores",
            )
        )
        return
    if reserved_model_name(name):
        named = header.data is not None and header.data.get("name")
        project.errors.append(
            ValidationError(
                f"model name '{name}' is reserved: its relation would be sqlfeast's own table "
                f"'{project.config.name}__{name}'",
                Location(rel, header.data.key_line("name") if named and header.data is not None else 1),
                hint=f"rename the {'model' if named else 'file'} (reserved: "
                f"{', '.join(RESERVED_MODEL_NAMES)} and names starting with '{RESERVED_MODEL_PREFIX}')",
            )
        )
        return
    if name in project.models:
        other = project.models[name].path
        project.errors.append(
            ValidationError(
                f"duplicate model name '{name}' (also defined in {other})",
                Location(rel, 1),
                hint="rename one of the files or set 'name:'",
            )
        )
        return
    project.models[name] = ModelFile(name, rel, text, header)


def _load_yaml_file(project: LoadedProject, path: Path) -> None:
    rel = _rel(project.config.root, path)
    try:
        data = load_yaml(path.read_text(), rel)
    except SqlfeastError as err:
        project.errors.append(err)
        return
    if data is None:
        return
    if not isinstance(data, dict):
        project.errors.append(ValidationError("a models/ YAML file must be a mapping", Location(rel, 1)))
        return
    for key in data:
        if key not in YAML_KEYS and key not in DBT_YAML_KEYS:
            project.errors.append(
                ValidationError(
                    f"unknown top-level key '{key}'",
                    Location(rel, line_of(data, key)),
                    hint=suggest(key, YAML_KEYS + DBT_YAML_KEYS) or f"known keys: {', '.join(YAML_KEYS)}",
                )
            )
    if project.config.is_dbt:
        _dbt_yaml_entries(project, data, rel)
    for item in _items(project, data, "entities", rel):
        _entity(project, item, rel)
    for item in _items(project, data, "sources", rel):
        _source(project, item, rel)
    for item in _items(project, data, "feature_services", rel):
        _service(project, item, rel)
    for item in _items(project, data, "push_sources", rel):
        _push_source(project, item, rel)
    for item in _items(project, data, "models", rel):
        if project.config.is_dbt and item["name"] not in project.models:
            continue  # a dbt model's entry: dbt's to check
        if not _duplicate(project, "model_entry", item["name"], rel, line_of(item, "name")):
            project.model_entries[item["name"]] = (rel, item)


def _dbt_yaml_entries(project: LoadedProject, data: dict, rel: str) -> None:
    """`models:` / `seeds:` entries of dbt's YAML: the config and versions that name relations."""
    for key in ("models", "seeds", "snapshots"):
        items = data.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            node = project.dbt_nodes.get(item["name"])
            versions = item.get("versions")
            if node is None and isinstance(versions, list):
                # A versioned model lives in <name>_v<v>.sql (or the file `defined_in` names).
                files = [
                    project.dbt_nodes.get(str(e.get("defined_in") or f"{item['name']}_v{e.get('v')}"))
                    for e in versions
                    if isinstance(e, dict)
                ]
                first = next((f for f in files if f is not None), None)
                if first is not None:
                    node = DbtNode(item["name"], first.kind, first.path, first.package, [*first.fqn[:-1], item["name"]])
                    project.dbt_nodes[item["name"]] = node
            if node is None:
                continue
            if isinstance(item.get("config"), dict):
                node.config.update(item["config"])
            versions = item.get("versions")
            if isinstance(versions, list):
                for entry in versions:
                    if isinstance(entry, dict) and "v" in entry:
                        node.versions[str(entry["v"])] = dict(entry)
                latest = item.get("latest_version")
                node.latest_version = (
                    str(latest)
                    if latest is not None
                    else (max(node.versions, key=_version_key) if node.versions else None)
                )


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[._]", version))


def _render_yaml_value(project: LoadedProject, value: Any, rel: str, line: int | None) -> Any:
    """dbt renders var() and env_var() in source YAML (`schema: "{{ var('raw_schema', 'main') }}"`)."""
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    import jinja2

    _missing = object()

    def var(name: str, default: Any = _missing) -> Any:
        if name in project.vars:
            return project.vars[name]
        if default is _missing:
            raise KeyError(name)
        return default

    try:
        return (
            jinja2.Environment(undefined=jinja2.StrictUndefined)
            .from_string(value)
            .render(var=var, env_var=env_var_value, target={})
        )
    except KeyError as err:
        project.errors.append(
            ValidationError(
                f"var({err.args[0]!r}) is not defined",
                Location(rel, line),
                hint="set it under 'vars:', pass --vars, or give a default",
            )
        )
    except MissingEnvVar as err:
        project.errors.append(
            ValidationError(
                f"environment variable '{err.name}' is not set",
                Location(rel, line),
                hint=f"export {err.name}=... or give env_var('{err.name}', 'default')",
            )
        )
    except jinja2.TemplateError as err:
        project.errors.append(ValidationError(f"cannot render {value!r}: {err}", Location(rel, line)))
    return value


def _items(project: LoadedProject, data: dict, key: str, rel: str) -> list[dict]:
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        project.errors.append(ValidationError(f"'{key}' must be a list", Location(rel, line_of(data, key))))
        return []
    good = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not NAME.match(item["name"]):
            line = line_of(item, "name", line_of(data, key))
            project.errors.append(
                ValidationError(f"every item of '{key}' needs a 'name' that is an identifier", Location(rel, line))
            )
            continue
        good.append(item)
    return good


def _check_keys(project: LoadedProject, item: dict, allowed: tuple[str, ...], what: str, rel: str) -> None:
    for key in item:
        if key not in allowed:
            project.errors.append(
                ValidationError(
                    f"unknown key '{key}' in {what} '{item['name']}'",
                    Location(rel, line_of(item, key)),
                    hint=suggest(key, allowed) or f"known keys: {', '.join(allowed)}",
                )
            )


def _duplicate(project: LoadedProject, kind: str, name: str, rel: str, line: int | None) -> bool:
    key = (kind, name)
    if key in project.lines:
        project.errors.append(
            ValidationError(
                f"duplicate {kind.replace('_', ' ')} '{name}' (first defined at {project.lines[key]})",
                Location(rel, line),
                hint="names must be unique within a project",
            )
        )
        return True
    project.lines[key] = Location(rel, line)
    return False


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _entity(project: LoadedProject, item: dict, rel: str) -> None:
    _check_keys(project, item, ("name", "join_keys", "description", "value_type", "tags"), "entity", rel)
    name, line = item["name"], line_of(item, "name")
    keys = _str_list(item.get("join_keys", [name]))
    if keys is None:
        project.errors.append(
            ValidationError(
                f"entity '{name}': join_keys must be a non-empty list of column names",
                Location(rel, line_of(item, "join_keys", line)),
            )
        )
        return
    types = _entity_key_types(project, item, keys, rel)
    if not _duplicate(project, "entity", name, rel, line):
        project.entities[name] = Entity(name, keys, str(item.get("description") or ""), rel, types)


def _entity_key_types(project: LoadedProject, item: dict, keys: list[str], rel: str) -> dict[str, str]:
    """An entity's ``value_type``: one type for every join key (``value_type: bigint``) or one per
    key (``value_type: {driver_id: bigint, region: varchar}``); bad ones are errors at their line.

    >>> _entity_key_types(LoadedProject(None), {"name": "driver", "value_type": "long"}, ["driver_id"], "m.yml")
    {'driver_id': 'bigint'}
    """
    declared = item.get("value_type")
    if declared is None:
        return {}
    line = line_of(item, "value_type", line_of(item, "name"))
    if isinstance(declared, dict):
        pairs = [(str(k), v, line_of(declared, k, line)) for k, v in declared.items()]
    elif isinstance(declared, str):
        pairs = [(k, declared, line) for k in keys]
    else:
        pairs = []
    if not pairs:
        project.errors.append(
            ValidationError(
                f"entity '{item['name']}': value_type must be a type (value_type: bigint) or a mapping "
                "of join keys to types",
                Location(rel, line),
            )
        )
        return {}
    types: dict[str, str] = {}
    for key, text, key_line in pairs:
        if key not in keys:
            project.errors.append(
                ValidationError(
                    f"entity '{item['name']}': value_type names '{key}', which is not one of its join keys",
                    Location(rel, key_line),
                    hint=suggest(key, keys) or f"its join keys: {', '.join(keys)}",
                )
            )
            continue
        try:
            types[key] = str(parse_type(text))
        except (ValueError, TypeError) as err:
            project.errors.append(
                ValidationError(f"entity '{item['name']}': value_type: {err}", Location(rel, key_line))
            )
    return types


def _source(project: LoadedProject, item: dict, rel: str) -> None:
    _check_keys(project, item, SOURCE_KEYS, "source", rel)
    tables = item.get("tables") or []
    if not isinstance(tables, list):
        project.errors.append(
            ValidationError(f"source '{item['name']}': 'tables' must be a list", Location(rel, line_of(item, "tables")))
        )
        return
    for table in tables:
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            project.errors.append(
                ValidationError(
                    f"source '{item['name']}': every table needs a 'name'",
                    Location(rel, line_of(table, None, line_of(item, "tables"))),
                )
            )
            continue
        _check_keys(project, table, SOURCE_TABLE_KEYS, "source table", rel)
        columns: dict[str, str] = {}
        for col in table.get("columns") or []:
            if not isinstance(col, dict) or "name" not in col:
                project.errors.append(
                    ValidationError(
                        "every source column needs a 'name'", Location(rel, line_of(col, None, line_of(table)))
                    )
                )
                continue
            dtype = col.get("data_type")
            if dtype is None:
                continue
            try:
                columns[str(col["name"])] = str(parse_type(dtype))
            except ValueError as err:
                project.errors.append(ValidationError(str(err), Location(rel, line_of(col, "data_type"))))
        meta = table.get("meta") or {}
        config: dict = table["config"] if isinstance(table.get("config"), dict) else {}
        meta = {**(config.get("meta") or {}), **meta} if isinstance(config.get("meta") or {}, dict) else meta
        values = {}
        for key in _RENDERED_SOURCE_KEYS:
            where = table if key in ("identifier", "external_location") else item
            value = (
                where.get(key)
                if key != "external_location"
                else (table.get("external_location") or meta.get("external_location"))
            )
            values[key] = _render_yaml_value(project, value, rel, line_of(where, key, line_of(table)))
        if project.config.is_dbt and values["schema"] is None:
            values["schema"] = item["name"]  # dbt: a source's schema defaults to its name
        spec = SourceTable(
            source=item["name"],
            name=table["name"],
            database=values["database"],
            schema=values["schema"],
            identifier=values["identifier"],
            external_location=values["external_location"],
            columns=columns,
            path=rel,
        )
        if not _duplicate(project, "source", spec.qualified_name, rel, line_of(table, "name")):
            project.sources[spec.qualified_name] = spec


def _service(project: LoadedProject, item: dict, rel: str) -> None:
    _check_keys(project, item, ("name", "features", "description", "tags", "owner"), "feature service", rel)
    name, line = item["name"], line_of(item, "name")
    features = _str_list(item.get("features"))
    if features is None:
        project.errors.append(
            ValidationError(
                f"feature service '{name}' needs a non-empty 'features' list",
                Location(rel, line_of(item, "features", line)),
                hint="list 'view:feature' or 'view' names",
            )
        )
        return
    if not _duplicate(project, "feature_service", name, rel, line):
        project.feature_services[name] = FeatureService(name, features, str(item.get("description") or ""), rel)
        project.lines[("feature_service_features", name)] = Location(rel, line_of(item, "features", line))


def _push_source(project: LoadedProject, item: dict, rel: str) -> None:
    _check_keys(project, item, ("name", "schema", "feature_views", "timestamp", "description"), "push source", rel)
    name, line = item["name"], line_of(item, "name")
    schema = item.get("schema")
    views = _str_list(item.get("feature_views"))
    if not isinstance(schema, dict) or not schema or views is None:
        project.errors.append(
            ValidationError(
                f"push source '{name}' needs a 'schema' mapping (column: type) and a 'feature_views' list",
                Location(rel, line),
            )
        )
        return
    columns: dict[str, str] = {}
    for col, dtype in schema.items():
        try:
            columns[str(col)] = str(parse_type(dtype))
        except ValueError as err:
            project.errors.append(ValidationError(str(err), Location(rel, line_of(schema, col))))
    if not _duplicate(project, "push_source", name, rel, line):
        project.push_sources[name] = PushSource(
            name,
            columns,
            views,
            str(item.get("timestamp") or "event_timestamp"),
            str(item.get("description") or ""),
            rel,
        )
