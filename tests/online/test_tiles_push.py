"""Pushes into online aggregation views: folded in at read time, idempotent per (key, ts,
created), rows older than the materialized end left to the warehouse, and pushes racing
materializations lose nothing and count nothing twice; on SQLite, moto and DynamoDB Local."""

from __future__ import annotations

import datetime as dt
import random
import threading

from sqlfeast.core.spec import PushSource
from sqlfeast.offline.push import write_online
from tests.online.tiles_helpers import (
    BASE,
    HOUR,
    TileStore,
    aggregations,
    arrow_events,
    events,
    every_store,  # noqa: F401  (the online_store fixture)
    same,
    tile_view,
)

AGGS = aggregations((3600, 6 * 3600))
NAMES = [a.name for a in AGGS]


def source() -> PushSource:
    return PushSource(
        name="orders_push",
        schema={
            "k1": "bigint",
            "event_timestamp": "timestamp",
            "created": "timestamp",
            "amount": "double",
            "qty": "bigint",
            "store": "varchar",
        },
        feature_views=["orders"],
    )


def push(ts: TileStore, rows: list[dict]) -> dict:
    registry = ts.registry
    registry.push_sources = {"orders_push": source()}
    return write_online(ts.online, registry, source(), arrow_events(rows))["orders"]


def later_rows(seed: int, start: dt.datetime, n: int, keys: int = 6, span_hours: int = 3) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        ts = start + dt.timedelta(microseconds=rnd.randrange(span_hours * 3600 * 10**6))
        if i % 7 == 0:
            ts = start + HOUR * rnd.randrange(1, span_hours)  # on a boundary
        out.append(
            {
                "k1": rnd.randrange(keys),
                "event_timestamp": ts,
                "created": ts + dt.timedelta(microseconds=i),  # unique identities
                "amount": None if i % 9 == 0 else round(rnd.uniform(0, 100), 2),
                "qty": rnd.randrange(10),
                "store": f"s{rnd.randrange(25)}",
            }
        )
    return out


def check(ts: TileStore, at: dt.datetime, keys=range(8)) -> None:
    keys = list(keys)
    offline = ts.offline(keys, at, NAMES)
    online = ts.online_values(keys, at, NAMES).to_dict()
    for i, k in enumerate(keys):
        for name in NAMES:
            assert same(online[name][i], offline[i][name]), (k, at, name, online[name][i], offline[i][name])


def test_pushes_fold_in_idempotently_and_materialize_takes_over(online_store, tmp_path):
    ts = TileStore(tile_view(AGGS), events(seed=5, keys=6, rows=400, hours=30), online_store, tmp_path)
    end = BASE + 30 * HOUR + dt.timedelta(minutes=7)
    ts.materialize(end)
    pushed = later_rows(1, end, 60)
    first = push(ts, pushed)
    assert first["written"] == 60
    # A retry of the same push (and of half of it) counts nothing twice.
    again = push(ts, pushed)
    push(ts, pushed[:30])
    assert again["written"] == 0 and again["skipped"] == 60
    # A row older than the materialized end is the warehouse's to count: not folded in.
    stale = push(ts, [{**pushed[0], "event_timestamp": end - HOUR, "created": end - HOUR}])
    assert stale == {"written": 0, "skipped": 1}
    # Offline holds what was pushed (online_and_offline with the view reading its push table).
    ts.add_events(pushed)
    for hour in (31, 32, 33):
        check(ts, BASE + HOUR * hour)
    # A new materialization covers part of the pushed rows from the warehouse; the rest stay pushed.
    ts.materialize(end + 90 * dt.timedelta(minutes=1))
    for hour in (32, 33):
        check(ts, BASE + HOUR * hour)


def test_pushes_racing_materializations_lose_nothing_and_count_nothing_twice(online_store, tmp_path):
    ts = TileStore(tile_view(AGGS), events(seed=9, keys=6, rows=300, hours=30), online_store, tmp_path)
    end = BASE + 30 * HOUR + dt.timedelta(minutes=1)
    ts.materialize(end)
    pushed = later_rows(2, end, 240)
    errors: list[BaseException] = []
    stop = threading.Event()

    def materializing() -> None:
        try:
            for _ in range(6):  # bounded: a few full re-materializations at the same end
                if stop.is_set():
                    return
                ts.materialize(end)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    def pushing(part: list[dict]) -> None:
        try:
            for i in range(0, len(part), 8):
                push(ts, part[i : i + 8])
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=materializing)]
    threads += [threading.Thread(target=pushing, args=(pushed[i::3],)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    stop.set()
    assert not errors, errors
    ts.add_events(pushed)
    for hour in (31, 32, 33):
        check(ts, BASE + HOUR * hour)
