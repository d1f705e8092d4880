"""sqlfeast serve over HTTP: answers equal OnlineClient's; every bad input gets its 4xx."""

from __future__ import annotations

import json
import time

import pytest

from sqlfeast.online.client import OnlineClient

GET = "/get-online-features"


def expected(root, features, entities: dict, full: bool = False) -> dict:
    """What the server must answer, computed with OnlineClient in this process."""
    names = list(entities)
    rows = [dict(zip(names, values)) for values in zip(*entities.values())]
    with OnlineClient.from_project(root) as client:
        resp = client.get_online_features(features, rows, full_feature_names=full)
    out_names, results = [], []
    for name, values in entities.items():
        out_names.append(name)
        results.append(
            {
                "values": values,
                "statuses": ["PRESENT"] * len(values),
                "event_timestamps": ["1970-01-01T00:00:00Z"] * len(values),
            }
        )
    for name, values in resp.to_dict().items():
        if name in entities:
            continue
        out_names.append(name)
        stamps = resp.event_timestamps[name]
        results.append(
            {
                "values": values,
                "statuses": resp.statuses[name],
                "event_timestamps": ["1970-01-01T00:00:00Z" if t is None else t.isoformat() + "Z" for t in stamps],
            }
        )
    return json.loads(json.dumps({"metadata": {"feature_names": out_names}, "results": results}))


@pytest.mark.parametrize(
    "body",
    [
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}},
        {
            "features": [
                "driver_hourly_stats:conv_rate",
                "driver_hourly_stats:avg_daily_trips",
                "customer_profile:current_balance",
            ],
            "entities": {"driver_id": [1001, 1002, 99999], "customer_id": [2001, 2002, 2003]},
        },
        {
            "feature_service": "driver_activity_v1",
            "full_feature_names": True,
            "entities": {"driver_id": [1001, 1003], "customer_id": [2001, 1]},
        },
        {"features": ["customer_profile"], "entities": {"customer_id": list(range(1990, 2090))}},
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": []}},
        {"features": ["driver_trip_windows", "driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001, 9]}},
    ],
    ids=["one", "two-views", "service-full-names", "hundred", "no-rows", "aggregation-view"],
)
def test_answers_equal_online_client(served, http, body):
    r = http.post(GET, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    features = body.get("features") or body["feature_service"]
    want = expected(served.root, features, body["entities"], body.get("full_feature_names", False))
    assert r.json() == want
    statuses = {s for res in r.json()["results"] for s in res["statuses"]}
    if body["entities"].get("customer_id"):
        assert "PRESENT" in statuses and "NOT_FOUND" in statuses


def test_values_are_real(http):
    """Not only equal to the client: the materialized sample rows are there."""
    r = http.post(
        GET, json={"features": ["customer_profile:lifetime_trip_count"], "entities": {"customer_id": [2001]}}
    ).json()
    assert r["metadata"]["feature_names"] == ["customer_id", "lifetime_trip_count"]
    assert r["results"][1]["statuses"] == ["PRESENT"]
    assert isinstance(r["results"][1]["values"][0], int)
    assert r["results"][1]["event_timestamps"][0].startswith("2026-01-1")


BIG = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001] * 20000}}

BAD = [
    (
        "unknown-feature",
        {"features": ["driver_hourly_stats:conv_rat"], "entities": {"driver_id": [1001]}},
        404,
        "feature view 'driver_hourly_stats' has no feature 'conv_rat' (did you mean 'conv_rate'?)",
    ),
    (
        "unknown-view",
        {"features": ["driver_hourly_stat:conv_rate"], "entities": {"driver_id": [1001]}},
        404,
        "unknown feature view 'driver_hourly_stat' (did you mean 'driver_hourly_stats'?)",
    ),
    (
        "unknown-service",
        {"feature_service": "driver_activity", "entities": {"driver_id": [1001]}},
        404,
        "unknown feature service 'driver_activity' (did you mean 'driver_activity_v1'?)",
    ),
    (
        "key-type-text",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001, "abc"]}},
        422,
        "entity 'driver_id' must be bigint: value 1 is 'abc' (plain decimal digits only)",
    ),
    (
        "key-type-text-after-digits",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": ["1001", "x1"]}},
        422,
        "entity 'driver_id' must be bigint: value 1 is 'x1' (plain decimal digits only)",
    ),
    (
        "key-type-float",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1.5]}},
        422,
        "entity 'driver_id' must be bigint: value 0 is 1.5",
    ),
    (
        "key-type-bool",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [True]}},
        422,
        "entity 'driver_id' must be bigint: value 0 is True",
    ),
    (
        "key-null",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [None]}},
        422,
        "entity 'driver_id' value 0 is null",
    ),
    (
        "missing-entity",
        {
            "features": ["driver_hourly_stats:conv_rate", "customer_profile:current_balance"],
            "entities": {"driver_id": [1001]},
        },
        422,
        "missing entity column 'customer_id' needed by feature view 'customer_profile'",
    ),
    (
        "unknown-entity",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"drivr_id": [1001]}},
        422,
        "unknown entity column 'drivr_id' (did you mean 'driver_id'?)",
    ),
    (
        "ragged",
        {
            "features": ["driver_hourly_stats:conv_rate", "customer_profile:current_balance"],
            "entities": {"driver_id": [1001, 1002], "customer_id": [2001]},
        },
        400,
        "entity columns have different lengths: driver_id=2, customer_id=1",
    ),
    (
        "entities-not-object",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": [1001]},
        400,
        "'entities' must be an object of join key -> list of values, e.g. {\"driver_id\": [1001]}",
    ),
    (
        "entity-not-list",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": 1001}},
        400,
        "entity 'driver_id' must be a list of values",
    ),
    (
        "both",
        {
            "features": ["driver_hourly_stats:conv_rate"],
            "feature_service": "driver_activity_v1",
            "entities": {"driver_id": [1001]},
        },
        400,
        "pass exactly one of 'features' (a list of 'view:feature') or 'feature_service'",
    ),
    (
        "neither",
        {"entities": {"driver_id": [1001]}},
        400,
        "pass exactly one of 'features' (a list of 'view:feature') or 'feature_service'",
    ),
    (
        "features-not-list",
        {"features": "driver_hourly_stats:conv_rate", "entities": {"driver_id": [1]}},
        400,
        "'features' must be a non-empty list of 'view:feature' strings",
    ),
    (
        "feature-without-view",
        {"features": ["conv_rate"], "entities": {"driver_id": [1]}},
        404,
        "unknown feature view 'conv_rate'",
    ),
    (
        "full-names-not-bool",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1]}, "full_feature_names": "yes"},
        400,
        "'full_feature_names' must be true or false",
    ),
    (
        "unknown-field",
        {"features": ["driver_hourly_stats:conv_rate"], "entites": {"driver_id": [1]}},
        400,
        "unknown field 'entites' (did you mean 'entities'?)",
    ),
    (
        "too-many-entities",
        {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1] * 1001}},
        413,
        "1001 entity rows exceed the limit of 1000",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_gets_its_4xx(http, case):
    _, body, status, message = case
    r = http.post(GET, json=body)
    assert (r.status_code, r.json()["error"]) == (status, message)


