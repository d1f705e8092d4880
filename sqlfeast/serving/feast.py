"""Feast's feature-server endpoints beyond reads: online writes, materialization, typed errors, docs.

What Feast's own SDK (a ``remote`` online store pointed at ``sqlfeast serve``) needs, in one place:

- Error bodies in Feast's shape for requests that come from Feast: a JSON *string* holding
  ``{"module", "class", "message"}``, which Feast's client turns back into its typed exception
  (``FeatureViewNotFoundException`` ...). A request is Feast's when it goes to an endpoint only
  Feast's client uses (``/write-to-online-store``, ``/materialize``, ``/materialize-incremental``)
  or when its ``/get-online-features`` body carries ``include_feature_view_version_metadata``
  (Feast's client always sends it). Everything else keeps sqlfeast's ``{"error", "code"}``.
- ``POST /write-to-online-store`` ``{"feature_view_name", "df": {column: [...]}}``: rows written
  online with the newer-wins rule of materialize and push.
- ``POST /materialize`` ``{"start_ts", "end_ts", "feature_views"}`` and
  ``POST /materialize-incremental`` ``{"end_ts", "feature_views"}``: run the job in the server.
- ``GET /openapi.json`` and ``GET /docs``: the endpoints described.

Endpoints that write or run jobs answer 403 unless the server was started with writes allowed
(``sqlfeast serve --allow-writes``): anyone who reaches the port could use them.

>>> json.loads(json.loads(feast_error_body(404, "unknown feature view 'x'", "unknown_feature")))["class"]
'FeatureViewNotFoundException'
"""

from __future__ import annotations

import json
from typing import Any

FEAST_SCOPE = "sqlfeast.feast_client"  # set on a request scope when errors go out in Feast's shape
FEAST_ONLY_PATHS = ("/write-to-online-store", "/materialize", "/materialize-incremental")
WRITE_KEYS = ("feature_view_name", "df", "allow_registry_cache", "transform_on_write")
MATERIALIZE_KEYS = ("start_ts", "end_ts", "feature_views", "disable_event_timestamp", "full_feature_names", "version")
INCREMENTAL_KEYS = ("end_ts", "feature_views", "full_feature_names", "version")

# sqlfeast error code -> the class of feast.errors that Feast's client raises for it.
_FEAST_CLASSES = {
    "unknown_feature_service": "FeatureServiceNotFoundException",
    "unknown_feature_view": "FeatureViewNotFoundException",
    "unknown_entity": "EntityNotFoundException",
    "unknown_push_source": "PushSourceNotFoundException",
    "forbidden": "FeastPermissionError",
    "unauthorized": "FeastPermissionError",
}


def feast_error_class(message: str, code: str) -> str:
    """The feast.errors class name for a sqlfeast error (FeastError when none fits better).

    >>> feast_error_class("feature view 'v' has no feature 'x'", "unknown_feature")
    'FeastObjectNotFoundException'
    """
    if code == "unknown_feature":
        return (
            "FeatureViewNotFoundException"
            if message.startswith("unknown feature view")
            else "FeatureServiceNotFoundException"
            if message.startswith("unknown feature service")
            else "FeastObjectNotFoundException"
        )
    return _FEAST_CLASSES.get(code, "FeastError")


def feast_error_body(status: int, message: str, code: str) -> bytes:
    """Feast's error body: a JSON string whose text is {"module", "class", "message"}."""
    detail = json.dumps({"module": "feast.errors", "class": feast_error_class(message, code), "message": message})
    return json.dumps(detail).encode()


def is_feast_request(path: str, body: dict[str, Any] | None = None) -> bool:
    """Whether a request comes from Feast's SDK (see the module docstring).

    >>> is_feast_request("/get-online-features", {"include_feature_view_version_metadata": False})
    True
    >>> is_feast_request("/get-online-features", {"features": []})
    False
    """
    return path in FEAST_ONLY_PATHS or bool(body and "include_feature_view_version_metadata" in body)


def version_metadata(view_names: list[str]) -> list[dict[str, Any]]:
    """``metadata.feature_view_metadata`` of a read: each view once, version 0 (views are not versioned).

    >>> version_metadata(["a", "b", "a"])
    [{'name': 'a', 'version': 0}, {'name': 'b', 'version': 0}]
    """
    return [{"name": name, "version": 0} for name in dict.fromkeys(view_names)]


# -- /write-to-online-store ----------------------------------------------------------------------
def view_push_source(view) -> Any:
    """A push source with exactly the columns a write of `view` carries (keys, times, features)."""
    from sqlfeast.core.spec import PushSource

    schema = {k: _known(view.join_key_types.get(k), view, k) for k in view.join_keys}
    schema[view.timestamp] = "timestamp"
    if view.created_timestamp:
        schema[view.created_timestamp] = "timestamp"
    if view.is_aggregation:  # its rows are the aggregated columns, folded into tiles
        for agg in view.aggregations:
            if agg.column:
                schema[agg.column] = (view.columns or {}).get(agg.column) or "unknown"
    else:
        for feature in view.features:
            schema[feature.name] = feature.type
    return PushSource(name=view.name, schema=schema, feature_views=[view.name], timestamp=view.timestamp)


