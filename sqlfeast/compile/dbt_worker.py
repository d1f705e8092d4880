"""Render feature views with dbt itself; runs in dbt's own Python, as a script.

Run as ``python dbt_worker.py REQUEST.json RESULT.json`` by the interpreter dbt is installed in
(sqlfeast's own, or another virtualenv's), so this file imports only the standard library and
dbt, never sqlfeast. One run loads the project the way every dbt command does (profile, project,
adapter, the manifest with dbt's partial parsing, kept under the request's target path) and
compiles each feature view as dbt compiles an inline query (``dbt compile --inline``): parsed as
a SQL operation node of the root project, its refs and sources resolved, rendered with dbt's
runtime context and ephemeral models injected as CTEs. Two names differ from a plain inline
query: ``ref()`` to another feature view gives sqlfeast's placeholder for it (feature views are
not dbt nodes), and ``this`` is the relation sqlfeast builds the view as.

The request: ``project_dir``, ``profiles_dir``, ``target``, ``vars`` (given on the command line),
``target_path`` (dbt's artifacts and log), ``views`` (``name``, ``path``, ``sql``),
``local_refs`` (feature view name -> placeholder text), ``this`` (``database``, ``schema``,
``identifier`` per view). The result: ``dbt_version``, ``compiled`` (name -> ``sql``, ``refs``
(``relation``, ``name``, ``package``, ``version`` of each dbt node read), ``local_refs``, ``sources``), ``errors`` (``path``, ``line``, ``message``), ``relations``
(``name``, ``package.name`` and ``.vN`` keys -> relation name), ``sources`` (``source.table`` ->
relation name), ``used_database`` (whether a view ran a query while rendering, e.g. run_query())
and ``fatal`` (a message when dbt could not load the project at all).

>>> template_line(ValueError("x")) is None
True
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from typing import Any

SUPPORTED = ((1, 11), (1, 12))  # dbt-core versions whose internals this file uses: [1.11, 1.12)
TOP_LEVEL = "top-level template code"  # Jinja's name for a template's own frames


def template_line(err: BaseException) -> int | None:
    """The line of the feature view's own template where `err` happened: its outermost Jinja
    frame in the chain of exceptions dbt wraps (a macro's error passes through the view's line)."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lineno = getattr(current, "lineno", None)
        if type(current).__name__ == "TemplateSyntaxError" and isinstance(lineno, int):
            return lineno
        tb = current.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_name == TOP_LEVEL and code.co_filename == "<template>":
                return tb.tb_lineno
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return None


_MISSING_NODE = re.compile(r"depends on a (?:node|source) named '([^']+)'")


def _missing_name_line(message: str, sql: str) -> int | None:
    """The line of a ref()/source() naming a node dbt does not know (dbt reports only the name).

    >>> _missing_name_line("... depends on a node named 'nosuch' which was not found", "select\\n{{ ref('nosuch') }}")
    2
    """
    found = _MISSING_NODE.search(message)
    if not found:
        return None
    name = found.group(1).split(".")[-1]
    for number, line in enumerate(sql.splitlines(), 1):
        if re.search(r"\b(ref|source)\s*\(.*['\"]" + re.escape(name) + r"['\"]", line):
            return number
    return None


def _message(err: BaseException) -> str:
    msg = getattr(err, "msg", None) or str(err)
    lines = [line.strip() for line in str(msg).strip().splitlines() if line.strip()]
    return " ".join(lines) or type(err).__name__


def _relations(manifest: Any, project: str) -> tuple[dict[str, str], dict[str, str]]:
    """Relation names of every model, seed and snapshot, and of every source, as dbt names them."""
    relations: dict[str, str] = {}
    for node in manifest.nodes.values():
        kind = getattr(node.resource_type, "value", str(node.resource_type))
        relation = getattr(node, "relation_name", None)
        if kind not in ("model", "seed", "snapshot") or not relation:
            continue
        name, package, version = node.name, node.package_name, getattr(node, "version", None)
        keys = [f"{package}.{name}"] if package != project else [name, f"{package}.{name}"]
        if version is not None:
            keys = [f"{k}.v{version}" for k in keys]
            if str(version) == str(getattr(node, "latest_version", None)):
                keys += [f"{package}.{name}"] + ([name] if package == project else [])
        for key in keys:
            relations.setdefault(key, relation)
    sources = {
        f"{s.source_name}.{s.name}": s.relation_name for s in manifest.sources.values() if s.package_name == project
    }
    return relations, sources


