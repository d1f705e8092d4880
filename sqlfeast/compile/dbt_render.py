"""Feature views of a dbt project rendered by dbt itself, where dbt is installed.

Which renderer a dbt project gets: ``SQLFEAST_RENDERER`` or ``vars: {sqlfeast: {renderer: ...}}``
in dbt_project.yml, one of ``auto`` (the default: dbt when it can be run, else sqlfeast's own
dbt-compatible Jinja), ``dbt`` (dbt or an error) and ``sqlfeast`` (never dbt). dbt is found in
sqlfeast's own Python (``pip install "sqlfeast[dbt]"``) or, for dbt in a virtualenv of its own,
through the dbt executable named by ``SQLFEAST_DBT`` or ``vars: {sqlfeast: {dbt-executable: ...}}``.

dbt renders in a subprocess of its own interpreter (``dbt_worker.py``, one run for every view),
so dbt's process-wide state (flags, logging, adapters) never touches sqlfeast's, and dbt's own
partial parsing (kept in ``target/sqlfeast/dbt/``) makes a second run cheap. dbt's relation
names in the rendered SQL become sqlfeast's placeholders (``swap_relations``), so a view rendered
by dbt is checked, typed and compiled exactly like one sqlfeast rendered.

>>> swap_relations('select * from "db"."main"."orders" o join "db"."main"."orders_v2" p on true',
...                {'"db"."main"."orders"': '"__sqlfeast_dbt__orders"'})
'select * from "__sqlfeast_dbt__orders" o join "db"."main"."orders_v2" p on true'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from typing import Any

from sqlfeast.compile.dbt_context import NEEDS_DBT
from sqlfeast.core.files import write_atomic
from sqlfeast.errors import ConfigError, Location, ValidationError
from sqlfeast.project.config import ProjectConfig, Target
from sqlfeast.project.dbt_project import RENDERERS

WORKER = Path(__file__).with_name("dbt_worker.py")
SUPPORTED = ((1, 11), (1, 12))  # dbt-core [1.11, 1.12), as the `dbt` extra pins it
CACHE_FILE = "render_cache.json"  # the last rendering, reused while nothing it depends on changed
DBT_FOLDER = "dbt"
IN_PROCESS = (
    "sqlfeast's own Python"  # under target/sqlfeast/: dbt's partial parse, log and the views as dbt rendered them
)
# dbt-core reports its own problems with its node names; the user knows the file.
_NODE_NAME = re.compile(r"Sql_Operation 'sql_operation\.[^']*' \(from remote system\.sql\) ")


@dataclass
class DbtInstall:
    """A Python that can import dbt-core and the target's adapter."""

    python: str
    origin: str  # for messages: where it was found


@dataclass
class DbtView:
    """One view as dbt rendered it."""

    sql: str  # dbt's compiled code, relation names as dbt wrote them
    refs: list[dict[str, Any]] = field(default_factory=list)  # dbt nodes read: relation, name, package, version
    sources: list[str] = field(default_factory=list)  # `source.table` keys
    local_refs: list[str] = field(default_factory=list)  # other feature views it refs


@dataclass
class DbtRendering:
    """What one dbt run gave: every view (or its located error) and dbt's relation names."""

    dbt_version: str
    views: dict[str, DbtView]
    errors: dict[str, ValidationError]
    relations: dict[str, str]  # `name`, `package.name`, `name.vN` -> relation name
    sources: dict[str, str]  # `source.table` -> relation name


def renderer_setting(config: ProjectConfig) -> str:
    """`auto`, `dbt` or `sqlfeast`: SQLFEAST_RENDERER, else the project's vars.sqlfeast.renderer.

    >>> renderer_setting(ProjectConfig(Path("."), "p", "p", kind="dbt", renderer="sqlfeast"))  # doctest: +SKIP
    'sqlfeast'
    """
    value = os.environ.get("SQLFEAST_RENDERER")
    if value is None:
        return config.renderer
    if value not in RENDERERS:
        raise ConfigError(f"SQLFEAST_RENDERER={value!r} is not one of {', '.join(RENDERERS)}")
    return value


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:2])


def _interpreter_of(executable: Path) -> str | None:
    """The Python a dbt executable runs on: `python` beside it (a virtualenv), else its #! line."""
    for name in ("python", "python3"):
        candidate = executable.parent / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    try:
        first = executable.read_bytes()[:200].split(b"\n", 1)[0].decode()
    except OSError:
        return None
    if first.startswith("#!") and "python" in first:
        return first[2:].strip().split()[0]
    return None


