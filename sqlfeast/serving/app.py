"""The HTTP feature server: online features and pushes over HTTP, compatible with Feast's server.

Endpoints (JSON in, JSON out):

- ``POST /get-online-features`` ``{"features": [...] | "feature_service": "...", "entities":
  {"driver_id": [1001, 1002]}, "full_feature_names": false}`` -> Feast's response shape
  ``{"metadata": {"feature_names": [...]}, "results": [{"values", "statuses", "event_timestamps"}]}``
  (entity columns first, then the features, as Feast answers).
- ``POST /push`` ``{"push_source_name": ..., "df": {col: [...]}, "to": "online" | "offline" |
  "online_and_offline"}``.
- ``GET /health``: 200 when the registry snapshot loads from the online store, else 503.
- Feast's ``/write-to-online-store``, ``/materialize``, ``/materialize-incremental`` (off unless
  writes are allowed), ``/openapi.json`` and ``/docs``; errors in Feast's shape for Feast's SDK
  (see sqlfeast/serving/feast.py).

Bad input gets a 4xx ``{"error": message, "code": ...}`` naming the problem; an online store that
fails answers 503 and one that does not answer in time 504, never a hang. The registry snapshot is
the one ``sqlfeast apply`` stored in the online store, re-read every ``registry_refresh_seconds``.
Each request is logged as one JSON line on the ``sqlfeast.serving.app.access`` logger.

>>> app = create_app(online_store=None, registry=None)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from sqlfeast.errors import (
    ApiError,
    PushError,
    RegistrySnapshotError,
    RetrievalError,
    SqlfeastError,
    WarehouseError,
    suggest,
)
from sqlfeast.serving import feast as feast_http
from sqlfeast.serving.security import TokenPolicy, check_request

access_log = logging.getLogger("sqlfeast.serving.app.access")
log = logging.getLogger("sqlfeast.serving.app")

CONFIG_ENV = "SQLFEAST_SERVE_CONFIG"  # JSON options for worker processes (see app_from_env)
_EPOCH_TS = "1970-01-01T00:00:00Z"  # what Feast reports as the event time of entity columns
_GET_KEYS = ("features", "feature_service", "entities", "full_feature_names", "include_feature_view_version_metadata")
# Keys Feast's push endpoint accepts that change nothing here.
_PUSH_KEYS = ("push_source_name", "df", "to", "allow_registry_cache", "transform_on_write")


@dataclass
class ServerOptions:
    registry_refresh_seconds: float = 60.0  # 0: never re-read the registry snapshot
    request_timeout_seconds: float = 5.0  # online reads (and health checks)
    push_timeout_seconds: float = 30.0  # pushes (online writes, offline appends)
    max_body_bytes: int = 4 * 1024 * 1024
    max_entity_rows: int = 10_000
    threads: int = 32  # blocking store calls run in this pool
    allow_writes: bool = False  # /write-to-online-store, /materialize, /materialize-incremental
    job_timeout_seconds: float = 3600.0  # a materialization run from the server
    auth: bool = True  # False only with --no-auth on a loopback address
    tokens_file: str | None = None  # besides $SQLFEAST_READ_TOKENS / $SQLFEAST_WRITE_TOKENS
    max_future_seconds: float = 300.0  # pushed timestamps may be at most this far ahead of the clock


# -- JSON ------------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()  # as protobuf's JSON mapping does
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    """NaN and infinities become "NaN" / "Infinity" / "-Infinity", as in protobuf's JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def dumps(data: Any) -> bytes:
    try:
        text = json.dumps(data, default=_json_default, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or infinity somewhere: the rare slow path
        text = json.dumps(_finite(data), default=_json_default, allow_nan=False, separators=(",", ":"))
    return text.encode()


def _iso(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat() + "Z"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json")


def error_response(status: int, message: str, code: str) -> Response:
    return json_response({"error": message, "code": code}, status)


# -- state -----------------------------------------------------------------------------------------
@dataclass
class ServerState:
    """What a worker serves from: the online store, the registry snapshot, an optional warehouse."""

    online_store: Any
    options: ServerOptions
    warehouse_factory: Callable[[], Any] | None = None  # a new Warehouse per offline push
    registry: Any = None
    client: Any = None
    registry_error: str | None = None
    registry_loaded_at: float = 0.0
    stale: bool = False  # the newest snapshot could not be read; the last good one is served
    jobs: Any = None  # runs materialize / materialize_incremental (the project's FeatureStore side)
    pool: ThreadPoolExecutor = field(default=None)  # type: ignore[assignment]
    policy: TokenPolicy = field(default_factory=TokenPolicy.disabled)

    def __post_init__(self) -> None:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.options.threads, thread_name_prefix="sqlfeast-serve")
        if self.registry is not None:
            self.set_registry(self.registry)

    def set_registry(self, registry) -> None:
        from sqlfeast.online.client import OnlineClient

        if self.client is None or registry.to_dict() != self.registry.to_dict():
            self.client = OnlineClient(self.online_store, registry)
        self.registry = registry
        self.registry_error = None
        self.stale = False
        self.registry_loaded_at = time.monotonic()

    async def run(self, fn: Callable[[], Any], timeout: float, what: str) -> Any:
        """Run blocking store work in the pool; 504 when it takes longer than `timeout`."""
        future = asyncio.get_running_loop().run_in_executor(self.pool, fn)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ApiError(504, f"{what} did not answer within {timeout:g} s", "timeout") from None

    async def load_registry(self) -> None:
        """Read the registry snapshot from the online store (raises ApiError when it cannot).

        An unreadable snapshot leaves the last good one in place: requests go on with it and
        `stale` says so (``/health`` reports it)."""
        try:
            registry = await self.run(
                self.online_store.load_registry, self.options.request_timeout_seconds, "the online store"
            )
        except ApiError as err:
            self.registry_error = err.message
            raise
        except RegistrySnapshotError as err:
            self.registry_error = err.render()
            self.stale = self.registry is not None
            raise ApiError(503, err.render(), err.code) from None
        except SqlfeastError as err:
            self.registry_error = err.render()
            raise ApiError(503, f"online store unavailable: {err.render()}", "online_store_unavailable") from None
        if registry is None:
            self.registry_error = (
                f"no registry snapshot in the online store of project "
                f"'{self.online_store.project}' (run 'sqlfeast apply')"
            )
            raise ApiError(503, self.registry_error, "no_registry")
        self.set_registry(registry)

    async def require_registry(self):
        if self.registry is None:
            await self.load_registry()
        return self.registry

    async def refresh_forever(self) -> None:
        """Re-read the snapshot every interval; no error ends the loop (each is logged and the
        last good snapshot stays in service)."""
        interval = self.options.registry_refresh_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self.load_registry()
            except ApiError as err:  # keep serving the snapshot we have
                log.warning(json.dumps({"event": "registry_refresh_failed", "error": err.message}))
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug below: log it with its traceback, keep refreshing
                self.registry_error = f"{type(err).__name__}: {err}"
                self.stale = self.registry is not None
                log.exception(json.dumps({"event": "registry_refresh_failed", "error": self.registry_error}))


# -- request parsing -------------------------------------------------------------------------------
async def read_json(request: Request, options: ServerOptions) -> dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, "invalid Content-Length header", "bad_request") from None
        if declared > options.max_body_bytes:
            raise ApiError(
                413,
                f"request body of {declared} bytes exceeds the limit of {options.max_body_bytes} bytes",
                "body_too_large",
            )
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > options.max_body_bytes:
                raise ApiError(
                    413, f"request body exceeds the limit of {options.max_body_bytes} bytes", "body_too_large"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client disconnected before sending the whole body", "bad_request") from None
    body = b"".join(chunks)
    if not body:
        raise ApiError(400, "request body is empty; send a JSON object", "malformed_body")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"request body is not valid JSON: {err}", "malformed_body") from None
    except RecursionError:  # the parser's own limit, far above ours
        raise ApiError(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "malformed_body") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"request body must be a JSON object, not {type(data).__name__}", "malformed_body")
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:  # else it cannot nest too deeply
        check_json_depth(data)
    if _SURROGATE.search(body):
        check_text(data)
    return data


