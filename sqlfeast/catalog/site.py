"""The static catalog site: one HTML page per object, an index with the whole lineage, a search.

Everything the pages draw is written beside them (a stylesheet, one small script, the search
index as a script, histogram SVGs), so the site opens from the file system with no network.
Pages live at ``<kind>/<name>.html`` under the site folder (default ``target/catalog``).

>>> page_path("feature_view:driver_hourly_stats")
'feature_view/driver_hourly_stats.html'
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from sqlfeast.catalog import lineage
from sqlfeast.catalog.charts import histogram_svg
from sqlfeast.core.registry import Registry

ASSETS = Path(__file__).parent / "assets"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_STATUS_ORDER = {"pass": 0, "warn": 1, "fail": 2}


@functools.cache
def page_path(node: str) -> str:
    """The page of a lineage node id ("kind:name"), relative to the site folder."""
    kind, _, name = node.partition(":")
    return f"{kind}/{_UNSAFE.sub('_', name)}.html"


def _h(value: Any) -> str:
    return escape("" if value is None else str(value))


def _duration(seconds: int) -> str:
    if not seconds:
        return "none"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.3e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


class Site:
    """Writes the catalog of one registry (plus optional test results and statistics)."""

    def __init__(
        self,
        registry: Registry,
        out: Path,
        results: dict[str, Any] | None = None,
        stats: dict[str, Any] | None = None,
        materialized: dict[str, str] | None = None,
        target: str = "",
    ):
        self.registry = registry
        self.out = Path(out)
        self.results = results
        self.stats = stats or {}  # view -> ViewStats
        self.materialized = materialized or {}
        self.target = target
        self.graph = lineage.build(registry)
        self.tests: dict[str, list[dict[str, Any]]] = {}
        for r in (results or {}).get("results", []):
            self.tests.setdefault(r["view"], []).append(r)
        self.marks = {
            f"feature_view:{v}": max((r["status"] for r in rs), key=lambda s: _STATUS_ORDER.get(s, 0))
            for v, rs in self.tests.items()
            if v in registry.feature_views
        }
        self.pages = 0
        self.written: set[Path] = set()

    # -- writing -----------------------------------------------------------------------------
    def write(self) -> Path:
        """Write the whole site; returns the index page."""
        before = set(self.out.rglob("*")) if self.out.exists() else set()
        (self.out / "assets").mkdir(parents=True, exist_ok=True)
        for asset in ("style.css", "catalog.js"):
            shutil.copyfile(ASSETS / asset, self.out / "assets" / asset)
            self.written.add(self.out / "assets" / asset)
        for node in self.graph.nodes:
            (self.out / node.partition(":")[0]).mkdir(exist_ok=True)
        r = self.registry
        for key, src in r.sources.items():
            self._page(f"source:{key}", self._source(src))
        for name, push in r.push_sources.items():
            self._page(f"push_source:{name}", self._push(push))
        for name, model in r.models.items():
            self._page(f"model:{name}", self._model(model))
        for name, view in r.feature_views.items():
            self._page(f"feature_view:{name}", self._view(view))
        for name, service in r.feature_services.items():
            self._page(f"feature_service:{name}", self._service(service))
        (self.out / "entity").mkdir(exist_ok=True)
        for name, entity in r.entities.items():
            self._page(f"entity:{name}", self._entity(entity), graph=False)
        self._write_search()
        index = self.out / "index.html"
        self._write(index, self._html("", f"{r.project} catalog", self._index()))
        self.pages += 1
        # Files are overwritten in place (cheaper than removing the folder); stale ones go.
        for path in sorted(before - self.written, reverse=True):
            if path.is_file():
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return index

    def _write(self, path: Path, text: str) -> None:
        """Write one file of the site, leaving it alone when it already holds `text` (regenerating
        an unchanged catalog then reads its pages instead of replacing them)."""
        try:
            same = path.stat().st_size == len(text.encode()) and path.read_text() == text
        except OSError:
            same = False
        if not same:
            path.write_text(text)
        self.written.add(path)

    def _page(self, node: str, body: str, graph: bool = True) -> None:
        kind, _, name = node.partition(":")
        if graph:
            sub = self.graph.around(node)
            lineage_html = (
                f'<h2>Lineage</h2><p class="muted">Upstream and downstream of this {lineage.LABELS[kind]}; '
                f'every box links to its page.</p><div class="graph">'
                f"{lineage.svg(sub, lambda n: '../' + page_path(n), node, self.marks)}</div>"
            )
            at = body.find("</dl>")  # right below the header metadata
            body = body[: at + 5] + lineage_html + body[at + 5 :] if at >= 0 else body + lineage_html
        title = f"{LABEL_OF[kind]} {name}"
        self._write(self.out / page_path(node), self._html("../", title, body, kind=LABEL_OF[kind], name=name))
        self.pages += 1

    def _html(self, up: str, title: str, body: str, kind: str = "", name: str = "") -> str:
        heading = f'<p class="kind">{_h(kind)}</p><h1>{_h(name)}</h1>' if kind else f"<h1>{_h(title)}</h1>"
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_h(title)}</title><link rel="stylesheet" href="{up}assets/style.css"></head>'
            f'<body data-root="{up}"><header><a class="home" href="{up}index.html">{_h(self.registry.project)}'
            f' catalog</a><div class="search"><input id="search" type="search" autocomplete="off" '
            f'placeholder="Search by name, description or tag" aria-label="Search the catalog">'
            f'<ul id="results" role="listbox"></ul></div></header><main>{heading}{body}</main>'
            f'<script src="{up}assets/search-index.js"></script><script src="{up}assets/catalog.js"></script>'
            f"</body></html>\n"
        )

    def _link(self, node: str, up: str = "../") -> str:
        name = node.partition(":")[2]
        return f'<a href="{up}{page_path(node)}">{_h(name)}</a>'

    # -- pages ---------------------------------------------------------------------------------
    def _index(self) -> str:
        r = self.registry
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        summary = (
            f'<p class="muted">{len(r.feature_views)} feature views, {len(r.models)} models, '
            f"{len(r.sources)} sources, {len(r.feature_services)} feature services, "
            f"{len(r.push_sources)} push sources, {len(r.entities)} entities; target "
            f"{_h(self.target)}; generated {generated}.</p>"
        )
        if self.results:
            s = self.results.get("summary", {})
            summary += (
                f"<p>Data tests ({_h(self.results.get('generated_at'))} UTC): "
                f'<span class="mark pass">{s.get("pass", 0)} pass</span> '
                f'<span class="mark warn">{s.get("warn", 0)} warn</span> '
                f'<span class="mark fail">{s.get("fail", 0)} fail</span></p>'
            )
        body = [
            summary,
            '<h2>Lineage</h2><p class="muted">Sources and push sources on the left, then models, '
            "feature views and feature services; hover a box to follow its edges, click to open it.</p>",
            '<p class="legend">'
            + "".join(f'<span class="key {k}">{lineage.LABELS[k]}</span>' for k in lineage.KINDS)
            + "</p>",
            f'<div class="graph">{lineage.svg(self.graph, page_path, marks=self.marks)}</div>',
        ]
        rows = []
        for name, v in sorted(r.feature_views.items()):
            mark = self.marks.get(f"feature_view:{name}")
            rows.append(
                f"<tr><td>{self._link('feature_view:' + name, '')}</td><td>{_h(', '.join(v.entities))}</td>"
                f"<td>{len(v.features)}</td><td>{_h(v.owner)}</td><td>{_h(v.description)}</td>"
                f"<td>{self._mark(mark) if mark else ''}</td></tr>"
            )
        body.append(
            '<h2>Feature views</h2><table class="list"><thead><tr><th>name</th><th>entities</th>'
            "<th>features</th><th>owner</th><th>description</th><th>tests</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
        )
        for kind, title, objects in (
            ("feature_service", "Feature services", r.feature_services),
            ("entity", "Entities", r.entities),
            ("model", "Models", r.models),
            ("source", "Sources", r.sources),
            ("push_source", "Push sources", r.push_sources),
        ):
            if objects:
                items = "".join(f"<li>{self._link(kind + ':' + n, '')}</li>" for n in sorted(objects))
                body.append(f'<h2>{title}</h2><ul class="columns">{items}</ul>')
        return "".join(body)

    def _mark(self, status: str) -> str:
        return f'<span class="mark {status}">{status}</span>'

    def _meta(self, rows: list[tuple[str, str]]) -> str:
        return '<dl class="meta">' + "".join(f"<dt>{_h(k)}</dt><dd>{v}</dd>" for k, v in rows if v) + "</dl>"

    def _sql(self, sql: dict[str, str]) -> str:
        return "".join(
            f'<details class="sql"><summary>Compiled SQL ({_h(d)})</summary><pre><code>{_h(text)}'
            f"</code></pre></details>"
            for d, text in sorted(sql.items())
        )

    def _view(self, v) -> str:
        tags = " ".join(f'<span class="tag">{_h(k)}={_h(val)}</span>' for k, val in v.tags.items())
        stats = self.stats.get(v.name)
        materialized = self.materialized.get(v.name)
        meta = self._meta(
            [
                ("description", _h(v.description)),
                ("entities", ", ".join(self._link("entity:" + e) for e in v.entities)),
                ("join keys", _h(", ".join(v.join_keys))),
                ("timestamp", _h(v.timestamp)),
                ("created timestamp", _h(v.created_timestamp)),
                ("ttl", _duration(v.ttl_seconds)),
                ("online", "yes" if v.online else "no (offline only)"),
                ("owner", _h(v.owner)),
                ("tags", tags),
                ("file", f"<code>{_h(v.path)}</code>"),
                ("meta", _h(json.dumps(v.meta, default=str)) if v.meta else ""),
                ("rows", _fmt(stats.rows) if stats else ""),
                ("latest event", _h(stats.latest_event) if stats and stats.latest_event else ""),
                (
                    "online store",
                    f"materialized up to {_h(materialized)} UTC"
                    if materialized
                    else ("not materialized yet" if v.online and self.materialized is not None else ""),
                ),
            ]
        )
        head = "<tr><th>feature</th><th>type</th><th>description</th>"
        if stats:
            head += (
                "<th>null share</th><th>min</th><th>max</th><th>mean</th><th>distinct (approx.)</th><th>histogram</th>"
            )
        rows = []
        for f in v.features:
            row = f"<tr><td><code>{_h(f.name)}</code></td><td>{_h(f.type)}</td><td>{_h(f.description)}</td>"
            fs = stats.features.get(f.name) if stats else None
            if fs is not None:
                img = ""
                if fs.histogram:
                    rel = f"img/{_UNSAFE.sub('_', v.name)}/{_UNSAFE.sub('_', f.name)}.svg"
                    path = self.out / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._write(path, histogram_svg(fs.histogram, fs.histogram_kind, f.name))
                    img = f'<img src="../{rel}" alt="histogram of {_h(f.name)}" width="260" height="96">'
                row += (
                    f"<td>{fs.null_share:.1%}</td><td>{_h(_fmt(fs.min))}</td><td>{_h(_fmt(fs.max))}</td>"
                    f"<td>{_h(_fmt(fs.mean))}</td><td>{_h(_fmt(fs.distinct))}</td><td>{img}</td>"
                )
            rows.append(row + "</tr>")
        body = [
            meta,
            f'<h2>Features</h2><table class="features"><thead>{head}</tr></thead><tbody>'
            + "".join(rows)
            + "</tbody></table>",
        ]
        if stats:
            sampled = max((fs.sampled or 0 for fs in stats.features.values()), default=0)
            body.append(
                '<p class="muted">Statistics computed in the warehouse at generation time; distinct '
                "counts are approximate (HyperLogLog)."
                + (
                    f" Histograms are counted from a uniform sample of {sampled:,} of the {stats.rows:,} rows"
                    " and scaled to them."
                    if sampled
                    else ""
                )
                + "</p>"
            )
        body.append(self._tests(v))
        body.append(self._sql(v.sql))
        return "".join(body)

    def _tests(self, v) -> str:
        if not v.tests and v.name not in self.tests:
            return ""
        ran = {r["test"]: r for r in self.tests.get(v.name, [])}
        rows = []
        for t in v.tests:
            r = ran.pop(t.id, None)
            rows.append(self._test_row(t.id, t.severity, r, f"{t.path}:{t.line}"))
        for test_id, r in ran.items():  # e.g. the online skew check
            rows.append(self._test_row(test_id, r["severity"], r, r.get("path") or ""))
        when = f" (last run {_h(self.results.get('generated_at'))} UTC)" if self.results else " (not run yet)"
        return (
            f'<h2>Data tests{when}</h2><table class="tests"><thead><tr><th>test</th><th>severity</th>'
            f"<th>status</th><th>result</th><th>declared at</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _test_row(self, test_id: str, severity: str, r: dict | None, where: str) -> str:
        status = self._mark(r["status"]) if r else '<span class="mark none">not run</span>'
        detail = _h(r["message"]) if r else ""
        if r and r.get("rows"):
            detail += "<pre>" + _h("\n".join(json.dumps(x, default=str) for x in r["rows"])) + "</pre>"
        return (
            f"<tr><td><code>{_h(test_id)}</code></td><td>{_h(severity)}</td><td>{status}</td>"
            f"<td>{detail}</td><td><code>{_h(where)}</code></td></tr>"
        )

    def _model(self, m) -> str:
        cols = "".join(f"<tr><td><code>{_h(c)}</code></td><td>{_h(t)}</td></tr>" for c, t in m.columns.items())
        return (
            self._meta([("file", f"<code>{_h(m.path)}</code>")])
            + f'<h2>Columns</h2><table class="list"><tbody>{cols}</tbody></table>'
            + self._sql(m.sql)
        )

    def _source(self, s) -> str:
        relation = ".".join(p for p in (s.database, s.schema, s.identifier or s.name) if p)
        cols = "".join(f"<tr><td><code>{_h(c)}</code></td><td>{_h(t)}</td></tr>" for c, t in s.columns.items())
        return self._meta(
            [
                ("relation", f"<code>{_h(relation)}</code>"),
                ("external location", f"<code>{_h(s.external_location)}</code>" if s.external_location else ""),
                ("file", f"<code>{_h(s.path)}</code>"),
            ]
        ) + (f'<h2>Columns</h2><table class="list"><tbody>{cols}</tbody></table>' if cols else "")

    def _push(self, p) -> str:
        cols = "".join(f"<tr><td><code>{_h(c)}</code></td><td>{_h(t)}</td></tr>" for c, t in p.schema.items())
        return (
            self._meta(
                [
                    ("description", _h(p.description)),
                    ("timestamp", _h(p.timestamp)),
                    ("feeds", ", ".join(self._link("feature_view:" + v) for v in p.feature_views)),
                    ("file", f"<code>{_h(p.path)}</code>"),
                ]
            )
            + f'<h2>Schema</h2><table class="list"><tbody>{cols}</tbody></table>'
        )

    def _service(self, s) -> str:
        items = []
        for ref in s.features:
            view, _, feature = ref.partition(":")
            items.append(
                f"<li>{self._link('feature_view:' + view)}{':' + _h(feature) if feature else ' (all features)'}</li>"
            )
        return (
            self._meta([("description", _h(s.description)), ("file", f"<code>{_h(s.path)}</code>")])
            + f"<h2>Features</h2><ul>{''.join(items)}</ul>"
        )

    def _entity(self, e) -> str:
        views = [n for n, v in sorted(self.registry.feature_views.items()) if e.name in v.entities]
        return (
            self._meta(
                [
                    ("description", _h(e.description)),
                    ("join keys", _h(", ".join(e.join_keys))),
                    ("file", f"<code>{_h(e.path)}</code>"),
                ]
            )
            + "<h2>Feature views</h2><ul>"
            + "".join(f"<li>{self._link('feature_view:' + n)}</li>" for n in views)
            + "</ul>"
        )

    # -- search --------------------------------------------------------------------------------
    def _write_search(self) -> None:
        r = self.registry
        entries = []

        def add(node: str, description: str = "", tags: dict[str, str] | None = None, extra: str = "") -> None:
            kind, _, name = node.partition(":")
            entries.append(
                {
                    "n": name,
                    "k": LABEL_OF[kind],
                    "d": description,
                    "t": " ".join(f"{k}={v}" for k, v in (tags or {}).items()),
                    "x": extra,
                    "u": page_path(node),
                }
            )

        for name, v in r.feature_views.items():
            add(
                f"feature_view:{name}",
                v.description,
                v.tags,
                " ".join(f.name + " " + f.description for f in v.features),
            )
        for name, m in r.models.items():
            add(f"model:{name}", "", m.tags)
        for key in r.sources:
            add(f"source:{key}")
        for name, s in r.feature_services.items():
            add(f"feature_service:{name}", s.description)
        for name, p in r.push_sources.items():
            add(f"push_source:{name}", p.description)
        for name, e in r.entities.items():
            add(f"entity:{name}", e.description)
        text = json.dumps(entries, separators=(",", ":")).replace("</", "<\\/")
        self._write(self.out / "assets" / "search-index.js", f"window.SQLFEAST_SEARCH = {text};\n")


LABEL_OF = {**lineage.LABELS, "entity": "entity"}