def _render(ctx: Any, request: dict[str, Any], result: dict[str, Any]) -> None:
    from dbt.adapters.factory import get_adapter
    from dbt.compilation import Compiler
    from dbt.parser.manifest import process_node
    from dbt.parser.sql import SqlBlockParser

    config, manifest = ctx.obj["runtime_config"], ctx.obj["manifest"]
    relations, sources = _relations(manifest, config.project_name)
    result["relations"], result["sources"] = relations, sources
    local: dict[str, str] = request.get("local_refs") or {}
    adapter = get_adapter(config)
    used: dict[str, list[str]] = {}

    class ViewCompiler(Compiler):
        """dbt's compiler, with ref() to feature views and `this` as sqlfeast builds them."""

        def _create_node_context(self, node: Any, manifest: Any, extra_context: dict[str, Any]) -> dict[str, Any]:
            context = super()._create_node_context(node, manifest, extra_context)
            dbt_ref = context["ref"]
            seen = used.setdefault(node.name, [])

            def ref(*args: Any, **kwargs: Any) -> Any:
                if len(args) == 1 and not kwargs and args[0] in local:
                    seen.append(args[0])
                    return local[args[0]]
                return dbt_ref(*args, **kwargs)

            context["ref"] = ref
            this = (request.get("this") or {}).get(node.name)
            if this:
                context["this"] = adapter.Relation.create(**this)
            return context

    compiler = ViewCompiler(config)
    parser = SqlBlockParser(project=config, manifest=manifest, root_project=config)
    for view in request["views"]:
        try:
            node = parser.parse_remote(view["sql"], view["name"])
            if node.config.enabled is False:  # `+enabled: false` for every model: as dbt compile --inline does
                node.config.enabled = True
                manifest.disabled.pop(node.unique_id, None)
                manifest.nodes[node.unique_id] = node
            # Refs to other feature views are sqlfeast's to resolve, not dbt's.
            node.refs = [r for r in node.refs if not (r.package is None and r.version is None and r.name in local)]
            process_node(config, manifest, node)
            with adapter.connection_named(node.unique_id, node):  # for run_query(), as dbt compile has
                compiled = compiler.compile_node(node, manifest, {}, write=False)
                connection = adapter.connections.get_if_exists()
                if connection is not None and connection.state == "open":
                    result["used_database"] = True  # the SQL depends on the data: not to be reused
        except Exception as err:  # noqa: BLE001 - every failure becomes the view's located message
            line = template_line(err) or _missing_name_line(str(err), view["sql"])
            result["errors"].append({"path": view["path"], "line": line, "message": _message(err)})
            continue
        finally:
            manifest.nodes.pop(f"sql_operation.{config.project_name}.{view['name']}", None)
        depends = list(compiled.depends_on.nodes)
        result["compiled"][view["name"]] = {
            "sql": compiled.compiled_code,
            "refs": [
                {
                    "relation": manifest.nodes[d].relation_name,
                    "name": manifest.nodes[d].name,
                    "package": manifest.nodes[d].package_name,
                    "version": None
                    if getattr(manifest.nodes[d], "version", None) is None
                    else str(manifest.nodes[d].version),
                }
                for d in depends
                if d in manifest.nodes and getattr(manifest.nodes[d], "relation_name", None)
            ],
            "sources": [
                f"{manifest.sources[d].source_name}.{manifest.sources[d].name}"
                for d in depends
                if d in manifest.sources
            ],
            "local_refs": sorted(set(used.get(view["name"], []))),
        }


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Load the dbt project and compile every view of `request` (see the module's docstring)."""
    import click
    from dbt.cli import params as p
    from dbt.cli import requires
    from dbt.cli.main import cli, dbtRunner, global_flags
    from dbt.version import __version__ as dbt_version

    result: dict[str, Any] = {
        "dbt_version": str(dbt_version),
        "compiled": {},
        "errors": [],
        "relations": {},
        "sources": {},
        "fatal": None,
        "used_database": False,
    }
    version = tuple(int(part) for part in str(dbt_version).split(".")[:2])
    if not SUPPORTED[0] <= version < SUPPORTED[1]:
        result["fatal"] = f"dbt-core {dbt_version} is not supported (sqlfeast renders with dbt-core 1.11)"
        result["unsupported"] = True
        return result

    @click.command("sqlfeast-render")
    @click.pass_context
    @global_flags
    @p.profiles_dir
    @p.project_dir
    @p.target_path
    @p.threads
    @p.vars
    @requires.postflight
    @requires.preflight
    @requires.profile
    @requires.project
    @requires.catalogs
    @requires.runtime_config
    @requires.manifest(write=False)
    def render(ctx: Any, **kwargs: Any) -> tuple[None, bool]:
        _render(ctx, request, result)
        return None, True

    cli.add_command(render)
    args = [
        "sqlfeast-render",
        "--project-dir",
        request["project_dir"],
        "--profiles-dir",
        request["profiles_dir"],
        "--target-path",
        request["target_path"],
        "--log-path",
        request["target_path"],
        "--quiet",
        "--no-send-anonymous-usage-stats",
        "--no-use-colors",
    ]
    if request.get("target"):
        args += ["--target", request["target"]]
    if request.get("vars"):
        args += ["--vars", json.dumps(request["vars"])]
    outcome = dbtRunner().invoke(args)
    if not outcome.success and result["fatal"] is None and not result["compiled"] and not result["errors"]:
        err = outcome.exception
        result["fatal"] = _message(err) if err is not None else "dbt could not load the project"
    return result


def main(argv: list[str]) -> int:
    """`python dbt_worker.py REQUEST.json RESULT.json`: 0 when the result was written."""
    request_path, result_path = argv[-2], argv[-1]
    with open(request_path) as f:
        request = json.load(f)
    try:
        result = run(request)
    except ImportError as err:
        result = {"fatal": f"dbt is not importable here: {err}", "unsupported": True}
    except Exception as err:  # noqa: BLE001 - reported to sqlfeast, which shows it without a traceback
        result = {"fatal": _message(err), "trace": traceback.format_exc()}
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
