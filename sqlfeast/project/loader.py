"""Loading a project's files: model SQL, YAML declarations (entities, sources, feature services,
push sources) and macros. Loading only reads and shapes; rendering and SQL checks come later.

Every problem is collected (not raised) so that one run reports all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlfeast.core.naming import NAME
from sqlfeast.core.spec import Entity, FeatureService, PushSource, SourceTable
from sqlfeast.core.types import parse_type
from sqlfeast.errors import Location, SqlfeastError, ValidationError, suggest
from sqlfeast.project.config import ProjectConfig
from sqlfeast.project.header import Header, parse_header
from sqlfeast.project.yamlfile import line_of, load_yaml

YAML_KEYS = ("version", "entities", "sources", "feature_services", "push_sources", "models")


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


def load(config: ProjectConfig) -> LoadedProject:
    project = LoadedProject(config)
    root = config.root
    for path in _files(root, config.model_paths, ("*.sql",)):
        _load_model(project, path)
    for path in _files(root, config.model_paths, ("*.yml", "*.yaml")):
        _load_yaml_file(project, path)
    for path in _files(root, config.macro_paths, ("*.sql",)):
        project.macro_files.append((_rel(root, path), path.read_text()))
    return project


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
        project.errors.append(ValidationError(f"model name '{name}' is not an identifier", Location(rel, 1),
                                              hint="use letters, digits and underscores"))
        return
    if name in project.models:
        other = project.models[name].path
        project.errors.append(ValidationError(f"duplicate model name '{name}' (also defined in {other})",
                                              Location(rel, 1), hint="rename one of the files or set 'name:'"))
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
        if key not in YAML_KEYS:
            project.errors.append(ValidationError(
                f"unknown top-level key '{key}'", Location(rel, line_of(data, key)),
                hint=suggest(key, YAML_KEYS) or f"known keys: {', '.join(YAML_KEYS)}"))
    for item in _items(project, data, "entities", rel):
        _entity(project, item, rel)
    for item in _items(project, data, "sources", rel):
        _source(project, item, rel)
    for item in _items(project, data, "feature_services", rel):
        _service(project, item, rel)
    for item in _items(project, data, "push_sources", rel):
        _push_source(project, item, rel)
    for item in _items(project, data, "models", rel):
        if not _duplicate(project, "model_entry", item["name"], rel, line_of(item, "name")):
            project.model_entries[item["name"]] = (rel, item)


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
            project.errors.append(ValidationError(f"every item of '{key}' needs a 'name' that is an identifier",
                                                  Location(rel, line)))
            continue
        good.append(item)
    return good


def _check_keys(project: LoadedProject, item: dict, allowed: tuple[str, ...], what: str, rel: str) -> None:
    for key in item:
        if key not in allowed:
            project.errors.append(ValidationError(
                f"unknown key '{key}' in {what} '{item['name']}'", Location(rel, line_of(item, key)),
                hint=suggest(key, allowed) or f"known keys: {', '.join(allowed)}"))


def _duplicate(project: LoadedProject, kind: str, name: str, rel: str, line: int | None) -> bool:
    key = (kind, name)
    if key in project.lines:
        project.errors.append(ValidationError(f"duplicate {kind.replace('_', ' ')} '{name}' "
                                              f"(first defined at {project.lines[key]})", Location(rel, line),
                                              hint="names must be unique within a project"))
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
        project.errors.append(ValidationError(f"entity '{name}': join_keys must be a non-empty list of column names",
                                              Location(rel, line_of(item, "join_keys", line))))
        return
    if not _duplicate(project, "entity", name, rel, line):
        project.entities[name] = Entity(name, keys, str(item.get("description") or ""), rel)


def _source(project: LoadedProject, item: dict, rel: str) -> None:
    _check_keys(project, item, ("name", "database", "schema", "tables", "description", "meta", "tags",
                                "loader", "loaded_at_field", "freshness"), "source", rel)
    tables = item.get("tables") or []
    if not isinstance(tables, list):
        project.errors.append(ValidationError(f"source '{item['name']}': 'tables' must be a list",
                                              Location(rel, line_of(item, "tables"))))
        return
    for table in tables:
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            project.errors.append(ValidationError(f"source '{item['name']}': every table needs a 'name'",
                                                  Location(rel, line_of(table, None, line_of(item, "tables")))))
            continue
        _check_keys(project, table, ("name", "identifier", "external_location", "columns", "description",
                                     "meta", "tags", "loaded_at_field", "freshness"), "source table", rel)
        columns: dict[str, str] = {}
        for col in table.get("columns") or []:
            if not isinstance(col, dict) or "name" not in col:
                project.errors.append(ValidationError("every source column needs a 'name'",
                                                      Location(rel, line_of(col, None, line_of(table)))))
                continue
            dtype = col.get("data_type")
            if dtype is None:
                continue
            try:
                columns[str(col["name"])] = str(parse_type(dtype))
            except ValueError as err:
                project.errors.append(ValidationError(str(err), Location(rel, line_of(col, "data_type"))))
        meta = table.get("meta") or {}
        spec = SourceTable(
            source=item["name"], name=table["name"], database=item.get("database"), schema=item.get("schema"),
            identifier=table.get("identifier"),
            external_location=table.get("external_location") or meta.get("external_location"),
            columns=columns, path=rel)
        if not _duplicate(project, "source", spec.qualified_name, rel, line_of(table, "name")):
            project.sources[spec.qualified_name] = spec


def _service(project: LoadedProject, item: dict, rel: str) -> None:
    _check_keys(project, item, ("name", "features", "description", "tags", "owner"), "feature service", rel)
    name, line = item["name"], line_of(item, "name")
    features = _str_list(item.get("features"))
    if features is None:
        project.errors.append(ValidationError(f"feature service '{name}' needs a non-empty 'features' list",
                                              Location(rel, line_of(item, "features", line)),
                                              hint="list 'view:feature' or 'view' names"))
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
        project.errors.append(ValidationError(
            f"push source '{name}' needs a 'schema' mapping (column: type) and a 'feature_views' list",
            Location(rel, line)))
        return
    columns: dict[str, str] = {}
    for col, dtype in schema.items():
        try:
            columns[str(col)] = str(parse_type(dtype))
        except ValueError as err:
            project.errors.append(ValidationError(str(err), Location(rel, line_of(schema, col))))
    if not _duplicate(project, "push_source", name, rel, line):
        project.push_sources[name] = PushSource(name, columns, views, str(item.get("timestamp") or "event_timestamp"),
                                                str(item.get("description") or ""), rel)
