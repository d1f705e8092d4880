"""Project file (sqlfeast_project.yml, or a dbt project's dbt_project.yml) and profiles.yml.

profiles.yml has dbt's shape: ``profile -> {target: name, outputs: {name: {type: ..., ...}}}``
and is rendered with Jinja first so ``{{ env_var('X') }}`` works. Each output may carry an
``online_store:`` block beside the warehouse connection.

>>> env_var_value("HOME", None) is not None
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlfeast.core.dialects import DIALECTS, dialect
from sqlfeast.core.naming import NAME
from sqlfeast.errors import ConfigError, Location, suggest
from sqlfeast.project.dbt_project import DBT_PROJECT_FILE, load_dbt_project
from sqlfeast.project.envvars import MissingEnvVar, env_var_value
from sqlfeast.project.yamlfile import line_of, load_yaml

PROJECT_FILE = "sqlfeast_project.yml"
PROFILES_FILE = "profiles.yml"
_MISSING = object()


@dataclass
class ProjectConfig:
    root: Path
    name: str
    profile: str
    model_paths: list[str] = field(default_factory=lambda: ["models"])
    macro_paths: list[str] = field(default_factory=lambda: ["macros"])
    target_path: str = "target"
    vars: dict[str, Any] = field(default_factory=dict)
    online_table_template: str = "{project}.{view}"
    kind: str = "sqlfeast"  # or "dbt": a dbt project, read from dbt_project.yml
    feature_paths: list[str] = field(default_factory=list)  # dbt projects: feature views and their YAML
    seed_paths: list[str] = field(default_factory=lambda: ["seeds"])
    packages_install_path: str = "dbt_packages"
    schema: str | None = None  # the schema sqlfeast writes into (dbt projects: default <schema>_sqlfeast)
    dbt: dict[str, Any] = field(default_factory=dict)  # dbt_project.yml as read (models:, seeds:, dispatch:)
    renderer: str = "auto"  # dbt projects: who renders feature views (auto, dbt, sqlfeast)
    dbt_executable: str | None = None  # dbt projects: a dbt executable to render with

    @property
    def is_dbt(self) -> bool:
        return self.kind == "dbt"

    @property
    def target_dir(self) -> Path:
        """Where sqlfeast writes its files; in a dbt project a folder of its own under dbt's."""
        base = self.root / self.target_path
        return base / "sqlfeast" if self.is_dbt else base


@dataclass
class Target:
    """The chosen output of a profile: warehouse connection plus online store settings."""

    profile: str
    name: str
    type: str
    schema: str
    settings: dict[str, Any]
    online_store: dict[str, Any]
    path: str  # profiles.yml path, for messages
    dbt_schema: str | None = None  # dbt projects: the profile's schema, where dbt builds
    database: str | None = None  # the profile's database (DuckDB: the file's stem unless set)

    @property
    def dialect(self) -> str:
        return self.type


def load_project(root: str | os.PathLike) -> ProjectConfig:
    """Read the project at `root`: sqlfeast_project.yml, else dbt_project.yml (a dbt project).

    >>> load_project("/nonexistent")                              # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sqlfeast.errors.ConfigError: no sqlfeast_project.yml or dbt_project.yml in /nonexistent ...
    """
    root = Path(root).resolve()
    path = root / PROJECT_FILE
    if not path.exists() and (root / DBT_PROJECT_FILE).exists():
        return ProjectConfig(**load_dbt_project(root))
    if not path.exists():
        raise ConfigError(
            f"no {PROJECT_FILE} or {DBT_PROJECT_FILE} in {root}",
            hint="run from a project directory, pass --project-dir, or create one with 'sqlfeast init NAME'",
        )
    rel = PROJECT_FILE
    data = load_yaml(path.read_text(), rel) or {}
    if not isinstance(data, dict):
        raise ConfigError("the project file must be a mapping", Location(rel, 1))
    known = {
        "name",
        "profile",
        "model-paths",
        "macro-paths",
        "target-path",
        "vars",
        "version",
        "online-table-template",
        "config-version",
    }
    for key in data:
        if key not in known:
            raise ConfigError(
                f"unknown key '{key}' in the project file",
                Location(rel, line_of(data, key)),
                hint=suggest(key, known) or f"known keys: {', '.join(sorted(known))}",
            )
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(
            "project 'name' must be an identifier (letters, digits, underscore)",
            Location(rel, line_of(data, "name", 1)),
        )
    vars_ = data.get("vars") or {}
    if not isinstance(vars_, dict):
        raise ConfigError("'vars' must be a mapping", Location(rel, line_of(data, "vars")))
    return ProjectConfig(
        root=root,
        name=name,
        profile=str(data.get("profile") or name),
        model_paths=list(data.get("model-paths") or ["models"]),
        macro_paths=list(data.get("macro-paths") or ["macros"]),
        target_path=str(data.get("target-path") or "target"),
        vars=dict(vars_),
        online_table_template=str(data.get("online-table-template") or "{project}.{view}"),
    )


PROFILES_DIR_VARIABLES = ("SQLFEAST_PROFILES_DIR", "DBT_PROFILES_DIR")


