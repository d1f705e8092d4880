"""Feast's CLI spellings: `feature-views list`, `entities list`, `feature-services list`, `registry-dump`.

They print what `sqlfeast ls` prints, one kind at a time, as Feast's commands do (a table with a
header row); `registry-dump` prints the registry as JSON.

    sqlfeast feature-views list
    sqlfeast registry-dump > registry.json
"""

from __future__ import annotations

import click


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    """Left-aligned columns, two spaces apart, header first."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


@click.group("feature-views")
def feature_views() -> None:
    """Feature views (Feast's spelling; see also `sqlfeast ls`)."""


@feature_views.command("list")
@click.option("--tags", multiple=True, help="Only views with this tag, as key:value (repeatable).")
@click.pass_obj
def feature_views_list(state, tags: tuple[str, ...]) -> None:
    """List feature views: name, entities, ttl, online."""
    wanted = dict(t.split(":", 1) for t in tags if ":" in t)
    views = state.store().list_feature_views(tags=wanted)
    _table(
        [
            (v.name, ", ".join(v.entities), f"{v.ttl_seconds}s" if v.ttl_seconds else "-", "yes" if v.online else "no")
            for v in views
        ],
        ("NAME", "ENTITIES", "TTL", "ONLINE"),
    )


@click.group("entities")
def entities() -> None:
    """Entities (Feast's spelling; see also `sqlfeast ls`)."""


@entities.command("list")
@click.pass_obj
def entities_list(state) -> None:
    """List entities: name, join keys, description."""
    _table(
        [(e.name, ", ".join(e.join_keys), e.description) for e in state.store().list_entities()],
        ("NAME", "JOIN KEYS", "DESCRIPTION"),
    )


@click.group("feature-services")
def feature_services() -> None:
    """Feature services (Feast's spelling; see also `sqlfeast ls`)."""


@feature_services.command("list")
@click.pass_obj
def feature_services_list(state) -> None:
    """List feature services: name, features."""
    _table([(s.name, ", ".join(s.features)) for s in state.store().list_feature_services()], ("NAME", "FEATURES"))


@click.command("registry-dump")
@click.pass_obj
def registry_dump(state) -> None:
    """Print the registry (the applied one, else the project compiled now) as JSON."""
    click.echo(state.store().registry.to_json(), nl=False)


COMMANDS = [feature_views, entities, feature_services, registry_dump]
