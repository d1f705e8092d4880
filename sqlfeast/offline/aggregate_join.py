"""Windowed aggregates in training sets: the SQL of an aggregation view's join, and how it is put
beside the point-in-time joins of plain views.

Each aggregation view is joined by the dispatched macro ``aggregate_join`` (one query per view,
one row per entity row, in row order). Plain views keep ``point_in_time_join``. On DuckDB with
staging every view is its own query lined up by position; otherwise the parts are joined on the
row number in one statement.

>>> from sqlfeast.core.spec import Aggregation
>>> sorted({a.window_seconds for a in [Aggregation("n", "count", 60), Aggregation("m", "max", 60, "x")]})
[60]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlfeast.core.types import parse_type

ROW_COLUMN = "__sqlfeast_row"


def _iso(value: dt.datetime) -> str:
    return value.isoformat(sep=" ", timespec="microseconds")


def view_context(
    req: Any, base: dict[str, Any], dialect: str, lo: dt.datetime | None, hi: dt.datetime | None
) -> dict[str, Any]:
    """The ``view`` argument of ``aggregate_join`` for one aggregation view request.

    `base` is the point-in-time context of the same request (sql, keys, time column kinds); the
    scan is bounded to [min entity ts - longest window, max entity ts].

    >>> from sqlfeast.core.spec import Aggregation, Feature, FeatureView
    >>> v = FeatureView("o", ["c"], ["c_id"], "ts", [Feature("n", "bigint")],
    ...                 aggregations=[Aggregation("n", "count", 3600, type="bigint")])
    >>> class R: view, features = v, [("n", "n")]
    >>> ctx = view_context(R, {"keys": [], "sql": "", "ts_type": "timestamp"}, "duckdb", None, None)
    >>> ctx["aggregates"], ctx["windows"]
    ([{'output': 'n', 'function': 'count', 'column': None, 'window': 3600, 'cast': 'BIGINT'}], [3600])
    """
    view = req.view
    wanted = [(view.aggregation(name), output) for name, output in req.features]
    columns: list[str] = []
    for agg, _ in wanted:
        if agg.column and agg.column not in columns:
            columns.append(agg.column)
    windows = sorted({agg.window_seconds for agg, _ in wanted})
    longest = windows[-1] if windows else 0
    aggregates = []
    for agg, output in wanted:
        cast = None
        if agg.type not in ("unknown", "") and agg.function in ("count", "count_distinct", "sum", "avg", "stddev"):
            cast = parse_type(agg.type).sql(dialect)
        aggregates.append(
            {
                "output": output,
                "function": agg.function,
                "column": columns.index(agg.column) if agg.column else None,
                "window": agg.window_seconds,
                "cast": cast,
            }
        )
    return {
        **base,
        "features": [],
        "columns": columns,
        "windows": windows,
        "max_window": longest,
        "aggregates": aggregates,
        "lower": _iso(lo - dt.timedelta(seconds=longest)) if lo is not None else None,
        "upper": _iso(hi) if hi is not None else None,
    }


def build(
    requests: list,
    contexts: list[dict[str, Any]],
    pit_join: Callable[[list[dict[str, Any]]], str],
    agg_join: Callable[[dict[str, Any]], str],
    stage: bool,
    stage_name: Callable[[int], str],
    positional_select: Callable[[list[str], str, list], str],
) -> tuple[str, list[tuple[str, str]]]:
    """The final query and the staged queries of a request that has aggregation views.

    With `stage` every request is its own query (DuckDB: kept in temporary tables and lined up by
    position); otherwise plain views share one point-in-time join and every aggregation view is a
    query of its own, joined on the row number.
    """
    parts: list[str] = []
    if stage:
        for req, ctx in zip(requests, contexts, strict=True):
            parts.append(agg_join(ctx) if req.view.is_aggregation else pit_join([ctx]))
        stages = [(stage_name(i), sql) for i, sql in enumerate(parts[:-1])]
        return positional_select([s for s, _ in stages], parts[-1], requests), stages
    plain = [ctx for req, ctx in zip(requests, contexts, strict=True) if not req.view.is_aggregation]
    owner: list[int] = []  # part index of each request
    if plain:
        parts.append(pit_join(plain))
    for req, ctx in zip(requests, contexts, strict=True):
        if req.view.is_aggregation:
            owner.append(len(parts))
            parts.append(agg_join(ctx))
        else:
            owner.append(0)
    if len(parts) == 1:  # one aggregation view alone: its query already has the outputs in order
        return parts[0], []
    return row_join_select(parts, owner, requests), []


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def row_join_select(parts: list[str], owner: list[int], requests: list) -> str:
    """One statement: every part (one row per entity row) joined on the row number, the outputs in
    request order.

    >>> class R: features = [("n", "n")]
    >>> print(row_join_select(["select 1"], [0], [R]))
    select
        "__p0"."__sqlfeast_row",
        "__p0"."n"
    from (
    select 1
    ) as "__p0"
    order by "__p0"."__sqlfeast_row"
    """
    row = _quote(ROW_COLUMN)
    columns = [f'"__p0".{row}']
    for part, req in zip(owner, requests, strict=True):
        columns += [f'"__p{part}".{_quote(output)}' for _, output in req.features]
    joins = "".join(
        f'\njoin (\n{sql}\n) as "__p{i}" on "__p{i}".{row} = "__p0".{row}' for i, sql in enumerate(parts) if i
    )
    return (
        "select\n    "
        + ",\n    ".join(columns)
        + f'\nfrom (\n{parts[0]}\n) as "__p0"'
        + joins
        + f'\norder by "__p0".{row}'
    )
