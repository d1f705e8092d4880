"""Lineage: the graph sources -> models -> feature views -> feature services (and push sources ->
feature views), its layered layout, and its drawing as inline SVG.

Layout: each node's layer is the length of the longest path reaching it, so every edge points
right; within a layer nodes are ordered by the mean position of their neighbours (a few
barycenter sweeps down and up, which removes most crossings), then each layer is centred. Node
boxes keep one size and a readable font at any project size; a layer taller than about
sqrt(2 x nodes) rows wraps into sub-columns, so a large graph grows sideways and scrolls.

>>> g = Graph()
>>> for n in ("source:raw.t", "model:m", "feature_view:v"): g.add(n)
>>> g.edge("source:raw.t", "model:m"); g.edge("model:m", "feature_view:v")
>>> layout(g).layers
{'source:raw.t': 0, 'model:m': 1, 'feature_view:v': 2}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

from sqlfeast.core.registry import Registry

NODE_W, NODE_H, ROW, GAP_X, SUB_GAP, MARGIN, MIN_ROWS = 200, 24, 32, 80, 24, 12, 24
KINDS = ("source", "push_source", "model", "feature_view", "feature_service")
LABELS = {
    "source": "source",
    "push_source": "push source",
    "model": "model",
    "feature_view": "feature view",
    "feature_service": "feature service",
}


@dataclass
class Graph:
    nodes: list[str] = field(default_factory=list)  # "kind:name"
    parents: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    children: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def add(self, node: str) -> None:
        if node not in self.parents:
            self.nodes.append(node)
            self.parents[node] = []
            self.children.setdefault(node, [])

    def edge(self, src: str, dst: str) -> None:
        if src in self.parents and dst in self.parents and src not in self.parents[dst]:
            self.parents[dst].append(src)
            self.children[src].append(dst)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(p, n) for n in self.nodes for p in self.parents[n]]

    def around(self, node: str) -> "Graph":
        """The node with everything upstream and downstream of it."""
        keep = {node}
        for links in (self.parents, self.children):
            todo = [node]
            while todo:
                for other in links[todo.pop()]:
                    if other not in keep:
                        keep.add(other)
                        todo.append(other)
        order = self._order()
        sub = Graph()
        kept = sorted(keep, key=order.__getitem__)
        for n in kept:
            sub.add(n)
        for n in kept:
            for p in self.parents[n]:
                if p in keep:
                    sub.parents[n].append(p)
                    sub.children[p].append(n)
        return sub

    def _order(self) -> dict[str, int]:
        if self._index is None or len(self._index) != len(self.nodes):
            self._index = {n: i for i, n in enumerate(self.nodes)}
        return self._index


def build(registry: Registry) -> Graph:
    """The project's lineage graph from its registry."""
    g = Graph()
    for key in sorted(registry.sources):
        g.add(f"source:{key}")
    for name in sorted(registry.push_sources):
        g.add(f"push_source:{name}")
    for name in sorted(registry.models):
        g.add(f"model:{name}")
    for name in sorted(registry.feature_views):
        g.add(f"feature_view:{name}")
    for name in sorted(registry.feature_services):
        g.add(f"feature_service:{name}")
    for kind, objects in (("model", registry.models), ("feature_view", registry.feature_views)):
        for name, obj in objects.items():
            for dep in obj.depends_on:
                g.edge(dep, f"{kind}:{name}")
    for name, push in registry.push_sources.items():
        for view in push.feature_views:
            g.edge(f"push_source:{name}", f"feature_view:{view}")
    for name, service in registry.feature_services.items():
        for ref in service.features:
            g.edge(f"feature_view:{ref.partition(':')[0]}", f"feature_service:{name}")
    return g


@dataclass
class Layout:
    layers: dict[str, int]
    xy: dict[str, tuple[float, float]]
    width: float
    height: float


