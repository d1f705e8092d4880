"""The catalog: pages and search index, statistics against plain SQL, lineage layout at 200 views,
links that resolve, no network references, and `docs serve`."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import duckdb
import pytest

from sqlfeast.catalog import lineage
from sqlfeast.feature_store import FeatureStore
from tests.conftest import REPO
from tests.pty_cli import run_pty

_LINK = re.compile(r'(?:href|src)="([^"#]+)"')


def generate_big_project(root: Path, views: int = 200, services: int = 12) -> Path:
    """benchmarks/gen_project.py's project, plus feature services over random views."""
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gen_project.py"), str(root), str(views)],
        check=True,
        capture_output=True,
    )
    project = root / "sqlfeast"
    names = sorted(p.stem for p in (project / "models" / "features").glob("*.sql"))
    rng = random.Random(3)
    lines = ["", "feature_services:"]
    for i in range(services):
        lines.append(
            f"  - name: service_{i:02d}\n    description: service number {i}\n"
            f"    features: [{', '.join(rng.sample(names, 6))}]"
        )
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text() + "\n".join(lines) + "\n")
    return project


def _site(project: Path) -> Path:
    return project / "target" / "catalog"


def _links_resolve(site: Path) -> int:
    """Every href/src of every page points at a file of the site; returns the number checked."""
    checked = 0
    for page in site.rglob("*.html"):
        for link in _LINK.findall(page.read_text()):
            assert not re.match(r"[a-z]+:", link), f"{page}: external link {link}"
            assert (page.parent / link).resolve().is_file(), f"{page.relative_to(site)} links to missing {link}"
            checked += 1
    return checked


def test_generate_writes_a_page_per_object_and_a_search_index(example_project):
    run = run_pty(example_project, "docs", "generate")
    assert run.code == 0, run.output
    assert "Wrote the catalog of 3 feature view(s) to" in run.output
    site = _site(example_project)
    expected = [
        "index.html",
        "feature_view/driver_hourly_stats.html",
        "feature_view/customer_profile.html",
        "model/driver_stats_clean.html",
        "source/raw.driver_stats.html",
        "source/raw.customer_profile.html",
        "feature_service/driver_activity_v1.html",
        "push_source/driver_stats_push.html",
        "entity/driver.html",
        "entity/customer.html",
    ]
    for rel in expected:
        assert (site / rel).is_file(), rel
    page = (site / "feature_view" / "driver_hourly_stats.html").read_text()
    for text in (
        "Hourly driver performance",
        "drivers@example.com",
        "<dt>ttl</dt><dd>2d</dd>",
        "models/drivers/driver_hourly_stats.sql",
        "Share of offers accepted",
        "team=drivers",
        "Compiled SQL (duckdb)",
        "Compiled SQL (snowflake)",
        "accepted_range(conv_rate)",
        "models/schema.yml:45",
        "not run",
    ):
        assert text in page, text
    # its lineage: upstream source and model, downstream service and the push source feeding it
    svg = page[page.index("<svg") : page.index("</svg>")]
    for node in (
        "source:raw.driver_stats",
        "model:driver_stats_clean",
        "feature_service:driver_activity_v1",
        "push_source:driver_stats_push",
    ):
        assert f'data-id="{node}"' in svg
    assert 'data-id="feature_view:customer_profile"' not in svg  # neither upstream nor downstream
    text = (site / "assets" / "search-index.js").read_text()
    entries = json.loads(text[text.index("[") : text.rindex("]") + 1])
    assert {(e["k"], e["n"]) for e in entries} >= {
        ("feature view", "customer_profile"),
        ("entity", "driver"),
        ("source", "raw.driver_stats"),
        ("push source", "driver_stats_push"),
    }
    assert next(e for e in entries if e["n"] == "customer_profile")["t"] == "team=customers"
    assert _links_resolve(site) > 40
    for path in site.rglob("*"):  # nothing that would go to the network
        if path.suffix in (".html", ".js", ".css"):
            assert not re.search(r"(?:src|href)=\"https?:|url\(https?:|@import", path.read_text()), path


