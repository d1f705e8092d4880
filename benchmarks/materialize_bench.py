"""Online path benchmark against a real DynamoDB-compatible server (moto server by default).

Measures, on one server and the same data:
  1. raw boto3: BatchWriteItem of 25 pre-built items, N requests in flight (the ceiling);
  2. sqlfeast materialize of the same rows (warehouse query + Arrow -> items + writes) into an
     empty table, then again over the rows already online (the newer-wins read pass, nothing to
     write), then with newer rows (read pass + writes), and with `newer_wins: conditional`;
  3. get_online_features for 1 and 100 entities x 2 views: p50/p99 against one raw BatchGetItem,
     and against Feast's (--feast-python), in alternating rounds (--read-rounds, medians).

    python benchmarks/materialize_bench.py [--rows 200000] [--concurrency 8] [--endpoint URL]
                                           [--reads-only] [--feast-python /work/feast-venv/bin/python]

Prints a Markdown table (copied into docs/benchmarks.md). Numbers vary by machine; the ratios are
what matters.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
# Rows are stamped an hour before the run: inside every view's ttl, so nothing is OUTSIDE_MAX_AGE
# when read and the server's TTL sweeper has nothing to delete while the writers are timed (rows
# stamped in the past expire at once, and DynamoDB Local then spends CPU deleting them).
ANCHOR = datetime.utcnow().replace(microsecond=0) - timedelta(hours=2)
START, END = "2000-01-01", (ANCHOR + timedelta(days=1)).isoformat()


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(binary if binary.exists() else "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def make_project(
    root: Path, name: str, endpoint: str, rows: int, concurrency: int, shift: timedelta, newer_wins: str = "lease"
) -> Path:
    if not root.exists():
        for part in ("models", "macros"):
            shutil.copytree(REPO / part, root / part)
        (root / "data").mkdir()
    (root / "sqlfeast_project.yml").write_text(
        (REPO / "sqlfeast_project.yml").read_text().replace("name: demo", f"name: {name}")
    )
    online = {
        "type": "dynamodb",
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "concurrency": concurrency,
        "newer_wins": newer_wins,
    }
    profiles = {
        "demo": {
            "target": "ddb",
            "outputs": {
                "ddb": {"type": "duckdb", "path": "target/dev.duckdb", "schema": "main", "online_store": online}
            },
        }
    }
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    t = ANCHOR + shift
    ids = pa.array(range(1, rows + 1), pa.int64())
    stamps = pa.array([t] * rows, pa.timestamp("us"))
    conv = pa.array([(i % 1000) / 1000 for i in range(rows)], pa.float64())
    pq.write_table(
        pa.table(
            {
                "driver_id": ids,
                "event_timestamp": stamps,
                "created": stamps,
                "conv_rate": conv,
                "acc_rate": conv,
                "avg_daily_trips": pa.array([i % 500 for i in range(rows)], pa.int64()),
            }
        ),
        root / "data" / "driver_stats.parquet",
    )
    n = 1000
    cids = pa.array(range(1, n + 1), pa.int64())
    cst = pa.array([t] * n, pa.timestamp("us"))
    val = pa.array([float(i) for i in range(n)], pa.float64())
    pq.write_table(
        pa.table(
            {
                "customer_id": cids,
                "event_timestamp": cst,
                "created": cst,
                "current_balance": val,
                "avg_passenger_count": val,
                "lifetime_trip_count": pa.array(range(n), pa.int64()),
            }
        ),
        root / "data" / "customer_profile.parquet",
    )
    return root


def raw_batch_write(endpoint: str, rows: int, concurrency: int) -> float:
    """The ceiling: pre-built items, BatchWriteItem of 25, `concurrency` requests in flight."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=concurrency * 2 + 4, retries={"total_max_attempts": 1}),
    )
    table = f"raw-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "entity_key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "entity_key", "KeyType": "HASH"}],
    )
    ts = str(int(ANCHOR.replace(tzinfo=UTC).timestamp() * 1e6))
    expires = str(int(ANCHOR.replace(tzinfo=UTC).timestamp()) + 2 * 86400)
    items = [
        {
            "entity_key": {"S": f"driver_id={i}"},
            "_event_ts": {"N": ts},
            "_created_ts": {"N": ts},
            "conv_rate": {"N": repr((i % 1000) / 1000)},
            "acc_rate": {"N": repr((i % 1000) / 1000)},
            "avg_daily_trips": {"N": str(i % 500)},
            "_ttl": {"N": expires},
        }
        for i in range(1, rows + 1)
    ]
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(chunk):
        requests = [{"PutRequest": {"Item": it}} for it in chunk]
        while requests:
            requests = (
                client.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {}).get(table, [])
            )

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(write, chunks))
    return rows / (time.perf_counter() - began)


