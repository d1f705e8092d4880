"""sqlglot checks of one rendered model: one SELECT, its output columns and their types, and a
feature view's projection against its header.

Positions reported by sqlglot are in the rendered SQL; ``Positions`` maps them back to the
model file through the header and Jinja.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from sqlfeast.core.dialects import dialect
from sqlfeast.core.naming import describe_placeholder
from sqlfeast.core.spec import FeatureView, SourceTable
from sqlfeast.core.types import FeatureType, from_arrow, from_sqlglot, is_compatible, parse_type
from sqlfeast.errors import Location, SqlfeastError, ValidationError, suggest

_PARQUET = re.compile(r"^\s*read_parquet\(\s*'([^'*?\[]+)'\s*\)\s*$", re.IGNORECASE)


@dataclass
class OutputColumn:
    name: str
    type: FeatureType | None
    location: Location | None


class Positions:
    """Maps (line, col) of a model's rendered SQL back to its file."""

    def __init__(self, model):
        self.path = model.file.path
        self.original = model.file.header.body.splitlines()
        self.rendered = model.sql.splitlines()
        self.lines = model.lines

    def at(self, line: int | None, col: int | None, name: str | None = None) -> Location:
        if line is None or not self.lines:
            return Location(self.path, None)
        index = min(max(line, 1), len(self.lines)) - 1
        orig_line = self.lines[index]
        original_text = self.original[orig_line - 1] if 0 < orig_line <= len(self.original) else ""
        rendered_text = self.rendered[index] if index < len(self.rendered) else ""
        if rendered_text != original_text:
            # Jinja changed this line: find the name in the original text instead.
            found = original_text.lower().find(name.lower()) if name else -1
            col = found + 1 if found >= 0 else None
        return Location(self.path, orig_line, col)


def _identifier_position(node: exp.Expr) -> tuple[int | None, int | None, str | None]:
    """(line, start col) of the node's alias, else of its first identifier or star."""
    targets = []
    if isinstance(node, exp.Alias):
        targets.append(node.args.get("alias"))
    targets.append(node)
    targets.extend(node.find_all(exp.Identifier, exp.Star))
    for t in targets:
        meta = getattr(t, "meta", None) or {}
        if "line" in meta:
            width = meta.get("end", 0) - meta.get("start", 0)
            return meta["line"], meta["col"] - width, getattr(t, "name", None)
    return None, None, None


def parse_model(model, dialect: str) -> exp.Query:
    """Parse a rendered model: exactly one SELECT, no DDL or DML."""
    pos, sql, file = Positions(model), model.sql, model.file
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        highlight = first.get("highlight") or ""
        col = first.get("col")
        col = max(col - len(highlight) + 1, 1) if col is not None else None  # sqlglot gives the end column
        loc = pos.at(first.get("line"), col, highlight)
        description = first.get("description") or str(err).splitlines()[0]
        raise ValidationError(f"SQL syntax error: {description}", loc, hint="fix the SQL near this position") from None
    except sqlglot.errors.TokenError as err:
        raise ValidationError(f"SQL syntax error: {err}", Location(file.path)) from None
    if len(statements) != 1:
        raise ValidationError(
            f"expected exactly one SELECT statement, found {len(statements)}",
            Location(file.path, _first_code_line(file)),
            hint="a model is a single SELECT",
        )
    stmt = statements[0]
    if not isinstance(stmt, exp.Query):
        kind = stmt.key.upper()
        raise ValidationError(
            f"a model must be a SELECT query, found {kind}",
            Location(file.path, _first_code_line(file)),
            hint="remove DDL/DML; 'sqlfeast run' creates the views itself",
        )
    return stmt


def _first_code_line(file) -> int | None:
    for i, text in enumerate(file.header.body.splitlines(), start=1):
        stripped = text.strip()
        if stripped and not stripped.startswith("--"):
            return i
    return None


def _leftmost_select(query: exp.Expr) -> exp.Select:
    while isinstance(query, exp.SetOperation):
        query = query.this
    if isinstance(query, exp.Subquery):
        return _leftmost_select(query.this)
    assert isinstance(query, exp.Select), f"not a SELECT: {type(query).__name__}"
    return query


