"""`sqlfeast test`: the data tests of the feature views, and `--online` the skew check."""

from __future__ import annotations

import json

import click

from sqlfeast.cli import CliState, SqlfeastCommand
from sqlfeast.errors import UsageError

_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def _select_views(registry, select: tuple[str, ...]) -> list:
    from sqlfeast.compile import graph

    if not select:
        return list(registry.feature_views.values())
    objects = {**registry.models, **registry.feature_views}
    deps = {n: [d.split(":", 1)[1] for d in o.depends_on if d.startswith("model:")] for n, o in objects.items()}
    chosen = graph.select(deps, select, {n: o.tags for n, o in objects.items()})
    views = [v for n, v in registry.feature_views.items() if n in chosen]
    if not views:
        raise UsageError("--select matches no feature view", hint="data tests run on feature views")
    return views


@click.command("test", cls=SqlfeastCommand)
@click.option("--select", "-s", multiple=True, help="Feature views to test: names, tag:NAME, +name, name+.")
@click.option("--online", is_flag=True, help="Also compare online values with the warehouse (training-serving skew).")
@click.option("--sample", default=None, type=int, help="Entities per view for --online (default 1000).")
@click.pass_obj
def test_cmd(state: CliState, select: tuple[str, ...], online: bool, sample: int | None) -> None:
    """Run the data tests in the warehouse; write target/test_results.json; exit 1 on an error-level failure."""
    from sqlfeast.offline import data_tests as runner
    from sqlfeast.offline import skew

    if sample is not None and not online:
        raise UsageError("--sample goes with --online", hint="run 'sqlfeast test --online --sample N'")
    if sample is not None and sample < 1:
        raise UsageError(f"--sample must be at least 1, not {sample}")
    store = state.store()
    registry = store.compile(write=False)
    views = _select_views(registry, select)
    results = runner.run_all(store.warehouse, store.renderer, views)
    if online:
        from sqlfeast.offline.historical import view_sql

        materialized = store.registry_store.load_materialized()
        for view in views:
            if view.online:
                report = skew.check_view(
                    store.warehouse,
                    store.renderer,
                    store.online_store,
                    view,
                    view_sql(view, store.warehouse),
                    materialized.get(view.name),
                    sample or skew.DEFAULT_SAMPLE,
                )
                results.append(report.result())
    if not results:
        click.echo(
            "No data tests declared on the selected feature views "
            "(add 'tests:' to a view's header or its models/ YAML entry)."
        )
    for r in results:
        click.echo(f"{_MARK[r.status]}  {r.view}  {r.test}  {r.message}")
        for row in r.rows[: runner.SAMPLE_ROWS]:
            click.echo(f"        {json.dumps(row, default=str)}")
    path = runner.write_results(store.project.target_dir, store.name, store.target.name, results)
    counts = runner.summarize(results)
    click.echo(
        f"Done: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail "
        f"-> {path.relative_to(store.root) if path.is_relative_to(store.root) else path}"
    )
    if counts["fail"]:
        click.get_current_context().exit(1)


COMMANDS = [test_cmd]
