"""Push: validated rows, online newer-wins, offline rows visible to historical retrieval, idempotent."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from sqlfeast.core.naming import push_table_name
from sqlfeast.errors import PushError
from sqlfeast.feature_store import FeatureStore

from .conftest import make_project

SOURCE = "driver_stats_push"
NOW = datetime.utcnow().replace(microsecond=0) - timedelta(hours=1)  # inside the view's 2-day ttl


def row(driver: int, ts: datetime, conv: float, trips: int = 1) -> dict:
    return {
        "driver_id": driver,
        "event_timestamp": ts,
        "created": ts,
        "conv_rate": conv,
        "acc_rate": conv / 2,
        "avg_daily_trips": trips,
    }


@contextlib.contextmanager
def store(root):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with FeatureStore(root) as fs:
            yield fs
    finally:
        os.chdir(cwd)


@pytest.fixture
def project(tmp_path, moto):
    from sqlfeast.offline.push import ensure_push_tables

    root = make_project(tmp_path / "demo", moto.endpoint)
    with store(root) as fs:
        fs.apply()
        ensure_push_tables(fs.warehouse, fs.registry)
    return root


def online(fs, drivers, feature="conv_rate"):
    resp = fs.get_online_features([f"driver_hourly_stats:{feature}"], [{"driver_id": d} for d in drivers])
    return resp.to_dict()[feature], resp.statuses[feature]


def historical(fs, pairs):
    entity = pa.table(
        {
            "driver_id": pa.array([d for d, _ in pairs], pa.int64()),
            "event_timestamp": pa.array([t for _, t in pairs], pa.timestamp("us")),
        }
    )
    out = fs.get_historical_features(entity, ["driver_hourly_stats:conv_rate"]).to_arrow()
    return out.column("conv_rate").to_pylist()


def push_table_rows(fs) -> int:
    relation = fs.warehouse.relation(push_table_name(fs.name, SOURCE))
    return fs.warehouse.query_arrow(f"select count(*) from {relation}").column(0)[0].as_py()


def test_online_newer_wins(project):
    t1, t2, t3 = NOW - timedelta(minutes=30), NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)
    with store(project) as fs:
        r = fs.push(SOURCE, [row(7001, t2, 0.2)])
        assert r.online == {"driver_hourly_stats": {"written": 1, "skipped": 0}}
        r = fs.push(SOURCE, [row(7001, t1, 0.1)])  # older: must not replace the newer value
        assert r.online == {"driver_hourly_stats": {"written": 0, "skipped": 1}}
        assert online(fs, [7001]) == ([0.2], ["PRESENT"])
        fs.push(SOURCE, [row(7001, t3, 0.3), row(7002, t1, 0.7)])
        assert online(fs, [7001, 7002, 7003]) == ([0.3, 0.7, None], ["PRESENT", "PRESENT", "NOT_FOUND"])
        # One batch repeating a key: the newest row wins, whatever the order.
        fs.push(SOURCE, [row(7004, t3, 0.9), row(7004, t1, 0.8)])
        assert online(fs, [7004]) == ([0.9], ["PRESENT"])
        ts = fs.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 7004}]).event_timestamps
        assert ts["conv_rate"] == [t3]


def test_offline_rows_reach_historical_retrieval(project):
    t1 = NOW - timedelta(minutes=30)
    with store(project) as fs:
        assert historical(fs, [(7001, t1 + timedelta(hours=1))]) == [None]
        r = fs.push(SOURCE, [row(7001, t1, 0.25)], to="offline")
        assert r.offline_inserted == 1 and r.online == {}
        assert online(fs, [7001]) == ([None], ["NOT_FOUND"])  # offline only
        assert historical(
            fs, [(7001, t1 + timedelta(hours=1)), (7001, t1 - timedelta(hours=1)), (1001, datetime(2026, 1, 14, 12))]
        ) == [0.25, None, pytest.approx(historical(fs, [(1001, datetime(2026, 1, 14, 12))])[0])]


def test_pushing_twice_changes_nothing(project):
    rows = [
        row(7001, NOW - timedelta(minutes=5), 0.5),
        row(7002, NOW - timedelta(minutes=6), 0.6),
        row(7002, NOW - timedelta(minutes=6), 0.6),
    ]  # an exact duplicate inside the batch, too
    with store(project) as fs:
        first = fs.push(SOURCE, rows, to="online_and_offline")
        assert first.offline_inserted == 2
        # The exact duplicate is not newer than its twin: skipped, the same count on every store.
        assert first.online == {"driver_hourly_stats": {"written": 2, "skipped": 1}}
        count = push_table_rows(fs)
        before = (online(fs, [7001, 7002]), historical(fs, [(7001, NOW), (7002, NOW)]))
        second = fs.push(SOURCE, rows, to="online_and_offline")
        assert second.offline_inserted == 0
        assert second.online == {"driver_hourly_stats": {"written": 0, "skipped": 3}}
        assert push_table_rows(fs) == count == 2
        assert (online(fs, [7001, 7002]), historical(fs, [(7001, NOW), (7002, NOW)])) == before
        assert before == (([0.5, 0.6], ["PRESENT", "PRESENT"]), [0.5, 0.6])


def test_rows_in_every_shape(project):
    import pandas as pd

    ts = NOW - timedelta(minutes=1)
    rows = [row(7100 + i, ts, i / 10) for i in range(3)]
    shapes = {
        "list": rows,
        "dict": {k: [r[k] for r in rows] for k in rows[0]},
        "arrow": pa.Table.from_pylist(rows),
        "pandas": pd.DataFrame(rows),
    }
    with store(project) as fs:
        for name, shaped in shapes.items():
            first = fs.push(SOURCE, shaped, to="online_and_offline")
            assert first.rows == 3, name
        assert push_table_rows(fs) == 3  # every shape is the same rows
        assert online(fs, [7100, 7101, 7102])[0] == [0.0, 0.1, 0.2]


def good(**change):
    r = {
        "driver_id": 7200,
        "event_timestamp": (NOW - timedelta(minutes=1)).isoformat(),
        "created": None,
        "conv_rate": 0.5,
        "acc_rate": 0.2,
        "avg_daily_trips": 3,
    }
    r.update(change)
    return [{k: v for k, v in r.items() if v != "DROP"}]


@pytest.mark.parametrize(
    "rows, to, message",
    [
        (good(driver_id="abc"), "online", "column 'driver_id' must be bigint: row 0 has 'abc'"),
        (good(driver_id=7.5), "online", "column 'driver_id' must be bigint: row 0 has 7.5"),
        (good(conv_rate="high"), "online", "column 'conv_rate' must be double: row 0 has 'high'"),
        (
            good(event_timestamp="yesterday"),
            "online",
            "column 'event_timestamp' must be timestamp: row 0 has 'yesterday'",
        ),
        (good(driver_id=None), "online", "push source 'driver_stats_push': column 'driver_id' is null in 1 row(s)"),
        (
            good(event_timestamp=None),
            "online",
            "push source 'driver_stats_push': column 'event_timestamp' is null in 1 row(s)",
        ),
        (
            good(conv_rat=0.1),
            "online",
            "push source 'driver_stats_push' has no column 'conv_rat' (did you mean 'conv_rate'?)",
        ),
        (good(acc_rate="DROP"), "online", "push source 'driver_stats_push': rows lack column(s) acc_rate"),
        (
            good(),
            "onlin",
            "'to' must be one of online, offline, online_and_offline, not 'onlin' (did you mean 'online'?)",
        ),
        (
            "not rows",
            "online",
            "cannot push rows of type str (pass a pyarrow Table, a pandas DataFrame, a list of dicts or a dict of lists)",
        ),
        (
            {"driver_id": [1, 2], "event_timestamp": [NOW]},
            "online",
            "push source 'driver_stats_push': rows lack column(s) created, conv_rate, acc_rate, avg_daily_trips",
        ),
    ],
)
def test_bad_rows_are_refused_and_change_nothing(project, rows, to, message):
    with store(project) as fs:
        with pytest.raises(PushError) as err:
            fs.push(SOURCE, rows, to=to)
        assert err.value.render() == message
        assert online(fs, [7200]) == ([None], ["NOT_FOUND"])
        assert push_table_rows(fs) == 0


def test_unknown_push_source(project):
    with store(project) as fs:
        with pytest.raises(PushError) as err:
            fs.push("driver_stats_pushh", good())
        assert err.value.render() == "unknown push source 'driver_stats_pushh' (did you mean 'driver_stats_push'?)"


# -- over HTTP ------------------------------------------------------------------------------------
def http_body(rows: list[dict], to: str) -> dict:
    df = {k: [r[k].isoformat() if isinstance(r[k], datetime) else r[k] for r in rows] for k in rows[0]}
    return {"push_source_name": SOURCE, "df": df, "to": to}


def test_push_endpoint(served, http):
    t1, t2 = NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)
    body = http_body([row(8001, t2, 0.42), row(8002, t1, 0.24)], "online_and_offline")
    r = http.post("/push", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "push_source": SOURCE,
        "rows": 2,
        "offline_inserted": 2,
        "online": {"driver_hourly_stats": {"written": 2, "skipped": 0}},
    }
    again = http.post("/push", json=body).json()  # idempotent
    assert again["offline_inserted"] == 0 and again["online"]["driver_hourly_stats"] == {"written": 0, "skipped": 2}
    older = http.post("/push", json=http_body([row(8001, t1, 0.01)], "online")).json()  # newer-wins
    assert older["online"]["driver_hourly_stats"] == {"written": 0, "skipped": 1}

    got = http.post(
        "/get-online-features",
        json={"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [8001, 8002]}},
    ).json()
    assert got["results"][1]["values"] == [0.42, 0.24]
    assert got["results"][1]["event_timestamps"] == [t2.isoformat() + "Z", t1.isoformat() + "Z"]
    with store(served.root) as fs:  # the server holds the DuckDB file only while it pushes
        assert historical(fs, [(8001, NOW), (8002, NOW)]) == [0.42, 0.24]


@pytest.mark.parametrize(
    "body, status, message",
    [
        (
            {"push_source_name": "nope", "df": {"driver_id": [1]}},
            404,
            "unknown push source 'nope' (push sources: driver_stats_push)",
        ),
        (
            {"push_source_name": SOURCE, "df": {"driver_id": [1]}, "to": "both"},
            400,
            "'to' must be one of online, offline, online_and_offline, not 'both'",
        ),
        (
            {"push_source_name": SOURCE, "df": "x"},
            400,
            "'df' must be an object of column -> list of values (or a list of row objects)",
        ),
        ({"df": {"driver_id": [1]}}, 400, "'push_source_name' must be a push source's name"),
        ({"push_source_name": SOURCE, "dff": {}}, 400, "unknown field 'dff' (did you mean 'df'?)"),
        (
            {"push_source_name": SOURCE, "df": {"driver_id": [1]}},
            422,
            "push source 'driver_stats_push': rows lack column(s) event_timestamp, created, conv_rate, acc_rate, avg_daily_trips",
        ),
        (
            {
                "push_source_name": SOURCE,
                "df": {
                    "driver_id": [1, 2],
                    "event_timestamp": ["2026-01-01"],
                    "created": [None],
                    "conv_rate": [1.0],
                    "acc_rate": [1.0],
                    "avg_daily_trips": [1],
                },
            },
            422,
            "columns have different lengths: driver_id=2, event_timestamp=1, created=1, conv_rate=1, acc_rate=1, avg_daily_trips=1",
        ),
        (
            {
                "push_source_name": SOURCE,
                "df": {
                    "driver_id": ["x"],
                    "event_timestamp": ["2026-01-01"],
                    "created": [None],
                    "conv_rate": [1.0],
                    "acc_rate": [1.0],
                    "avg_daily_trips": [1],
                },
            },
            422,
            "column 'driver_id' must be bigint: row 0 has 'x'",
        ),
    ],
)
def test_push_endpoint_bad_input(http, body, status, message):
    r = http.post("/push", json=body)
    assert (r.status_code, r.json()["error"]) == (status, message)


def test_push_endpoint_busy_warehouse_is_503(served, http):
    """Another process holding the DuckDB file: a clear 503, and the push works once it is free."""
    body = http_body([row(8101, NOW - timedelta(minutes=3), 0.31)], "offline")
    with store(served.root) as fs:
        fs.warehouse.execute("select 1")  # this process now holds the file
        r = http.post("/push", json=body)
        assert r.status_code == 503
        assert r.json()["error"].startswith("warehouse unavailable: cannot open DuckDB database ")
    r = http.post("/push", json=body)
    assert r.status_code == 200 and r.json()["offline_inserted"] == 1