def find_dbt(config: ProjectConfig, target: Target) -> DbtInstall | None:
    """The dbt to render `config`'s views with, or None for sqlfeast's own Jinja.

    >>> find_dbt(ProjectConfig(Path("."), "p", "p", kind="dbt", renderer="sqlfeast"), None)  # doctest: +SKIP
    """
    setting = renderer_setting(config)
    if setting == "sqlfeast":
        return None
    where = "SQLFEAST_DBT" if os.environ.get("SQLFEAST_DBT") else "vars.sqlfeast.dbt-executable in dbt_project.yml"
    named = os.environ.get("SQLFEAST_DBT") or config.dbt_executable
    if named:
        executable = Path(named).expanduser()
        if not executable.is_absolute():
            executable = config.root / executable
        python = _interpreter_of(executable) if executable.is_file() else None
        if python is None:
            raise ConfigError(
                f"{where} names {named}, which is not a dbt executable",
                Location("dbt_project.yml") if where != "SQLFEAST_DBT" else None,
                hint="point it at the dbt of a virtualenv (e.g. /path/venv/bin/dbt), or unset it",
            )
        return DbtInstall(python, str(executable))
    problem = None
    try:
        version = metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        version = None
    if version is None or util.find_spec("dbt.cli") is None:
        problem = "dbt-core is not installed"
    elif not SUPPORTED[0] <= _version(version) < SUPPORTED[1]:
        problem = f"dbt-core {version} is installed; sqlfeast renders with dbt-core 1.11"
    elif util.find_spec(f"dbt.adapters.{target.type}") is None:
        problem = f"dbt's {target.type} adapter (dbt-{target.type}) is not installed"
    if problem is None:
        return DbtInstall(sys.executable, IN_PROCESS)
    if setting == "dbt":
        raise ConfigError(
            f"the project asks for dbt to render its feature views, but {problem}",
            hint=f"{NEEDS_DBT} (pip install 'sqlfeast[dbt]'), or point SQLFEAST_DBT at a dbt executable",
        )
    return None


def _profiles_dir(config: ProjectConfig, target: Target) -> Path:
    path = Path(target.path)
    return (path if path.is_absolute() else config.root / path).parent


# What is not read by dbt while it renders, or changes on its own (dbt's and sqlfeast's outputs,
# databases); everything else under the project is part of a rendering's fingerprint.
_SKIP_DIRS = {"logs", "__pycache__", "node_modules"}
_SKIP_SUFFIXES = (".duckdb", ".wal", ".db", ".db-journal", ".db-wal", ".db-shm", ".sqlite", ".sqlite3", ".parquet")
_VOLATILE_ENV = {"PYTEST_CURRENT_TEST", "OLDPWD", "_", "SHLVL", "COLUMNS", "LINES"}


def fingerprint(config: ProjectConfig, target: Target, install: DbtInstall, request: dict[str, Any]) -> str:
    """A digest of everything a rendering depends on: the request (views, vars, target), every
    file of the project dbt may read (by path, size and modification time), the profiles file,
    the environment and the dbt installation. A rendering that ran queries is never reused."""
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode())
    skip_top = {Path(config.target_path).parts[0]} if config.target_path else set()
    for folder, dirs, files in os.walk(config.root):
        rel = os.path.relpath(folder, config.root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS and not (rel == "." and d in skip_top)
        )
        for name in sorted(files):
            if name.startswith(".") or name.endswith(_SKIP_SUFFIXES):
                continue
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            digest.update(f"{rel}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for path in (Path(request["profiles_dir"]) / "profiles.yml", Path(install.origin), Path(install.python)):
        try:
            st = path.stat()
            digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}:-\n".encode())
    if install.origin == IN_PROCESS:
        digest.update(metadata.version("dbt-core").encode())
    env = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE_ENV)
    digest.update(json.dumps(env).encode())
    return digest.hexdigest()


