"""CLI commands of the online path: materialize, materialize-incremental, get-online, teardown."""

from __future__ import annotations

import json

import click

from sqlfeast.cli import SqlfeastCommand
from sqlfeast.errors import UsageError


def _views(select: tuple[str, ...]) -> list[str] | None:
    names = [n.strip() for item in select for n in item.split(",") if n.strip()]
    return names or None


def _report(results) -> None:
    for result in results:
        click.echo(str(result))


_views_option = click.option(
    "--select",
    "-s",
    "--views",
    "-v",
    multiple=True,
    help="Feature views to materialize (default: every online view); -v/--views as in Feast.",
)


@click.command("materialize", cls=SqlfeastCommand)
@click.argument("start")
@click.argument("end")
@_views_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def materialize_cmd(state, start: str, end: str, select: tuple[str, ...], quiet: bool) -> None:
    """Copy the latest row per entity with a timestamp in [START, END) to the online store.

    \b
    START and END take:
      now                         the current time
      2024-01-31                  a date (midnight UTC)
      2024-01-31T12:00:00         a time, UTC (a space instead of T works too)
      2024-01-31T12:00:00Z        UTC, also +02:00 style offsets (converted to UTC)
    """
    store = state.store()
    _report(store.materialize(start, end, views=_views(select), quiet=quiet))


@click.command("materialize-incremental", cls=SqlfeastCommand)
@click.argument("end")
@_views_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def materialize_incremental_cmd(state, end: str, select: tuple[str, ...], quiet: bool) -> None:
    """Continue each online view from its last materialized end (or END - ttl) up to END.

    END takes the forms of 'materialize': now, 2024-01-31, 2024-01-31T12:00:00, or with Z or an
    offset such as +02:00 (converted to UTC).
    """
    store = state.store()
    _report(store.materialize_incremental(end, views=_views(select), quiet=quiet))


def parse_entity(text: str) -> dict[str, str]:
    """'driver_id=1001' or 'driver_id=1001,customer_id=7' -> a dict (values typed later)."""
    row = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"entity {text!r} is not key=value", hint="pass e.g. -e driver_id=1001")
        row[key.strip()] = value.strip()
    return row


@click.command("get-online", cls=SqlfeastCommand)
@click.option("--features", "-f", multiple=True, help="view:feature, view, or a feature service name.")
@click.option(
    "--entity",
    "-e",
    "entities",
    multiple=True,
    required=True,
    help="One entity row as key=value[,key=value]; repeat for more rows.",
)
@click.option("--full-feature-names", is_flag=True, help="Name columns view__feature.")
@click.option("--status", is_flag=True, help="Also print each value's status and event timestamp.")
@click.pass_obj
def get_online_cmd(
    state, features: tuple[str, ...], entities: tuple[str, ...], full_feature_names: bool, status: bool
) -> None:
    """Read online feature values, printed as JSON."""
    if not features:
        raise UsageError("no features requested", hint="pass -f view:feature (repeatable) or -f SERVICE")
    store = state.store()
    # One name without ':' is a feature service, unless the registry has no such service (then a view).
    single = len(features) == 1 and ":" not in features[0]
    refs: str | list[str] = list(features)
    if single and features[0] in store.registry.feature_services:
        refs = features[0]
    response = store.get_online_features(
        refs, [parse_entity(e) for e in entities], full_feature_names=full_feature_names
    )
    data = response.to_dict(include_event_timestamps=status)
    if status:
        data.update({f"{name}__status": values for name, values in response.statuses.items()})
    click.echo(json.dumps(data, indent=2, default=str))


@click.command("teardown", cls=SqlfeastCommand)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def teardown_cmd(state, yes: bool) -> None:
    """Remove the project's online tables, the registry snapshot stored with them and the
    materialization watermarks; list what stays."""
    from sqlfeast.offline.materialize import teardown

    store = state.store()
    if not yes and not click.confirm(f"Remove the online tables of project '{store.name}'?", default=False):
        raise click.Abort()
    result = teardown(store)
    for table in result.dropped:
        click.echo(f"dropped {table}")
    for view in result.watermarks:
        click.echo(f"removed the materialization watermark of {view}")
    if not result.dropped and not result.watermarks:
        click.echo("nothing to remove")
    for what in result.kept:
        click.echo(f"kept {what}")


COMMANDS = [materialize_cmd, materialize_incremental_cmd, get_online_cmd, teardown_cmd]
