"""Feast's side of the compatibility suite: run by the interpreter of a venv with Feast installed.

    python feast_sdk_script.py --work DIR --drivers driver_stats.parquet --customers customer_profile.parquet \
        --sqlfeast http://127.0.0.1:PORT [--feast-serve]

Builds Feast repos whose definitions mirror the example project (entity driver and customer, feature
views driver_hourly_stats and customer_profile, feature service driver_activity_v1, push source
driver_stats_push) on the same parquet files, and a view `ghost_view` that only Feast's registry
has. Each client repo has `online_store: {type: remote, path: URL}`. With --feast-serve it also
materializes into Feast's own SQLite store and starts `feast serve` on it, so the same calls go
to both servers. Runs reads, typed-error checks and writes through Feast's SDK and prints one
JSON document: {"sqlfeast": {...}, "feast": {...}} with each call's outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def definitions(drivers: str, customers: str):
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
    from feast.types import Float64, Int64
    from feast.value_type import ValueType

    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    driver_file = FileSource(
        name="driver_stats", path=drivers, timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    push = PushSource(name="driver_stats_push", batch_source=driver_file)
    driver_fields = [
        Field(name="conv_rate", dtype=Float64),
        Field(name="acc_rate", dtype=Float64),
        Field(name="avg_daily_trips", dtype=Int64),
    ]
    drivers_view = FeatureView(
        name="driver_hourly_stats",
        entities=[driver],
        ttl=timedelta(days=2),
        schema=driver_fields,
        source=push,
        online=True,
        tags={"team": "drivers"},
    )
    customers_view = FeatureView(
        name="customer_profile",
        entities=[customer],
        ttl=timedelta(0),
        online=True,
        tags={"team": "customers"},
        schema=[
            Field(name="current_balance", dtype=Float64),
            Field(name="avg_passenger_count", dtype=Float64),
            Field(name="lifetime_trip_count", dtype=Int64),
        ],
        source=FileSource(
            name="customer_profile_file",
            path=customers,
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
    )
    ghost = FeatureView(
        name="ghost_view",
        entities=[driver],
        ttl=timedelta(days=2),
        schema=[Field(name="conv_rate", dtype=Float64)],
        source=driver_file,
        online=True,
    )
    service = FeatureService(
        name="driver_activity_v1", features=[drivers_view[["conv_rate", "acc_rate"]], customers_view]
    )
    return [driver, customer, driver_file, push, drivers_view, customers_view, ghost, service]


def write_repo(root: Path, project: str, online_store: str, token_env: str | None = None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    # Feast's remote store sends "Authorization: Bearer <token>" with an oidc auth block that
    # names the token's environment variable (no identity provider is asked).
    auth = f"auth:\n  type: oidc\n  token_env_var: {token_env}\n" if token_env else ""
    (root / "feature_store.yaml").write_text(
        f"project: {project}\nregistry: {root / 'registry.db'}\nprovider: local\n"
        f"online_store: {online_store}\noffline_store:\n  type: file\nentity_key_serialization_version: 3\n{auth}"
    )


def client(root: Path, url: str, objects, token_env: str | None = None):
    from feast import FeatureStore

    write_repo(root, "sfcompat", f"{{type: remote, path: '{url}'}}", token_env)
    fs = FeatureStore(repo_path=str(root))
    fs.apply(objects)
    return fs


def outcome(fn):
    """{"ok": value} or {"error": class name, "message": text}."""
    try:
        return {"ok": fn()}
    except Exception as err:  # the class is what the suite compares
        return {"error": type(err).__name__, "module": type(err).__module__, "message": str(err)[:500]}


def frame_records(df) -> dict:
    return {str(k): [None if v != v else v for v in vals] for k, vals in df.to_dict("list").items()}


def calls(fs) -> dict:
    import pandas as pd
    from feast.data_source import PushMode

    one = [{"driver_id": 1001}]
    hundred = [{"driver_id": 1001 + (i % 60)} for i in range(100)]  # ids past 1050 are unknown
    feats = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]
    service = fs.get_feature_service("driver_activity_v1")
    out: dict = {}
    out["one"] = outcome(lambda: fs.get_online_features(feats, one).to_dict())
    out["hundred"] = outcome(lambda: fs.get_online_features(feats, hundred).to_dict())
    out["columnar"] = outcome(lambda: fs.get_online_features(feats, {"driver_id": [1004, 1005]}).to_dict())
    out["full_names"] = outcome(lambda: fs.get_online_features(feats, one, full_feature_names=True).to_dict())
    out["service"] = outcome(
        lambda: fs.get_online_features(
            service, [{"driver_id": 1002, "customer_id": 2003}, {"driver_id": 1003, "customer_id": 2999}]
        ).to_dict()
    )
    out["to_df"] = outcome(lambda: frame_records(fs.get_online_features(feats, hundred[:10]).to_df()))
    out["ghost_view"] = outcome(lambda: fs.get_online_features(["ghost_view:conv_rate"], one).to_dict())

    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)

    def rows(driver: int, conv: float) -> "pd.DataFrame":
        return pd.DataFrame(
            {
                "driver_id": [driver],
                "event_timestamp": [now],
                "created": [now],
                "conv_rate": [conv],
                "acc_rate": [conv / 2],
                "avg_daily_trips": [7],
            }
        )

    out["write"] = outcome(lambda: fs.write_to_online_store("driver_hourly_stats", rows(9001, 0.25)) or "done")
    out["push_online"] = outcome(lambda: fs.push("driver_stats_push", rows(9002, 0.5), to=PushMode.ONLINE) or "done")
    out["push_offline"] = outcome(lambda: fs.push("driver_stats_push", rows(9003, 0.75), to=PushMode.OFFLINE) or "done")
    out["push_both"] = outcome(
        lambda: fs.push("driver_stats_push", rows(9004, 0.125), to=PushMode.ONLINE_AND_OFFLINE) or "done"
    )
    out["after_writes"] = outcome(
        lambda: fs.get_online_features(feats, [{"driver_id": d} for d in (9001, 9002, 9003, 9004)]).to_dict()
    )
    return out


BAD_REQUESTS = [  # (name, path, raw body): client mistakes, for the status-code table
    (
        "unknown field",
        "/get-online-features",
        '{"featurs": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}',
    ),
    ("features not a list", "/get-online-features", '{"features": "x", "entities": {"driver_id": [1001]}}'),
    ("no entities", "/get-online-features", '{"features": ["driver_hourly_stats:conv_rate"]}'),
    (
        "unknown feature view",
        "/get-online-features",
        '{"features": ["nope:conv_rate"], "entities": {"driver_id": [1001]}}',
    ),
    (
        "unknown feature",
        "/get-online-features",
        '{"features": ["driver_hourly_stats:nope"], "entities": {"driver_id": [1001]}}',
    ),
    (
        "unknown feature service",
        "/get-online-features",
        '{"feature_service": "nope", "entities": {"driver_id": [1001]}}',
    ),
    (
        "wrong entity type",
        "/get-online-features",
        '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": ["abc"]}}',
    ),
    (
        "missing join key",
        "/get-online-features",
        '{"features": ["driver_hourly_stats:conv_rate"], "entities": {"customer_id": [2001]}}',
    ),
    ("malformed JSON", "/get-online-features", '{"features": ['),
    ("write: unknown view", "/write-to-online-store", '{"feature_view_name": "nope", "df": {"driver_id": [1]}}'),
    (
        "write: missing columns",
        "/write-to-online-store",
        '{"feature_view_name": "driver_hourly_stats", "df": {"driver_id": [1]}}',
    ),
    ("push: unknown source", "/push", '{"push_source_name": "nope", "df": {"driver_id": [1]}}'),
    ("materialize: bad timestamp", "/materialize", '{"start_ts": "yesterday", "end_ts": "x"}'),
]


def bad_requests(url: str, token: str | None = None) -> dict:
    import urllib.error

    out = {}
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    for name, path, body in BAD_REQUESTS:
        req = urllib.request.Request(url + path, data=body.encode(), method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                out[name] = r.status
        except urllib.error.HTTPError as err:
            out[name] = err.code
    return out


def start_feast_serve(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    feast = str(Path(sys.executable).parent / "feast")
    log = open(root / "serve.log", "ab")
    proc = subprocess.Popen([feast, "serve", "-h", "127.0.0.1", "-p", str(port)], cwd=root, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("feast serve exited: " + (root / "serve.log").read_text()[-2000:])
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("feast serve did not start: " + (root / "serve.log").read_text()[-2000:])


def copies(folder: Path, args) -> tuple[str, str]:
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    return (
        str(shutil.copy(args.drivers, folder / "driver_stats.parquet")),
        str(shutil.copy(args.customers, folder / "customer_profile.parquet")),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--drivers", required=True)
    parser.add_argument("--customers", required=True)
    parser.add_argument("--sqlfeast", required=True, help="URL of `sqlfeast serve`")
    parser.add_argument("--feast-serve", action="store_true", help="also run the calls against `feast serve`")
    parser.add_argument("--sqlfeast-token-env", default=None, help="variable holding sqlfeast's bearer token")
    args = parser.parse_args()
    os.environ.setdefault("FEAST_USAGE", "False")
    work = Path(args.work)
    stdout, sys.stdout = sys.stdout, sys.stderr  # Feast prints progress; stdout carries only the result
    result: dict = {}
    proc = None
    try:
        # Feast's SDK pushes offline by appending to the batch source's file: each side gets its
        # own copies, so one side's offline pushes never reach the other's materialization.
        token_env = args.sqlfeast_token_env
        objects = definitions(*copies(work / "sqlfeast_data", args))
        result["sqlfeast"] = calls(client(work / "to_sqlfeast", args.sqlfeast, objects, token_env))
        token = os.environ[token_env] if token_env else None
        result["sqlfeast_bad_requests"] = bad_requests(args.sqlfeast, token)
        if token_env:  # the same SDK without the token is turned away
            from feast import FeatureStore

            write_repo(work / "to_sqlfeast", "sfcompat", f"{{type: remote, path: '{args.sqlfeast}'}}")
            anonymous = FeatureStore(repo_path=str(work / "to_sqlfeast"))
            result["sqlfeast_without_token"] = outcome(
                lambda: anonymous.get_online_features(
                    features=["driver_hourly_stats:conv_rate"], entity_rows=[{"driver_id": 1001}]
                ).to_dict()
            )
        if args.feast_serve:
            from feast import FeatureStore

            objects = definitions(*copies(work / "feast_data", args))
            server_root = work / "feast_server"
            write_repo(server_root, "sfcompat", f"{{type: sqlite, path: '{server_root / 'online.db'}'}}")
            store = FeatureStore(repo_path=str(server_root))
            store.apply([o for o in objects if getattr(o, "name", "") != "ghost_view"])  # Feast's client only
            now = datetime.now(UTC).replace(tzinfo=None)
            store.materialize(datetime(2020, 1, 1), now, feature_views=["driver_hourly_stats", "customer_profile"])
            proc, url = start_feast_serve(server_root)
            result["feast"] = calls(client(work / "to_feast", url, objects))
            result["feast_bad_requests"] = bad_requests(url)
    except Exception:
        result["crash"] = traceback.format_exc()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    sys.stdout = stdout
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
