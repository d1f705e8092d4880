"""`sqlfeast docs generate` / `docs serve`: the static catalog site (sqlfeast/catalog/)."""

from __future__ import annotations

from pathlib import Path

import click

from sqlfeast.cli import CliState
from sqlfeast.errors import SqlfeastError, UsageError


def _site_dir(store) -> Path:
    return store.project.target_dir / "catalog"


@click.group("docs")
def docs() -> None:
    """The browsable catalog: entities, feature views, services, sources, lineage and data tests."""


@docs.command("generate")
@click.option("--stats", is_flag=True, help="Compute per-feature statistics in the warehouse (two scans a view).")
@click.pass_obj
def generate_cmd(state: CliState, stats: bool) -> None:
    """Compile the project and write the catalog under target/catalog (opens from the file system)."""
    from sqlfeast.catalog.generate import generate
    from sqlfeast.offline.data_tests import read_results

    store = state.store()
    registry = store.compile()
    materialized = None
    if stats:
        try:
            materialized = store.registry_store.load_materialized()
        except SqlfeastError:
            materialized = {}
    index = generate(
        registry,
        _site_dir(store),
        read_results(store.project.target_dir),
        store.warehouse if stats else None,
        store.renderer if stats else None,
        stats,
        materialized,
        store.target.name,
    )
    click.echo(f"Wrote the catalog of {len(registry.feature_views)} feature view(s) to {index}")


@docs.command("serve")
@click.option("--port", default=8080, show_default=True, type=int, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.pass_obj
def serve_cmd(state: CliState, port: int, host: str) -> None:
    """Serve target/catalog over HTTP (run 'sqlfeast docs generate' first)."""
    from sqlfeast.catalog.serve import make_server

    site = _site_dir(state.store())
    if not (site / "index.html").is_file():
        raise UsageError(f"no catalog at {site}", hint="run 'sqlfeast docs generate' first")
    try:
        server = make_server(site, host, port)
    except OSError as err:
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}", hint="pick another --port") from None
    click.echo(f"Serving the catalog on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = [docs]
