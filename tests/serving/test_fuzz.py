"""Property: no body a client can send makes /get-online-features or /push answer 5xx.

Hypothesis generates bodies from near-valid requests (real feature names, join keys and push
columns with values of every JSON kind, lone surrogates, deep nesting, odd numbers) to arbitrary
JSON and raw bytes; each goes through the real app (in this process, over httpx's ASGI transport)
on a real applied project. Every answer must be below 500 and, when it is an error, a JSON
object whose "error" names the problem. ``SQLFEAST_FUZZ_EXAMPLES`` sets the examples per endpoint
(default 5,000: 10,000 in all).
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlfeast.serving.security import READ_ENV, WRITE_ENV, TokenPolicy

from .inprocess import READ_TOKEN, WRITE_TOKEN, InProcess, make_applied_project

EXAMPLES = int(os.environ.get("SQLFEAST_FUZZ_EXAMPLES", "5000"))
HEADERS = {"authorization": f"Bearer {WRITE_TOKEN}", "content-type": "application/json"}
FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:avg_daily_trips",
    "customer_profile:current_balance",
    "driver_notes:note",
    "driver_hourly_stats",
    "customer_profile",
    "driver_trip_windows:trips_1d",
    "nope:x",
    "driver_hourly_stats:",
    ":x",
    "",
]
KEYS = ["driver_id", "customer_id", "drivr_id", ""]
PUSH_COLUMNS = ["driver_id", "event_timestamp", "created", "conv_rate", "acc_rate", "avg_daily_trips", "note", "x"]
TEXTS = st.one_of(
    st.sampled_from(
        ["²", "--5", "-0_5", " -5 ", "٠", "1001", "-1", "9" * 5000, "\ud800", "\udfff", "None", "NaN", "1e400"]
        + ["2026-01-15T00:00:00", "9999-12-31T23:59:59", "2026-13-01", "0001-01-01", "2026-01-15T00:00:00+99:00"]
    ),
    st.text(max_size=8),
    st.text(max_size=3).map(lambda t: t + "\ud83d"),  # a lone high surrogate at the end
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**4000, 0.1, -0.0, 1e308]),
    TEXTS,
)


VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXTS, inner, max_size=3), max_leaves=6
)
COLUMN = st.one_of(st.lists(VALUES, max_size=4), VALUES, st.sampled_from([[1001], [1001, 1002], []]))

GET_BODIES = st.one_of(
    st.fixed_dictionaries(
        {"features": st.one_of(st.lists(st.sampled_from(FEATURES) | TEXTS, max_size=4), VALUES)},
        optional={
            "entities": st.one_of(st.dictionaries(st.sampled_from(KEYS) | TEXTS, COLUMN, max_size=3), VALUES),
            "full_feature_names": VALUES,
            "feature_service": st.sampled_from(["driver_activity_v1", "x"]) | VALUES,
            "include_feature_view_version_metadata": VALUES,
            "entites": VALUES,
        },
    ),
    st.dictionaries(TEXTS, VALUES, max_size=4),
)
PUSH_BODIES = st.one_of(
    st.fixed_dictionaries(
        {
            "push_source_name": st.sampled_from(["driver_stats_push", "note_push", "nope"]) | VALUES,
            "df": st.one_of(
                st.dictionaries(st.sampled_from(PUSH_COLUMNS) | TEXTS, COLUMN, max_size=8),
                st.lists(st.dictionaries(st.sampled_from(PUSH_COLUMNS), VALUES, max_size=7), max_size=3),
                VALUES,
            ),
        },
        optional={"to": st.sampled_from(["online", "offline", "online_and_offline", "nowhere"]) | VALUES},
    ),
    st.dictionaries(TEXTS, VALUES, max_size=4),
)


def encode(body) -> bytes:
    """JSON as a client could send it: surrogates escaped, NaN and huge numbers spelled out."""
    return json.dumps(body, allow_nan=True).encode()


RAW = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' + b"{" * 5000, b'{"features": "\\ud800"}', b"\xed\xa0\x80", b"{}"]
    ),
    st.integers(min_value=30, max_value=2000).map(lambda n: b'{"features": ' + b"[" * n + b"]" * n + b"}"),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = make_applied_project(tmp_path_factory.mktemp("fuzz") / "demo")
    policy = TokenPolicy.from_sources({READ_ENV: READ_TOKEN, WRITE_ENV: WRITE_TOKEN}, None)
    app = InProcess(root, policy=policy, allow_writes=True)
    yield app
    app.close()


def check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        # sqlfeast's {"error", "code"}, or Feast's shape for Feast's requests: a JSON string.
        error = body["error"] if isinstance(body, dict) else json.loads(body)["message"]
        assert isinstance(error, str) and error


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


@FUZZ
@given(body=st.one_of(GET_BODIES.map(encode), RAW))
def test_get_online_features_never_answers_5xx(server, body):
    check(server.post("/get-online-features", content=body, headers=HEADERS))


@FUZZ
@given(body=st.one_of(PUSH_BODIES.map(encode), RAW))
def test_push_never_answers_5xx(server, body):
    check(server.post("/push", content=body, headers=HEADERS))
