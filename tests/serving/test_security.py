"""Who may call the server and with what: tokens with read and write permission, JSON bodies only,
no cross-origin requests, no pushed timestamps far in the future; every client mistake a 4xx that
names it. The app runs in this process on a real applied project (SQLite online store)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from sqlfeast.errors import ConfigError
from sqlfeast.serving.security import READ_ENV, WRITE_ENV, TokenPolicy

from .inprocess import READ_TOKEN, WRITE_TOKEN, InProcess, make_applied_project

GET = "/get-online-features"
READ = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
AUTH_R = {"authorization": f"Bearer {READ_TOKEN}"}
AUTH_W = {"authorization": f"Bearer {WRITE_TOKEN}"}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_applied_project(tmp_path_factory.mktemp("security") / "demo")


@pytest.fixture(scope="module")
def server(project):
    policy = TokenPolicy.from_sources({READ_ENV: READ_TOKEN, WRITE_ENV: WRITE_TOKEN}, None)
    app = InProcess(project, policy=policy, allow_writes=True)
    yield app
    app.close()


@pytest.fixture(scope="module")
def open_server(project):
    app = InProcess(project, auth=False)
    yield app
    app.close()


def push_body(ts: str, driver: int = 7001, conv: float = 0.5, created: str | None = None) -> dict:
    return {
        "push_source_name": "driver_stats_push",
        "df": {
            "driver_id": [driver],
            "event_timestamp": [ts],
            "created": [created or ts],
            "conv_rate": [conv],
            "acc_rate": [0.5],
            "avg_daily_trips": [3],
        },
    }


def read_conv(server, driver: int):
    r = server.post(GET, json={**READ, "entities": {"driver_id": [driver]}}, headers=AUTH_R)
    assert r.status_code == 200, r.text
    return r.json()["results"][1]["values"][0]


# -- authentication ------------------------------------------------------------------------------
def test_reads_need_a_token(server):
    r = server.post(GET, json=READ)
    assert r.status_code == 401
    assert r.json()["error"] == "/get-online-features needs a bearer token (header 'Authorization: Bearer <token>')"
    r = server.post(GET, json=READ, headers={"authorization": "Bearer not-a-token-of-this-server"})
    assert (r.status_code, r.json()["error"]) == (401, "the bearer token is not valid on this server")
    r = server.post(GET, json=READ, headers={"authorization": f"Basic {READ_TOKEN}"})
    assert r.status_code == 401
    assert server.post(GET, json=READ, headers=AUTH_R).status_code == 200
    assert server.post(GET, json=READ, headers=AUTH_W).status_code == 200  # write includes read


def test_writes_need_a_write_token(server):
    now = datetime.now(UTC).replace(tzinfo=None).isoformat()
    r = server.post("/push", json=push_body(now, 7002), headers=AUTH_R)
    assert r.status_code == 403
    assert r.json()["error"] == "/push needs a token with write permission; this one may only read"
    assert server.post("/push", json=push_body(now, 7002)).status_code == 401
    assert read_conv(server, 7002) is None  # nothing was written
    r = server.post("/push", json=push_body(now, 7002, conv=0.25), headers=AUTH_W)
    assert r.status_code == 200, r.text
    assert read_conv(server, 7002) == 0.25


def test_feast_write_endpoints_need_a_write_token_and_answer_in_feasts_shape(server):
    body = {"feature_view_name": "driver_hourly_stats", "df": {"driver_id": [1]}}
    r = server.post("/write-to-online-store", json=body, headers=AUTH_R)
    assert r.status_code == 403
    detail = json.loads(r.json())
    assert detail["class"] == "FeastPermissionError" and "write permission" in detail["message"]


def test_health_and_docs_need_no_token(server):
    assert server.get("/health").json()["status"] == "ok"
    assert server.get("/openapi.json").status_code == 200


def test_token_sources(tmp_path):
    with pytest.raises(ConfigError, match="no tokens for the feature server"):
        TokenPolicy.from_sources({}, None)
    with pytest.raises(ConfigError, match="too short"):
        TokenPolicy.from_sources({READ_ENV: "short"}, None)
    path = tmp_path / "tokens"
    path.write_text(f"# tokens of the feature server\nread {READ_TOKEN}\nwrite {WRITE_TOKEN}  # ci\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"may be read by other users \(mode 644\) \(chmod 600"):
        TokenPolicy.from_sources({}, path)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    policy = TokenPolicy.from_sources({}, path)
    assert policy.permission_of(f"Bearer {READ_TOKEN}") == "read"
    assert policy.permission_of(f"bearer {WRITE_TOKEN}") == "write"
    assert policy.permission_of("Bearer " + "x" * 30) is None
    path.write_text(f"read {READ_TOKEN}\nadmin {WRITE_TOKEN}\n")
    with pytest.raises(ConfigError, match=r"tokens:2: expected 'read TOKEN' or 'write TOKEN'"):
        TokenPolicy.from_sources({}, path)
    with pytest.raises(ConfigError, match="cannot read the tokens file"):
        TokenPolicy.from_sources({}, tmp_path / "missing")


def test_a_server_without_auth_answers_only_loopback_hosts(open_server):
    assert open_server.post(GET, json=READ).status_code == 200
    r = open_server.post(GET, json=READ, headers={"host": "attacker.example:6566"})
    assert r.status_code == 403
    assert "answers only requests for a loopback host, not 'attacker.example:6566'" in r.json()["error"]


# -- what a browser could send -------------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type, message",
    [
        ("text/plain", "Content-Type must be application/json, not 'text/plain'"),
        (
            "application/x-www-form-urlencoded",
            "Content-Type must be application/json, not 'application/x-www-form-urlencoded'",
        ),
        ("multipart/form-data; boundary=x", "Content-Type must be application/json, not 'multipart/form-data'"),
        (None, "the request needs 'Content-Type: application/json'"),
        ("application/json; charset=latin-1", "JSON bodies must be UTF-8, not charset=latin-1"),
    ],
)
@pytest.mark.parametrize("path", [GET, "/push"])
def test_only_json_bodies_are_accepted(server, path, content_type, message):
    now = datetime.now(UTC).replace(tzinfo=None).isoformat()
    driver = 7100 + sum(map(ord, content_type or "")) + len(path)  # a new entity per case
    body = json.dumps(READ if path == GET else push_body(now, driver)).encode()
    headers = {**AUTH_W, **({"content-type": content_type} if content_type else {})}
    r = server.post(path, content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (415, message)
    assert read_conv(server, driver) is None
    ok = server.post(path, content=body, headers={**AUTH_W, "content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200, ok.text


def test_cross_origin_requests_are_refused(server):
    r = server.post(GET, json=READ, headers={**AUTH_R, "origin": "https://evil.example"})
    assert (r.status_code, r.json()["error"]) == (403, "cross-origin request from 'https://evil.example' refused")
    r = server.post(GET, json=READ, headers={**AUTH_R, "origin": "http://127.0.0.1:6566"})
    assert r.status_code == 200


# -- pushed timestamps ---------------------------------------------------------------------------
def test_pushed_timestamps_in_the_future_are_refused(server):
    r = server.post("/push", json=push_body("9999-12-31T00:00:00", 7004), headers=AUTH_W)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error.startswith("column 'event_timestamp' row 0 is 9999-12-31T00:00:00, later than the server's clock")
    assert "--max-clock-skew" in error
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    r = server.post("/push", json=push_body("2026-01-01T00:00:00", 7004, created=soon), headers=AUTH_W)
    assert r.status_code == 422 and r.json()["error"].startswith("column 'created' row 0 is ")
    assert read_conv(server, 7004) is None  # nothing of either push was written
    within = (datetime.now(UTC) + timedelta(seconds=60)).replace(tzinfo=None).isoformat()
    assert server.post("/push", json=push_body(within, 7004, conv=0.75), headers=AUTH_W).status_code == 200
    assert read_conv(server, 7004) == 0.75


def test_feast_online_writes_refuse_future_timestamps_too(server):
    df = {
        "driver_id": [7005],
        "event_timestamp": ["9999-12-31T00:00:00"],
        "created": [None],
        "conv_rate": [0.5],
        "acc_rate": [0.5],
        "avg_daily_trips": [1],
    }
    r = server.post(
        "/write-to-online-store", json={"feature_view_name": "driver_hourly_stats", "df": df}, headers=AUTH_W
    )
    assert r.status_code == 422
    assert "column 'event_timestamp' row 0 is 9999-12-31T00:00:00" in json.loads(r.json())["message"]
    assert read_conv(server, 7005) is None


def test_the_allowed_skew_is_an_option(project):
    app = InProcess(project, auth=False, max_future_seconds=0)
    try:
        soon = (datetime.now(UTC) + timedelta(seconds=30)).replace(tzinfo=None).isoformat()
        assert app.post("/push", json=push_body(soon, 7006)).status_code == 422
    finally:
        app.close()


# -- every client mistake is a 4xx naming it -----------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["²", "--5", "-0_5", " -5 ", "٠", "+5", "5.0", "1e3", "9" * 5000],
    ids=["superscript", "double-minus", "underscore", "spaces", "arabic-indic", "plus", "fraction", "exponent", "long"],
)
def test_integer_keys_take_plain_decimal_text_only(server, value):
    r = server.post(GET, json={**READ, "entities": {"driver_id": [value]}}, headers=AUTH_R)
    assert r.status_code == 422
    assert r.json()["error"].startswith(f"entity 'driver_id' must be bigint: value 0 is {value[:50]!r}"[:60])
    assert r.json()["error"].endswith("(plain decimal digits only)")


def test_plain_decimal_text_keys_still_read(server):
    r = server.post(GET, json={**READ, "entities": {"driver_id": ["1001", "-5"]}}, headers=AUTH_R)
    assert r.status_code == 200
    assert r.json()["results"][0]["values"] == [1001, -5]
    assert r.json()["results"][1]["statuses"][0] != "NOT_FOUND"  # stored (fresh or not)
    assert r.json()["results"][1]["statuses"][1] == "NOT_FOUND"


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": ["\\ud800"]}}',
            "request body holds a lone UTF-16 surrogate '\\ud800' in entities.driver_id[0]",
        ),
        (
            b'{"features": ["\\uDFFF:x"], "entities": {"driver_id": [1]}}',
            "request body holds a lone UTF-16 surrogate '\\udfff' in features[0]",
        ),
        (
            b'{"features": ["driver_hourly_stats:conv_rate"], "entities": {"\xed\xa0\x80": [1]}}',
            "request body holds a lone UTF-16 surrogate '\\ud800' in the key entities.'\\ud800'",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "request body nests deeper than 32 levels"),
        (b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "request body nests deeper than 32 levels"),
        (b'{"features": ' + b"[" * 40 + b"]" * 40 + b"}", "request body nests deeper than 32 levels"),
    ],
    ids=["surrogate-key-value", "surrogate-feature", "surrogate-utf8-bytes", "deep", "deep-inside", "depth-40"],
)
@pytest.mark.parametrize("path", [GET, "/push"])
def test_malformed_text_and_nesting_are_400(server, path, body, message):
    r = server.post(path, content=body, headers={**AUTH_W, "content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith(message)


def test_a_long_key_reads_as_not_found_and_is_refused_on_push(server):
    r = server.post(GET, json={**READ, "entities": {"driver_id": [int("9" * 3000)]}}, headers=AUTH_R)
    assert r.status_code == 200  # a key past the 2,048-byte limit cannot be stored: not found
    assert r.json()["results"][1]["statuses"] == ["NOT_FOUND"]
    note = {
        "push_source_name": "note_push",
        "df": {"driver_id": [1], "event_timestamp": ["2026-01-01T00:00:00"], "note": ["x" * (401 * 1024)]},
    }
    r = server.post("/push", json=note, headers=AUTH_W)
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith(
        "feature view 'driver_notes': the row of driver_id=1 is 401 KB, above the online stores' 400 KB item limit"
    )
    read = {"features": ["driver_notes:note"], "entities": {"driver_id": [1]}}
    assert server.post(GET, json=read, headers=AUTH_R).json()["results"][1]["statuses"] == ["NOT_FOUND"]
    note["df"]["note"] = ["x" * 1000]
    assert server.post("/push", json=note, headers=AUTH_W).status_code == 200
    assert server.post(GET, json=read, headers=AUTH_R).json()["results"][1]["values"] == ["x" * 1000]


def test_a_none_key_never_reads_the_entity_keyed_by_the_text_none(server):
    note = {
        "push_source_name": "note_push",
        "df": {"driver_id": [2], "event_timestamp": ["2026-01-01T00:00:00"], "note": ["two"]},
    }
    assert server.post("/push", json=note, headers=AUTH_W).status_code == 200
    r = server.post(GET, json={"features": ["driver_notes:note"], "entities": {"driver_id": [None]}}, headers=AUTH_R)
    assert (r.status_code, r.json()["error"]) == (422, "entity 'driver_id' value 0 is null")
    r = server.post(GET, json={"features": ["driver_notes:note"], "entities": {"driver_id": ["None"]}}, headers=AUTH_R)
    assert r.status_code == 422


def test_duplicate_keys_in_one_push_count_one_skipped(server):
    body = push_body("2026-01-02T00:00:00", 7007)
    body["df"] = {k: v * 2 for k, v in body["df"].items()}
    now = datetime.now(UTC).replace(tzinfo=None)
    body["df"]["event_timestamp"] = [(now - timedelta(hours=2)).isoformat(), (now - timedelta(hours=1)).isoformat()]
    body["df"]["created"] = body["df"]["event_timestamp"]
    body["df"]["conv_rate"] = [0.1, 0.2]
    r = server.post("/push", json=body, headers=AUTH_W)
    assert r.json()["online"]["driver_hourly_stats"] == {"written": 1, "skipped": 1}
    assert read_conv(server, 7007) == 0.2


def test_environment_tokens_reach_create_app(project, monkeypatch):
    monkeypatch.setenv(READ_ENV, READ_TOKEN)
    monkeypatch.delenv(WRITE_ENV, raising=False)
    monkeypatch.delenv("SQLFEAST_TOKENS_FILE", raising=False)
    app = InProcess(project)
    try:
        assert app.post(GET, json=READ).status_code == 401
        assert app.post(GET, json=READ, headers=AUTH_R).status_code == 200
        assert app.post("/push", json=push_body("2026-01-01T00:00:00"), headers=AUTH_W).status_code == 401
    finally:
        app.close()
    monkeypatch.delenv(READ_ENV)
    with pytest.raises(ConfigError, match="no tokens"):
        InProcess(project)
    assert os.environ.get(READ_ENV) is None