def output_columns(
    model,
    upstream: dict[str, dict[str, FeatureType] | None],
    schema_cache: dict | None = None,
    dialect_name: str = "duckdb",
) -> tuple[list[OutputColumn], exp.Query | None]:
    """The model's output columns, with types where they can be inferred, and, for a
    ``SELECT *`` model, the query with the star expanded (None otherwise).

    ``upstream`` maps each table the model reads (placeholder names) to its schema, or None
    when unknown. ``SELECT *`` needs every schema it reads; otherwise it is rejected.
    """
    pos, query = Positions(model), model.ast
    projections = _leftmost_select(query).expressions
    raw_positions = [_identifier_position(p) for p in projections]
    stars = [
        pp
        for p, pp in zip(projections, raw_positions)
        if isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
    ]
    unknown = [name for name, schema in upstream.items() if schema is None]

    if stars and unknown:
        line, col, _ = stars[0]
        what = ", ".join(describe_placeholder(u) for u in unknown)
        raise ValidationError(
            f"SELECT * cannot be expanded: the columns of {what} are unknown",
            pos.at(line, col, "*"),
            hint="list the columns, or declare the source's columns with data_type in YAML",
        )
    if unknown:
        # Some schema unknown: infer what literals and casts tell.
        typed = annotate_types(query.copy(), dialect=dialect_name)
        expanded = None
    else:
        # One MappingSchema for both passes (each would otherwise build its own), and with
        # `schema_cache` (one compile run) one per distinct set of upstream schemas.
        mapping: dict[str, object] = {
            name: {col: t.sql(dialect_name) for col, t in cols.items()}
            for name, cols in upstream.items()
            if cols is not None  # every schema is known on this branch
        }
        key = tuple((name, tuple(cols.items())) for name, cols in mapping.items() if isinstance(cols, dict))
        schema = schema_cache.get(key) if schema_cache is not None else None
        if schema is None:
            schema = MappingSchema(mapping, dialect=dialect_name)
            if schema_cache is not None:
                schema_cache[key] = schema
        typed = None if stars else _single_table_typed(query, upstream, schema, dialect_name)
        if typed is None:
            try:
                typed = qualify(
                    query.copy(),
                    schema=schema,
                    dialect=dialect_name,
                    identify=False,
                    validate_qualify_columns=True,
                    quote_identifiers=False,
                )
                typed = annotate_types(typed, schema=schema, dialect=dialect_name)
            except OptimizeError as err:
                raise _unknown_column(err, query, upstream, pos) from None
        expanded = typed if stars else None
    typed_projections = _leftmost_select(typed).expressions
    types = [from_sqlglot(p.type) if p.type else None for p in typed_projections]
    if stars:
        line, col, _ = stars[0]
        return [
            OutputColumn(p.alias_or_name, t, pos.at(line, col, "*")) for p, t in zip(typed_projections, types)
        ], expanded
    return [
        OutputColumn(p.alias_or_name, t, pos.at(ln, c, n))
        for p, t, (ln, c, n) in zip(projections, types, raw_positions)
    ], None


# Nodes that give a query more than one scope or source; their presence needs the full qualify.
_NOT_SIMPLE = (
    exp.Subquery,
    exp.Join,
    exp.Lateral,
    exp.Unnest,
    exp.Pivot,
    exp.Values,
    exp.With,
    exp.SetOperation,
    exp.Star,
    exp.UDTF,
)


