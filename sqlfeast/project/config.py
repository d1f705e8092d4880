"""Project file (sqlfeast_project.yml) and profiles.yml, dbt style.

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
from sqlfeast.project.yamlfile import line_of, load_yaml

PROJECT_FILE = "sqlfeast_project.yml"
PROFILES_FILE = "profiles.yml"
_MISSING = object()


class MissingEnvVar(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def env_var_value(name: str, default: Any = _MISSING) -> str:
    """dbt's env_var(): the variable's value, the default, or MissingEnvVar."""
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is _MISSING:
        raise MissingEnvVar(name)
    return default


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

    @property
    def target_dir(self) -> Path:
        return self.root / self.target_path


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

    @property
    def dialect(self) -> str:
        return self.type


def load_project(root: str | os.PathLike) -> ProjectConfig:
    root = Path(root).resolve()
    path = root / PROJECT_FILE
    if not path.exists():
        raise ConfigError(f"no {PROJECT_FILE} in {root}",
                          hint="run from a project directory, pass --project-dir, or create one with 'sqlfeast init NAME'")
    rel = PROJECT_FILE
    data = load_yaml(path.read_text(), rel) or {}
    if not isinstance(data, dict):
        raise ConfigError("the project file must be a mapping", Location(rel, 1))
    known = {"name", "profile", "model-paths", "macro-paths", "target-path", "vars", "version",
             "online-table-template", "config-version"}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown key '{key}' in the project file", Location(rel, line_of(data, key)),
                              hint=suggest(key, known) or f"known keys: {', '.join(sorted(known))}")
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError("project 'name' must be an identifier (letters, digits, underscore)",
                          Location(rel, line_of(data, "name", 1)))
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


def find_profiles(project: ProjectConfig, profiles_dir: str | None) -> Path:
    candidates = []
    if profiles_dir:
        candidates.append(Path(profiles_dir))
    elif os.environ.get("SQLFEAST_PROFILES_DIR"):
        candidates.append(Path(os.environ["SQLFEAST_PROFILES_DIR"]))
    else:
        candidates += [project.root, Path.home() / ".sqlfeast", Path.home() / ".dbt"]
    for directory in candidates:
        if (directory / PROFILES_FILE).exists():
            return directory / PROFILES_FILE
    where = ", ".join(str(c) for c in candidates)
    raise ConfigError(f"no {PROFILES_FILE} found (looked in {where})",
                      hint="create one beside sqlfeast_project.yml or pass --profiles-dir")


def load_target(project: ProjectConfig, profiles_dir: str | None = None,
                target: str | None = None) -> Target:
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
        raise ConfigError(f"environment variable '{err.name}' is not set", Location(rel, line),
                          hint=f"export {err.name}=... or give env_var('{err.name}', 'default')") from None
    except jinja2.TemplateError as err:
        raise ConfigError(f"cannot render {PROFILES_FILE}: {err}",
                          Location(rel, getattr(err, "lineno", None))) from None
    data = load_yaml(rendered, rel) or {}
    profile = data.get(project.profile) if isinstance(data, dict) else None
    if not isinstance(profile, dict):
        raise ConfigError(f"profile '{project.profile}' not found in {PROFILES_FILE}", Location(rel),
                          hint=suggest(project.profile, data) if isinstance(data, dict) else None)
    outputs = profile.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise ConfigError(f"profile '{project.profile}' has no outputs", Location(rel, line_of(profile)))
    name = target or os.environ.get("SQLFEAST_TARGET") or profile.get("target") or next(iter(outputs))
    if name not in outputs:
        raise ConfigError(f"target '{name}' not found in profile '{project.profile}'",
                          Location(rel, line_of(outputs)),
                          hint=suggest(name, outputs) or f"targets: {', '.join(outputs)}")
    out = outputs[name]
    if not isinstance(out, dict):
        raise ConfigError(f"target '{name}' must be a mapping", Location(rel, line_of(outputs, name)))
    wtype = out.get("type")
    if wtype not in DIALECTS:
        raise ConfigError(f"target '{name}' has type {wtype!r}; sqlfeast supports {', '.join(DIALECTS)}",
                          Location(rel, line_of(out, "type", line_of(out))))
    settings = {k: v for k, v in out.items() if k != "online_store"}
    online = out.get("online_store") or {"type": "sqlite", "path": "online.db"}
    if not isinstance(online, dict) or "type" not in online:
        raise ConfigError("online_store must be a mapping with a 'type' (sqlite or dynamodb)",
                          Location(rel, line_of(out, "online_store")))
    schema = str(out.get("schema") or dialect(wtype).default_schema)
    return Target(profile=project.profile, name=name, type=wtype, schema=schema,
                  settings=settings, online_store=dict(online), path=rel)
