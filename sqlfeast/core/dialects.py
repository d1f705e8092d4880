"""The warehouses sqlfeast compiles for, and what compile-time code may know of each.

Everything else that differs between warehouses lives in the dispatched macros and in one
adapter class per warehouse (``sqlfeast/warehouse``); code outside those asks a `Dialect` (or
the adapter) for a capability instead of testing a warehouse's name.

>>> dialect("duckdb").default_schema, dialect("snowflake").default_schema
('main', 'PUBLIC')
>>> [d for d in DIALECTS]
['duckdb', 'snowflake']
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlfeast.errors import ConfigError, suggest


@dataclass(frozen=True)
class Dialect:
    """A warehouse's SQL dialect (named as sqlglot names it) and its compile-time traits."""

    name: str
    default_schema: str
    """The schema a profile gets when it names none (as dbt's adapters default)."""
    external_locations: bool
    """A source's ``external_location`` (e.g. ``read_parquet('data/x.parquet')``) is a relation."""
    database_is_file: bool = False
    """The database is a file whose stem names its catalog (dbt-duckdb's `database` default);
    dbt seeds not loaded yet can be read from their CSV files."""
    quoted_dbt_relations: bool = True
    """dbt's adapter quotes relation names by default (dbt-snowflake does not)."""


DIALECTS: dict[str, Dialect] = {
    "duckdb": Dialect("duckdb", default_schema="main", external_locations=True, database_is_file=True),
    "snowflake": Dialect("snowflake", default_schema="PUBLIC", external_locations=False, quoted_dbt_relations=False),
}


def dialect(name: str) -> Dialect:
    """The dialect of a warehouse type, or a ConfigError naming the supported ones.

    >>> dialect("duckdb").external_locations
    True
    """
    try:
        return DIALECTS[name]
    except KeyError:
        hint = suggest(str(name), DIALECTS) or f"sqlfeast supports {', '.join(DIALECTS)}"
        raise ConfigError(f"unknown warehouse type {name!r}", hint=hint) from None