def _single_table_typed(
    query: exp.Query,
    upstream: dict[str, dict[str, FeatureType] | None],
    schema: MappingSchema,
    dialect_name: str = "duckdb",
) -> exp.Query | None:
    """Typed copy of a ``SELECT ... FROM one_table`` whose every column is a lower-case column of
    that table, without sqlglot's qualify (which costs as much as typing itself). Such a query
    qualifies to the same tree minus aliases, so annotate_types gives the same types. Anything
    else returns None and takes the full path, which also reports unknown columns."""
    if not isinstance(query, exp.Select) or query.args.get("joins"):
        return None
    from_ = query.args.get("from_")
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table) or table.args.get("db") or table.args.get("catalog"):
        return None
    columns = upstream.get(table.name)
    if not columns or len(upstream) != 1:
        return None
    alias = table.alias_or_name
    for node in query.walk():
        if isinstance(node, _NOT_SIMPLE) and not (isinstance(node, exp.Star) and isinstance(node.parent, exp.Count)):
            return None
        if isinstance(node, exp.Select) and node is not query:
            return None
        if isinstance(node, exp.Table) and node is not table:
            return None
        if isinstance(node, exp.Column):
            name = node.name
            if (
                node.args.get("db")
                or node.args.get("catalog")
                or (node.table and node.table != alias)
                or not isinstance(node.this, exp.Identifier)
                or name != name.lower()
                or name not in columns
            ):
                return None
    typed = query.copy()
    for column in typed.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier(alias))
    return annotate_types(typed, schema=schema, dialect=dialect_name)


def drop_positions(query: exp.Expr) -> None:
    """Forget token positions (sqlglot's per-node meta dicts), which dominate the cost of copying
    a tree; call once every message about the query has its location."""
    for node in query.walk():
        if node._meta is not None:
            node._meta = None


def other_tables(query: exp.Query, known: dict) -> list[str]:
    """Tables the query reads that are neither in `known` nor its own CTEs (e.g. a table
    named directly, or a push source's table)."""
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    names = []
    for table in query.find_all(exp.Table):
        name = table.name
        # Table functions such as read_parquet(...) have no identifier name.
        if isinstance(table.this, exp.Identifier) and name not in known and name not in ctes and name not in names:
            names.append(name)
    return names


def _unknown_column(err: OptimizeError, query: exp.Query, upstream, pos: Positions) -> SqlfeastError:
    text = str(err)
    m = re.search(r"Column '([^']+)' could not be resolved", text)
    if not m:
        return ValidationError(f"cannot resolve the query's columns: {text.splitlines()[0]}", Location(pos.path))
    name = m.group(1).split(".")[-1].strip('"')
    node = next((c for c in query.find_all(exp.Column) if c.name.lower() == name.lower()), None)
    line, col, _ = _identifier_position(node) if node is not None else (None, None, None)
    known = sorted({c for cols in upstream.values() if cols for c in cols})
    owners = [rel for rel, cols in upstream.items() if cols and name in cols]
    if len(owners) > 1:  # sqlglot reports an ambiguous column as unresolved
        return ValidationError(
            f"column '{name}' is ambiguous: {', '.join(describe_placeholder(o) for o in owners)} all have it",
            pos.at(line, col, name),
            hint=f"qualify it, e.g. t.{name}",
        )
    return ValidationError(
        f"unknown column '{name}'",
        pos.at(line, col, name),
        hint=suggest(name, known) or f"available columns: {', '.join(known)}",
    )