MAX_JSON_DEPTH = 32  # no request needs more than a few levels
# A \u escape of a UTF-16 surrogate, or one encoded as (invalid) UTF-8 bytes: json.loads accepts both.
_SURROGATE = re.compile(rb"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


def check_json_depth(data: Any) -> None:
    """Refuse a document whose arrays and objects nest deeper than MAX_JSON_DEPTH (400): no
    request needs it, and deep values would exhaust recursion further on. Iterative.

    >>> check_json_depth({"a": "[[[[", "b": [[1]]})
    """
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, f"request body nests deeper than {MAX_JSON_DEPTH} levels", "malformed_body")
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items if isinstance(item, (dict, list)))


def check_text(value: Any, where: str = "") -> None:
    """Refuse text that is not Unicode: a lone UTF-16 surrogate (400, naming where it is)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError as err:
            raise ApiError(
                400,
                f"request body holds a lone UTF-16 surrogate {value[err.start]!r} in {where or 'a string'}; "
                "JSON text must be valid Unicode",
                "malformed_body",
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"the key {where + '.' if where else ''}{key!r}")
            check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{where}[{i}]")


def _check_keys(data: dict[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            hint = suggest(key, known)
            raise ApiError(
                400,
                f"unknown field '{key}'" + (f" ({hint})" if hint else f"; expected {', '.join(known)}"),
                "unknown_field",
            )


def _check_key_values(name: str, type_text: str, values: list[Any]) -> list[Any]:
    """Entity values must have their key's type (plain decimal strings are accepted for integers)."""
    from sqlfeast.core.types import parse_type
    from sqlfeast.online.base import parse_integer_text

    try:
        family = parse_type(type_text).family if type_text and type_text != "unknown" else None
    except ValueError:
        family = None
    convert = False
    for i, value in enumerate(values):
        if value is None:
            raise ApiError(422, f"entity '{name}' value {i} is null", "bad_entity_value")
        if family == "integer":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, str))
                or (isinstance(value, str) and parse_integer_text(value) is None)
            ):
                raise ApiError(
                    422,
                    f"entity '{name}' must be {type_text}: value {i} is {value!r}"
                    + (" (plain decimal digits only)" if isinstance(value, str) else ""),
                    "wrong_key_type",
                )
            convert = convert or isinstance(value, str)
        elif family == "string":
            if not isinstance(value, str):
                raise ApiError(422, f"entity '{name}' must be {type_text}: value {i} is {value!r}", "wrong_key_type")
        elif family == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ApiError(422, f"entity '{name}' must be {type_text}: value {i} is {value!r}", "wrong_key_type")
        elif isinstance(value, (dict, list)):
            raise ApiError(
                422, f"entity '{name}' value {i} must be a scalar, not {type(value).__name__}", "wrong_key_type"
            )
    return [int(v) for v in values] if convert else values