def layout(g: Graph, sweeps: int = 4) -> Layout:
    """Layered positions of every node (see the module docstring)."""
    layers: dict[str, int] = {}
    indegree = {n: len(g.parents[n]) for n in g.nodes}
    ready = [n for n in g.nodes if indegree[n] == 0]
    for n in ready:
        layers[n] = 0
    while ready:
        nxt = []
        for n in ready:
            for c in g.children[n]:
                layers[c] = max(layers.get(c, 0), layers[n] + 1)
                indegree[c] -= 1
                if indegree[c] == 0:
                    nxt.append(c)
        ready = nxt
    for n in g.nodes:  # a cycle cannot compile; keep any leftover visible anyway
        layers.setdefault(n, 0)
    count = max(layers.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for n in g.nodes:
        columns[layers[n]].append(n)
    pos = {n: float(i) for col in columns for i, n in enumerate(col)}

    def sweep(order: range, links: dict[str, list[str]]) -> None:
        for layer in order:
            col = columns[layer]

            def centre(n: str) -> float:
                near = [pos[m] for m in links[n]]
                return sum(near) / len(near) if near else pos[n]

            col.sort(key=lambda n: (centre(n), pos[n]))
            offset = _offset(len(col), max(len(c) for c in columns))
            for i, n in enumerate(col):
                pos[n] = i + offset

    for _ in range(sweeps):
        sweep(range(1, count), g.parents)
        sweep(range(count - 2, -1, -1), g.children)
    # A layer taller than `rows` is wrapped into side-by-side sub-columns, so a project of
    # hundreds of views stays about one screen tall and scrolls sideways instead.
    rows = max(MIN_ROWS, math.ceil(math.sqrt(2 * len(g.nodes))))
    tallest = min(max((len(c) for c in columns), default=0), rows)
    xy: dict[str, tuple[float, float]] = {}
    x: float = MARGIN
    for col in columns:
        chunks = [col[i : i + rows] for i in range(0, len(col), rows)] or [[]]
        for k, chunk in enumerate(chunks):
            offset = _offset(len(chunk), tallest)
            for i, n in enumerate(chunk):
                xy[n] = (x, MARGIN + (i + offset) * ROW)
            x += NODE_W + (SUB_GAP if k < len(chunks) - 1 else GAP_X)
    return Layout(layers, xy, x - GAP_X + MARGIN, 2 * MARGIN + max(tallest, 1) * ROW - (ROW - NODE_H))


def _offset(size: int, tallest: int) -> float:
    return (tallest - size) / 2


def _label(name: str, limit: int = 27) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def svg(g: Graph, href: Callable[[str], str], current: str | None = None, marks: dict[str, str] | None = None) -> str:
    """Inline SVG of the graph; every node links to its page (`href(node)`); `current` is
    highlighted; `marks` adds a test status (pass / warn / fail) to nodes."""
    lay = layout(g)
    marks = marks or {}
    out = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" role="img" '
        f'aria-label="lineage graph of {len(g.nodes)} objects">'
    ]
    out.append('<g class="edges">')
    for src, dst in g.edges:
        (x1, y1), (x2, y2) = lay.xy[src], lay.xy[dst]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
        bend = max((x2 - x1) / 2, 20)
        out.append(
            f'<path data-from="{escape(src)}" data-to="{escape(dst)}" '
            f'd="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"/>'
        )
    out.append("</g>")
    for node in g.nodes:
        kind, _, name = node.partition(":")
        x, y = lay.xy[node]
        cls = (
            f"node {kind}" + (" current" if node == current else "") + (f" mark-{marks[node]}" if node in marks else "")
        )
        out.append(
            f'<a href="{escape(href(node))}" class="{cls}" data-id="{escape(node)}">'
            f"<title>{escape(LABELS[kind])} {escape(name)}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="4"/>'
            f'<text x="{x + 8:.0f}" y="{y + 16:.0f}">{escape(_label(name))}</text></a>'
        )
    out.append("</svg>")
    return "".join(out)
