"""A light DynamoDB data-plane client: JSON-protocol POSTs over a keep-alive connection pool.

The hot operations of the online store (BatchGetItem, BatchWriteItem, conditional PutItem) are
sent as plain DynamoDB JSON requests (``X-Amz-Target: DynamoDB_20120810.<Operation>``,
``application/x-amz-json-1.0``), encoded and decoded with the standard library's C JSON codec
and signed with botocore's own SigV4 signer. Profiles of a 100-entity read showed botocore's
pure-Python response parser (one call per attribute value) and its request pipeline (hooks,
serialisation, header handling) taking most of the client's CPU; the wire format itself is
plain JSON, so nothing of that is needed here.

What stays with boto3: resolving the endpoint (``endpoint_url``, ``AWS_ENDPOINT_URL_DYNAMODB``,
the region's AWS endpoint), the region and the credentials (the usual AWS chain or a profile;
refreshed by botocore when they expire; never logged), and every control-plane call.

Values travel in DynamoDB's JSON form: binary attributes are base64 text in both directions
(``B`` values given as bytes are encoded on the way out; decoding them is the caller's job).
Errors: a DynamoDB error answer raises :class:`DynamoDBError` (its ``code`` is the exception
name, e.g. ``ConditionalCheckFailedException``); a failed connection, a timeout or a corrupt
answer raises :class:`DynamoDBConnectionError`. Retries are the caller's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zlib
from typing import Any, cast
from urllib.parse import urlsplit

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"


class DynamoDBError(Exception):
    """DynamoDB answered with an error (HTTP 4xx/5xx)."""

    def __init__(self, code: str, message: str, status: int):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class DynamoDBConnectionError(Exception):
    """No usable answer: connection refused or lost, a timeout, or a corrupt response."""


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot encode {type(value).__name__} in a DynamoDB request")


_encode = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False).encode


def _error_of(status: int, headers: Any, data: bytes) -> DynamoDBError:
    """DynamoDB's error body is ``{"__type": "...#Code", "message": "..."}`` (the key is
    ``Message`` for some codes and some servers); anything else is reported by its status."""
    code, message = "", ""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = {}
    if isinstance(body, dict):
        code = str(body.get("__type", "")).rpartition("#")[2]
        message = str(body.get("message", body.get("Message", "")))
    if not code:
        code = str(headers.get("x-amzn-ErrorType", "")).split(":")[0]
    if not code:
        code = {500: "InternalServerError", 503: "ServiceUnavailable"}.get(status, f"HTTP{status}")
        message = message or data[:200].decode("utf-8", "replace")
    return DynamoDBError(code, message, status)


class DynamoDBHttp:
    """Sends DynamoDB JSON operations to one endpoint over a pool of keep-alive connections.

    Thread-safe: the pool hands each thread its own connection (up to `max_connections` kept).
    """

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Any,
        *,
        max_connections: int = 10,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        verify: bool | str = True,
        user_agent: str = "sqlfeast",
    ):
        import urllib3
        from botocore.auth import SigV4Auth, _host_from_url  # type: ignore[attr-defined]  # botocore's own helper

        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self._credentials = credentials
        # Used with a stand-in request (_Stamp): SigV4Auth reads only its `context` timestamp.
        self._sigv4: Any = cast(Any, SigV4Auth)
        parts = urlsplit(self.endpoint_url)
        self._path = parts.path or "/"
        self._host = _host_from_url(self.endpoint_url)
        self._canonical_path = self._sigv4(None, "dynamodb", region)._normalize_url_path(self._path)
        self._url = self.endpoint_url + ("" if parts.path else "/")
        self._base_headers = {"Content-Type": CONTENT_TYPE, "User-Agent": user_agent}
        self._errors = (urllib3.exceptions.HTTPError, OSError)
        timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        pool_args: dict[str, Any] = {"maxsize": max_connections, "block": False, "timeout": timeout, "retries": False}
        if parts.scheme == "https":
            if verify is False:
                pool_args["cert_reqs"] = "CERT_NONE"
            else:
                pool_args["cert_reqs"] = "CERT_REQUIRED"
                pool_args["ca_certs"] = verify if isinstance(verify, str) else _ca_bundle()
        proxy = _proxy_for(self.endpoint_url)
        if proxy:  # HTTP(S)_PROXY / NO_PROXY, as botocore honours them
            self._manager: urllib3.ProxyManager | None = urllib3.ProxyManager(proxy, num_pools=1, **pool_args)
            self._pool = None
        else:
            self._manager = None
            self._pool = urllib3.connection_from_url(self.endpoint_url, **pool_args)

    def _signed_headers(self, operation: str, body: bytes) -> dict[str, str]:
        """SigV4 headers of one request. Every request signs the same headers (content-type,
        host, x-amz-date, x-amz-target, and x-amz-security-token with temporary credentials), so
        the canonical request is formatted directly instead of through botocore's generic header
        machinery (160 -> 30 us, a fifth of a 1-entity read's CPU); scope, string to sign and
        signature are botocore's SigV4Auth. A test checks the result equals
        ``SigV4Auth.add_auth`` for the same request, byte for byte."""
        credentials = self._credentials.get_frozen_credentials()  # refreshes expiring ones
        timestamp = _timestamp()
        target = TARGET_PREFIX + operation
        token = credentials.token
        if token:
            canonical_headers = (
                f"content-type:{CONTENT_TYPE}\nhost:{self._host}\nx-amz-date:{timestamp}\n"
                f"x-amz-security-token:{token}\nx-amz-target:{target}\n"
            )
            signed = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
        else:
            canonical_headers = (
                f"content-type:{CONTENT_TYPE}\nhost:{self._host}\nx-amz-date:{timestamp}\nx-amz-target:{target}\n"
            )
            signed = "content-type;host;x-amz-date;x-amz-target"
        canonical = "\n".join(
            ("POST", self._canonical_path, "", canonical_headers, signed, hashlib.sha256(body).hexdigest())
        )
        auth = self._sigv4(credentials, "dynamodb", self.region)
        stamp = _Stamp(timestamp)
        signature = auth.signature(auth.string_to_sign(stamp, canonical), stamp)
        headers = {
            **self._base_headers,
            "X-Amz-Target": target,
            "X-Amz-Date": timestamp,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={auth.scope(stamp)}, "
            f"SignedHeaders={signed}, Signature={signature}",
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One request; the decoded JSON answer, or DynamoDBError / DynamoDBConnectionError."""
        body = _encode(payload).encode()
        headers = self._signed_headers(operation, body)
        try:
            if self._pool is not None:
                response = self._pool.urlopen(
                    "POST",
                    self._path,
                    body=body,
                    headers=headers,
                    preload_content=True,
                    redirect=False,
                    assert_same_host=False,
                )
            else:
                assert self._manager is not None  # set whenever _pool is not
                response = self._manager.urlopen(
                    "POST", self._url, body=body, headers=headers, preload_content=True, redirect=False
                )
        except self._errors as err:
            raise DynamoDBConnectionError(_reason(err)) from None
        data = response.data
        crc = response.headers.get("x-amz-crc32")
        if crc is not None and int(crc) != zlib.crc32(data) & 0xFFFFFFFF:
            raise DynamoDBConnectionError("response failed its CRC32 check (corrupted in transit)")
        if response.status != 200:
            raise _error_of(response.status, response.headers, data)
        try:
            return json.loads(data)
        except ValueError:
            raise DynamoDBConnectionError(f"response is not JSON: {data[:100]!r}") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        elif self._manager is not None:
            self._manager.clear()


def _timestamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


class _Stamp:
    """What SigV4Auth's scope / string_to_sign / signature read of a request: its timestamp."""

    __slots__ = ("context",)

    def __init__(self, timestamp: str):
        self.context = {"timestamp": timestamp}


def _reason(err: BaseException) -> str:
    """A short cause: urllib3 wraps the socket error several levels deep."""
    reason = getattr(err, "reason", None) or err
    text = str(reason)
    if ": " in text and "Failed to establish a new connection" in text:
        text = text.split("Failed to establish a new connection: ", 1)[1]
    return text


def _ca_bundle() -> str | None:
    path = os.environ.get("AWS_CA_BUNDLE")
    if path:
        return path
    try:
        from botocore.httpsession import get_cert_path

        return get_cert_path(True)
    except Exception:  # pragma: no cover - very old botocore
        return None


def _proxy_for(url: str) -> str | None:
    import urllib.request

    host = urlsplit(url).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(urlsplit(url).scheme)
