"""Who may call the feature server, and with what: bearer tokens, media type, origin.

Tokens come from the environment (``SQLFEAST_READ_TOKENS``, ``SQLFEAST_WRITE_TOKENS``: one or
more tokens separated by commas or whitespace) or from a tokens file (one ``read TOKEN`` or
``write TOKEN`` a line, ``#`` comments; readable by its owner only), never from profiles.yml.
A read token may call ``/get-online-features``; a write token may also push, write and run
materializations. ``/health``, ``/openapi.json`` and ``/docs`` need no token. Only the SHA-256
digests of the tokens are kept in memory, and a presented token is compared with each of them in
constant time.

Authentication is off only when the server is started with ``--no-auth`` on a loopback address;
then requests must also name a loopback host (a DNS-rebinding page names its own). Every POST
body must be ``application/json`` (a browser sends other types cross-origin without asking
first), and a request whose ``Origin`` is not the server's own is refused.

>>> policy = TokenPolicy.from_sources({"SQLFEAST_READ_TOKENS": "r" * 20}, None)
>>> policy.permission_of("Bearer " + "r" * 20)
'read'
>>> check_media_type("application/json; charset=utf-8")
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlfeast.errors import ApiError, ConfigError

READ, WRITE = "read", "write"
PERMISSIONS = (READ, WRITE)
READ_ENV = "SQLFEAST_READ_TOKENS"
WRITE_ENV = "SQLFEAST_WRITE_TOKENS"
TOKENS_FILE_ENV = "SQLFEAST_TOKENS_FILE"
MIN_TOKEN_CHARS = 16
_TOKEN = re.compile(r"\A[\x21-\x7e]+\Z")  # visible ASCII: what an Authorization header can carry
_SPLIT = re.compile(r"[\s,]+")

# What each endpoint needs; paths not listed need no token.
ENDPOINT_PERMISSIONS = {
    "/get-online-features": READ,
    "/push": WRITE,
    "/write-to-online-store": WRITE,
    "/materialize": WRITE,
    "/materialize-incremental": WRITE,
}


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _check_token(token: str, where: str) -> None:
    if not _TOKEN.match(token):
        raise ConfigError(f"{where}: a token may hold only visible ASCII characters (no spaces)")
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{where}: a token of {len(token)} characters is too short (at least {MIN_TOKEN_CHARS})",
            hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )


@dataclass
class TokenPolicy:
    """The tokens a server accepts (as digests) and the permission each grants."""

    digests: list[tuple[bytes, str]] = field(default_factory=list)
    enabled: bool = True

    @classmethod
    def disabled(cls) -> "TokenPolicy":
        """No authentication (``--no-auth``, loopback only)."""
        return cls([], enabled=False)

    @classmethod
    def from_sources(cls, environ: Mapping[str, str], tokens_file: str | os.PathLike | None) -> "TokenPolicy":
        """Tokens from the environment and from `tokens_file` (either may be absent, not both).

        >>> TokenPolicy.from_sources({}, None)
        Traceback (most recent call last):
        ...
        sqlfeast.errors.ConfigError: no tokens for the feature server: ...
        """
        digests: list[tuple[bytes, str]] = []
        for env, permission in ((READ_ENV, READ), (WRITE_ENV, WRITE)):
            for token in _SPLIT.split(environ.get(env, "").strip()):
                if token:
                    _check_token(token, f"${env}")
                    digests.append((_digest(token), permission))
        path = tokens_file or environ.get(TOKENS_FILE_ENV) or None
        if path:
            digests.extend(_read_tokens_file(Path(path)))
        if not digests:
            raise ConfigError(
                "no tokens for the feature server: set $SQLFEAST_READ_TOKENS and/or "
                "$SQLFEAST_WRITE_TOKENS, or pass --tokens-file",
                hint="or, on a loopback address only, start it with --no-auth",
            )
        return cls(digests)

    @property
    def permissions(self) -> list[str]:
        return sorted({p for _, p in self.digests})

    def permission_of(self, authorization: str | None) -> str | None:
        """The permission the ``Authorization`` header's bearer token grants, None when none."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = _digest(token.strip())
        granted = None
        for digest, permission in self.digests:  # every digest is compared: constant time
            if hmac.compare_digest(digest, presented):
                granted = permission if granted != WRITE else granted
        return granted

    def require(self, authorization: str | None, needed: str, path: str) -> None:
        """Raise 401 (no or unknown token) or 403 (a read token on a write endpoint)."""
        if not self.enabled:
            return
        if not authorization:
            raise ApiError(401, f"{path} needs a bearer token (header 'Authorization: Bearer <token>')", "unauthorized")
        granted = self.permission_of(authorization)
        if granted is None:
            raise ApiError(401, "the bearer token is not valid on this server", "unauthorized")
        if needed == WRITE and granted != WRITE:
            raise ApiError(403, f"{path} needs a token with write permission; this one may only read", "forbidden")


def _read_tokens_file(path: Path) -> list[tuple[bytes, str]]:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read the tokens file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the tokens file is not UTF-8 text") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the tokens file may be read by other users (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod 600 {path}",
        )
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in PERMISSIONS:
            raise ConfigError(
                f"{path}:{number}: expected 'read TOKEN' or 'write TOKEN'",
                hint="one token a line, its permission first",
            )
        _check_token(parts[1], f"{path}:{number}")
        out.append((_digest(parts[1]), parts[0]))
    return out


def is_loopback(host: str) -> bool:
    """Whether `host` (a name, an address, or either with a port) is this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost:6566"), is_loopback("[::1]:80"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_media_type(content_type: str | None) -> None:
    """POST bodies must be JSON: anything else is 415 (a browser sends text/plain, forms and
    multipart across origins without a preflight, so accepting them would let any web page push).
    """
    if not content_type:
        raise ApiError(415, "the request needs 'Content-Type: application/json'", "unsupported_media_type")
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, not {media.strip()!r}", "unsupported_media_type")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ApiError(415, f"JSON bodies must be UTF-8, not charset={value.strip()}", "unsupported_media_type")


def check_origin(origin: str | None, host: str | None, scheme: str) -> None:
    """A browser's request from another site names it in ``Origin``: refuse it (403)."""
    if not origin:
        return
    parts = urlsplit(origin)
    default = {"http": 80, "https": 443}
    try:
        origin_port = parts.port or default.get(parts.scheme)
    except ValueError:
        origin_port = None
    own = urlsplit(f"{scheme}://{host or ''}")
    try:
        own_port = own.port or default.get(scheme)
    except ValueError:
        own_port = None
    same = (
        parts.scheme == scheme
        and (parts.hostname or "") == (own.hostname or "")
        and origin_port == own_port
        and bool(parts.hostname)
    )
    if not same:
        raise ApiError(403, f"cross-origin request from {origin!r} refused", "cross_origin")


def check_request(policy: TokenPolicy, path: str, method: str, headers: Mapping[str, str], scheme: str) -> None:
    """Everything the server checks of a request before reading its body."""
    if not policy.enabled and not is_loopback(headers.get("host", "")):
        raise ApiError(
            403,
            f"this server runs without authentication and answers only requests for a loopback host, "
            f"not {headers.get('host', '')!r}",
            "forbidden",
        )
    check_origin(headers.get("origin"), headers.get("host"), scheme)
    needed = ENDPOINT_PERMISSIONS.get(path)
    if needed is not None:
        policy.require(headers.get("authorization"), needed, path)
    if method == "POST":
        check_media_type(headers.get("content-type"))
