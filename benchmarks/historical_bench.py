"""Historical retrieval benchmark: sqlfeast vs the fastest hand-written DuckDB query.

    python benchmarks/historical_bench.py                       # both sizes
    python benchmarks/historical_bench.py --sizes small --repeat 3

Sizes: small = 100k entity rows x 1M rows per view, large = 1M x 5M; two views (driver_stats with
a 2 day ttl, customer_profile without), three features each. Every measurement runs in a fresh
process (so peak RSS is that run's own) from the parquet files to an Arrow table in memory, with
DuckDB at the given --threads. Prints one JSON line per run and a summary; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"small": (100_000, 1_000_000), "large": (1_000_000, 5_000_000)}
DRIVER_FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
CUSTOMER_FEATURES = ["current_balance", "avg_passenger_count", "lifetime_trip_count"]
TTL_DRIVER = 2 * 86400


# -- the two implementations ------------------------------------------------------------------
def run_sqlfeast(data: Path, threads: int, strategy: str = "asof"):
    from sqlfeast.config import Target
    from sqlfeast.historical import get_historical_features
    from sqlfeast.registry import Registry
    from sqlfeast.spec import Feature, FeatureView
    from sqlfeast.templating import MacroLibrary
    from sqlfeast.warehouse import connect

    class Store:  # what get_historical_features needs from a FeatureStore
        pass

    target = Target(profile="b", name="b", type="duckdb", schema="main",
                    settings={"path": ":memory:", "threads": threads}, online_store={}, path="-")
    reg = Registry(project="bench")
    cols = {"event_timestamp": "timestamp", "created": "timestamp"}
    reg.feature_views["driver_stats"] = FeatureView(
        "driver_stats", ["driver"], ["driver_id"], "event_timestamp",
        [Feature(f, "double") for f in DRIVER_FEATURES], created_timestamp="created", ttl_seconds=TTL_DRIVER,
        sql={"duckdb": f"select * from read_parquet('{data / 'driver_stats.parquet'}')"}, columns=cols)
    reg.feature_views["customer_profile"] = FeatureView(
        "customer_profile", ["customer"], ["customer_id"], "event_timestamp",
        [Feature(f, "double") for f in CUSTOMER_FEATURES], created_timestamp="created",
        sql={"duckdb": f"select * from read_parquet('{data / 'customer_profile.parquet'}')"}, columns=cols)
    store = Store()
    store.registry, store.target = reg, target
    store.warehouse = connect(target, data)
    store.renderer = MacroLibrary.builtin().renderer("duckdb")
    features = [f"driver_stats:{f}" for f in DRIVER_FEATURES] + [f"customer_profile:{f}" for f in CUSTOMER_FEATURES]
    job = get_historical_features(store, str(data / "entities.parquet"), features, strategy=strategy)
    return job.to_arrow()


def hand_written_sql(data: Path, lo: str, hi: str) -> str:
    d, c, e = data / "driver_stats.parquet", data / "customer_profile.parquet", data / "entities.parquet"
    return f"""
    with d as (
      select driver_id, event_timestamp, {', '.join(DRIVER_FEATURES)}
      from read_parquet('{d}')
      where event_timestamp <= TIMESTAMP '{hi}' and event_timestamp >= TIMESTAMP '{lo}' - INTERVAL 2 DAY
      qualify row_number() over (partition by driver_id, event_timestamp order by created desc) = 1
    ), c as (
      select customer_id, event_timestamp, {', '.join(CUSTOMER_FEATURES)}
      from read_parquet('{c}')
      where event_timestamp <= TIMESTAMP '{hi}'
      qualify row_number() over (partition by customer_id, event_timestamp order by created desc) = 1
    )
    select e.driver_id, e.customer_id, e.event_timestamp, e.label,
           {', '.join(f'case when d.event_timestamp >= e.event_timestamp - INTERVAL 2 DAY then d.{f} end as {f}'
                      for f in DRIVER_FEATURES)},
           {', '.join(f'c.{f}' for f in CUSTOMER_FEATURES)}
    from read_parquet('{e}', file_row_number = true) e
    asof left join d on e.driver_id = d.driver_id and e.event_timestamp >= d.event_timestamp
    asof left join c on e.customer_id = c.customer_id and e.event_timestamp >= c.event_timestamp
    order by e.file_row_number
    """


def run_hand(data: Path, threads: int, strategy: str = ""):
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    lo, hi = con.execute(f"select min(event_timestamp), max(event_timestamp) "
                         f"from read_parquet('{data / 'entities.parquet'}')").fetchall()[0]
    return con.sql(hand_written_sql(data, str(lo), str(hi))).to_arrow_table()


IMPLS = {"sqlfeast": run_sqlfeast, "hand": run_hand}


def one(impl: str, data: Path, threads: int, strategy: str, check: str | None) -> dict:
    start = time.perf_counter()
    table = IMPLS[impl](data, threads, strategy)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if check:
        import pyarrow.parquet as pq

        pq.write_table(table, check)
    return {"impl": impl, "strategy": strategy, "rows": table.num_rows, "seconds": round(seconds, 3),
            "peak_mb": round(peak_mb)}


def spawn(impl: str, data: Path, threads: int, strategy: str = "asof", check: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--one", impl, "--data", str(data), "--threads", str(threads),
           "--strategy", strategy] + (["--check", check] if check else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900).stdout
    return json.loads(out.strip().splitlines()[-1])


def same_answer(a: str, b: str) -> bool:
    import pyarrow.parquet as pq

    return pq.read_table(a).equals(pq.read_table(b))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="small,large")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--strategies", default="asof", help="sqlfeast strategies to time, e.g. asof,window")
    parser.add_argument("--root", default="/tmp/sqlfeast_hist_bench")
    parser.add_argument("--one", default=None)
    parser.add_argument("--data", default=None)
    parser.add_argument("--strategy", default="asof")
    parser.add_argument("--check", default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, Path(args.data), args.threads, args.strategy, args.check)))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from historical_data import generate

    for size in args.sizes.split(","):
        entities, rows = SIZES[size]
        data = Path(args.root) / size
        if not (data / "entities.parquet").exists():
            generate(data, entities, rows)
        # The answers must agree before their times mean anything.
        spawn("hand", data, args.threads, check=str(data / "hand.parquet"))
        for strategy in args.strategies.split(","):
            spawn("sqlfeast", data, args.threads, strategy, check=str(data / f"sqlfeast_{strategy}.parquet"))
            print(json.dumps({"size": size, "strategy": strategy, "equal_to_hand":
                              same_answer(str(data / "hand.parquet"), str(data / f"sqlfeast_{strategy}.parquet"))}))
        best: dict[str, dict] = {}
        for _ in range(args.repeat):  # interleaved, best of N
            runs = [("hand", "")] + [("sqlfeast", s) for s in args.strategies.split(",")]
            for impl, strategy in runs:
                result = spawn(impl, data, args.threads, strategy or "asof")
                result["size"] = size
                print(json.dumps(result), flush=True)
                key = f"{impl}:{strategy}"
                if key not in best or result["seconds"] < best[key]["seconds"]:
                    best[key] = result
        hand = best["hand:"]["seconds"]
        for key, result in best.items():
            print(f"{size}: {key:18s} best {result['seconds']:7.3f}s  ratio {result['seconds'] / hand:5.2f}  "
                  f"peak {result['peak_mb']} MB", flush=True)


if __name__ == "__main__":
    main()
