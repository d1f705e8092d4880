"""`docs generate`: the catalog site of a compiled registry, with statistics when asked.

>>> import tempfile; from sqlfeast.core.registry import Registry
>>> index = generate(Registry(project="demo"), tempfile.mkdtemp())
>>> index.name
'index.html'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlfeast.catalog.site import Site
from sqlfeast.core.registry import Registry


def generate(
    registry: Registry,
    out: str | Path,
    results: dict[str, Any] | None = None,
    warehouse=None,
    renderer=None,
    stats: bool = False,
    materialized: dict[str, str] | None = None,
    target: str = "",
) -> Path:
    """Write the site for `registry` into `out`; with `stats`, compute statistics of every view in
    `warehouse` (two scans a view) first. Returns the index page."""
    view_stats = {}
    if stats:
        from sqlfeast.catalog.stats import view_stats as compute
        from sqlfeast.offline.historical import view_sql

        for view in registry.feature_views.values():
            view_stats[view.name] = compute(warehouse, renderer, view, view_sql(view, warehouse))
    site = Site(registry, Path(out), results, view_stats, materialized, target)
    stats_file = Path(out) / "stats.json"
    index = site.write()
    if view_stats:
        stats_file.write_text(json.dumps({n: s.to_dict() for n, s in view_stats.items()}, indent=1, default=str) + "\n")
    return index