def parse_online_request(data: dict[str, Any], registry, options: ServerOptions):
    """Validate a /get-online-features body; returns (features, entity rows, full names, columns)."""
    _check_keys(data, _GET_KEYS)
    features, service = data.get("features"), data.get("feature_service")
    if (features is None) == (service is None):
        raise ApiError(
            400, "pass exactly one of 'features' (a list of 'view:feature') or 'feature_service'", "bad_request"
        )
    if service is not None:
        if not isinstance(service, str):
            raise ApiError(400, "'feature_service' must be a string", "bad_request")
        if service not in registry.feature_services:
            hint = suggest(service, registry.feature_services)
            raise ApiError(
                404, f"unknown feature service '{service}'" + (f" ({hint})" if hint else ""), "unknown_feature_service"
            )
        wanted: Any = service
    else:
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            raise ApiError(400, "'features' must be a non-empty list of 'view:feature' strings", "bad_request")
        wanted = features
    full = data.get("full_feature_names", False)
    if not isinstance(full, bool):
        raise ApiError(400, "'full_feature_names' must be true or false", "bad_request")
    if not isinstance(data.get("include_feature_view_version_metadata", False), bool):
        raise ApiError(400, "'include_feature_view_version_metadata' must be true or false", "bad_request")
    try:
        refs = registry.resolve_features(wanted)
    except RetrievalError as err:
        raise ApiError(404, err.render(), "unknown_feature") from None

    entities = data.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise ApiError(
            400,
            "'entities' must be an object of join key -> list of values, e.g. {\"driver_id\": [1001]}",
            "bad_request",
        )
    lengths = set()
    for name, values in entities.items():
        if not isinstance(values, list):
            raise ApiError(400, f"entity '{name}' must be a list of values", "bad_request")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise ApiError(
            400,
            "entity columns have different lengths: " + ", ".join(f"{k}={len(v)}" for k, v in entities.items()),
            "bad_request",
        )
    count = lengths.pop()
    if count > options.max_entity_rows:
        raise ApiError(413, f"{count} entity rows exceed the limit of {options.max_entity_rows}", "too_many_entities")

    key_types: dict[str, str] = {}
    needed: dict[str, str] = {}  # join key -> a view that needs it
    for view_name in dict.fromkeys(v for v, _ in refs):
        view = registry.feature_views[view_name]
        if not view.online:
            raise ApiError(400, f"feature view '{view_name}' is not online (online: false)", "not_online")
        for key in view.join_keys:
            needed.setdefault(key, view_name)
            key_types.setdefault(key, view.join_key_types.get(key, ""))
    all_keys = {k for e in registry.entities.values() for k in e.join_keys} | set(needed)
    for name in entities:
        if name not in all_keys:
            hint = suggest(name, sorted(needed) or sorted(all_keys))
            raise ApiError(422, f"unknown entity column '{name}'" + (f" ({hint})" if hint else ""), "unknown_entity")
    for key, view_name in needed.items():
        if key not in entities:
            raise ApiError(422, f"missing entity column '{key}' needed by feature view '{view_name}'", "missing_entity")
    columns = {name: _check_key_values(name, key_types.get(name, ""), values) for name, values in entities.items()}
    names = list(columns)
    rows = [dict(zip(names, vals)) for vals in zip(*columns.values())] if count else []
    return wanted, rows, full, columns


