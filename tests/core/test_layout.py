"""The package layout holds: no import cycle (lazy and TYPE_CHECKING imports counted), layers
import only downwards, and warehouse or online-store names are tested only in their adapters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sqlfeast"

# Lower layers first; a module may import its own layer and the layers before it.
LAYERS = [
    "errors",
    "core",
    "project",
    "compile",
    "warehouse",
    "online",
    "offline",
    "catalog",
    "serving",
    "feature_store",
    "cli",
    "__init__",
    "__main__",
]
# The light path: what `from sqlfeast import OnlineClient` and the feature server may reach.
LIGHT = {"errors", "core", "project", "online", "serving"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports() -> dict[str, set[str]]:
    """Every sqlfeast module -> the sqlfeast modules it imports anywhere in its body."""
    graph: dict[str, set[str]] = {}
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t.startswith("sqlfeast") and t != name and t != "sqlfeast":
                    found.add(t)
        graph[name] = found
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycle() -> None:
    graph = imports()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_layers_import_downwards_only() -> None:
    wrong = []
    for module, targets in imports().items():
        here = LAYERS.index(layer(module))
        for target in targets:
            there = LAYERS.index(layer(target))
            if there > here:
                wrong.append(f"{module} imports {target}")
            if layer(module) in LIGHT and layer(target) not in LIGHT and layer(module) != "serving":
                wrong.append(f"{module} (light path) imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_serving_reaches_no_warehouse_at_import_time() -> None:
    """The feature server imports the offline push module (light) and the warehouse only lazily."""
    graph = imports()
    allowed = {"sqlfeast.offline.push", "sqlfeast.warehouse"}
    heavy = [
        f"{m} imports {t}"
        for m, targets in graph.items()
        if layer(m) == "serving"
        for t in targets
        if layer(t) not in LIGHT and t not in allowed
    ]
    assert not heavy, heavy


_NAME_TEST = re.compile(r"""(dialect|type|kind)\s*[!=]=\s*["'](duckdb|snowflake|dynamodb|sqlite)["']""")


def test_warehouse_and_store_names_are_tested_only_in_their_adapters() -> None:
    allowed = (
        "warehouse/",
        "online/dynamodb",
        "online/sqlite",
        "online/__init__.py",
        "core/dialects.py",
        "core/types.py",
    )
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(allowed):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _NAME_TEST.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
