"""The README's journey, run as a person runs it: each command a subprocess on a pseudo-terminal.

init, compile, plan, apply, ls, historical, materialize-incremental (with its progress bar),
get-online, serve with HTTP requests, debug, teardown (declined, then confirmed), debug again,
and apply to recover. Assertions are on exit codes and on what the terminal shows.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.clirun import PtyProcess, run_piped, sqlfeast, sqlfeast_command
from tests.online.conftest import free_port

pytestmark = pytest.mark.slow


def ok(result, *expected: str) -> str:
    """The screen of a command that must have exited 0 and shown each of `expected`."""
    assert result.exit_code == 0, str(result)
    assert "Traceback" not in result.raw, str(result)
    for text in expected:
        assert text in result.screen, f"{text!r} not shown\n{result}"
    return result.screen


def latest(path, key: str, key_value: int, column: str):
    """The value of `column` in the newest row of one entity in a sample parquet file."""
    table = pq.read_table(path)
    rows = table.filter(pc.equal(table[key], key_value)).sort_by(
        [("event_timestamp", "ascending"), ("created", "ascending")]
    )
    return rows[column][-1].as_py()


TOKEN = "journey-read-token-0123456789"


def http(method: str, url: str, body: dict | None = None, token: str | None = TOKEN) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_readme_journey_on_a_terminal(tmp_path):
    ok(sqlfeast("init", "demo", cwd=tmp_path), "Created project 'demo'", "Next: cd demo")
    root = tmp_path / "demo"

    ok(
        sqlfeast("compile", cwd=root),
        "Compiled 3 feature view(s), 1 model(s), 2 entities, 1 feature service(s) -> target/registry.json",
    )
    ok(sqlfeast("plan", cwd=root), "+ feature view driver_hourly_stats", "+ feature service driver_activity_v1")
    ok(sqlfeast("apply", cwd=root), "Applied registry version 1")
    ok(sqlfeast("plan", cwd=root), "No changes: the applied registry is up to date.")
    listing = ok(sqlfeast("ls", cwd=root), "driver_hourly_stats [driver; ttl 172800s; online]")
    assert "    conv_rate: double  -- Share of offers accepted" in listing

    # The README's form: -f repeated, every feature asked for comes back.
    ok(
        sqlfeast(
            "historical",
            "-e",
            "data/entities.parquet",
            "-f",
            "driver_hourly_stats:conv_rate",
            "-f",
            "customer_profile:current_balance",
            "-o",
            "target/train.parquet",
            cwd=root,
        ),
        "Wrote 1000 rows to target/train.parquet",
    )
    train = pq.read_table(root / "target" / "train.parquet")
    assert {"conv_rate", "current_balance"} <= set(train.column_names)
    assert train["conv_rate"].null_count < train.num_rows
    assert train["current_balance"].null_count < train.num_rows
    ok(
        sqlfeast(
            "historical",
            "-e",
            "data/entities.parquet",
            "--service",
            "driver_activity_v1",
            "-o",
            "target/service.parquet",
            cwd=root,
        ),
        "Wrote 1000 rows to target/service.parquet",
    )

    # The progress bar draws on the terminal: rows written out of the counted total, and rows/s.
    shown = ok(sqlfeast("materialize-incremental", "now", cwd=root))
    for view in ("customer_profile", "driver_hourly_stats"):
        assert re.search(rf"^{view}: 100%\|.*\| 50/50 \[[0-9:]+<[0-9:]+, +[0-9.]+ rows/s\]$", shown, re.M), shown
        assert re.search(rf"^{view}: 50 rows \[.*\) -> 50 written, 0 unchanged", shown, re.M), shown
    # Again: nothing new since, so each view is up to date.
    ok(sqlfeast("materialize-incremental", "now", cwd=root), "customer_profile: 0 rows", "0 written")

    online = ok(
        sqlfeast(
            "get-online",
            "-f",
            "driver_hourly_stats:conv_rate",
            "-f",
            "customer_profile:current_balance",
            "-e",
            "driver_id=1001,customer_id=2001",
            "--status",
            cwd=root,
        )
    )
    values = json.loads(online)
    expected_rate = latest(root / "data" / "driver_stats.parquet", "driver_id", 1001, "conv_rate")
    expected_balance = latest(root / "data" / "customer_profile.parquet", "customer_id", 2001, "current_balance")
    assert values["conv_rate"] == [pytest.approx(expected_rate)]
    assert values["current_balance"] == [pytest.approx(expected_balance)]
    assert values["conv_rate__status"] == ["PRESENT"]
    # The aggregation view online: tiles combined for the windows ending now.
    before = time.time()
    windows = json.loads(
        ok(
            sqlfeast(
                "get-online",
                "-f",
                "driver_trip_windows",
                "-e",
                "driver_id=1001",
                "-e",
                "driver_id=9",
                "--status",
                cwd=root,
            )
        )
    )
    assert windows["stats_rows_1d__status"] == ["PRESENT", "NOT_FOUND"] and windows["stats_rows_1d"][1] == 0
    assert windows["stats_rows_1d"][0] > 0 and windows["conv_min_7d"][0] is not None
    # The sample data ends at midnight UTC: the 6h window (snapped to the hour before now - 6h)
    # holds its newest event only early in the day.
    newest = windows["stats_rows_1d__ts"][0]
    reach = {(int(t) // 3600) * 3600 - 6 * 3600 for t in (before, time.time())}
    assert (windows["last_conv_6h"][0] is not None) in {newest >= r for r in reach}

    port = free_port()
    serve = [*sqlfeast_command(), "serve", "--port", str(port), "--registry-refresh", "0"]
    with PtyProcess(serve, root, env={"SQLFEAST_READ_TOKENS": TOKEN}) as server:
        server.expect(r'"auth": "bearer tokens: read"')
        url = f"http://127.0.0.1:{port}"
        status, health = _wait_for_health(url, server)
        assert status == 200, health
        assert health["status"] == "ok" and health["project"] == "demo"
        assert health["registry_version"] == 1
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", health["applied_at"] or ""), health
        status, answer = http(
            "POST",
            url + "/get-online-features",
            {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}},
        )
        assert status == 200, answer
        unauthenticated = http("POST", url + "/get-online-features", {"features": []}, token=None)
        assert unauthenticated[0] == 401, unauthenticated
        assert answer["metadata"]["feature_names"] == ["driver_id", "conv_rate"]
        assert answer["results"][1]["values"] == [pytest.approx(expected_rate)]
        status, answer = http(
            "POST",
            url + "/get-online-features",
            {"features": ["driver_hourly_stats:no_such"], "entities": {"driver_id": [1001]}},
        )
        assert 400 <= status < 500 and "no_such" in answer["error"], answer
        server.interrupt()  # Ctrl-C
        stopped = server.wait(60)
    assert stopped.exit_code == 0, str(stopped)
    assert "Traceback" not in stopped.raw, str(stopped)

    ok(
        sqlfeast("debug", cwd=root),
        "online store: ok, sqlite target/online.db answers, holds registry version 1",
        "applied registry: ok, version 1",
        "All checks passed.",
    )

    # teardown asks first; a person declines, then confirms.
    with PtyProcess([*sqlfeast_command(), "teardown"], root) as asking:
        asking.expect(r"Remove the online tables of project 'demo'\? \[y/N\]:")
        asking.send("n\r")
        declined = asking.wait(60)
    assert declined.exit_code == 1 and "Aborted" in declined.screen, str(declined)
    assert (root / "target" / "online.db").exists()
    ok(sqlfeast("teardown", "--yes", cwd=root), "dropped ")

    after = sqlfeast("debug", cwd=root)
    assert "Traceback" not in after.raw, str(after)
    assert after.exit_code == (0 if after.screen.endswith("All checks passed.") else 1), str(after)
    for part in ("profile: ", "warehouse: ", "online store: ", "applied registry: "):
        assert part in after.screen, str(after)
    if after.exit_code:
        assert "run 'sqlfeast apply'" in after.screen, str(after)

    ok(sqlfeast("apply", cwd=root), "Applied registry version")
    ok(sqlfeast("debug", cwd=root), "All checks passed.")


def _wait_for_health(url: str, server: PtyProcess) -> tuple[int, dict]:
    """GET /health once the server accepts connections (it may still be starting)."""
    for _ in range(300):
        try:
            return http("GET", url + "/health")
        except (ConnectionError, urllib.error.URLError):
            if server.proc.poll() is not None:
                raise AssertionError(f"serve exited:\n{server.raw}") from None
            server.pump(0.1)
    raise AssertionError(f"serve never answered:\n{server.raw}")


def test_piped_output_has_no_progress_bar(tmp_path):
    ok(sqlfeast("init", "demo", cwd=tmp_path))
    root = tmp_path / "demo"
    ok(sqlfeast("apply", cwd=root))
    piped = run_piped([*sqlfeast_command(), "materialize-incremental", "now"], root)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    assert "\r" not in piped.stdout and "%|" not in piped.stdout
    assert re.search(r"^driver_hourly_stats: 50 rows \[.*\) -> 50 written", piped.stdout, re.M), piped.stdout
    quiet = sqlfeast("materialize", "2020-01-01", "now", "--quiet", cwd=root)
    assert "%|" not in ok(quiet, "50 unchanged")
