"""The ref() graph: ordering, cycles and dbt-style selection.

>>> order_models({"a": ["b"], "b": []}, {})[0]
['b', 'a']
>>> sorted(select({"a": ["b"], "b": [], "c": []}, ["+a"], tags={}))
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlfeast.errors import Location, RefCycleError, UsageError, suggest


def order_models(
    deps: dict[str, list[str]], where: dict[str, tuple[str, dict[str, int | None]]]
) -> tuple[list[str], list[RefCycleError]]:
    """Dependencies-first order; every cycle found is reported once, as a -> b -> a."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done
    errors: list[RefCycleError] = []
    reported: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in deps.get(node, []):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    first = cycle[0]
                    path, lines = where.get(cycle[-2], ("", {}))
                    errors.append(RefCycleError(cycle, Location(path, lines.get(first)) if path else None))
            elif state.get(dep) is None:
                visit(dep, stack)
        stack.pop()
        state[node] = 2
        order.append(node)

    for node in sorted(deps):
        if node not in state:
            visit(node, [])
    return order, errors


def ancestors(node: str, deps: dict[str, list[str]]) -> list[str]:
    """Every model `node` depends on, directly or not, dependencies first (node excluded)."""
    seen: list[str] = []

    def visit(n: str) -> None:
        for dep in deps.get(n, []):
            if dep not in seen and dep != node:
                visit(dep)
                seen.append(dep)

    visit(node)
    return seen


def descendants(node: str, deps: dict[str, list[str]]) -> set[str]:
    children: dict[str, set[str]] = {}
    for n, ds in deps.items():
        for d in ds:
            children.setdefault(d, set()).add(n)
    out: set[str] = set()
    stack = [node]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def select(deps: dict[str, list[str]], selectors: Iterable[str], tags: dict[str, dict[str, str]]) -> set[str]:
    """dbt-style --select: names, 'tag:key' or 'tag:key=value', '+x' (x and its parents),
    'x+' (x and its children); several selectors are a union."""
    chosen: set[str] = set()
    for raw in selectors:
        for selector in raw.replace(",", " ").split():
            up, down = selector.startswith("+"), selector.endswith("+")
            core = selector.strip("+")
            if core.startswith("tag:"):
                want = core[4:]
                key, _, value = want.partition("=")
                base = {
                    n for n, t in tags.items() if (key in t and (not value or t[key] == value)) or want in t.values()
                }
            elif core in deps:
                base = {core}
            else:
                raise UsageError(
                    f"--select '{selector}' matches no model",
                    hint=suggest(core, deps) or "use a model name, tag:NAME, +name or name+",
                )
            for name in list(base):
                if up:
                    base |= set(ancestors(name, deps))
                if down:
                    base |= descendants(name, deps)
            chosen |= base
    return chosen
