"""`sqlfeast serve`: the HTTP feature server (sqlfeast/serving/app.py) on uvicorn."""

from __future__ import annotations

import json
import os

import click

from sqlfeast.cli import CliState, SqlfeastCommand
from sqlfeast.errors import SqlfeastError, UsageError


def _log_config(access_log: bool) -> dict:
    """JSON lines on stderr: our access and event logs; uvicorn's own only from warnings up."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "sqlfeast.serving.app": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "sqlfeast.serving.app.access": {
                "handlers": ["stderr"],
                "level": "INFO" if access_log else "WARNING",
                "propagate": False,
            },
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


@click.command(cls=SqlfeastCommand)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", "-p", default=6566, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option(
    "--registry-refresh",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds between re-reads of the registry snapshot (0: never).",
)
@click.option(
    "--timeout",
    "request_timeout",
    default=5.0,
    show_default=True,
    type=float,
    help="Seconds an online read may take before the answer is 504.",
)
@click.option(
    "--push-timeout",
    default=30.0,
    show_default=True,
    type=float,
    help="Seconds a push may take before the answer is 504.",
)
@click.option(
    "--max-body-bytes",
    default=4 * 1024 * 1024,
    show_default=True,
    type=int,
    help="Largest request body accepted (413 above).",
)
@click.option(
    "--max-entities", default=10_000, show_default=True, type=int, help="Most entity rows in one request (413 above)."
)
@click.option("--no-access-log", is_flag=True, help="Do not log one JSON line per request.")
@click.option(
    "--allow-writes", is_flag=True, help="Enable /write-to-online-store, /materialize and /materialize-incremental."
)
@click.pass_obj
def serve(
    state: CliState,
    host: str,
    port: int,
    workers: int,
    registry_refresh: float,
    request_timeout: float,
    push_timeout: float,
    max_body_bytes: int,
    max_entities: int,
    no_access_log: bool,
    allow_writes: bool,
):
    """Serve online features and pushes over HTTP (Feast-compatible endpoints)."""
    try:
        import uvicorn

        from sqlfeast.serving.app import CONFIG_ENV
    except ImportError as err:  # a broken or trimmed environment: say what to install, in one line
        raise SqlfeastError(
            f"'sqlfeast serve' needs {err.name or 'starlette and uvicorn'}, which is not installed",
            hint="pip install 'sqlfeast[server]'",
        ) from None
    from sqlfeast.project.config import load_project, load_target

    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if request_timeout <= 0 or push_timeout <= 0:
        raise UsageError("--timeout and --push-timeout must be positive")
    if registry_refresh < 0:
        raise UsageError("--registry-refresh must be 0 (never) or a number of seconds")
    # Configuration errors surface here as one message, before any worker starts.
    project = load_project(state.project_dir)
    load_target(project, state.profiles_dir, state.target)
    options = {
        "registry_refresh_seconds": registry_refresh,
        "request_timeout_seconds": request_timeout,
        "push_timeout_seconds": push_timeout,
        "max_body_bytes": max_body_bytes,
        "max_entity_rows": max_entities,
        "allow_writes": allow_writes,
    }
    os.environ[CONFIG_ENV] = json.dumps(
        {
            "project_dir": str(project.root),
            "target": state.target,
            "profiles_dir": state.profiles_dir,
            "options": options,
        }
    )
    click.echo(
        json.dumps({"event": "serving", "project": project.name, "host": host, "port": port, "workers": workers}),
        err=True,
    )
    uvicorn.run(
        "sqlfeast.cli.serve_app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=_log_config(not no_access_log),
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


COMMANDS = [serve]
