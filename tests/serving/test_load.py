"""A bounded load test on loopback: many keep-alive connections, zero errors.

Runs SQLFEAST_LOAD_SECONDS (default 5, at most 30) here; benchmarks/server_bench.py runs it for
30 s and reports throughput and latency.
"""

from __future__ import annotations

import json
import os
import time

from .loadgen import encode_post, load

GET = "/get-online-features"


def requests_for(url: str) -> list[bytes]:
    one = {
        "features": ["driver_hourly_stats:conv_rate", "customer_profile:current_balance"],
        "entities": {"driver_id": [1001], "customer_id": [2001]},
    }
    hundred = {
        "feature_service": "driver_activity_v1",
        "entities": {
            "driver_id": [1001 + i % 12 for i in range(100)],
            "customer_id": [2001 + i % 12 for i in range(100)],
        },
    }
    return [encode_post(url, GET, one), encode_post(url, GET, hundred)]


def check(body: bytes) -> str | None:
    data = json.loads(body)
    sizes = {len(r["values"]) for r in data["results"]}
    if len(sizes) != 1 or sizes.pop() not in (1, 100):
        return f"unexpected result shape: {body[:200]!r}"
    return None


def test_load_without_errors(served):
    seconds = min(30.0, float(os.environ.get("SQLFEAST_LOAD_SECONDS", "5")))
    result = load(served.url, requests_for(served.url), seconds, connections=8, check=check)
    assert result.first_errors == []
    assert result.errors == 0
    # Every request sent was answered and logged by the server, each with a 200.
    # (A request's log line is written just after its response: wait a moment for the last ones.)
    deadline = time.monotonic() + 10
    while True:
        logged = [e for e in served.access_log() if e.get("path") in ("/get-online-features", "/push")]
        if len(logged) >= result.requests or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert result.requests >= 8 and len(logged) >= result.requests
    assert {e["status"] for e in logged} == {200}
    print("load:", result.summary())
