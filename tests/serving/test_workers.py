"""`sqlfeast serve --workers 2`: every worker process builds its own app from the same settings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from .conftest import Served, make_project, setup_project


def test_two_workers_answer_alike(tmp_path, moto):
    root = make_project(tmp_path / "demo", moto.endpoint)
    setup_project(root)
    served = Served(root, "--workers", "2").start()
    try:
        body = {"features": ["customer_profile:current_balance"], "entities": {"customer_id": [2001, 1]}}
        answers: list[dict] = []
        pids: set[int] = set()

        def ask(_: int) -> dict:
            with httpx.Client(base_url=served.url, timeout=20) as http:  # a new connection each time
                r = http.post("/get-online-features", json=body)
                assert r.status_code == 200, r.text
                return r.json()

        # Concurrent new connections: the kernel hands them to whichever worker accepts first.
        # Bounded: at most 10 rounds of 16 requests until both workers have answered.
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):
                answers += pool.map(ask, range(16))
                pids = {e["pid"] for e in served.access_log() if e.get("path") == "/get-online-features"}
                if len(pids) == 2:
                    break
        assert all(a == answers[0] for a in answers)
        assert answers[0]["results"][1]["statuses"] == ["PRESENT", "NOT_FOUND"]
        # Each worker logs its own requests (with its pid): both processes answered, alike.
        assert len(pids) == 2, f"one worker answered all {len(answers)} requests: {pids}"
    finally:
        served.stop()
    assert served.proc is None
