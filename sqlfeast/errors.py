"""Errors that reach users.

Every user-facing error carries a location (``path:line:col``) when one is known and says what to
do. The CLI prints these without a traceback; anything else is a bug and keeps its traceback.

>>> err = SqlfeastError("unknown entity 'drvier'", Location("models/a.sql", 2, 11), hint="did you mean 'driver'?")
>>> str(err)
"models/a.sql:2:11: unknown entity 'drvier' (did you mean 'driver'?)"
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True, order=True)
class Location:
    path: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        parts = [self.path]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


class SqlfeastError(Exception):
    """A user error: bad input, bad configuration, an unreachable system."""

    exit_code = 1

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return f"{self.location}: {text}" if self.location else text


class UsageError(SqlfeastError):
    """Wrong command-line or API usage (exit code 2)."""

    exit_code = 2


class ConfigError(SqlfeastError):
    """profiles.yml / sqlfeast_project.yml problems."""


class ValidationError(SqlfeastError):
    """One problem found while loading or validating a project."""


class ValidationErrors(SqlfeastError):
    """Every problem found in one pass, sorted by location."""

    def __init__(self, errors: Sequence[SqlfeastError]):
        self.errors = sorted(errors, key=_sort_key)
        super().__init__("\n".join(e.render() for e in self.errors))

    def render(self) -> str:
        count = len(self.errors)
        lines = [e.render() for e in self.errors]
        lines.append(f"{count} error{'s' if count != 1 else ''} found")
        return "\n".join(lines)


class WarehouseError(SqlfeastError):
    """The warehouse refused a statement or could not be reached."""


class OnlineStoreError(SqlfeastError):
    """The online store refused a request or could not be reached."""


class RetrievalError(SqlfeastError):
    """Bad arguments to historical or online retrieval."""


def _sort_key(err: SqlfeastError) -> tuple:
    loc = err.location or Location("")
    return (loc.path, loc.line or 0, loc.col or 0, err.message)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint for a misspelt name, or None when nothing is close."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