@pytest.mark.parametrize(
    "content, status, message",
    [
        (b'{"features": [', 400, "request body is not valid JSON: Expecting value: line 1 column 15 (char 14)"),
        (
            b"\xff\xfe\x00",
            400,
            "request body is not valid JSON: 'utf-16-le' codec can't decode byte 0x00 in position 2: truncated data",
        ),
        (b"[1, 2]", 400, "request body must be a JSON object, not list"),
        (b"", 400, "request body is empty; send a JSON object"),
    ],
    ids=["truncated", "not-utf8", "array", "empty"],
)
def test_malformed_body(http, content, status, message):
    r = http.post(GET, content=content, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (status, message)


def test_oversized_body(http):
    body = json.dumps(BIG).encode()
    r = http.post(GET, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == f"request body of {len(body)} bytes exceeds the limit of 65536 bytes"


def test_oversized_chunked_body(http):
    """No Content-Length: the limit holds while the body streams in."""

    def chunks():
        data = json.dumps(BIG).encode()
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    r = http.post(GET, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "request body exceeds the limit of 65536 bytes"


def test_wrong_method_and_path_are_json(http):
    r = http.get(GET)
    assert (r.status_code, r.json()["error"]) == (405, "GET /get-online-features: Method Not Allowed")
    r = http.post("/get-online-feature", json={})
    assert (r.status_code, r.json()["error"]) == (404, "POST /get-online-feature: Not Found")


def test_health(http):
    r = http.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["feature_views"] == 3


def test_access_log_is_json_lines(served, http):
    began = time.perf_counter()
    http.post(GET, json={"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1, 2, 3]}})
    elapsed_ms = (time.perf_counter() - began) * 1000
    http.post(GET, json={"features": ["nope:x"], "entities": {"driver_id": [1]}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = [e for e in served.access_log() if e.get("path") == GET]
        if any(e.get("entities") == 3 for e in entries) and any(
            e.get("status") == 404 and "'nope'" in e.get("error", "") for e in entries
        ):
            break
        time.sleep(0.1)
    ok = next(e for e in entries if e.get("entities") == 3)
    assert ok["method"] == "POST" and ok["status"] == 200
    # the server's own time: positive, and of the order of the client's (it also counts the response's last send)
    assert 0 < ok["ms"] < elapsed_ms + 1000, (ok["ms"], elapsed_ms)
    bad = next(e for e in entries if e["status"] == 404 and "'nope'" in e.get("error", ""))
    assert bad["error"] == "unknown feature view 'nope'" and bad["method"] == "POST"


def test_registry_snapshot_is_refreshed(served, http):
    """A feature service applied after the server started is served within the refresh interval."""
    import os

    from sqlfeast.feature_store import FeatureStore

    schema = served.root / "models" / "schema.yml"
    schema.write_text(
        schema.read_text().replace(
            "feature_services:\n",
            "feature_services:\n  - name: late_service\n    features: [customer_profile:current_balance]\n",
        )
    )
    cwd = os.getcwd()
    os.chdir(served.root)
    try:
        with FeatureStore(served.root) as fs:
            fs.apply()
    finally:
        os.chdir(cwd)
    body = {"feature_service": "late_service", "entities": {"customer_id": [2001]}}
    deadline = time.monotonic() + 30
    r = http.post(GET, json=body)
    while r.status_code != 200 and time.monotonic() < deadline:
        assert r.status_code == 404 and r.json()["error"].startswith("unknown feature service 'late_service'")
        time.sleep(0.2)
        r = http.post(GET, json=body)
    assert r.status_code == 200
    assert r.json()["metadata"]["feature_names"] == ["customer_id", "current_balance"]