def run_feast(args, endpoint: str, root: Path, feast_work: Path, reads: bool) -> dict | None:
    """Feast in its own interpreter: materialize `root`'s data into fresh tables (reads=False), or
    time reads of the tables materialized earlier in `feast_work` (reads=True)."""
    out = subprocess.run(
        [
            args.feast_python,
            str(Path(__file__).with_name("feast_bench.py")),
            "--endpoint",
            endpoint,
            "--drivers",
            str(root / "data" / "driver_stats.parquet"),
            "--customers",
            str(root / "data" / "customer_profile.parquet"),
            "--iterations",
            str(args.iterations),
            "--end",
            END,
            "--work",
            str(feast_work),
            "--reads-only" if reads else "--skip-reads",
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        print("Feast run failed:", out.stderr[-2000:])
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def sqlfeast_materialize(root: Path, view: str = "driver_hourly_stats") -> tuple[float, object]:
    from sqlfeast.feature_store import FeatureStore

    os.chdir(root)
    with FeatureStore(root) as fs:
        began = time.perf_counter()
        [result] = fs.materialize(START, END, views=[view], quiet=True)
        return result.rows / (time.perf_counter() - began), result


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def read_latency(root: Path, endpoint: str, iterations: int) -> list[tuple[str, float, float, float, float]]:
    from sqlfeast.feature_store import FeatureStore
    from sqlfeast.online.client import OnlineClient

    os.chdir(root)
    out = []
    with FeatureStore(root) as fs:
        client = OnlineClient(fs.online_store, fs.registry)
        raw = boto3.client(
            "dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=Config(retries={"total_max_attempts": 1})
        )
        dt, cp = fs.online_store.table_name("driver_hourly_stats"), fs.online_store.table_name("customer_profile")
        features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "customer_profile:current_balance"]
        for n in (1, 100):
            rows = [{"driver_id": i, "customer_id": i} for i in range(1, n + 1)]
            # One raw BatchGetItem of the same keys may carry at most 100 keys: 2 x 50 for 100 rows,
            # i.e. the raw baseline makes the same number of round trips as sqlfeast.
            half = max(1, min(n, 50)) if n > 1 else 1

            def raw_call(n=n, half=half):
                for start in range(0, n, half):
                    ids = range(start + 1, min(n, start + half) + 1)
                    raw.batch_get_item(
                        RequestItems={
                            dt: {
                                "Keys": [{"entity_key": {"S": f"driver_id={i}"}} for i in ids],
                                "ProjectionExpression": "#k, #e, #c, #a, #b",
                                "ExpressionAttributeNames": {
                                    "#k": "entity_key",
                                    "#e": "_event_ts",
                                    "#c": "_created_ts",
                                    "#a": "conv_rate",
                                    "#b": "acc_rate",
                                },
                            },
                            cp: {
                                "Keys": [{"entity_key": {"S": f"customer_id={i}"}} for i in ids],
                                "ProjectionExpression": "#k, #e, #c, #a",
                                "ExpressionAttributeNames": {
                                    "#k": "entity_key",
                                    "#e": "_event_ts",
                                    "#c": "_created_ts",
                                    "#a": "current_balance",
                                },
                            },
                        }
                    )

            def ours(rows=rows):
                client.get_online_features(features, rows).to_dict()

            got = client.get_online_features(features, rows).to_dict()
            if None in got["conv_rate"] or None in got["current_balance"]:  # reads must find every value
                raise SystemExit(f"sqlfeast online store is missing rows: {got}")
            for fn in (raw_call, ours):  # warm up connections
                for _ in range(5):
                    fn()
            timings = {"raw": [], "sqlfeast": []}
            for _ in range(iterations):  # interleaved, so drift hits both alike
                for name, fn in (("raw", raw_call), ("sqlfeast", ours)):
                    began = time.perf_counter()
                    fn()
                    timings[name].append((time.perf_counter() - began) * 1000)
            r50, r99 = percentiles(timings["raw"])
            s50, s99 = percentiles(timings["sqlfeast"])
            out.append((f"{n} entit{'y' if n == 1 else 'ies'} x 2 views", r50, r99, s50, s99))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--endpoint", default=None, help="an already running server (default: start moto)")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--conditional-rows", type=int, default=20_000)
    parser.add_argument(
        "--write-rounds",
        type=int,
        default=3,
        help="rounds of raw / sqlfeast / Feast materializations into fresh tables; medians reported",
    )
    parser.add_argument(
        "--read-rounds",
        type=int,
        default=3,
        help="rounds of read timings, alternating sqlfeast (with raw) and Feast; medians reported",
    )
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="only materialize once (into an empty table), then the read latencies (and Feast's)",
    )
    parser.add_argument(
        "--feast-python",
        default=None,
        help="interpreter of a venv with Feast (e.g. /work/feast-venv/bin/python) to compare with",
    )
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    proc = None
    endpoint = args.endpoint
    if endpoint is None:
        proc, endpoint = start_moto()
    work = Path(tempfile.mkdtemp(prefix="sqlfeast-bench-"))
    try:
        from sqlfeast.feature_store import FeatureStore

        name = "bench" + uuid.uuid4().hex[:6]
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        raw = same = newer = cond = cond_rows = feast = None
        # Writes in alternating rounds: raw loop, sqlfeast, Feast, each into fresh tables; medians
        # over the rounds (one run's ratio swings with the server's state: JIT, GC, heap).
        raws, freshes, feast_rates = [], [], []
        for round_no in range(1 if args.reads_only else args.write_rounds):
            if not args.reads_only:
                raws.append(raw_batch_write(endpoint, args.rows, args.concurrency))
            root = make_project(
                work / f"p{round_no}", f"{name}{round_no}", endpoint, args.rows, args.concurrency, timedelta(0)
            )
            os.chdir(root)
            with FeatureStore(root) as fs:
                fs.apply()
            freshes.append(sqlfeast_materialize(root)[0])
            line = f"writes, round {round_no + 1}: sqlfeast {freshes[-1]:,.0f} rows/s"
            if raws:
                line += f", raw {raws[-1]:,.0f}"
            if args.feast_python:
                feast = run_feast(args, endpoint, root, work / f"feast{round_no}", reads=False)
                if feast:
                    feast_rates.append(feast["rows_per_second"])
                    line += f", Feast {feast_rates[-1]:,.0f}"
            print(line, flush=True)
        root = work / "p0"  # the first round's project serves the rest of the run
        name = f"{name}0"
        os.chdir(root)
        raw = statistics.median(raws) if raws else None
        fresh = statistics.median(freshes)
        vs_raw = f" ({fresh / raw:.2f}x raw)" if raw else ""
        print(f"sqlfeast, empty table (median):   {fresh:10,.0f} rows/s{vs_raw}", flush=True)
        sqlfeast_materialize(root, "customer_profile")  # both views hold the keys the reads ask for
        if not args.reads_only:
            same, res = sqlfeast_materialize(root)
            print(
                f"sqlfeast, same rows again:        {same:10,.0f} rows/s (read pass only: {res.skipped} skipped)",
                flush=True,
            )
            make_project(root, name, endpoint, args.rows, args.concurrency, timedelta(hours=1))
            newer, res = sqlfeast_materialize(root)
            print(
                f"sqlfeast, newer rows (read+write):{newer:10,.0f} rows/s ({newer / raw:.2f}x raw, {res.written} written)",
                flush=True,
            )
            cond_rows = min(args.rows, args.conditional_rows)  # one request per row: a subset is enough
            cond_root = make_project(
                work / "c", name + "c", endpoint, cond_rows, args.concurrency, timedelta(0), newer_wins="conditional"
            )
            os.chdir(cond_root)
            with FeatureStore(cond_root) as fs:
                fs.apply()
            cond, _ = sqlfeast_materialize(cond_root)
            print(f"sqlfeast, newer_wins=conditional: {cond:10,.0f} rows/s ({cond / raw:.2f}x raw)", flush=True)
        # Reads in alternating rounds (sqlfeast + raw interleaved call by call, then Feast in its own
        # process), so all three see the server at the same moments; medians over the rounds.
        rounds, feast_rounds = [], []
        for round_no in range(args.read_rounds):
            rounds.append(read_latency(root, endpoint, args.iterations))
            print(
                f"reads, round {round_no + 1}: "
                + "; ".join(
                    f"{label}: raw {r50:.2f}/{r99:.2f} ms, sqlfeast {s50:.2f}/{s99:.2f} ms (p50/p99)"
                    for label, r50, r99, s50, s99 in rounds[-1]
                ),
                flush=True,
            )
            if feast_rates:
                result = run_feast(args, endpoint, root, work / "feast0", reads=True)
                if result is None:
                    break
                feast_rounds.append(result["latency_ms"])
                print(
                    f"reads, round {round_no + 1}: Feast "
                    + "; ".join(f"{n}: {p50:.2f}/{p99:.2f} ms" for n, (p50, p99) in result["latency_ms"].items()),
                    flush=True,
                )
        latency = [
            (label, *(statistics.median(r[i][k] for r in rounds) for k in range(1, 5)))
            for i, (label, *_) in enumerate(rounds[0])
        ]
        if feast_rates:
            feast = {"rows_per_second": statistics.median(feast_rates)}
            if feast_rounds:
                feast["latency_ms"] = {
                    n: [statistics.median(r[n][k] for r in feast_rounds) for k in (0, 1)] for n in ("1", "100")
                }
        else:
            feast = None
        print()
        print(
            f"| materialize {args.rows:,} rows, concurrency {args.concurrency} (empty table, raw, Feast: "
            f"median of {len(freshes)} rounds) | rows/s | vs raw |"
        )
        print("|---|---:|---:|")
        for label, value in [
            ("raw boto3 BatchWriteItem loop, pre-built items", raw),
            ("sqlfeast materialize, empty table", fresh),
            ("sqlfeast materialize, same rows again (read pass, 0 writes)", same),
            ("sqlfeast materialize, newer rows (read pass + writes)", newer),
            (f"sqlfeast materialize, newer_wins: conditional (PutItem per row; {cond_rows or 0:,} rows)", cond),
        ]:
            if value is not None:
                print(f"| {label} | {value:,.0f} | {f'{value / raw:.2f}x' if raw else '-'} |")
        if feast:
            f = feast["rows_per_second"]
            print(f"| Feast materialize into its DynamoDB store | {f:,.0f} | {f'{f / raw:.2f}x' if raw else '-'} |")
            print(
                f"\nsqlfeast (empty table) vs Feast: {fresh / f:.1f}x (medians); per round: "
                + ", ".join(f"{a / b:.1f}x" for a, b in zip(freshes, feast_rates))
            )
        print()
        print(f"Reads: median of {len(rounds)} rounds' p50 and p99 ({args.iterations} calls a round).")
        print(
            "| get_online_features | raw p50 ms | raw p99 ms | sqlfeast p50 ms | sqlfeast p99 ms | p50 ratio | p99 ratio |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, r50, r99, s50, s99 in latency:
            print(f"| {label} | {r50:.2f} | {r99:.2f} | {s50:.2f} | {s99:.2f} | {s50 / r50:.2f}x | {s99 / r99:.2f}x |")
        if feast and "latency_ms" in feast:
            print()
            print(
                "| get_online_features | Feast p50 ms | Feast p99 ms | sqlfeast p50 ms | sqlfeast p99 ms | Feast / sqlfeast p50 |"
            )
            print("|---|---:|---:|---:|---:|---:|")
            for (label, _, _, s50, s99), n in zip(latency, ("1", "100")):
                f50, f99 = feast["latency_ms"][n]
                print(f"| {label} | {f50:.2f} | {f99:.2f} | {s50:.2f} | {s99:.2f} | {f50 / s50:.2f}x |")
        print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        os.chdir(REPO)
        shutil.rmtree(work, ignore_errors=True)
        if proc is not None:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