def check_projection(view: FeatureView, columns: list[OutputColumn], file, header_lines: dict) -> list[SqlfeastError]:
    """Every join key, the timestamp(s) and every declared feature selected; nothing else."""
    errors: list[SqlfeastError] = []
    path = file.path
    names = [c.name for c in columns]
    by_name: dict[str, OutputColumn] = {}
    for c in columns:
        if c.name in by_name:
            errors.append(
                ValidationError(
                    f"column '{c.name}' is selected more than once",
                    c.location,
                    hint="give each column a distinct alias",
                )
            )
        by_name[c.name] = c
    for key in view.join_keys:
        if key not in by_name:
            errors.append(
                ValidationError(
                    f"join key '{key}' is not selected",
                    Location(path, header_lines["entities"]),
                    hint=f"select {key}: every join key of the view's entities must be in the SELECT",
                )
            )
    for role, time_column in (("timestamp", view.timestamp), ("created_timestamp", view.created_timestamp)):
        if time_column is None:
            continue
        found = by_name.get(time_column)
        if found is None:
            errors.append(
                ValidationError(
                    f"{role} column '{time_column}' is not selected",
                    Location(path, header_lines[role]),
                    hint=suggest(time_column, names) or f"select {time_column} or change '{role}:'",
                )
            )
        elif found.type is not None and found.type.family not in ("timestamp", "date"):
            errors.append(
                ValidationError(
                    f"{role} column '{time_column}' must be a timestamp or date, the query gives {found.type}",
                    found.location,
                    hint="cast it to timestamp",
                )
            )
    declared = set(view.feature_names)
    required = set(view.join_keys) | {view.timestamp} | ({view.created_timestamp} if view.created_timestamp else set())
    extras = [c for c in columns if c.name not in declared and c.name not in required]
    missing = [f for f in view.features if f.name not in by_name]
    for feature in missing:
        hint = suggest(feature.name, [c.name for c in extras]) or "add it to the SELECT or remove it from 'features:'"
        errors.append(
            ValidationError(
                f"feature '{feature.name}' is declared but not selected",
                Location(path, header_lines["features"].get(feature.name)),
                hint=hint,
            )
        )
    for column in extras:
        hint = (
            suggest(column.name, [f.name for f in missing])
            or "declare it under 'features:' with its type, or remove it from the SELECT"
        )
        errors.append(
            ValidationError(
                f"column '{column.name}' is selected but not declared as a feature", column.location, hint=hint
            )
        )
    for feature in view.features:
        selected = by_name.get(feature.name)
        declared_type = parse_type(feature.type)
        if selected is not None and selected.type is not None and not is_compatible(selected.type, declared_type):
            errors.append(
                ValidationError(
                    f"feature '{feature.name}' is declared as {declared_type} but the query gives {selected.type}",
                    selected.location,
                    hint="cast it in the SELECT or change the declared type",
                )
            )
    return errors


def quote_outer_aliases(query: exp.Query, names: list[str]) -> exp.Query:
    """Alias the outer projection with quoted names, so Snowflake keeps lower-case column names."""
    select = _leftmost_select(query)
    new = []
    for projection, name in zip(select.expressions, names):
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        # copy=False: callers pass their own copy of the tree, so the projection can move as is.
        new.append(exp.alias_(inner, exp.to_identifier(name, quoted=True), copy=False))
    if len(new) == len(select.expressions):
        select.set("expressions", new)
    return query


def source_schemas(
    sources: dict[str, SourceTable], root: Path, dialect_name: str
) -> dict[str, dict[str, FeatureType] | None]:
    """Known column types of each source: declared in YAML, else read from a local parquet file."""
    out: dict[str, dict[str, FeatureType] | None] = {}
    for key, source in sources.items():
        if source.columns:
            out[key] = {c: parse_type(t) for c, t in source.columns.items()}
            continue
        out[key] = None
        m = _PARQUET.match(source.external_location or "") if dialect(dialect_name).external_locations else None
        if m and (root / m.group(1)).is_file():
            import pyarrow.parquet as pq

            schema = pq.read_schema(root / m.group(1))
            types = {f.name: from_arrow(f.type) for f in schema}
            known = {name: t for name, t in types.items() if t is not None}
            if len(known) == len(types):
                out[key] = known
    return out


def check_against_warehouse(registry, warehouse, header_lines: dict[str, dict]) -> list[SqlfeastError]:
    """--strict: DESCRIBE each compiled view in the warehouse and compare with the header."""
    from sqlfeast.core.types import from_warehouse

    errors: list[SqlfeastError] = []
    for view in registry.feature_views.values():
        lines = header_lines.get(view.name, {})
        try:
            described = dict(warehouse.describe(warehouse.localize(view.sql[warehouse.dialect])))
        except SqlfeastError as err:
            errors.append(
                ValidationError(
                    f"the warehouse cannot describe this view: {err.message}", Location(view.path, lines.get("header"))
                )
            )
            continue
        for feature in view.features:
            actual = described.get(feature.name)
            found = from_warehouse(actual) if actual else None
            if found is not None and not is_compatible(found, parse_type(feature.type)):
                errors.append(
                    ValidationError(
                        f"feature '{feature.name}' is declared as {feature.type} but the warehouse reports {actual}",
                        Location(view.path, lines.get("features", {}).get(feature.name)),
                        hint="cast it in the SELECT or change the declared type",
                    )
                )
    return errors
