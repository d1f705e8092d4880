"""The ``aggregations:`` header of a feature view: parsing, checks and output types.

An aggregation view declares windowed aggregates instead of latest-value features::

    granularity: 1h
    aggregations:
      orders_7d:     {function: count, window: 7d}
      amount_sum_7d: {function: sum, column: amount, window: 7d}

For an entity row with keys k and time t, each aggregate covers the view's rows with keys k and
``t - window <= ts <= t`` (both ends inclusive). This module turns the header into
:class:`~sqlfeast.core.spec.Aggregation` records and, once the SELECT's column types are known, checks
that every column exists and suits its function, and records the output types.

>>> from sqlfeast.core.types import parse_type
>>> output_type("sum", parse_type("integer")), output_type("avg", parse_type("decimal(10,2)"))
('bigint', 'double')
>>> output_type("sum", parse_type("varchar")) is None
True
"""

from __future__ import annotations

from typing import Any

from sqlfeast.core.spec import Aggregation, FeatureView
from sqlfeast.core.types import FeatureType
from sqlfeast.errors import Location, SqlfeastError, ValidationError, suggest
from sqlfeast.project.header import parse_ttl
from sqlfeast.project.yamlfile import LineDict

FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct")
AGGREGATION_KEYS = ("function", "column", "window", "description")
DEFAULT_GRANULARITY = 3600
_NUMERIC = ("integer", "float")
_ORDERED = ("integer", "float", "string", "timestamp", "date", "boolean")
# Which column families each function takes (None: any column, and count needs none).
_ACCEPTS: dict[str, tuple[str, ...] | None] = {
    "count": None,
    "count_distinct": _ORDERED + ("bytes",),
    "sum": _NUMERIC,
    "avg": _NUMERIC,
    "stddev": _NUMERIC,
    "min": _ORDERED,
    "max": _ORDERED,
    "last": None,
}


def output_type(function: str, column: FeatureType | None) -> str | None:
    """The output type of `function` over a column of type `column`; None if it does not fit.

    >>> from sqlfeast.core.types import parse_type
    >>> output_type("count", None), output_type("max", parse_type("timestamp"))
    ('bigint', 'timestamp')
    """
    accepts = _ACCEPTS[function]
    if function in ("count", "count_distinct"):
        if column is not None and accepts is not None and column.family not in accepts:
            return None
        return "bigint"
    if column is None:
        return None
    if accepts is not None and column.family not in accepts:
        return None
    if function == "sum":
        if column.family == "integer":
            return "bigint"
        if column.name == "decimal":
            return str(FeatureType("decimal", 38, column.scale or 0))
        return "double"
    if function in ("avg", "stddev"):
        return "double"
    return str(column)


