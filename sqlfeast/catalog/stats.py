"""Feature statistics for the catalog, computed in the warehouse: two scans per view.

The first scan (macro ``feature_stats_query``) gives the row count, the latest event timestamp
and per feature the null count, min, max, mean and an approximate distinct count (DuckDB's and
Snowflake's ``APPROX_COUNT_DISTINCT``, HyperLogLog). The second (``feature_histogram_query``)
counts values into bins between that min and max, every feature of the view in one
``GROUPING SETS`` query: 20 equal-width bins for numbers (one per value for small integer
ranges), the values themselves for strings and booleans with at most 20 distinct values.

>>> _bins({"family": "integer", "min": 1, "max": 5})
{'kind': 'numeric', 'lo': 1.0, 'width': 1.0, 'bins': 5}
>>> _bins({"family": "float", "min": 0.0, "max": 1.0})["width"]
0.05
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlfeast.core.spec import FeatureView
from sqlfeast.core.types import parse_type

BINS = 20
MAX_CATEGORIES = 20


@dataclass
class FeatureStats:
    name: str
    type: str
    rows: int = 0
    nulls: int = 0
    min: Any = None
    max: Any = None
    mean: float | None = None
    distinct: int | None = None  # approximate
    histogram: list[tuple[Any, Any, int]] = field(default_factory=list)  # (low, high, count) or (value, None, count)
    histogram_kind: str = ""  # "numeric" | "categorical" | ""

    @property
    def null_share(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0


@dataclass
class ViewStats:
    view: str
    rows: int = 0
    latest_event: datetime | None = None
    features: dict[str, FeatureStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "rows": self.rows,
            "latest_event": self.latest_event.isoformat(sep=" ") if self.latest_event else None,
            "features": {
                n: {
                    **{
                        k: _plain(getattr(f, k))
                        for k in ("type", "rows", "nulls", "min", "max", "mean", "distinct", "histogram_kind")
                    },
                    "null_share": f.null_share,
                    "histogram": [[_plain(a), _plain(b), c] for a, b, c in f.histogram],
                }
                for n, f in self.features.items()
            },
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _time_kind(view: FeatureView) -> str:
    text = str((view.columns or {}).get(view.timestamp, "timestamp")).lower()
    return "timestamptz" if text in ("timestamptz", "timestamp_tz") else "date" if text == "date" else "timestamp"


def _bins(f: dict[str, Any]) -> dict[str, Any] | None:
    """How to bin one feature from its first-scan stats, or None for no histogram."""
    family, lo, hi = f["family"], f.get("min"), f.get("max")
    if family in ("integer", "float") and lo is not None and hi is not None:
        lo, hi = float(lo), float(hi)
        if family == "integer" and hi - lo + 1 <= BINS:
            return {"kind": "numeric", "lo": lo, "width": 1.0, "bins": int(hi - lo + 1)}
        if hi == lo:
            return {"kind": "numeric", "lo": lo, "width": 1.0, "bins": 1}
        return {"kind": "numeric", "lo": lo, "width": (hi - lo) / BINS, "bins": BINS}
    if family in ("string", "boolean") and f.get("distinct") is not None and 0 < f["distinct"] <= MAX_CATEGORIES:
        return {"kind": "categorical"}
    return None


def view_stats(warehouse, renderer, view: FeatureView, sql: str) -> ViewStats:
    """Statistics of every feature of one view, in two warehouse queries (see the module)."""
    features: list[dict[str, Any]] = [
        {"name": f.name, "family": parse_type(f.type).family, "type": f.type} for f in view.features
    ]
    if view.is_aggregation:  # aggregates are not columns of the view: describe the aggregated columns
        columns = dict.fromkeys(a.column for a in view.aggregations if a.column)
        features = [
            {"name": c, "family": parse_type(view.columns[c]).family, "type": view.columns[c]}
            for c in columns
            if view.columns.get(c, "unknown") != "unknown"
        ]
    context = {"sql": sql, "ts": view.timestamp, "ts_type": _time_kind(view), "features": features}
    row = list(warehouse.query_arrow(renderer.call("feature_stats_query", context).strip()).to_pylist()[0].values())
    result = ViewStats(view.name, int(row[0] or 0), row[1])
    if isinstance(result.latest_event, datetime) and result.latest_event.tzinfo is not None:
        result.latest_event = result.latest_event.astimezone(UTC).replace(tzinfo=None)
    for i, f in enumerate(features):
        count, lo, hi, mean, distinct = row[2 + 5 * i : 7 + 5 * i]
        stats = FeatureStats(
            f["name"],
            f["type"],
            result.rows,
            result.rows - int(count or 0),
            lo,
            hi,
            float(mean) if mean is not None else None,
            int(distinct) if distinct is not None else None,
        )
        result.features[f["name"]] = stats
        f.update(min=lo, max=hi, distinct=stats.distinct)
    hist = []
    for f in features:
        plan = _bins(f)
        if plan is not None:
            hist.append({"name": f["name"], **plan})
    if not hist or not result.rows:
        return result
    rows = warehouse.query_arrow(renderer.call("feature_histogram_query", {**context, "hist": hist}).strip())
    counts: list[dict[Any, int]] = [{} for _ in hist]
    for cells in rows.to_pylist():
        values = list(cells.values())
        set_at = [j for j, v in enumerate(values[:-1]) if v is not None]
        if len(set_at) == 1:  # the null group of a set has no bin set: nulls are counted apart
            j = set_at[0]
            counts[j][values[j]] = counts[j].get(values[j], 0) + int(values[-1])
    for h, found in zip(hist, counts):
        stats = result.features[h["name"]]
        stats.histogram_kind = h["kind"]
        if h["kind"] == "numeric":
            stats.histogram = [
                (h["lo"] + b * h["width"], h["lo"] + (b + 1) * h["width"], found.get(b, 0)) for b in range(h["bins"])
            ]
        else:
            stats.histogram = [(v, None, n) for v, n in sorted(found.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    return result
