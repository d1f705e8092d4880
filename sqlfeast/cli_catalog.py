"""`sqlfeast docs generate` / `docs serve`: the static catalog site (sqlfeast/catalog/)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