def online_response(response, entity_columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Feast's JSON shape from an OnlineResponse: entity columns first, then features."""
    names, results = [], []
    for name, values in entity_columns.items():
        names.append(name)
        results.append(
            {"values": values, "statuses": ["PRESENT"] * len(values), "event_timestamps": [_EPOCH_TS] * len(values)}
        )
    texts: dict[Any, str] = {None: _EPOCH_TS}  # rows share few distinct timestamps: format each once
    for name in response.feature_names:
        stamps = []
        for t in response.event_timestamps[name]:
            text = texts.get(t)
            if text is None:
                text = texts[t] = _iso(t)
            stamps.append(text)
        names.append(name)
        results.append(
            {"values": response.values[name], "statuses": response.statuses[name], "event_timestamps": stamps}
        )
    return {"metadata": {"feature_names": names}, "results": results}


# -- endpoints -------------------------------------------------------------------------------------
async def get_online_features(request: Request) -> Response:
    state: ServerState = request.app.state.sqlfeast
    data = await read_json(request, state.options)
    if feast_http.is_feast_request(request.url.path, data):
        request.scope[feast_http.FEAST_SCOPE] = True
    registry = await state.require_registry()
    wanted, rows, full, columns = parse_online_request(data, registry, state.options)
    request.scope["sqlfeast.entities"] = len(rows)
    client = state.client
    try:
        response = await state.run(
            partial(client.get_online_features, wanted, rows, full),
            state.options.request_timeout_seconds,
            "the online store",
        )
    except SqlfeastError as err:
        raise ApiError.of(err) from None
    body = online_response(response, columns)
    if data.get("include_feature_view_version_metadata"):
        refs = registry.feature_services[wanted].features if isinstance(wanted, str) else wanted
        body["metadata"]["feature_view_metadata"] = feast_http.version_metadata([ref.partition(":")[0] for ref in refs])
    return json_response(body)


def _not_after(state: "ServerState") -> datetime:
    """The latest timestamp a push may carry: the server's clock plus the allowed skew."""
    return datetime.now(UTC) + timedelta(seconds=state.options.max_future_seconds)


def _writes_allowed(state: "ServerState", path: str) -> None:
    if not state.options.allow_writes:
        raise ApiError(
            403, f"{path} is off on this server (start it with 'sqlfeast serve --allow-writes')", "forbidden"
        )


async def write_to_online_store(request: Request) -> Response:
    """Feast's online write: {"feature_view_name", "df": {column: [...]}} -> rows written, newer-wins."""
    request.scope[feast_http.FEAST_SCOPE] = True
    state: ServerState = request.app.state.sqlfeast
    _writes_allowed(state, request.url.path)
    data = await read_json(request, state.options)
    _check_keys(data, feast_http.WRITE_KEYS)
    name, df = data.get("feature_view_name"), data.get("df")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'feature_view_name' must be a feature view's name", "bad_request")
    if not isinstance(df, dict):
        raise ApiError(400, "'df' must be an object of column -> list of values", "bad_request")
    registry = await state.require_registry()
    if name not in registry.feature_views:
        hint = suggest(name, registry.feature_views)
        raise ApiError(404, f"unknown feature view '{name}'" + (f" ({hint})" if hint else ""), "unknown_feature_view")
    try:
        result = await state.run(
            partial(feast_http.write_rows, registry, state.online_store, name, df, _not_after(state)),
            state.options.push_timeout_seconds,
            "the online store",
        )
    except SqlfeastError as err:
        raise ApiError.of(err) from None
    return json_response({"feature_view_name": name, **result})


def _view_list(data: dict[str, Any], registry) -> list[str] | None:
    views = data.get("feature_views")
    if views is None:
        return None
    if not isinstance(views, list) or not all(isinstance(v, str) for v in views):
        raise ApiError(400, "'feature_views' must be a list of feature view names", "bad_request")
    for view in views:
        if view not in registry.feature_views:
            hint = suggest(view, registry.feature_views)
            raise ApiError(
                404, f"unknown feature view '{view}'" + (f" ({hint})" if hint else ""), "unknown_feature_view"
            )
    return views or None


def _timestamp(data: dict[str, Any], key: str) -> str:
    from datetime import datetime as _dt

    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"'{key}' must be an ISO 8601 timestamp such as 2026-01-15T00:00:00", "bad_request")
    try:
        _dt.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"'{key}' {value!r} is not an ISO 8601 timestamp", "bad_request") from None
    return value.strip()


