"""`sqlfeast debug`: check every part a command needs, each with a real call, and say how to fix
the first thing that fails.

The parts, in order: the project file, the profile (profiles.yml and its target), the warehouse
(``SELECT 1``), the online store (a read of its registry snapshot: credentials, endpoint and
tables), the applied registry (read from the warehouse), and whether the online store holds the
registry that is applied (what ``serve`` and online reads use). A part that cannot be checked
because an earlier one failed is reported as not checked. Exit code 0 when every check passes,
1 otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from sqlfeast.cli import CliState, SqlfeastCommand
from sqlfeast.errors import SqlfeastError


class Checks:
    """Runs named checks, printing ``name: ok ...`` or ``name: FAILED: message (fix)``.

    >>> checks = Checks()
    >>> checks.run("arithmetic", lambda: "1 + 1 = 2")
    arithmetic: ok, 1 + 1 = 2
    True
    >>> checks.failed
    0
    """

    def __init__(self) -> None:
        self.failed = 0

    def run(self, name: str, check: Callable[[], str | None]) -> bool:
        try:
            detail = check()
        except SqlfeastError as err:
            self.fail(name, err.render())
            return False
        click.echo(f"{name}: ok" + (f", {detail}" if detail else ""))
        return True

    def fail(self, name: str, message: str) -> None:
        self.failed += 1
        click.echo(f"{name}: FAILED: {message}")

    def skip(self, name: str, why: str) -> None:
        click.echo(f"{name}: not checked ({why})")


def _online_where(settings: dict) -> str:
    """The online store as its settings name it: type, then path, endpoint or region.

    >>> _online_where({"type": "sqlite", "path": "target/online.db"})
    'sqlite target/online.db'
    """
    region = settings.get("region")
    detail = settings.get("path") or settings.get("endpoint_url") or (f"region {region}" if region else "")
    return f"{settings.get('type')} {detail}".strip()


@click.command(cls=SqlfeastCommand)
@click.pass_obj
def debug(state: CliState) -> None:
    """Check the project, the profile, the warehouse, the online store and the registry.

    Each part is checked with a real call (the online store: its credentials, endpoint and
    registry snapshot). Exits 1 when a check fails, printing what to do.
    """
    checks = Checks()
    parts: dict[str, Any] = {}

    def profile() -> str:
        store = parts["store"] = state.store()
        t = store.target
        return f"project {store.name} ({store.root}), profile {t.profile}, target {t.name} ({t.type}) from {t.path}"

    if not checks.run("profile", profile):
        for part in ("warehouse", "online store", "applied registry"):
            checks.skip(part, "the profile failed")
        click.get_current_context().exit(1)
    store = parts["store"]

    def warehouse() -> str:
        store.warehouse.query_arrow("SELECT 1 AS ok")
        return f"{store.target.type} connection answers"

    snapshot: dict[str, Any] = {}

    def online() -> str:
        held = snapshot["registry"] = store.online_store.load_registry()
        return f"{_online_where(store.target.online_store)} answers, " + (
            f"holds registry version {held.version}" if held else "holds no registry snapshot"
        )

    applied: dict[str, Any] = {}

    def registry() -> str:
        reg = applied["registry"] = store.registry_store.load()
        if reg is None:
            return "none yet (run 'sqlfeast apply' to record one)"
        return f"version {reg.version}, applied {reg.applied_at}, {len(reg.feature_views)} feature view(s)"

    warehouse_ok = checks.run("warehouse", warehouse)
    online_ok = checks.run("online store", online)
    if warehouse_ok:
        registry_ok = checks.run("applied registry", registry)
    else:
        checks.skip("applied registry", "the warehouse failed")
        registry_ok = False
    if online_ok and registry_ok and applied["registry"] is not None:
        reg, held = applied["registry"], snapshot["registry"]
        if held is None:
            checks.fail(
                "online registry",
                f"the online store holds no registry snapshot, version {reg.version} "
                "is applied (run 'sqlfeast apply' to set the online store up)",
            )
        elif held.content_hash != reg.content_hash or (held.version and held.version != reg.version):
            checks.fail(
                "online registry",
                f"the online store holds version {held.version}, version {reg.version} "
                "is applied (run 'sqlfeast apply')",
            )
        else:
            click.echo(f"online registry: ok, the online store serves the applied version {reg.version}")
        problems = store.online_problems()
        for problem in problems:
            checks.fail("online tables", problem)
        if not problems:
            click.echo("online tables: ok, every online view has its table and its watermark")
    if checks.failed:
        click.echo(f"{checks.failed} check{'s' if checks.failed != 1 else ''} failed")
        click.get_current_context().exit(1)
    click.echo("All checks passed.")


COMMANDS = [debug]