def find_profiles(project: ProjectConfig, profiles_dir: str | None) -> Path:
    """The profiles.yml to read: in --profiles-dir if given, else in $SQLFEAST_PROFILES_DIR, else
    in $DBT_PROFILES_DIR (dbt's own variable), else the first of the project directory,
    ~/.sqlfeast and ~/.dbt that has one. A directory named explicitly must hold the file.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "profiles.yml").write_text("{}")
    >>> os.environ["DBT_PROFILES_DIR"] = str(d)
    >>> find_profiles(ProjectConfig(root=Path("/nonexistent"), name="p", profile="p"), None) == d / "profiles.yml"
    True
    >>> del os.environ["DBT_PROFILES_DIR"]
    """
    if profiles_dir:
        candidates, source = [Path(profiles_dir)], "--profiles-dir"
    else:
        variable = next((v for v in PROFILES_DIR_VARIABLES if os.environ.get(v)), None)
        if variable:
            candidates, source = [Path(os.environ[variable])], f"${variable}"
        else:
            candidates, source = [project.root, Path.home() / ".sqlfeast", Path.home() / ".dbt"], None
    for directory in candidates:
        if (directory / PROFILES_FILE).exists():
            return directory / PROFILES_FILE
    where = ", ".join(str(c) for c in candidates)
    if source:
        raise ConfigError(
            f"no {PROFILES_FILE} in {where} (from {source})",
            hint=f"put {PROFILES_FILE} there or point {source} at the directory that holds it",
        )
    raise ConfigError(
        f"no {PROFILES_FILE} found (looked in {where})",
        hint="create one beside the project file, pass --profiles-dir or set SQLFEAST_PROFILES_DIR",
    )


def load_target(project: ProjectConfig, profiles_dir: str | None = None, target: str | None = None) -> Target:
    """Read profiles.yml (rendering env_var()) and pick the target's output."""
    import jinja2

    path = find_profiles(project, profiles_dir)
    rel = os.path.relpath(path, project.root) if path.is_relative_to(project.root) else str(path)
    text = path.read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    try:
        rendered = env.from_string(text).render(env_var=env_var_value)
    except MissingEnvVar as err:
        line = next((i + 1 for i, text_line in enumerate(text.splitlines()) if err.name in text_line), None)
        raise ConfigError(
            f"environment variable '{err.name}' is not set",
            Location(rel, line),
            hint=f"export {err.name}=... or give env_var('{err.name}', 'default')",
        ) from None
    except jinja2.TemplateError as err:
        raise ConfigError(
            f"cannot render {PROFILES_FILE}: {err}", Location(rel, getattr(err, "lineno", None))
        ) from None
    data = load_yaml(rendered, rel) or {}
    profile = data.get(project.profile) if isinstance(data, dict) else None
    if not isinstance(profile, dict):
        raise ConfigError(
            f"profile '{project.profile}' not found in {PROFILES_FILE}",
            Location(rel),
            hint=suggest(project.profile, data) if isinstance(data, dict) else None,
        )
    outputs = profile.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise ConfigError(f"profile '{project.profile}' has no outputs", Location(rel, line_of(profile)))
    name = target or os.environ.get("SQLFEAST_TARGET") or profile.get("target") or next(iter(outputs))
    if name not in outputs:
        raise ConfigError(
            f"target '{name}' not found in profile '{project.profile}'",
            Location(rel, line_of(outputs)),
            hint=suggest(name, outputs) or f"targets: {', '.join(outputs)}",
        )
    out = outputs[name]
    if not isinstance(out, dict):
        raise ConfigError(f"target '{name}' must be a mapping", Location(rel, line_of(outputs, name)))
    wtype = out.get("type")
    if wtype not in DIALECTS:
        raise ConfigError(
            f"target '{name}' has type {wtype!r}; sqlfeast supports {', '.join(DIALECTS)}",
            Location(rel, line_of(out, "type", line_of(out))),
        )
    settings = {k: v for k, v in out.items() if k != "online_store"}
    online = out.get("online_store") or {"type": "sqlite", "path": "online.db"}
    if not isinstance(online, dict) or "type" not in online:
        raise ConfigError(
            "online_store must be a mapping with a 'type' (sqlite or dynamodb)",
            Location(rel, line_of(out, "online_store")),
        )
    schema = str(out.get("schema") or dialect(wtype).default_schema)
    database = out.get("database")
    if database is None and dialect(wtype).database_is_file:
        db_path = str(out.get("path") or "")
        database = "memory" if db_path in ("", ":memory:") else Path(db_path).stem
    dbt_schema = None
    own = os.environ.get("SQLFEAST_SCHEMA") or out.get("sqlfeast_schema") or project.schema
    if project.is_dbt:
        dbt_schema = schema
        schema = str(own or f"{schema}_sqlfeast")  # never dbt's own schema unless asked for
    elif own:
        schema = str(own)
    return Target(
        profile=project.profile,
        name=name,
        type=wtype,
        schema=schema,
        settings=settings,
        online_store=dict(online),
        path=rel,
        dbt_schema=dbt_schema,
        database=str(database) if database is not None else None,
    )
