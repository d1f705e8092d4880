"""Pushes racing a materialization never lose: an acknowledged push is never replaced by an
older warehouse row, into an empty table (no read pass) or a filled one (read pass), in lease
mode (pushes journaled, re-applied after the last bulk write) and with ``newer_wins:
conditional``, on moto and on AWS DynamoDB Local. moto runs one request at a time here (moto_one_at_a_time.py:
its conditional PutItem is not atomic under concurrent requests, DynamoDB's is).

The materializing writer (``bulk_writer(unique_keys=True)``, what ``materialize`` writes through)
and the pushers are separate store objects, as a `sqlfeast materialize` process and a feature
server are. The warehouse rows go in key order in batches, and every key is pushed once with a
newer row through the push path (``write_online`` of a push source, a quarter batch per request,
parallel pushers) while the bulk writer is open: every other key of a batch is pushed, and
acknowledged, while the batch before it is written and before its own older bulk row is handed
over (an empty table's blind bulk write would replace it); the other keys are pushed right after
the batch is handed over, racing its queued writes (a read pass done before the push, then the
older write, would replace it). Before the next batch, the pushes of the batch before last must be
acknowledged, so all but the last two batches of pushes are acknowledged while the bulk writer
is still writing. At the end every key must hold its pushed row.

A push is one conditional PutItem per row on both servers (moto's TransactWriteItems copies the
whole table per call and its PartiQL reads every table per statement, so neither batches
conditional writes there), so the pushed count sets this file's run time. SQLFEAST_RACE_PUSHES
sets it (entities per case): a number for every case (default 1,000), then optionally
``<part of a case id>=<number>`` entries, the longest part found in the case's id winning, e.g.
``SQLFEAST_RACE_PUSHES=1000,lease=40000,moto-lease=10000`` (case ids: ``moto-lease-empty_table``,
``dynamodb_local-conditional-filled_table``, ...). .ci/run races the lease-mode cases at full size.
"""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from sqlfeast.core.spec import PushSource
from sqlfeast.offline.push import write_online
from sqlfeast.online.base import ReadRequest
from sqlfeast.online.dynamodb import JOURNAL_ENTRY_BYTES, DynamoDBOnlineStore, _journal_blobs, _journal_rows

from .conftest import MotoServer, dynamodb_settings
from .helpers import HOUR, T0, registry_of, stats_rows, stats_view


def pushes_for(case: str, spec: str | None = None) -> int:
    """Entities pushed in the case `case` under SQLFEAST_RACE_PUSHES (see the module docstring).

    >>> pushes_for("moto-lease-empty_table", "1000,lease=5,moto-lease=40000")
    40000
    >>> pushes_for("dynamodb_local-conditional-filled_table", "1000,lease=40000")
    1000
    """
    spec = os.environ.get("SQLFEAST_RACE_PUSHES", "1000") if spec is None else spec
    count, best = 1000, -1
    for part in filter(None, (p.strip() for p in spec.split(","))):
        prefix, _, number = part.rpartition("=")
        if prefix in case and len(prefix) > best:
            count, best = int(number), len(prefix)
    return count


