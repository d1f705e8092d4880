"""`sqlfeast historical`: write a point-in-time correct training set to parquet."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sqlfeast.cli import CliState, SqlfeastCommand
from sqlfeast.errors import SqlfeastError, UsageError


@click.command("historical", cls=SqlfeastCommand)
@click.option("-e", "--entities", "entities_path", default=None, help="Entity rows: a parquet file.")
@click.option("--entity-sql", default=None, help="Entity rows: a query run in the warehouse.")
@click.option(
    "-f",
    "--features",
    multiple=True,
    help="Feature references, repeatable and comma-separated: view:feature, view, view[as=a, key=column]:feature.",
)
@click.option("--service", default=None, help="A feature service name instead of -f.")
@click.option("-o", "--output", required=True, help="Parquet file to write.")
@click.option("--full-feature-names", is_flag=True, help="Name feature columns view__feature.")
@click.option(
    "--timestamp-column", default="event_timestamp", show_default=True, help="The entity rows' timestamp column."
)
@click.option(
    "--filter-by-created-timestamp",
    is_flag=True,
    help="Also require the created timestamp to be <= the entity timestamp.",
)
@click.option(
    "--strategy",
    type=click.Choice(["asof", "window", "join"]),
    default=None,
    help="Point-in-time join strategy (default: the target's pit_strategy, else asof).",
)
@click.option("--show-sql", is_flag=True, help="Print the SQL that ran.")
@click.option(
    "--registry",
    "registry_source",
    type=click.Choice(["project", "applied"]),
    default="project",
    show_default=True,
    help="Feature definitions from the project files as they are now, or from the applied registry.",
)
@click.pass_obj
def historical(
    state: CliState,
    entities_path: str | None,
    entity_sql: str | None,
    features: tuple[str, ...],
    service: str | None,
    output: str,
    full_feature_names: bool,
    timestamp_column: str,
    filter_by_created_timestamp: bool,
    strategy: str | None,
    show_sql: bool,
    registry_source: str,
):
    """Build training rows for the entity rows and write them to OUTPUT (parquet).

    The feature views are compiled from the project files as they are now (an edited model is
    used without 'apply'; compile errors stop the run); --registry applied uses the registry
    'apply' recorded instead. Online reads and 'serve' always use the applied registry.
    """
    if (entities_path is None) == (entity_sql is None):
        raise UsageError("pass exactly one of -e/--entities FILE and --entity-sql QUERY")
    if bool(features) == (service is not None):
        raise UsageError("pass exactly one of -f/--features and --service")
    refs = service if service is not None else [r for text in features for r in split_references(text)]
    options = {"timestamp_column": timestamp_column, "filter_by_created_timestamp": filter_by_created_timestamp}
    if strategy:
        options["strategy"] = strategy
    if entity_sql is not None and not entity_sql.strip():
        raise UsageError("--entity-sql is empty")
    check_output(output)  # before any work
    store = state.store()
    entity_rows: str | Path = entity_sql if entity_sql is not None else Path(str(entities_path))
    job = store.get_historical_features(
        entity_rows, refs, full_feature_names=full_feature_names, registry=registry_source, **options
    )
    try:
        rows = job.to_parquet(output)
    except OSError as err:  # the destination went away or filled up during the run
        raise SqlfeastError(
            f"cannot write {output}: {err.strerror or err}", hint="check the path and the free space, then re-run"
        ) from None
    if show_sql:
        click.echo(job.sql)
    click.echo(f"Wrote {rows} rows to {output}")


def check_output(output: str) -> Path:
    """Refuse an -o destination that cannot be written, before the work is done.

    >>> check_output("/no/such/dir/out.parquet")
    Traceback (most recent call last):
    sqlfeast.errors.UsageError: -o /no/such/dir/out.parquet: directory /no/such/dir does not exist (create it first (mkdir -p /no/such/dir) or write somewhere else)
    """
    path = Path(output)
    parent = path.parent
    if path.is_dir():
        raise UsageError(f"-o {output} is a directory", hint=f"name a file, e.g. -o {path / 'train.parquet'}")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(
            f"-o {output}: directory {parent} {what}",
            hint=f"create it first (mkdir -p {parent}) or write somewhere else",
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"-o {output}: permission denied", hint="write somewhere you may write")
    return path


def split_references(text: str) -> list[str]:
    """Split on commas outside [...]: 'a:x, b[as=o, k=c]:y' -> ['a:x', 'b[as=o, k=c]:y']."""
    refs: list[str] = []
    depth = 0
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