def _known(type_text: str | None, view, key: str) -> str:
    from sqlfeast.errors import PushError

    if not type_text or type_text == "unknown":
        raise PushError(
            f"feature view '{view.name}': the type of join key '{key}' is not known",
            hint="run 'sqlfeast apply' again: compile now learns it (or refuses the view until it is declared)",
        )
    return type_text


def write_frame(view, df: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Feast's write body in the view's column names.

    Feast's client names the times ``event_timestamp`` and ``created`` whatever the view calls
    them, and sends ``created`` even for views without one; both are mapped (or dropped) here.

    >>> class V: timestamp, created_timestamp = "ts", None
    >>> sorted(write_frame(V, {"event_timestamp": [1], "created": [None], "x": [2]}))
    ['ts', 'x']
    """
    out = dict(df)
    if view.timestamp not in out and "event_timestamp" in out:
        out[view.timestamp] = out.pop("event_timestamp")
    if view.created_timestamp:
        if view.created_timestamp not in out and "created" in out:
            out[view.created_timestamp] = out.pop("created")
        elif view.created_timestamp not in out:
            n = len(next(iter(out.values()), []))
            out[view.created_timestamp] = [None] * n
    elif "created" in out:
        out.pop("created")
    return out


def write_rows(registry, online_store, view_name: str, df: dict[str, list[Any]], not_after=None) -> dict[str, int]:
    """Validate Feast's columnar rows for one view and write them online (newer wins).

    Raises RetrievalError for an unknown view, PushError for rows that do not fit.
    """
    from sqlfeast.errors import PushError
    from sqlfeast.offline.push import check_not_future, rows_to_arrow, write_online

    view = registry.get_feature_view(view_name)
    if not view.online:
        raise PushError(f"feature view '{view_name}' is not online (online: false)")
    source = view_push_source(view)
    table = rows_to_arrow(source, write_frame(view, df), required=[*view.join_keys, view.timestamp])
    if not_after is not None:  # aware: rows stamped later are refused, nothing written
        check_not_future(
            table, [view.timestamp, *([view.created_timestamp] if view.created_timestamp else [])], not_after
        )
    return write_online(online_store, registry, source, table)[view.name]


# -- OpenAPI ---------------------------------------------------------------------------------------
def _post(summary: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": required,
                            "properties": props,
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {"200": {"description": "OK"}, "4XX": {"description": "a client mistake, named"}},
        }
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3 description of the server's endpoints."""
    str_list = {"type": "array", "items": {"type": "string"}}
    flag = {"type": "boolean"}
    columns = {"type": "object", "additionalProperties": {"type": "array"}}
    paths = {
        "/get-online-features": _post(
            "Latest feature values of entities",
            ["entities"],
            {
                "features": str_list,
                "feature_service": {"type": "string"},
                "entities": columns,
                "full_feature_names": flag,
                "include_feature_view_version_metadata": flag,
            },
        ),
        "/push": _post(
            "Rows of a push source, online and/or offline",
            ["push_source_name", "df"],
            {
                "push_source_name": {"type": "string"},
                "df": columns,
                "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"]},
                "allow_registry_cache": flag,
                "transform_on_write": flag,
            },
        ),
        "/write-to-online-store": _post(
            "Rows of one feature view, online (needs --allow-writes)",
            ["feature_view_name", "df"],
            {
                "feature_view_name": {"type": "string"},
                "df": columns,
                "allow_registry_cache": flag,
                "transform_on_write": flag,
            },
        ),
        "/materialize": _post(
            "Materialize [start_ts, end_ts) (needs --allow-writes)",
            ["start_ts", "end_ts"],
            {
                "start_ts": {"type": "string"},
                "end_ts": {"type": "string"},
                "feature_views": str_list,
                "disable_event_timestamp": flag,
                "full_feature_names": flag,
                "version": {"type": "string"},
            },
        ),
        "/materialize-incremental": _post(
            "Materialize each view up to end_ts (needs --allow-writes)",
            ["end_ts"],
            {
                "end_ts": {"type": "string"},
                "feature_views": str_list,
                "full_feature_names": flag,
                "version": {"type": "string"},
            },
        ),
        "/health": {
            "get": {
                "summary": "200 when the registry snapshot loads",
                "responses": {"200": {"description": "OK"}, "503": {"description": "unavailable"}},
            }
        },
    }
    return {"openapi": "3.0.3", "info": {"title": "sqlfeast feature server", "version": version}, "paths": paths}


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page listing the endpoints (no external scripts)."""
    from html import escape

    rows = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            fields = ", ".join(f"<code>{escape(k)}</code>" for k in body.get("properties", {}))
            rows.append(
                f"<tr><td>{method.upper()}</td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(op['summary'])}</td><td>{fields}</td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>sqlfeast feature server</title></head>"
        "<body><h1>sqlfeast feature server</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json"
        "</a></p><table border='1' cellpadding='4'><tr><th>method</th><th>path</th><th>what</th>"
        "<th>body fields</th></tr>" + "".join(rows) + "</table></body></html>"
    )