def batch_of(pushes: int) -> int:
    """Warehouse rows per bulk batch: a twentieth of the pushed entities, at least 100."""
    return max(100, pushes // 20)


@pytest.fixture(scope="module")
def moto_one_at_a_time_endpoint():
    """A moto server handling one request at a time (see moto_one_at_a_time.py)."""
    server = MotoServer(one_at_a_time=True).start()
    yield server.endpoint
    server.stop()


@pytest.fixture(params=["moto", "dynamodb_local"])
def race_server(request) -> str:
    """moto (one request at a time: its conditional writes are atomic then), then DynamoDB Local."""
    if request.param == "moto":
        return request.getfixturevalue("moto_one_at_a_time_endpoint")
    return request.getfixturevalue("dynamodb_local_endpoint")


MODES = [("lease", False), ("lease", True), ("conditional", False), ("conditional", True)]


def _push_source(view) -> PushSource:
    schema = {"driver_id": "bigint", "event_timestamp": "timestamp", "created": "timestamp"}
    schema.update({f.name: f.type for f in view.features})
    return PushSource("driver_stats_push", schema, [view.name])


def _race(endpoint: str, project: str, newer_wins: str, filled: bool, pushes: int) -> tuple[int, int, int]:
    """Returns (stale keys, pushed rows acknowledged while the bulk writer was open, journaled
    rows the bulk writer read back)."""
    batch = batch_of(pushes)
    push_rows = max(25, batch // 4)  # rows per push request
    view = stats_view()
    source = _push_source(view)
    registry = registry_of(project, view)
    registry.push_sources[source.name] = source
    settings = dynamodb_settings(endpoint, concurrency=8, newer_wins=newer_wins)
    materializer = DynamoDBOnlineStore(project, settings)
    pusher = DynamoDBOnlineStore(project, {**settings, "concurrency": 16})
    materializer.apply(registry)
    ids = list(range(1, pushes + 1))

    def push(keys: list[int]) -> int:
        result = write_online(pusher, registry, source, stats_rows(keys, T0 + 2 * HOUR, 2.0))
        return result[view.name]["written"] + result[view.name]["skipped"]

    try:
        if filled:  # an earlier materialization's rows (written in lease mode: batches, fast)
            filler = DynamoDBOnlineStore(project, {**settings, "newer_wins": "lease"})
            with filler.bulk_writer(view, unique_keys=True) as writer:
                for i in range(0, len(ids), 5_000):
                    writer.write(stats_rows(ids[i : i + 5_000], T0, 0.5))
            filler.close()
        acknowledged_during = 0
        pending: list[list] = []
        with ThreadPoolExecutor(8) as pool:
            with materializer.bulk_writer(view, unique_keys=True) as writer:
                parts = [ids[i : i + batch] for i in range(0, len(ids), batch)]

                def pushes_of(keys: list[int]) -> list:
                    return [pool.submit(push, keys[j : j + push_rows]) for j in range(0, len(keys), push_rows)]

                early = pushes_of(parts[0][::2])
                for n, part in enumerate(parts):
                    # Half the keys were pushed (and acknowledged) before their older bulk rows are
                    # handed over; the other half is pushed right after, racing the queued writes.
                    acknowledged_during += sum(future.result() for future in early)
                    writer.write(stats_rows(part, T0 + HOUR, 1.0))  # the warehouse's older row
                    pending.append(pushes_of(part[1::2]))
                    early = pushes_of(parts[n + 1][::2]) if n + 1 < len(parts) else []
                    if len(pending) > 2:
                        acknowledged_during += sum(future.result() for future in pending.pop(0))
            replayed = getattr(writer, "replayed", 0)
            for futures in pending:
                for future in futures:
                    future.result()
        found = materializer.read([ReadRequest(view, [f"driver_id={i}" for i in ids], ["conv_rate"])])[0]
        pushed_ts = int((T0 + 2 * HOUR).timestamp()) * 1_000_000
        stale = sum(
            1
            for i in ids
            if found[f"driver_id={i}"].event_ts != pushed_ts or found[f"driver_id={i}"].values["conv_rate"] != 2.0
        )
        return stale, acknowledged_during, replayed
    finally:
        materializer.teardown(registry)
        materializer.close()
        pusher.close()


@pytest.mark.run_first  # minutes per case at full size
@pytest.mark.parametrize(
    ("newer_wins", "filled"), MODES, ids=[f"{mode}-{'filled' if f else 'empty'}_table" for mode, f in MODES]
)
def test_no_push_is_lost_to_a_racing_materialization(request, race_server, unique_project, newer_wins, filled):
    pushes = pushes_for(request.node.callspec.id)
    stale, during, replayed = _race(race_server, unique_project, newer_wins, filled, pushes)
    assert during >= pushes - 2 * batch_of(pushes)  # the pushes really raced the bulk writes
    if newer_wins == "lease":
        assert replayed > 0  # the bulk writer read journaled pushes back after its last write
    assert stale == 0, f"{stale} of {pushes} pushed entities ended older than the truth"


def test_a_push_is_one_journal_entry_and_never_waits_for_the_lease(dynamodb_server, unique_project):
    """A push of 200 rows while a bulk writer holds the view's lease returns at once (a push that
    waited for the lease would give up after lease_wait_seconds with "another writer"), is
    journaled as one entry, and the bulk writer's replay reads all 200 rows back."""
    view = stats_view()
    settings = dynamodb_settings(dynamodb_server, lease_wait_seconds=1)
    materializer = DynamoDBOnlineStore(unique_project, settings)
    pusher = DynamoDBOnlineStore(unique_project, settings)
    materializer.apply(registry_of(unique_project, view))
    try:
        with materializer.bulk_writer(view, unique_keys=True) as writer:
            writer.write(stats_rows(list(range(1, 201)), T0 + HOUR, 1.0))
            result = pusher.write_rows(view, stats_rows(list(range(1, 201)), T0 + 2 * HOUR, 2.0))
            entries = pusher.request(
                "Query",
                {
                    "TableName": pusher.journal_table,
                    "ConsistentRead": True,
                    "KeyConditionExpression": "#v = :v",
                    "ExpressionAttributeNames": {"#v": "view"},
                    "ExpressionAttributeValues": {":v": {"S": view.name}},
                },
            )["Items"]
        assert result.written + result.skipped == 200
        assert len(entries) == 1
        assert writer.replayed == 200
        found = materializer.read([ReadRequest(view, [f"driver_id={i}" for i in range(1, 201)], ["conv_rate"])])[0]
        assert {row.values["conv_rate"] for row in found.values()} == {2.0}
    finally:
        materializer.teardown(registry_of(unique_project, view))
        materializer.close()
        pusher.close()


def test_journal_entries_split_to_fit_an_item():
    """Rows too large for one journal entry are split in halves until every entry fits."""
    items = [{"entity_key": {"S": f"driver_id={i}"}, "blob": {"B": os.urandom(2_000)}} for i in range(400)]
    blobs = _journal_blobs(items)
    assert len(blobs) > 1
    assert all(len(b) <= JOURNAL_ENTRY_BYTES for b in blobs)
    rows = [r for b in blobs for r in _journal_rows({"rows": {"B": base64.b64encode(b).decode()}})]
    assert [r["entity_key"]["S"] for r in rows] == [f"driver_id={i}" for i in range(400)]
    assert base64.b64decode(rows[7]["blob"]["B"]) == items[7]["blob"]["B"]
