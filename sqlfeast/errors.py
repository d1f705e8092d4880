"""Errors that reach users.

Every user-facing error carries a location (``path:line:col``) when one is known and says what to
do. The CLI prints these without a traceback; anything else is a bug and keeps its traceback.

>>> err = SqlfeastError("unknown entity 'drvier'", Location("models/a.sql", 2, 11), hint="did you mean 'driver'?")
>>> str(err)
"models/a.sql:2:11: unknown entity 'drvier' (did you mean 'driver'?)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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
    """A user error: bad input, bad configuration, an unreachable system.

    Each class knows how it is answered: `exit_code` on the command line, `http_status` and
    `code` from the feature server (`what` prefixes the server's message, e.g. "online store
    unavailable").
    """

    exit_code = 1
    http_status = 400
    code = "bad_request"
    what = ""

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


class RefCycleError(ValidationError):
    """Models that ref() each other in a circle; `cycle` lists them, the first repeated last."""

    def __init__(self, cycle: list[str], location: Location | None = None):
        self.cycle = cycle
        super().__init__(f"ref cycle: {' -> '.join(cycle)}", location, hint="remove one of these ref() calls")


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
    """The warehouse refused a statement or could not be reached.

    `busy` is set by an adapter when another process holds the database for a moment (a
    DuckDB file lock): the same statement may succeed when retried shortly.
    """

    busy: bool = False
    http_status = 503
    code = "store_unavailable"
    what = "warehouse unavailable"


class OnlineStoreError(SqlfeastError):
    """The online store refused a request or could not be reached."""

    http_status = 503
    code = "store_unavailable"
    what = "online store unavailable"


class RegistrySnapshotError(OnlineStoreError):
    """The registry snapshot in the online store cannot be read (damaged, or not sqlfeast's)."""

    code = "registry_unreadable"
    what = ""


class OnlineRowsError(OnlineStoreError):
    """Rows refused before anything was written: a value that does not fit its declared type, a
    NULL key, a key or item over the online stores' size limits. The caller's rows are at fault,
    so the server answers 422."""

    http_status = 422
    code = "bad_rows"
    what = ""


class TileLayoutError(OnlineStoreError):
    """An aggregation view's stored tiles are in a layout this version does not read (written by
    an older one, or damaged); materializing the view again rewrites them."""

    code = "tiles_unreadable"
    what = ""


class RegistryUnreadableError(SqlfeastError):
    """No version of the applied registry in the warehouse can be read; `apply` writes a new one."""


class RegistryWarning(UserWarning):
    """Something the user should know that does not stop the command (e.g. a damaged registry
    version passed over); the command line prints it as ``warning: ...``."""


class RetrievalError(SqlfeastError):
    """Bad arguments to historical or online retrieval."""


class PushError(SqlfeastError):
    """Rows or arguments of a push that do not fit the push source."""

    http_status = 422
    code = "bad_rows"


class ApiError(SqlfeastError):
    """A feature-server answer other than 200, with its status and a code for the client.

    >>> ApiError.of(PushError("column 'x' is not in the push source")).status
    422
    """

    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status = self.http_status = status
        self.code = code

    @classmethod
    def of(cls, err: SqlfeastError) -> "ApiError":
        """The answer for a user error raised below the server."""
        if isinstance(err, ApiError):
            return err
        message = f"{err.what}: {err.render()}" if err.what else err.render()
        return cls(err.http_status, message, err.code)


def _sort_key(err: SqlfeastError) -> tuple:
    loc = err.location or Location("")
    return (loc.path, loc.line or 0, loc.col or 0, err.message)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean" hint for a misspelt name, or None when nothing is close."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None
