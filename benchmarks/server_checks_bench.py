"""What the server's request checks cost: the same requests with bearer-token authentication and
without (both pass the media-type, origin and body checks), in-process over httpx's ASGI
transport on the example project (SQLite online store). Interleaved rounds, medians, and the
load average beside them.

    .venv/bin/python benchmarks/server_checks_bench.py [--rounds 7] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlfeast.serving.security import READ_ENV, WRITE_ENV, TokenPolicy  # noqa: E402
from tests.serving.inprocess import READ_TOKEN, WRITE_TOKEN, InProcess, make_applied_project  # noqa: E402


def per_request_ms(app: InProcess, body: bytes, headers: dict, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        r = app.post("/get-online-features", content=body, headers=headers)
        assert r.status_code == 200, r.text
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    root = make_applied_project(Path(tempfile.mkdtemp()) / "demo")
    policy = TokenPolicy.from_sources({READ_ENV: READ_TOKEN, WRITE_ENV: WRITE_TOKEN}, None)
    secured, open_ = InProcess(root, policy=policy), InProcess(root, auth=False)
    bodies = {
        "1 entity": {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}},
        "100 entities": {
            "features": ["driver_hourly_stats:conv_rate"],
            "entities": {"driver_id": list(range(1001, 1101))},
        },
    }
    out = {"load_average_before": os.getloadavg()}
    for name, body in bodies.items():
        data = json.dumps(body).encode()
        plain = {"content-type": "application/json"}
        with_token = {**plain, "authorization": f"Bearer {READ_TOKEN}"}
        per_request_ms(open_, data, plain, 20)  # warm both (registry load, client, caches)
        per_request_ms(secured, data, with_token, 20)
        on, off = [], []
        for _ in range(args.rounds):
            off.append(per_request_ms(open_, data, plain, args.requests))
            on.append(per_request_ms(secured, data, with_token, args.requests))
        out[name] = {
            "tokens_ms": round(statistics.median(on), 3),
            "no_auth_ms": round(statistics.median(off), 3),
            "ratio": round(statistics.median(on) / statistics.median(off), 3),
        }
    out["load_average_after"] = os.getloadavg()
    secured.close()
    open_.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
