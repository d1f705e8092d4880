"""`sqlfeast serve --workers 2`: every worker process builds its own app from the same settings."""

from __future__ import annotations

import httpx

from .conftest import Served, make_project, setup_project


def test_two_workers_answer_alike(tmp_path, moto):
    root = make_project(tmp_path / "demo", moto.endpoint)
    setup_project(root)
    served = Served(root, "--workers", "2").start()
    try:
        body = {"features": ["customer_profile:current_balance"], "entities": {"customer_id": [2001, 1]}}
        answers = []
        for _ in range(20):  # new connections: the kernel spreads them over both workers
            with httpx.Client(base_url=served.url, timeout=20) as http:
                r = http.post("/get-online-features", json=body)
                assert r.status_code == 200, r.text
                answers.append(r.json())
        assert all(a == answers[0] for a in answers)
        assert answers[0]["results"][1]["statuses"] == ["PRESENT", "NOT_FOUND"]
    finally:
        served.stop()
    assert served.proc is None