async def _run_job(request: Request, incremental: bool) -> Response:
    request.scope[feast_http.FEAST_SCOPE] = True
    state: ServerState = request.app.state.sqlfeast
    _writes_allowed(state, request.url.path)
    data = await read_json(request, state.options)
    _check_keys(data, feast_http.INCREMENTAL_KEYS if incremental else feast_http.MATERIALIZE_KEYS)
    if request.query_params.get("async", "false").lower() in ("1", "true"):
        raise ApiError(400, "async=true is not supported: the job runs in the request", "bad_request")
    if data.get("version") is not None:
        raise ApiError(400, "'version' is not supported: feature views are not versioned", "bad_request")
    if data.get("disable_event_timestamp"):
        raise ApiError(400, "'disable_event_timestamp' is not supported: rows keep their event time", "bad_request")
    if state.jobs is None:
        raise ApiError(400, "this server has no warehouse to materialize from", "no_warehouse")
    registry = await state.require_registry()
    views = _view_list(data, registry)
    end = _timestamp(data, "end_ts")
    if incremental:
        work = partial(state.jobs.materialize_incremental, end, views)
    else:
        work = partial(state.jobs.materialize, _timestamp(data, "start_ts"), end, views)
    try:
        results = await state.run(work, state.options.job_timeout_seconds, "the materialization")
    except SqlfeastError as err:
        raise ApiError.of(err) from None
    with contextlib.suppress(ApiError):
        await state.load_registry()  # the run advanced the incremental state
    return json_response({"feature_views": [_result_dict(r) for r in results]})


def _result_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        return result.to_dict()
    fields = ("view", "start", "end", "rows", "written", "skipped")
    return {k: getattr(result, k) for k in fields if hasattr(result, k)}


async def materialize_endpoint(request: Request) -> Response:
    """Feast's /materialize: {"start_ts", "end_ts", "feature_views"} runs in the server."""
    return await _run_job(request, incremental=False)


async def materialize_incremental_endpoint(request: Request) -> Response:
    """Feast's /materialize-incremental: {"end_ts", "feature_views"} runs in the server."""
    return await _run_job(request, incremental=True)


async def openapi_json(request: Request) -> Response:
    from sqlfeast import __version__

    return json_response(feast_http.openapi_document(__version__))


async def docs(request: Request) -> Response:
    from sqlfeast import __version__

    return Response(feast_http.docs_page(feast_http.openapi_document(__version__)), media_type="text/html")