def test_stats_match_plain_sql_and_show_materialization_and_test_marks(example_project):
    assert run_pty(example_project, "apply").code == 0
    assert run_pty(example_project, "materialize", "2026-01-01", "2026-01-16", "-q").code == 0
    (example_project / "models" / "schema.yml").write_text(
        (example_project / "models" / "schema.yml")
        .read_text()
        .replace("{min: 0, max: 1}}]\n      - name: acc_rate", "{min: 0, max: 0.9}}]\n      - name: acc_rate")
    )
    assert run_pty(example_project, "test").code == 1
    run = run_pty(example_project, "docs", "generate", "--stats")
    assert run.code == 0, run.output
    site = _site(example_project)
    stats = json.loads((site / "stats.json").read_text())
    con = duckdb.connect()
    data = str(example_project / "data" / "customer_profile.parquet")
    rows, nulls, lo, hi, mean, exact, latest = con.execute(
        f"SELECT COUNT(*), COUNT(*) - COUNT(current_balance), MIN(current_balance), MAX(current_balance), "
        f"AVG(current_balance), COUNT(DISTINCT current_balance), MAX(event_timestamp) FROM read_parquet('{data}')"
    ).fetchone()
    got = stats["customer_profile"]
    f = got["features"]["current_balance"]
    assert (got["rows"], f["nulls"], f["min"], f["max"]) == (rows, nulls, lo, hi)
    assert f["mean"] == pytest.approx(mean)
    assert abs(f["distinct"] - exact) <= 0.05 * exact  # approximate
    assert got["latest_event"] == str(latest)
    assert sum(c for _, _, c in f["histogram"]) == rows - nulls and len(f["histogram"]) == 20
    trips = con.execute(
        f"SELECT COUNT(*) FROM read_parquet('{data}') WHERE lifetime_trip_count >= "
        f"{got['features']['lifetime_trip_count']['histogram'][-1][0]}"
    ).fetchone()[0]
    assert got["features"]["lifetime_trip_count"]["histogram"][-1][2] == trips  # the last bin includes the max
    page = (site / "feature_view" / "customer_profile.html").read_text()
    assert "materialized up to 2026-01-16T00:00:00" in page
    assert '<img src="../img/customer_profile/current_balance.svg"' in page
    assert (site / "img" / "customer_profile" / "current_balance.svg").read_text().count("<rect") == 21
    assert "distinct counts are approximate" in page
    driver = (site / "feature_view" / "driver_hourly_stats.html").read_text()
    assert '<td><code>accepted_range(conv_rate)</code></td><td>error</td><td><span class="mark fail">fail' in driver
    index = (site / "index.html").read_text()
    assert 'class="node feature_view mark-fail" data-id="feature_view:driver_hourly_stats"' in index
    assert 'class="node feature_view mark-warn" data-id="feature_view:customer_profile"' in index


def test_lineage_of_200_views_is_layered_without_overlaps(tmp_path):
    project = generate_big_project(tmp_path / "big")
    with FeatureStore(project) as fs:
        registry = fs.compile(write=False)
    graph = lineage.build(registry)
    assert sum(n.startswith("feature_view:") for n in graph.nodes) == 200
    lay = lineage.layout(graph)
    boxes = sorted(lay.xy.values())
    assert len(set(boxes)) == len(boxes)
    for (x1, y1), (x2, y2) in zip(boxes, boxes[1:]):  # same column: a row apart at least
        if x1 == x2:
            assert y2 - y1 >= lineage.NODE_H
        else:
            assert x2 - x1 >= lineage.NODE_W
    for src, dst in graph.edges:
        assert lay.xy[src][0] < lay.xy[dst][0], (src, dst)  # every edge points right
    assert lay.height < 40 * lineage.ROW  # wraps into sub-columns instead of 200 rows
    assert max(x for x, _ in lay.xy.values()) + lineage.NODE_W <= lay.width
    run = run_pty(project, "docs", "generate")
    assert run.code == 0, run.output
    index = (_site(project) / "index.html").read_text()
    assert index.count('class="node feature_view') == 200
    assert _links_resolve(_site(project)) > 200 * 3


