"""Training-serving skew: online values compared with the warehouse's row they came from.

For each online view that has been materialized, up to N entities with a row before the view's
materialized end are chosen in the warehouse (a stable pseudo-random sample, macro
``online_skew_sample``) and read from the online store. For each entity found online, the
warehouse's latest row at or before the stored event timestamp (macro ``online_skew_rows``) must
hold the same feature values; every difference is a mismatch, reported by feature. Entities the
online store does not hold are counted apart (a materialization window may leave them out).

>>> same(0.1 + 0.2, 0.3), same(1, 2), same(None, None)
(True, False, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from sqlfeast.core.spec import FeatureView
from sqlfeast.offline.data_tests import TestResult, _plain, _time_kind
from sqlfeast.online.base import ReadRequest, entity_key, micros_to_datetime

DEFAULT_SAMPLE = 1000
EXAMPLES = 5


def same(online: Any, offline: Any) -> bool:
    """Equal values; floats within a relative 1e-9 (a value may pass through text or JSON)."""
    if online is None or offline is None:
        return online is None and offline is None
    if isinstance(online, float) or isinstance(offline, float):
        try:
            a, b = float(online), float(offline)
        except (TypeError, ValueError):
            return False
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(online, datetime) and isinstance(offline, datetime):
        return _utc(online) == _utc(offline)
    if isinstance(online, date) and isinstance(offline, date):
        return online == offline
    if isinstance(online, (list, tuple)) and isinstance(offline, (list, tuple)):
        return len(online) == len(offline) and all(same(a, b) for a, b in zip(online, offline))
    return online == offline


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclass
class SkewReport:
    """What the skew check found for one view."""

    view: str
    sampled: int = 0
    compared: int = 0
    missing_online: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)  # feature -> entities that differ
    examples: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""  # why the view was not checked

    def result(self) -> TestResult:
        failing = sum(self.mismatches.values())
        if self.skipped:
            return TestResult(
                self.view, "online_skew", "online_skew", None, "error", "pass", 0, f"not checked: {self.skipped}"
            )
        message = f"{self.compared} of {self.sampled} sampled entities compared" + (
            f", {self.missing_online} not in the online store" if self.missing_online else ""
        )
        if failing:
            by_feature = ", ".join(f"{f}: {n}" for f, n in sorted(self.mismatches.items()))
            message += f"; mismatches by feature: {by_feature}"
        return TestResult(
            self.view,
            "online_skew",
            "online_skew",
            None,
            "error",
            "fail" if failing else "pass",
            failing,
            message,
            self.examples,
        )


def check_view(
    warehouse, renderer, online, view: FeatureView, sql: str, materialized_end: str | None, sample: int = DEFAULT_SAMPLE
) -> SkewReport:
    """Compare up to `sample` online entities of `view` with the warehouse (see the module)."""
    report = SkewReport(view.name)
    if not view.online:
        report.skipped = "offline-only view"
        return report
    if view.is_aggregation:
        # Its online values are windows combined at request time; their parity with training
        # rows at tile boundaries is what the tile tests check, not a stored row to compare.
        report.skipped = "aggregation view (online values are combined from tiles at request time)"
        return report
    if not materialized_end:
        report.skipped = "never materialized"
        return report
    context = {
        "sql": sql,
        "keys": list(view.join_keys),
        "ts": view.timestamp,
        "ts_type": _time_kind(view),
        "created": view.created_timestamp,
        "features": view.feature_names,
        "end": materialized_end.replace("T", " "),
        "sample": int(sample),
    }
    keys_table = warehouse.query_arrow(renderer.call("online_skew_sample", context).strip())
    key_rows = [list(r.values()) for r in keys_table.to_pylist()]
    report.sampled = len(key_rows)
    if not key_rows:
        return report
    canonical = [entity_key(view.join_keys, values) for values in key_rows]
    stored = online.read([ReadRequest(view, canonical, view.feature_names)])[0]
    found = [(values, stored[key]) for values, key in zip(key_rows, canonical) if key in stored]
    report.missing_online = report.sampled - len(found)
    if not found:
        return report
    columns = {k: [values[i] for values, _ in found] for i, k in enumerate(view.join_keys)}
    columns["__sqlfeast_ts"] = [micros_to_datetime(row.event_ts) for _, row in found]
    entities = pa.table(columns).cast(
        pa.schema(
            [(k, keys_table.schema.field(i).type) for i, k in enumerate(view.join_keys)]
            + [("__sqlfeast_ts", pa.timestamp("us"))]
        )
    )
    name = f"__sqlfeast_skew_{view.name}"
    relation = warehouse.register_arrow(name, entities)
    try:
        offline = warehouse.query_arrow(renderer.call("online_skew_rows", {**context, "entities": relation}).strip())
    finally:
        warehouse.unregister(name)
    width = len(view.join_keys)
    by_key = {}
    for values in offline.to_pylist():
        cells = list(values.values())
        by_key[entity_key(view.join_keys, cells[:width])] = cells[width + 1 : width + 1 + len(view.feature_names)]
    for values, row in found:
        key = entity_key(view.join_keys, values)
        report.compared += 1
        warehouse_values = by_key.get(key)
        for i, feature in enumerate(view.feature_names):
            expected = warehouse_values[i] if warehouse_values is not None else None
            actual = row.values.get(feature)
            if warehouse_values is None or not same(actual, expected):
                report.mismatches[feature] = report.mismatches.get(feature, 0) + 1
                if len(report.examples) < EXAMPLES:
                    report.examples.append(
                        {
                            "entity": key,
                            "feature": feature,
                            "online": _plain(actual),
                            "warehouse": _plain(expected)
                            if warehouse_values is not None
                            else "(no row at or before the online event timestamp)",
                            "event_timestamp": str(micros_to_datetime(row.event_ts)),
                        }
                    )
    return report