async def push_endpoint(request: Request) -> Response:
    from sqlfeast.offline.push import DESTINATIONS, get_push_source, push_rows

    state: ServerState = request.app.state.sqlfeast
    data = await read_json(request, state.options)
    _check_keys(data, _PUSH_KEYS)
    name = data.get("push_source_name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "'push_source_name' must be a push source's name", "bad_request")
    rows = data.get("df")
    if not isinstance(rows, (dict, list)):
        raise ApiError(
            400, "'df' must be an object of column -> list of values (or a list of row objects)", "bad_request"
        )
    to = data.get("to", "online")
    if to not in DESTINATIONS:
        hint = suggest(str(to), DESTINATIONS)
        raise ApiError(
            400,
            f"'to' must be one of {', '.join(DESTINATIONS)}, not {to!r}" + (f" ({hint})" if hint else ""),
            "bad_request",
        )
    registry = await state.require_registry()
    try:
        get_push_source(registry, name)
    except PushError as err:
        raise ApiError(404, err.render(), "unknown_push_source") from None
    if to != "online" and state.warehouse_factory is None:
        raise ApiError(400, "this server has no warehouse to push offline to", "no_warehouse")
    not_after = _not_after(state)

    def attempt():
        warehouse = state.warehouse_factory() if to != "online" and state.warehouse_factory is not None else None
        try:
            return push_rows(
                registry, name, rows, to, online_store=state.online_store, warehouse=warehouse, not_after=not_after
            )
        finally:
            if warehouse is not None:
                warehouse.close()  # DuckDB files are locked while open: hold them only for a push

    def work():
        # Another worker (or process) may hold the DuckDB file for a moment: retry briefly.
        # Pushes are idempotent, so repeating the online half is harmless.
        deadline = time.monotonic() + min(5.0, state.options.push_timeout_seconds / 2)
        pause = 0.05
        while True:
            try:
                return attempt()
            except WarehouseError as err:
                if not err.busy or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    try:
        result = await state.run(work, state.options.push_timeout_seconds, "the push")
    except SqlfeastError as err:
        raise ApiError.of(err) from None
    return json_response(result.to_dict())


async def health(request: Request) -> Response:
    """200 ``ok``; 200 ``stale`` when the newest snapshot is unreadable and the last good one is
    served (with the error and its age); 503 when the store or any snapshot is unavailable."""
    state: ServerState = request.app.state.sqlfeast
    try:
        await state.load_registry()
    except ApiError as err:
        if not (state.stale and state.registry is not None):
            return json_response({"status": "unavailable", "error": err.message}, 503)
    registry = state.registry
    body = {
        "status": "stale" if state.stale else "ok",
        "project": registry.project,
        "registry_version": registry.version,
        "applied_at": registry.applied_at,
        "feature_views": len(registry.feature_views),
    }
    if state.stale:
        body["error"] = state.registry_error
        body["snapshot_age_seconds"] = round(time.monotonic() - state.registry_loaded_at, 1)
    return json_response(body)


# -- the app ---------------------------------------------------------------------------------------
def _handle(endpoint, feast: bool = False):
    """The endpoint behind the request checks (token, media type, origin), errors as JSON."""

    async def handler(request: Request) -> Response:
        try:
            if feast:  # endpoints only Feast's client calls answer in Feast's error shape
                request.scope[feast_http.FEAST_SCOPE] = True
            state: ServerState = request.app.state.sqlfeast
            check_request(state.policy, request.url.path, request.method, request.headers, request.url.scheme)
            return await endpoint(request)
        except ApiError as err:
            request.scope["sqlfeast.error"] = err.message
            if request.scope.get(feast_http.FEAST_SCOPE):
                return Response(
                    feast_http.feast_error_body(err.status, err.message, err.code),
                    status_code=err.status,
                    media_type="application/json",
                )
            return error_response(err.status, err.message, err.code)
        except Exception as err:  # a bug: answer 500 with a message, keep the traceback in the log
            log.exception("unhandled error")
            request.scope["sqlfeast.error"] = repr(err)
            return error_response(500, f"internal error: {type(err).__name__}: {err}", "internal")

    return handler


async def _http_error(request: Request, exc: HTTPException) -> Response:
    return error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", "http")


class AccessLog:
    """Pure ASGI middleware: one JSON line per request (method, path, status, ms, entities)."""

    def __init__(self, app):
        self.app = app
        self.state: ServerState | None = None  # set by create_app, for embedding and tests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [0]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                entry = {
                    "ts": round(time.time(), 3),
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status[0],
                    "ms": round((time.perf_counter() - start) * 1000, 2),
                    "client": scope["client"][0] if scope.get("client") else None,
                    "pid": os.getpid(),
                }
                if "sqlfeast.entities" in scope:
                    entry["entities"] = scope["sqlfeast.entities"]
                if "sqlfeast.error" in scope:
                    entry["error"] = scope["sqlfeast.error"]
                access_log.info(json.dumps(entry))


