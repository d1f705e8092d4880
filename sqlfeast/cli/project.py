"""Project commands: init, compile, plan, apply, ls, run."""

from __future__ import annotations

from typing import Any

import click

from sqlfeast.cli import CliState, SqlfeastCommand, echo_json
from sqlfeast.errors import UsageError


def _selected(store, select: tuple[str, ...], registry=None) -> set[str] | None:
    if not select:
        return None
    from sqlfeast.compile import graph

    registry = registry or store.compile(write=False)
    deps = {
        n: [d.split(":", 1)[1] for d in o.depends_on if d.startswith("model:")]
        for n, o in {**registry.models, **registry.feature_views}.items()
    }
    tags = {n: o.tags for n, o in {**registry.models, **registry.feature_views}.items()}
    return graph.select(deps, select, tags)


@click.command(cls=SqlfeastCommand)
@click.argument("name")
@click.option("--no-data", is_flag=True, help="Do not generate the sample parquet files.")
def init(name: str, no_data: bool):
    """Scaffold a working project NAME with sample data (works offline)."""
    from sqlfeast.project.scaffold import create_project

    path = create_project(name, with_data=not no_data)
    click.echo(f"Created project '{path.name}' in {path}")
    click.echo(f"Next: cd {name} && sqlfeast compile && sqlfeast apply")


@click.command("compile", cls=SqlfeastCommand)
@click.option("--strict", is_flag=True, help="Also check types against the warehouse's DESCRIBE of each view.")
@click.pass_obj
def compile_cmd(state: CliState, strict: bool):
    """Render and validate models; write target/compiled/ and target/registry.json."""
    store = state.store()
    registry = store.compile(strict=strict)
    click.echo(
        f"Compiled {len(registry.feature_views)} feature view(s), {len(registry.models)} model(s), "
        f"{len(registry.entities)} entit{'y' if len(registry.entities) == 1 else 'ies'}, "
        f"{len(registry.feature_services)} feature service(s) -> "
        f"{(store.project.target_dir / 'registry.json').relative_to(store.project.root).as_posix()}"
    )


@click.command(cls=SqlfeastCommand)
@click.pass_obj
def plan(state: CliState):
    """Show what 'apply' would change against the applied registry."""
    store = state.store()
    changes = store.plan()
    problems = store.online_problems()
    for problem in problems:
        click.echo(f"online store: {problem}")
    if not changes:
        click.echo("No registry changes." if problems else "No changes: the applied registry is up to date.")
        return
    click.echo("Changes (+ added, ~ changed, - removed):")
    for change in changes:
        click.echo(str(change))


@click.command(cls=SqlfeastCommand)
@click.pass_obj
def apply(state: CliState):
    """Record the compiled registry in the warehouse (atomically) and set up online tables."""
    store = state.store()
    registry = store.compile()
    changes = store.plan_against(registry)
    applied = store.apply(registry)
    for change in changes:
        click.echo(str(change))
    click.echo(
        f"Applied registry version {applied.version} ({applied.content_hash[:12]}) "
        f"with {len(applied.feature_views)} feature view(s)."
    )


@click.command("ls", cls=SqlfeastCommand)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def ls(state: CliState, as_json: bool):
    """List entities, feature views with their features, and feature services."""
    registry = state.store().registry
    if as_json:
        echo_json(
            {
                "entities": [e.to_dict() for e in registry.entities.values()],
                "feature_views": [v.to_dict() | {"sql": None} for v in registry.feature_views.values()],
                "feature_services": [s.to_dict() for s in registry.feature_services.values()],
            }
        )
        return
    click.echo("Entities:")
    for e in registry.entities.values():
        click.echo(f"  {e.name} (join keys: {', '.join(e.join_keys)})")
    click.echo("Feature views:")
    for v in registry.feature_views.values():
        ttl = f"ttl {v.ttl_seconds}s" if v.ttl_seconds else "no ttl"
        click.echo(f"  {v.name} [{', '.join(v.entities)}; {ttl}; {'online' if v.online else 'offline only'}]")
        for f in v.features:
            click.echo(f"    {f.name}: {f.type}" + (f"  -- {f.description}" if f.description else ""))
    click.echo("Feature services:")
    for s in registry.feature_services.values():
        click.echo(f"  {s.name}: {', '.join(s.features)}")


@click.command(cls=SqlfeastCommand)
@click.option("--select", "-s", multiple=True, help="Models to run: names, tag:NAME, +name, name+.")
@click.pass_obj
def run(state: CliState, select: tuple[str, ...]):
    """Create every model as a view in the warehouse, named <project>__<model>."""
    from sqlfeast.core.naming import ref_relation

    store = state.store()
    registry = store.compile()
    chosen = _selected(store, select, registry)
    objects: dict[str, Any] = {**registry.models, **registry.feature_views}
    store.warehouse.ensure_schema()
    count = 0
    for name, obj in objects.items():
        if chosen is not None and name not in chosen:
            continue
        relation = store.warehouse.relation(ref_relation(store.name, name))
        store.warehouse.execute(
            store.renderer.call("create_view", relation, store.warehouse.localize(obj.sql[store.warehouse.dialect]))
        )
        click.echo(f"  created view {relation}")
        count += 1
    if count == 0:
        raise UsageError("nothing selected to run")
    click.echo(f"Created {count} view(s).")


ls_alias = SqlfeastCommand("list", callback=ls.callback, params=ls.params, help=ls.help)

COMMANDS = [init, compile_cmd, plan, apply, ls, ls_alias, run]
