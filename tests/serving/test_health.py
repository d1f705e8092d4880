"""/health and failures of the online store: 503 / 504 with a clear message, never a hang."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from tests.online.conftest import MotoServer

from .conftest import Served, make_project, setup_project, wait_for

GET = "/get-online-features"
BODY = {"features": ["customer_profile:current_balance"], "entities": {"customer_id": [2001]}}


@pytest.fixture
def own(tmp_path):
    """A moto server and a sqlfeast serve of its own: these tests stop the store."""
    moto = MotoServer().start()
    root = make_project(tmp_path / "demo", moto.endpoint)
    setup_project(root)
    served = Served(root, "--timeout", "1", "--registry-refresh", "0").start()
    yield moto, served, root
    served.stop()
    os.kill(moto.proc.pid, signal.SIGCONT) if moto.proc else None
    moto.stop()


def test_health_follows_a_paused_store(own):
    moto, served, _ = own
    with httpx.Client(base_url=served.url, timeout=20) as http:
        assert http.get("/health").status_code == 200
        assert http.post(GET, json=BODY).status_code == 200
        os.kill(moto.proc.pid, signal.SIGSTOP)  # the store accepts connections but never answers
        try:
            r = http.get("/health")
            assert r.status_code == 503
            assert r.json() == {"status": "unavailable", "error": "the online store did not answer within 1 s"}
            r = http.post(GET, json=BODY)
            assert r.status_code == 504
            assert r.json()["error"] == "the online store did not answer within 1 s"
        finally:
            os.kill(moto.proc.pid, signal.SIGCONT)
        assert wait_for(lambda: http.get("/health").status_code == 200)
        assert wait_for(lambda: http.post(GET, json=BODY).status_code == 200)


def test_health_follows_a_stopped_and_restarted_store(own):
    moto, served, root = own
    with httpx.Client(base_url=served.url, timeout=20) as http:
        moto.stop()
        r = http.get("/health")
        assert r.status_code == 503
        assert r.json()["error"].startswith(f"online store unavailable: cannot reach DynamoDB at {moto.endpoint}")
        r = http.post(GET, json=BODY)
        assert r.status_code == 503
        assert r.json()["error"].startswith(f"online store unavailable: cannot reach DynamoDB at {moto.endpoint}")

        moto.start()  # same port, but a new server: empty until the project is applied again
        # (its first answers may take longer than the 1 s deadline on a busy machine: asked again)
        assert wait_for(lambda: "no registry snapshot in the online store" in http.get("/health").json()["error"])
        assert http.get("/health").status_code == 503
        setup_project(root)
        assert http.get("/health").status_code == 200
        r = http.post(GET, json=BODY)
        assert r.status_code == 200 and r.json()["results"][1]["statuses"] == ["PRESENT"]


def test_not_applied_project_serves_503_then_recovers(tmp_path, moto):
    root = make_project(tmp_path / "demo", moto.endpoint)
    served = Served(root, "--registry-refresh", "0").start(expect_healthy=False)
    try:
        with httpx.Client(base_url=served.url, timeout=20) as http:
            r = http.get("/health")
            assert r.status_code == 503
            name = (root / "sqlfeast_project.yml").read_text().split("name: ")[1].split()[0]
            message = f"no registry snapshot in the online store of project '{name}' (run 'sqlfeast apply')"
            assert r.json()["error"] == message
            r = http.post(GET, json=BODY)
            assert (r.status_code, r.json()["error"]) == (503, message)
            setup_project(root)
            assert http.get("/health").status_code == 200
            assert http.post(GET, json=BODY).status_code == 200
    finally:
        served.stop()