def parse_aggregations(data: Any, path: str, errors: list[SqlfeastError]) -> tuple[list[Aggregation], int]:
    """The header's ``aggregations:`` and ``granularity:`` -> (aggregations, granularity seconds).

    Problems are appended to `errors`, each at the line of the key at fault. Output types are
    filled in later by :func:`check_projection`, when the SELECT's types are known.

    >>> from sqlfeast.project.yamlfile import load_yaml
    >>> h = load_yaml("aggregations:\\n  n_7d: {function: count, window: 7d}\\n", "v.sql")
    >>> errs = []
    >>> aggs, granularity = parse_aggregations(h, "v.sql", errs)
    >>> (aggs[0].function, aggs[0].window_seconds, granularity, errs)
    ('count', 604800, 3600, [])
    """

    def err(message: str, line: int | None, hint: str | None = None) -> None:
        errors.append(ValidationError(message, Location(path, line), hint=hint))

    granularity = DEFAULT_GRANULARITY
    if data.get("granularity") is not None:
        try:
            granularity = parse_ttl(data.get("granularity"))
        except ValueError as e:
            err(str(e).replace("ttl", "granularity"), data.key_line("granularity"))
        else:
            if granularity <= 0:
                err("granularity must be a positive duration", data.key_line("granularity"), "e.g. granularity: 1h")
                granularity = DEFAULT_GRANULARITY
    spec = data.get("aggregations")
    line = data.key_line("aggregations")
    if not isinstance(spec, LineDict) or not spec:
        err(
            "'aggregations:' must map each aggregate's name to {function, column, window}",
            line,
            "e.g. aggregations: {orders_7d: {function: count, window: 7d}}",
        )
        return [], granularity
    out: list[Aggregation] = []
    for name, item in spec.items():
        item_line = spec.key_line(name)
        if not isinstance(item, LineDict):
            err(
                f"aggregation '{name}' must be a mapping such as {{function: sum, column: amount, window: 7d}}",
                item_line,
            )
            continue
        bad = False
        for key in item:
            if key not in AGGREGATION_KEYS:
                err(
                    f"unknown key '{key}' in aggregation '{name}'",
                    item.key_line(key) or item_line,
                    suggest(key, AGGREGATION_KEYS) or f"known keys: {', '.join(AGGREGATION_KEYS)}",
                )
                bad = True
        function = item.get("function")
        if not isinstance(function, str) or function.lower() not in FUNCTIONS:
            err(
                f"aggregation '{name}' has unknown function {function!r}"
                if function is not None
                else f"aggregation '{name}' needs 'function:'",
                item.key_line("function") or item_line,
                suggest(str(function), FUNCTIONS) or f"functions: {', '.join(FUNCTIONS)}",
            )
            bad = True
        else:
            function = function.lower()
        column = item.get("column")
        if column is not None and not isinstance(column, str):
            err(f"'column' of aggregation '{name}' must be a column name", item.key_line("column") or item_line)
            bad = True
        elif column is None and function in FUNCTIONS and function != "count":
            err(f"aggregation '{name}' ({function}) needs 'column:'", item_line, "e.g. column: amount")
            bad = True
        window = 0
        if "window" not in item:
            err(f"aggregation '{name}' needs 'window:'", item_line, "e.g. window: 7d (units s, m, h, d, w)")
            bad = True
        else:
            try:
                window = parse_ttl(item.get("window"))
            except ValueError as e:
                err(
                    f"aggregation '{name}': " + str(e).replace("ttl", "window").replace(", or 0 for no limit", ""),
                    item.key_line("window"),
                )
                bad = True
            else:
                if window <= 0:
                    err(
                        f"the window of aggregation '{name}' must be positive",
                        item.key_line("window"),
                        "e.g. window: 7d",
                    )
                    bad = True
                elif granularity > 0 and window % granularity:
                    err(
                        f"the window of aggregation '{name}' ({item.get('window')}) is not a whole number of "
                        f"tiles of granularity {data.get('granularity') or '1h'}",
                        item.key_line("window"),
                        "make every window a multiple of 'granularity:' (or set a finer granularity)",
                    )
                    bad = True
        if not bad:
            out.append(
                Aggregation(str(name), str(function), window, column, description=str(item.get("description") or ""))
            )
    return out, granularity


