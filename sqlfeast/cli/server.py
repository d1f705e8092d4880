"""`sqlfeast serve`: the HTTP feature server (sqlfeast/serving/app.py) on uvicorn."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
@click.option(
    "--tokens-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="File of bearer tokens, one 'read TOKEN' or 'write TOKEN' a line (mode 600); "
    "also $SQLFEAST_TOKENS_FILE. Tokens may instead come from $SQLFEAST_READ_TOKENS / $SQLFEAST_WRITE_TOKENS.",
)
@click.option(
    "--no-auth", is_flag=True, help="Serve without authentication (only on a loopback --host such as 127.0.0.1)."
)
@click.option(
    "--max-clock-skew",
    default=300.0,
    show_default=True,
    type=float,
    help="Seconds a pushed timestamp may lie ahead of the server's clock (422 beyond).",
)
@click.option(
    "--ssl-certfile", type=click.Path(dir_okay=False), default=None, help="TLS certificate (PEM) to serve HTTPS."
)
@click.option(
    "--ssl-keyfile", type=click.Path(dir_okay=False), default=None, help="TLS private key (PEM) of the certificate."
)
@click.option(
    "--ssl-ca-certs",
    type=click.Path(dir_okay=False),
    default=None,
    help="CA bundle (PEM): clients must present a certificate it signed (mutual TLS).",
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
    tokens_file: str | None,
    no_auth: bool,
    max_clock_skew: float,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    ssl_ca_certs: str | None,
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
    if max_clock_skew < 0:
        raise UsageError("--max-clock-skew must be 0 or a number of seconds")
    # Configuration errors surface here as one message, before any worker starts.
    project = load_project(state.project_dir)
    load_target(project, state.profiles_dir, state.target)
    from sqlfeast.serving.security import TokenPolicy, is_loopback

    if no_auth and (tokens_file or os.environ.get("SQLFEAST_TOKENS_FILE")):
        raise UsageError("--no-auth and a tokens file contradict each other; drop one")
    if no_auth and not is_loopback(host):
        raise UsageError(
            f"--no-auth is allowed only on a loopback address, not --host {host}",
            hint="serve on 127.0.0.1, or give tokens ($SQLFEAST_READ_TOKENS, $SQLFEAST_WRITE_TOKENS or --tokens-file)",
        )
    policy = None if no_auth else TokenPolicy.from_sources(os.environ, tokens_file)  # checked before any worker
    ssl = _ssl_options(ssl_certfile, ssl_keyfile, ssl_ca_certs)
    options = {
        "registry_refresh_seconds": registry_refresh,
        "request_timeout_seconds": request_timeout,
        "push_timeout_seconds": push_timeout,
        "max_body_bytes": max_body_bytes,
        "max_entity_rows": max_entities,
        "allow_writes": allow_writes,
        "auth": not no_auth,
        "tokens_file": str(Path(tokens_file).resolve()) if tokens_file else None,
        "max_future_seconds": max_clock_skew,
    }
    os.environ[CONFIG_ENV] = json.dumps(
        {
            "project_dir": str(project.root),
            "target": state.target,
            "profiles_dir": state.profiles_dir,
            "options": options,
        }
    )
    auth = "off" if policy is None else "bearer tokens: " + ", ".join(policy.permissions)
    event = {
        "event": "serving",
        "project": project.name,
        "host": host,
        "port": port,
        "workers": workers,
        "tls": bool(ssl),
        "auth": auth,
    }
    click.echo(json.dumps(event), err=True)
    scheme = "https" if ssl else "http"
    if policy is None:
        click.echo(
            f"warning: authentication is OFF (--no-auth): anyone on this machine can read and push at "
            f"{scheme}://{host}:{port}",
            err=True,
        )
    elif not ssl and not is_loopback(host):
        click.echo(
            f"warning: tokens travel in clear text over http://{host}:{port}; serve HTTPS with "
            "--ssl-certfile and --ssl-keyfile (or behind a TLS proxy)",
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
        **ssl,
    )


def _ssl_options(certfile: str | None, keyfile: str | None, ca_certs: str | None) -> dict:
    """uvicorn's TLS options, checked here so a bad certificate or key is one message."""
    if not certfile and not keyfile:
        if ca_certs:
            raise UsageError("--ssl-ca-certs needs --ssl-certfile and --ssl-keyfile")
        return {}
    if not certfile or not keyfile:
        raise UsageError("--ssl-certfile and --ssl-keyfile go together")
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except FileNotFoundError as err:
        raise UsageError(f"cannot read {err.filename or certfile}: no such file") from None
    except (ssl.SSLError, OSError) as err:
        raise UsageError(
            f"cannot load the TLS certificate {certfile} with key {keyfile}: {err}",
            hint="both must be PEM files, the key the certificate's own (and not encrypted)",
        ) from None
    options: dict[str, Any] = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    if ca_certs:
        try:
            context.load_verify_locations(ca_certs)
        except (ssl.SSLError, OSError) as err:
            raise UsageError(f"cannot load the CA bundle {ca_certs}: {err}") from None
        options.update(ssl_ca_certs=ca_certs, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


COMMANDS = [serve]
