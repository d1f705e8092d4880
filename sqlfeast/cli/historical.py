"""`sqlfeast historical`: write a point-in-time correct training set to parquet."""

from __future__ import annotations

from pathlib import Path

import click

from sqlfeast.cli import CliState
from sqlfeast.errors import UsageError


@click.command("historical")
@click.option("-e", "--entities", "entities_path", default=None, help="Entity rows: a parquet file.")
@click.option("--entity-sql", default=None, help="Entity rows: a query run in the warehouse.")
@click.option("-f", "--features", default=None,
              help="Comma-separated feature references: view:feature, view, view[as=a, key=column]:feature.")
@click.option("--service", default=None, help="A feature service name instead of -f.")
@click.option("-o", "--output", required=True, help="Parquet file to write.")
@click.option("--full-feature-names", is_flag=True, help="Name feature columns view__feature.")
@click.option("--timestamp-column", default="event_timestamp", show_default=True,
              help="The entity rows' timestamp column.")
@click.option("--filter-by-created-timestamp", is_flag=True,
              help="Also require the created timestamp to be <= the entity timestamp.")
@click.option("--strategy", type=click.Choice(["asof", "window", "join"]), default=None,
              help="Point-in-time join strategy (default: the target's pit_strategy, else asof).")
@click.option("--show-sql", is_flag=True, help="Print the SQL that ran.")
@click.pass_obj
def historical(state: CliState, entities_path: str | None, entity_sql: str | None, features: str | None,
               service: str | None, output: str, full_feature_names: bool, timestamp_column: str,
               filter_by_created_timestamp: bool, strategy: str | None, show_sql: bool):
    """Build training rows for the entity rows and write them to OUTPUT (parquet)."""
    if (entities_path is None) == (entity_sql is None):
        raise UsageError("pass exactly one of -e/--entities FILE and --entity-sql QUERY")
    if (features is None) == (service is None):
        raise UsageError("pass exactly one of -f/--features and --service")
    refs = split_references(features) if features is not None else service
    options = {"timestamp_column": timestamp_column,
               "filter_by_created_timestamp": filter_by_created_timestamp}
    if strategy:
        options["strategy"] = strategy
    if entity_sql is not None and not entity_sql.strip():
        raise UsageError("--entity-sql is empty")
    store = state.store()
    job = store.get_historical_features(Path(entities_path) if entities_path is not None else entity_sql, refs,
                                        full_feature_names=full_feature_names, **options)
    rows = job.to_parquet(output)
    if show_sql:
        click.echo(job.sql)
    click.echo(f"Wrote {rows} rows to {output}")


def split_references(text: str) -> list[str]:
    """Split on commas outside [...]: 'a:x, b[as=o, k=c]:y' -> ['a:x', 'b[as=o, k=c]:y']."""
    refs, depth = [], 0
    current: list[str] = []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            refs.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    refs.append("".join(current).strip())
    refs = [r for r in refs if r]
    if not refs:
        raise UsageError("-f/--features names no features", hint="e.g. -f driver_hourly_stats:conv_rate")
    return refs


COMMANDS = [historical]
