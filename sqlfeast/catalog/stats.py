"""Feature statistics for the catalog, computed in the warehouse.

One scan (macro ``feature_stats_query``) gives the row count, the latest event timestamp and per
feature the null count, min, max, mean and an approximate distinct count (DuckDB's and
Snowflake's ``APPROX_COUNT_DISTINCT``, HyperLogLog). Histograms have 20 equal-width bins between
that min and max for numbers (one per value for small integer ranges), and the values themselves
for strings and booleans with at most 20 distinct values. On DuckDB the same scan also draws a
uniform sample of about ``SAMPLE_ROWS`` rows (Bernoulli) and the histograms are counted from it
(exact when the view has no more rows than that; otherwise scaled to the row count and marked as
sampled); elsewhere a second scan (``feature_histogram_query``, ``GROUPING SETS``) counts them
exactly.

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
SAMPLE_ROWS = 20_000


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
    sampled: int | None = None  # rows of the sample the histogram was counted from, if not all rows

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
                        for k in (
                            "type",
                            "rows",
                            "nulls",
                            "min",
                            "max",
                            "mean",
                            "distinct",
                            "histogram_kind",
                            "sampled",
                        )
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


def _sample_counts(values: Any, plan: dict[str, Any]) -> dict[Any, int]:
    """Counts per bin of sampled values (an Arrow array), binned as ``feature_bin`` bins in the
    warehouse.

    >>> import pyarrow as pa
    >>> _sample_counts(pa.array([0.0, 0.5, 1.0, None]), {"kind": "numeric", "lo": 0.0, "width": 0.5, "bins": 2})
    {0: 1, 1: 2}
    >>> _sample_counts(pa.array([True, True, False]), {"kind": "categorical"})
    {'true': 2, 'false': 1}
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = values.drop_null()
    if plan["kind"] == "numeric":
        x = pc.cast(values, pa.float64())
        bins = pc.cast(pc.floor(pc.divide(pc.subtract(x, plan["lo"]), plan["width"])), pa.int64())
        values = pc.min_element_wise(bins, plan["bins"] - 1)
    else:
        values = pc.cast(values, pa.string())
    counted = pc.value_counts(values)
    return dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True))


def view_stats(warehouse, renderer, view: FeatureView, sql: str, sample_rows: int = SAMPLE_ROWS) -> ViewStats:
    """Statistics of every feature of one view: one warehouse query on DuckDB, two elsewhere (see
    the module). `sample_rows` bounds the sample the histograms are counted from."""
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
    context = {
        "sql": sql,
        "ts": view.timestamp,
        "ts_type": _time_kind(view),
        "features": features,
        "sample": sample_rows,
    }
    table = warehouse.query_arrow(renderer.call("feature_stats_query", context).strip())
    width = 2 + 5 * len(features)
    row = [table.column(i)[0].as_py() for i in range(width)]
    # DuckDB's sample: one list of values a feature, then the number of sampled rows
    sample = [table.column(i).combine_chunks().flatten() for i in range(width, table.num_columns - 1)]
    taken = int(table.column(table.num_columns - 1)[0].as_py() or 0) if table.num_columns > width else None
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
    counts: list[dict[Any, int]] = [{} for _ in hist]
    sampled = None
    if taken is not None:
        lists = dict(zip((f["name"] for f in features), sample, strict=True))
        sampled = taken if taken < result.rows else None
        for h, found in zip(hist, counts):
            found.update(_sample_counts(lists[h["name"]], h))
            if sampled is not None and taken:  # scaled to the view's rows
                for b in found:
                    found[b] = round(found[b] * result.rows / taken)
    else:
        rows = warehouse.query_arrow(renderer.call("feature_histogram_query", {**context, "hist": hist}).strip())
        for cells in rows.to_pylist():
            values = list(cells.values())
            set_at = [j for j, v in enumerate(values[:-1]) if v is not None]
            if len(set_at) == 1:  # the null group of a set has no bin set: nulls are counted apart
                j = set_at[0]
                counts[j][values[j]] = counts[j].get(values[j], 0) + int(values[-1])
    for h, found in zip(hist, counts):
        stats = result.features[h["name"]]
        stats.histogram_kind = h["kind"]
        stats.sampled = sampled
        if h["kind"] == "numeric":
            stats.histogram = [
                (h["lo"] + b * h["width"], h["lo"] + (b + 1) * h["width"], found.get(b, 0)) for b in range(h["bins"])
            ]
        else:
            stats.histogram = [(v, None, n) for v, n in sorted(found.items(), key=lambda kv: (-kv[1], str(kv[0])))]
    return result