def test_docs_serve_serves_the_site_and_refuses_bad_input(example_project):
    run = run_pty(example_project, "docs", "serve")
    assert run.code == 2 and "no catalog at" in run.output and "run 'sqlfeast docs generate' first" in run.output
    assert run_pty(example_project, "docs", "generate").code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlfeast", "--project-dir", str(example_project), "docs", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=30) as resp:
            assert resp.status == 200 and b"demo catalog" in resp.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feature_view/customer_profile.html", timeout=30) as resp:
            assert b"Daily customer profile" in resp.read()
        busy = run_pty(example_project, "docs", "serve", "--port", str(port))
        assert busy.code == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.output, busy.output
        assert "Traceback" not in busy.output
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_regenerating_overwrites_in_place_and_drops_stale_pages(tmp_path):
    from sqlfeast.catalog.generate import generate
    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import Entity

    with_entity = Registry(project="p", entities={"driver": Entity("driver", ["driver_id"])})
    generate(with_entity, tmp_path / "site")
    assert (tmp_path / "site" / "entity" / "driver.html").is_file()
    (tmp_path / "site" / "stats.json").write_text("{}")  # from an earlier --stats run
    generate(Registry(project="p"), tmp_path / "site")
    assert not (tmp_path / "site" / "entity" / "driver.html").exists()
    assert not (tmp_path / "site" / "stats.json").exists()
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "assets" / "catalog.js").is_file()


class _Portable:
    """Calls the portable (second-scan, GROUPING SETS) statistics macros instead of DuckDB's own."""

    def __init__(self, renderer) -> None:
        self.renderer = renderer

    def call(self, name: str, *args):
        return self.renderer.call(f"default__{name}" if name.startswith("feature_") else name, *args)


def test_one_pass_histograms_equal_the_exact_scan_and_sample_large_views(example_project):
    from sqlfeast.catalog.stats import view_stats
    from sqlfeast.offline.historical import view_sql

    fs = FeatureStore(example_project)
    registry = fs.compile()
    for view in registry.feature_views.values():
        sql = view_sql(view, fs.warehouse)
        one_pass = view_stats(fs.warehouse, fs.renderer, view, sql)  # the example's views fit in the sample
        exact = view_stats(fs.warehouse, _Portable(fs.renderer), view, sql)
        # means are sums in another order (DuckDB's threads): equal to the last few bits
        a, b = one_pass.to_dict(), exact.to_dict()
        means = [
            (d["features"][n].pop("mean"), e["features"][n].pop("mean")) for d, e in [(a, b)] for n in d["features"]
        ]
        assert a == b, view.name
        for x, y in means:
            assert x == y or x == pytest.approx(y, rel=1e-12), view.name
        assert any(f.histogram for f in one_pass.features.values()), view.name
    view = registry.feature_views["customer_profile"]
    sql = view_sql(view, fs.warehouse)
    exact = view_stats(fs.warehouse, _Portable(fs.renderer), view, sql)
    sampled = view_stats(fs.warehouse, fs.renderer, view, sql, sample_rows=exact.rows // 4)
    assert sampled.rows == exact.rows > 100
    for name, f in sampled.features.items():
        e = exact.features[name]
        assert (f.min, f.max, f.nulls) == (e.min, e.max, e.nulls)  # from the whole view
        assert f.mean == e.mean or f.mean == pytest.approx(e.mean, rel=1e-12)
        if e.histogram_kind == "numeric":
            assert f.sampled is not None and 0 < f.sampled < exact.rows
            assert [(lo, hi) for lo, hi, _ in f.histogram] == [(lo, hi) for lo, hi, _ in e.histogram]
            assert sum(c for _, _, c in f.histogram) <= exact.rows + len(f.histogram)  # scaled, rounded
    from sqlfeast.catalog.site import Site

    Site(registry, example_project / "site_sampled", None, {"customer_profile": sampled}).write()
    page = (example_project / "site_sampled" / "feature_view" / "customer_profile.html").read_text()
    taken = max(f.sampled or 0 for f in sampled.features.values())
    assert f"Histograms are counted from a uniform sample of {taken:,} of the {exact.rows:,} rows" in page
