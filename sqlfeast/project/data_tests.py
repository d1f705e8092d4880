"""Data test declarations: read from a view's header and from dbt-style `models:` YAML entries.

A test is a name (``not_null``) or a one-key mapping of a name to its arguments
(``{accepted_range: {min: 0, max: 1}}``). Column tests sit under a feature in the header
(``conv_rate: {type: double, tests: [not_null]}``) or under ``columns:`` of a YAML entry; view
tests (``unique`` on join keys and timestamp, ``freshness``, ``row_count``) under the view's own
``tests:`` (``data_tests:`` is accepted as in dbt). Every problem is a ValidationError at the
file and line of the declaration.

>>> errors = []
>>> [t.id for t in parse_tests(["not_null", {"accepted_range": {"min": 0}}], "x", "m.sql", 3, errors)]
['not_null(x)', 'accepted_range(x)']
>>> parse_tests(["not_nul"], "x", "m.sql", 3, errors) == [] and errors[0].render()
"m.sql:3: unknown data test 'not_nul' (did you mean 'not_null'?)"
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlfeast.core.spec import DATA_TEST_KINDS, DataTest, FeatureView
from sqlfeast.errors import Location, SqlfeastError, ValidationError, suggest
from sqlfeast.project.header import parse_ttl
from sqlfeast.project.yamlfile import LineDict, LineList

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.project.loader import LoadedProject

COLUMN_KINDS = ("not_null", "accepted_values", "accepted_range", "unique")
VIEW_KINDS = ("unique", "freshness", "row_count")
_ARGS = {
    "not_null": (),
    "accepted_values": ("values", "quote"),
    "accepted_range": ("min", "max", "inclusive"),
    "unique": ("columns",),
    "freshness": ("warn_after", "error_after"),
    "row_count": ("min", "max"),
}
_COMMON = ("severity", "config")
TEST_KEYS = ("tests", "data_tests")


def _line(items: Any, index: int, item: Any, default: int | None) -> int | None:
    if isinstance(item, LineDict):
        return item.line
    if isinstance(items, LineList):
        return items.item_line(index)
    return default


def parse_tests(
    items: Any, column: str | None, path: str, line: int | None, errors: list[SqlfeastError]
) -> list[DataTest]:
    """Data tests of one column (or of the view when `column` is None) from a YAML list."""
    if not isinstance(items, list):
        errors.append(
            ValidationError(
                "'tests' must be a list of data tests",
                Location(path, line),
                hint="e.g. tests: [not_null, {accepted_range: {min: 0}}]",
            )
        )
        return []
    out = []
    for index, item in enumerate(items):
        at = Location(path, _line(items, index, item, line))
        test = _parse_one(item, column, path, at, errors)
        if test is not None:
            out.append(test)
    return out


def _parse_one(item: Any, column: str | None, path: str, at: Location, errors: list[SqlfeastError]) -> DataTest | None:
    args: Any
    if isinstance(item, str):
        kind, args = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        kind, args = next(iter(item.items()))
        if args is None:
            args = {}
        if kind == "accepted_values" and isinstance(args, list):
            args = {"values": args}
    else:
        errors.append(
            ValidationError(
                "a data test is a name or a mapping of one name to its arguments",
                at,
                hint="e.g. not_null or {accepted_values: {values: [a, b]}}",
            )
        )
        return None
    if kind not in DATA_TEST_KINDS:
        errors.append(
            ValidationError(
                f"unknown data test '{kind}'",
                at,
                hint=suggest(str(kind), DATA_TEST_KINDS) or f"known tests: {', '.join(DATA_TEST_KINDS)}",
            )
        )
        return None
    level_kinds = COLUMN_KINDS if column else VIEW_KINDS
    if kind not in level_kinds:
        where = "on a column" if column else "on the view"
        errors.append(
            ValidationError(
                f"data test '{kind}' cannot be declared {where}",
                at,
                hint=f"declare {', '.join(level_kinds)} here"
                + (
                    "; view tests go under the view's own 'tests:'"
                    if column
                    else "; column tests go under the feature or column"
                ),
            )
        )
        return None
    if not isinstance(args, dict):
        errors.append(
            ValidationError(
                f"the arguments of data test '{kind}' must be a mapping",
                at,
                hint=f"e.g. {{{kind}: {{{', '.join(a + ': ...' for a in _ARGS[kind][:2])}}}}}",
            )
        )
        return None
    start = len(errors)
    for key in args:
        if key not in _ARGS[kind] + _COMMON:
            allowed = _ARGS[kind] + ("severity",)
            errors.append(
                ValidationError(
                    f"unknown argument '{key}' of data test '{kind}'",
                    Location(path, line_of_key(args, key, at.line)),
                    hint=suggest(str(key), allowed) or f"known arguments: {', '.join(allowed)}",
                )
            )
    config_block = args.get("config") or {}
    severity = args.get(
        "severity", config_block.get("severity", "error") if isinstance(config_block, dict) else "error"
    )
    severity = str(severity).lower()
    if severity not in ("error", "warn"):
        errors.append(
            ValidationError(f"severity of data test '{kind}' must be 'error' or 'warn', not {severity!r}", at)
        )
    config: dict[str, Any] = {}
    if kind == "accepted_values":
        values = args.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, (str, int, float, bool)) for v in values)
        ):
            errors.append(
                ValidationError(
                    "accepted_values needs 'values': a non-empty list of values",
                    at,
                    hint="e.g. {accepted_values: {values: [gold, silver]}}",
                )
            )
        else:
            config["values"] = list(values)
    elif kind in ("accepted_range", "row_count"):
        for bound in ("min", "max"):
            value = args.get(bound)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind == "row_count" and not isinstance(value, int))
            ):
                errors.append(
                    ValidationError(
                        f"'{bound}' of data test '{kind}' must be a number",
                        Location(path, line_of_key(args, bound, at.line)),
                    )
                )
            else:
                config[bound] = value
        if "min" not in args and "max" not in args:
            errors.append(
                ValidationError(
                    f"data test '{kind}' needs 'min', 'max' or both", at, hint=f"e.g. {{{kind}: {{min: 1}}}}"
                )
            )
        if kind == "accepted_range":
            inclusive = args.get("inclusive", True)
            if not isinstance(inclusive, bool):
                errors.append(ValidationError("'inclusive' of accepted_range must be true or false", at))
            config["inclusive"] = inclusive is not False
    elif kind == "freshness":
        for bound in ("warn_after", "error_after"):
            if args.get(bound) is None:
                continue
            try:
                seconds = parse_ttl(args[bound])
            except ValueError as err:
                errors.append(
                    ValidationError(f"freshness {bound}: {err}", Location(path, line_of_key(args, bound, at.line)))
                )
                continue
            if seconds <= 0:
                errors.append(
                    ValidationError(
                        f"freshness {bound} must be a positive duration such as 6h",
                        Location(path, line_of_key(args, bound, at.line)),
                    )
                )
            config[bound] = seconds
        if "warn_after" not in args and "error_after" not in args:
            errors.append(
                ValidationError(
                    "freshness needs 'warn_after', 'error_after' or both",
                    at,
                    hint="e.g. {freshness: {warn_after: 6h, error_after: 1d}}",
                )
            )
    elif kind == "unique" and args.get("columns") is not None:
        cols = args["columns"]
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            errors.append(ValidationError("'columns' of data test 'unique' must be a list of column names", at))
        else:
            config["columns"] = list(cols)
    if len(errors) > start:
        return None
    return DataTest(kind, column, config, severity, path, at.line)


def line_of_key(data: Any, key: str, default: int | None) -> int | None:
    return data.key_line(key) if isinstance(data, LineDict) else default


def attach_tests(
    loaded: "LoadedProject",
    views: dict[str, FeatureView],
    columns: dict[str, set[str] | None],
    errors: list[SqlfeastError],
) -> None:
    """Set `tests` of every view from its header and the `models:` YAML entries; `columns` maps a
    view to its output column names (None when they are unknown) for the column checks."""
    declared: dict[str, list[DataTest]] = {}
    for name in views:
        file = loaded.models[name]
        data, path = file.header.data, file.path
        tests: list[DataTest] = []
        if data is not None and "tests" in data:
            tests += parse_tests(data["tests"], None, path, data.key_line("tests"), errors)
        features = data.get("features") if data is not None else None
        if isinstance(features, dict):
            for fname, fspec in features.items():
                if isinstance(fspec, LineDict) and "tests" in fspec:
                    tests += parse_tests(fspec["tests"], str(fname), path, fspec.key_line("tests"), errors)
        declared[name] = tests
    for name, (path, entry) in loaded.model_entries.items():
        keys = [k for k in TEST_KEYS if k in entry]
        columns_value = entry.get("columns")
        column_entries: list[Any] = columns_value if isinstance(columns_value, list) else []
        with_tests = [c for c in column_entries if isinstance(c, dict) and any(k in c for k in TEST_KEYS)]
        if not keys and not with_tests:
            continue  # documentation only
        at = Location(path, line_of_key(entry, "name", None))
        if name not in views:
            if name in loaded.models and loaded.models[name].header.is_feature_view:
                continue  # its header has errors of its own, reported already
            if name in loaded.models:
                errors.append(
                    ValidationError(
                        f"data tests run on feature views; '{name}' is a plain model",
                        at,
                        hint="move the tests to a feature view that selects from it",
                    )
                )
            else:
                errors.append(
                    ValidationError(
                        f"models entry '{name}' names no feature view",
                        at,
                        hint=suggest(name, views) or "use the name of a feature view",
                    )
                )
            continue
        tests = declared[name]
        for key in keys:
            tests += parse_tests(entry[key], None, path, line_of_key(entry, key, at.line), errors)
        for col in with_tests:
            col_name = col.get("name")
            if not isinstance(col_name, str):
                errors.append(
                    ValidationError(
                        "every entry of 'columns' needs a 'name'", Location(path, line_of_key(col, "name", at.line))
                    )
                )
                continue
            for key in TEST_KEYS:
                if key in col:
                    tests += parse_tests(col[key], col_name, path, line_of_key(col, key, at.line), errors)
    for name, tests in declared.items():
        view = views[name]
        known = columns.get(name)
        for test in tests:
            if test.kind == "unique" and test.column is None and "columns" not in test.config:
                test.config["columns"] = list(view.join_keys) + [view.timestamp]
            for col in ([test.column] if test.column else []) + list(test.config.get("columns") or []):
                if known is not None and col not in known:
                    errors.append(
                        ValidationError(
                            f"data test '{test.kind}' names column '{col}' that feature view '{name}' does not select",
                            Location(test.path, test.line),
                            hint=suggest(col, sorted(known)) or "use one of its output columns",
                        )
                    )
        ids = [t.id for t in tests]
        for test in tests:
            if ids.count(test.id) > 1:
                errors.append(
                    ValidationError(
                        f"data test '{test.id}' is declared twice on feature view '{name}'",
                        Location(test.path, test.line),
                        hint="keep one of them",
                    )
                )
                ids = [i for i in ids if i != test.id]
        view.tests = tests