def create_app(
    project_dir: str | os.PathLike | None = ".",
    target: str | None = None,
    profiles_dir: str | None = None,
    *,
    online_store=None,
    registry=None,
    warehouse_factory: Callable[[], Any] | None = None,
    jobs: Any = None,
    options: ServerOptions | None = None,
    policy: TokenPolicy | None = None,
    **option_values: Any,
):
    """The ASGI app. Either from a project directory (its target's online store and warehouse),
    or from an `online_store` given directly (then offline pushes need `warehouse_factory`).

    Options: registry_refresh_seconds, request_timeout_seconds, push_timeout_seconds,
    max_body_bytes, max_entity_rows, threads, allow_writes, job_timeout_seconds, auth,
    tokens_file, max_future_seconds. Unless `policy` is given, the accepted bearer tokens are read
    from $SQLFEAST_READ_TOKENS / $SQLFEAST_WRITE_TOKENS and `tokens_file` (a ConfigError when there
    are none and `auth` is not False; sqlfeast.serving.security). `jobs` runs
    /materialize and /materialize-incremental: an object with ``materialize(start, end, views)``
    and ``materialize_incremental(end, views)`` (sqlfeast.cli.serve_app passes the project's).
    """
    options = options or ServerOptions(**option_values)
    if policy is None:  # tokens from the environment or the tokens file; ConfigError when none
        policy = TokenPolicy.from_sources(os.environ, options.tokens_file) if options.auth else TokenPolicy.disabled()
    if online_store is None:
        online_store, warehouse_factory = _open_project(project_dir or ".", target, profiles_dir, options)
    state = ServerState(online_store, options, warehouse_factory, registry, policy=policy)
    state.jobs = jobs

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = None
        try:
            await state.load_registry()
        except ApiError as err:  # serve anyway: /health reports it, requests retry the load
            log.warning(json.dumps({"event": "registry_unavailable", "error": err.message}))
        if options.registry_refresh_seconds > 0:
            task = asyncio.create_task(state.refresh_forever())
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            state.pool.shutdown(wait=False, cancel_futures=True)

    routes = [
        Route("/get-online-features", _handle(get_online_features), methods=["POST"]),
        Route("/push", _handle(push_endpoint), methods=["POST"]),
        Route("/health", _handle(health), methods=["GET"]),
        Route("/write-to-online-store", _handle(write_to_online_store, feast=True), methods=["POST"]),
        Route("/materialize", _handle(materialize_endpoint, feast=True), methods=["POST"]),
        Route("/materialize-incremental", _handle(materialize_incremental_endpoint, feast=True), methods=["POST"]),
        Route("/openapi.json", _handle(openapi_json), methods=["GET"]),
        Route("/docs", _handle(docs), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})  # type: ignore[dict-item]  # starlette types every handler as taking Exception
    app.state.sqlfeast = state
    wrapped = AccessLog(app)
    wrapped.state = state  # for embedding and tests
    return wrapped


def serving_settings(settings: dict[str, Any], options: ServerOptions) -> dict[str, Any]:
    """Online store settings for serving: the store's own choice for the server's deadline."""
    from sqlfeast.online import store_class

    return store_class(settings.get("type")).serving_settings(
        settings, options.request_timeout_seconds, options.threads
    )


def _open_project(project_dir, target, profiles_dir, options: ServerOptions):
    from sqlfeast.online import open_online_store
    from sqlfeast.project.config import load_project, load_target

    project = load_project(project_dir)
    tgt = load_target(project, profiles_dir, target)
    store = open_online_store(
        serving_settings(tgt.online_store, options),
        project=project.name,
        root=project.root,
        table_template=project.online_table_template,
    )

    def warehouse_factory():
        from sqlfeast.warehouse import connect

        return connect(tgt, project.root)

    return store, warehouse_factory


def app_from_env():
    """uvicorn factory for `sqlfeast serve` (each worker process builds its own app)."""
    config = json.loads(os.environ.get(CONFIG_ENV) or "{}")
    return create_app(
        config.get("project_dir", "."), config.get("target"), config.get("profiles_dir"), **config.get("options", {})
    )