def render_with_dbt(
    install: DbtInstall,
    config: ProjectConfig,
    target: Target,
    views: dict[str, tuple[str, str]],
    local_refs: dict[str, str],
    this: dict[str, dict[str, str | None]],
    cli_vars: dict[str, Any],
) -> DbtRendering:
    """Render `views` (name -> (path, template)) with dbt; raise a located error when dbt cannot
    load the project at all (a view's own problem is in the result's `errors`)."""
    folder = config.target_dir / DBT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    request = {
        "project_dir": str(config.root),
        "profiles_dir": str(_profiles_dir(config, target)),
        "target": target.name,
        "vars": cli_vars,
        "target_path": str(folder),
        "views": [{"name": name, "path": path, "sql": text} for name, (path, text) in views.items()],
        "local_refs": local_refs,
        "this": this,
    }
    key = fingerprint(config, target, install, request)
    cache_file = folder / CACHE_FILE
    try:
        cached = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, dict) and cached.get("key") == key:
        result = cached["result"]
    else:
        result = _run_worker(install, config, request)
        if not result.get("fatal") and not result.get("used_database"):
            write_atomic(cache_file, json.dumps({"key": key, "result": result}))
    if result.get("fatal"):
        message = str(result["fatal"])
        path = re.search(r"\((\S+\.(?:sql|yml|yaml))\)", message)
        raise ValidationError(
            f"dbt could not load the project: {message}",
            Location(path.group(1)) if path else Location("dbt_project.yml"),
            hint="run 'dbt parse' to see dbt's own report, or set SQLFEAST_RENDERER=sqlfeast to render without dbt",
        )
    return DbtRendering(
        dbt_version=str(result.get("dbt_version")),
        views={name: DbtView(**view) for name, view in result["compiled"].items()},
        errors={
            _name_of(views, e["path"]): ValidationError(
                "dbt: " + _NODE_NAME.sub("", str(e["message"])), Location(e["path"], e.get("line"))
            )
            for e in result["errors"]
        },
        relations=dict(result.get("relations") or {}),
        sources=dict(result.get("sources") or {}),
    )


def _run_worker(install: DbtInstall, config: ProjectConfig, request: dict[str, Any]) -> dict[str, Any]:
    """One run of dbt_worker.py in dbt's Python: its result, or a ConfigError when it left none."""
    with tempfile.TemporaryDirectory(prefix="sqlfeast-dbt-") as tmp:
        request_file, result_file = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request_file.write_text(json.dumps(request, default=str))
        # -c rather than the script's path: its folder (sqlfeast/compile) must not shadow modules.
        runner = "import runpy, sys; sys.path.pop(0); runpy.run_path(sys.argv[1], run_name='__main__')"
        command = [install.python, "-c", runner, str(WORKER), str(request_file), str(result_file)]
        try:
            proc = subprocess.run(command, cwd=config.root, capture_output=True, text=True)
        except OSError as err:
            raise ConfigError(f"cannot run dbt's Python {install.python}: {err}", hint=NEEDS_DBT) from None
        try:
            result = json.loads(result_file.read_text())
        except (OSError, ValueError):
            tail = " ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
            raise ConfigError(
                f"dbt ({install.origin}) stopped before rendering the feature views: {tail or 'no output'}",
                hint="run 'dbt parse' to see dbt's own report, or set SQLFEAST_RENDERER=sqlfeast",
            ) from None
    return result


def _name_of(views: dict[str, tuple[str, str]], path: str) -> str:
    return next(name for name, (p, _) in views.items() if p == path)


def swap_relations(sql: str, placeholders: dict[str, str]) -> str:
    """Replace each relation name in `sql` (as dbt wrote it) by its placeholder; a name counts only
    where it stands whole (not inside a longer name or another quoted identifier)."""
    if not placeholders:
        return sql
    names = sorted(placeholders, key=len, reverse=True)
    pattern = re.compile(r'(?<![\w."])(' + "|".join(re.escape(n) for n in names) + r')(?![\w"])')
    return pattern.sub(lambda m: placeholders[m.group(1)], sql)


def line_of_call(text: str, function: str, *names: str) -> int | None:
    """The first line of `text` calling `function` with `names` as its string arguments.

    >>> line_of_call("select 1\\nfrom {{ ref('orders') }}", "ref", "orders")
    2
    """
    args = r"\s*,\s*".join(r"['\"]" + re.escape(n) + r"['\"]" for n in names)
    pattern = re.compile(r"\b" + function + r"\s*\(\s*" + args)
    found = pattern.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def cli_vars(config: ProjectConfig, vars: dict[str, Any] | None) -> dict[str, Any]:
    """The vars given for this run only (dbt reads dbt_project.yml's vars itself).

    >>> cli_vars(ProjectConfig(Path("."), "p", "p", vars={"a": 1}), {"a": 1, "b": 2})
    {'b': 2}
    """
    missing = object()
    return {k: v for k, v in (vars or {}).items() if config.vars.get(k, missing) != v}


__all__ = [
    "DbtInstall",
    "DbtRendering",
    "DbtView",
    "cli_vars",
    "find_dbt",
    "line_of_call",
    "render_with_dbt",
    "renderer_setting",
    "swap_relations",
]