def check_projection(view: FeatureView, columns: list, file, header: Any) -> list[SqlfeastError]:
    """The SELECT of an aggregation view: join keys, timestamps and every aggregated column, with
    types that suit their functions. Sets each aggregation's (and its feature's) output type."""
    from sqlfeast.compile.analysis import check_projection as check_plain

    path = file.path
    errors: list[SqlfeastError] = []
    used = {a.column for a in view.aggregations if a.column}
    # The plain check covers keys, timestamps and duplicates; aggregated columns play the role of
    # declared features there (their types are checked here instead).
    plain = FeatureView(
        name=view.name,
        entities=view.entities,
        join_keys=view.join_keys,
        timestamp=view.timestamp,
        created_timestamp=view.created_timestamp,
        features=[],
    )
    lines = {
        "header": header.line,
        "entities": header.key_line("entities"),
        "timestamp": header.key_line("timestamp"),
        "created_timestamp": header.key_line("created_timestamp"),
        "features": {},
    }
    by_name = {c.name: c for c in columns}
    for problem in check_plain(plain, [c for c in columns if c.name not in used], file, lines):
        if "is selected but not declared as a feature" in problem.message:
            name = problem.message.split("'")[1]
            errors.append(
                ValidationError(
                    f"column '{name}' is selected but no aggregation uses it",
                    problem.location,
                    hint="aggregate it or remove it from the SELECT",
                )
            )
        else:
            errors.append(problem)
    spec = header.get("aggregations")
    for agg in view.aggregations:
        item = spec[agg.name]
        line = item.key_line("column") or spec.key_line(agg.name)
        column = by_name.get(agg.column) if agg.column else None
        if agg.column and column is None:
            errors.append(
                ValidationError(
                    f"aggregation '{agg.name}' aggregates column '{agg.column}', which the SELECT does not give",
                    Location(path, line),
                    hint=suggest(agg.column, list(by_name)) or f"select {agg.column}",
                )
            )
            continue
        if column is not None and column.type is None and agg.function not in ("count", "count_distinct"):
            errors.append(
                ValidationError(
                    f"the type of column '{agg.column}' (aggregation '{agg.name}') cannot be inferred",
                    column.location or Location(path, line),
                    hint=f"cast it in the SELECT, e.g. cast(... as double) as {agg.column}",
                )
            )
            continue
        if (
            agg.function == "sum"
            and column is not None
            and column.type is not None
            and column.type.name == "decimal"
            and column.type.precision is None
        ):
            errors.append(
                ValidationError(
                    f"the scale of decimal column '{agg.column}' (aggregation '{agg.name}') cannot be inferred",
                    column.location or Location(path, line),
                    hint=f"cast it in the SELECT, e.g. cast(... as decimal(18,2)) as {agg.column}",
                )
            )
            continue
        result = output_type(agg.function, column.type if column is not None else None)
        if result is None:
            errors.append(
                ValidationError(
                    f"{agg.function} of column '{agg.column}' ({column.type if column else None}) is not possible (aggregation '{agg.name}')",
                    Location(path, item.key_line("function") or line),
                    hint=f"{agg.function} takes {', '.join(_ACCEPTS[agg.function] or ('any',))} columns",
                )
            )
            continue
        agg.type = result
        feature = view.feature(agg.name)
        if feature is not None:
            feature.type = result
    if view.online and not errors:
        errors.extend(check_online_size(view, path, header))
    return errors


def check_online_size(view: FeatureView, path: str, header: Any) -> list[SqlfeastError]:
    """An online aggregation view keeps one item per entity (core/tiles.py): its largest size,
    every sub-tile the longest window reaches filled, must fit DynamoDB's 400 KB item limit.

    >>> from sqlfeast.core.spec import Aggregation
    >>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], columns={"a": "double"}, online=True,
    ...     granularity_seconds=60, aggregations=[Aggregation("s", "stddev", 30 * 86400, "a")])
    >>> print(check_online_size(v, "o.sql", {})[0].message)  # doctest: +ELLIPSIS
    online, aggregation view 'o' keeps up to 86402 sub-tiles of 1m per entity: up to ... KB, above ...
    """
    from sqlfeast.core.tiles import MAX_ITEM_BYTES, plan_of

    plan = plan_of(view)
    size = plan.max_item_bytes()
    if size <= MAX_ITEM_BYTES:
        return []
    line = None
    if hasattr(header, "key_line"):
        line = header.key_line("granularity") or header.key_line("aggregations")
    g = view.granularity_seconds
    needed = -(-size * g // MAX_ITEM_BYTES)  # the item shrinks about in proportion to the tile count
    fits = [
        c
        for c in (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
        if c >= needed and all(a.window_seconds % c == 0 for a in view.aggregations)
    ]
    advice = f"granularity: {_duration(fits[0])} or coarser" if fits else "a coarser granularity"
    return [
        ValidationError(
            f"online, aggregation view '{view.name}' keeps up to {plan.max_sub_tiles} sub-tiles of {_duration(g)} per "
            f"entity: up to {size // 1024} KB, above DynamoDB's 400 KB item limit",
            Location(path, line),
            hint=f"use {advice}, shorter windows or fewer count_distinct aggregates, or set online: false",
        )
    ]


def header_lines(header: Any, view: FeatureView) -> dict[str, Any]:
    """Lines of the header keys, as compiler messages and --strict checks use them."""
    spec = header.get("aggregations")
    if not isinstance(spec, LineDict):
        spec = LineDict()
        spec.line, spec.key_lines = header.line, {}
    return {
        "header": header.line,
        "entities": header.key_line("entities"),
        "timestamp": header.key_line("timestamp"),
        "created_timestamp": header.key_line("created_timestamp"),
        "features": {a.name: spec.key_line(a.name) for a in view.aggregations},
    }


def _duration(seconds: int) -> str:
    """Seconds in the largest whole unit of the header's spelling.

    >>> _duration(3600), _duration(90), _duration(1209600)
    ('1h', '90s', '2w')
    """
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
