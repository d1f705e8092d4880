"""Running data tests in the warehouse: one query per view, then a few failing rows per failure.

The dispatched macro ``data_tests_query`` counts the rows, takes the latest event timestamp and
counts the failing rows of every column test (and duplicated keys of ``unique``) in one query;
``freshness`` and ``row_count`` are judged from that row. Only a failing test runs a second query
(``data_test_failures``) for a few example rows. Results are written to target/test_results.json.

>>> r = TestResult("v", "not_null(x)", "not_null", "x", "error", "fail", 3, "3 row(s) with x NULL")
>>> r.failed, r.to_dict()["status"]
(True, 'fail')
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlfeast.core.files import write_atomic
from sqlfeast.core.spec import DataTest, FeatureView

SAMPLE_ROWS = 5
RESULTS_FILE = "test_results.json"


@dataclass
class TestResult:
    """The outcome of one data test (or of the online skew check of one view)."""

    __test__ = False  # not a pytest class

    view: str
    test: str  # DataTest.id, or "online_skew"
    kind: str
    column: str | None
    severity: str
    status: str  # "pass" | "warn" | "fail"
    failing: int = 0
    message: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)  # a few failing rows
    path: str = ""
    line: int | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _time_kind(view: FeatureView) -> str:
    text = str((view.columns or {}).get(view.timestamp, "timestamp")).lower()
    return "timestamptz" if text in ("timestamptz", "timestamp_tz") else "date" if text == "date" else "timestamp"


def _context(view: FeatureView, sql: str, tests: list[DataTest]) -> dict[str, Any]:
    return {
        "sql": sql,
        "ts": view.timestamp,
        "ts_type": _time_kind(view),
        "tests": [
            {
                "kind": t.kind,
                "column": t.column,
                "values": t.config.get("values"),
                "min": t.config.get("min"),
                "max": t.config.get("max"),
                "inclusive": t.config.get("inclusive", True),
                "columns": t.config.get("columns"),
            }
            for t in tests
        ],
    }


def view_tests_sql(renderer, view: FeatureView, sql: str) -> str:
    """The one query that evaluates every data test of `view` (see the module docstring)."""
    return renderer.call("data_tests_query", _context(view, sql, view.tests)).strip()


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


def run_view_tests(warehouse, renderer, view: FeatureView, sql: str, now: datetime | None = None) -> list[TestResult]:
    """Run every data test of one view; `sql` is its compiled SELECT localized for `warehouse`."""
    if not view.tests:
        return []
    now = now or datetime.now(UTC).replace(tzinfo=None)
    row = warehouse.query_arrow(view_tests_sql(renderer, view, sql)).to_pylist()[0]
    values = list(row.values())  # by position: Snowflake upper-cases unquoted result names
    rows, max_ts, counts = int(values[0] or 0), values[1], values[2:]
    if isinstance(max_ts, datetime) and max_ts.tzinfo is not None:
        max_ts = max_ts.astimezone(UTC).replace(tzinfo=None)
    results = []
    for test, count in zip(view.tests, counts):
        result = TestResult(
            view.name, test.id, test.kind, test.column, test.severity, "pass", path=test.path, line=test.line
        )
        count = int(count or 0)
        fail_status = "warn" if test.severity == "warn" else "fail"
        if test.kind == "freshness":
            warn_after, error_after = test.config.get("warn_after"), test.config.get("error_after")
            if max_ts is None:
                result.status, result.message = "fail" if error_after else "warn", "no rows, so no event timestamp"
            else:
                age = (now - max_ts).total_seconds()
                result.message = f"latest {view.timestamp} {max_ts.isoformat(sep=' ')} is {_duration(max(age, 0))} old"
                if error_after and age > error_after:
                    result.status = "fail"
                    result.message += f" (error after {_duration(error_after)})"
                elif warn_after and age > warn_after:
                    result.status = "warn"
                    result.message += f" (warn after {_duration(warn_after)})"
        elif test.kind == "row_count":
            low, high = test.config.get("min"), test.config.get("max")
            result.message = f"{rows} row(s)"
            if (low is not None and rows < low) or (high is not None and rows > high):
                result.status = fail_status
                result.message += (
                    f", expected {'at least ' + str(low) if low is not None else ''}"
                    f"{' and ' if low is not None and high is not None else ''}"
                    f"{'at most ' + str(high) if high is not None else ''}"
                )
        else:
            result.failing = count
            if count:
                result.status = fail_status
                result.message = _failure_message(test, count)
                failures = renderer.call(
                    "data_test_failures",
                    _context(view, sql, [test]),
                    _context(view, sql, [test])["tests"][0],
                    SAMPLE_ROWS,
                ).strip()
                result.rows = [
                    {k.lower(): _plain(v) for k, v in r.items()} for r in warehouse.query_arrow(failures).to_pylist()
                ]
            else:
                result.message = f"{rows} row(s) checked"
        results.append(result)
    return results


def _failure_message(test: DataTest, count: int) -> str:
    if test.kind == "not_null":
        return f"{count} row(s) with {test.column} NULL"
    if test.kind == "accepted_values":
        return f"{count} row(s) with {test.column} not in {test.config['values']}"
    if test.kind == "accepted_range":
        bounds = [
            f">= {test.config['min']}" if "min" in test.config else "",
            f"<= {test.config['max']}" if "max" in test.config else "",
        ]
        return f"{count} row(s) with {test.column} outside {' and '.join(b for b in bounds if b)}"
    return f"{count} duplicated ({', '.join(test.config['columns'])}) combination(s)"


def summarize(results: list[TestResult]) -> dict[str, int]:
    """Counts per status.

    >>> summarize([TestResult("v", "t", "unique", None, "error", "pass")])
    {'pass': 1, 'warn': 0, 'fail': 0}
    """
    return {s: sum(1 for r in results if r.status == s) for s in ("pass", "warn", "fail")}


def write_results(
    target_dir: Path, project: str, target: str, results: list[TestResult], extra: dict[str, Any] | None = None
) -> Path:
    """target/test_results.json, written atomically."""
    path = Path(target_dir) / RESULTS_FILE
    doc = {
        "project": project,
        "target": target,
        "generated_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "summary": summarize(results),
        "results": [r.to_dict() for r in results],
        **(extra or {}),
    }
    write_atomic(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path


def read_results(target_dir: Path) -> dict[str, Any] | None:
    """The last written test results, or None."""
    path = Path(target_dir) / RESULTS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_all(warehouse, renderer, views: list[FeatureView]) -> list[TestResult]:
    """Every data test of `views`, one query per view (plus one per failing test for examples).

    >>> run_all(None, None, [])
    []
    """
    from sqlfeast.offline.historical import view_sql

    results: list[TestResult] = []
    now = datetime.now(UTC).replace(tzinfo=None)
    for view in views:
        if view.tests:
            results.extend(run_view_tests(warehouse, renderer, view, view_sql(view, warehouse), now))
    return results
