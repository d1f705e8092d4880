"""Historical retrieval benchmark: sqlfeast vs the fastest hand-written DuckDB query.

    python benchmarks/historical_bench.py                       # both sizes
    python benchmarks/historical_bench.py --sizes small --repeat 3 --strategies asof,asof+single --hand struct

Sizes: small = 100k entity rows x 1M rows per view, large = 1M x 5M; two views (driver_stats with
a 2 day ttl, customer_profile without), three features each. --shapes picks data shapes
(historical_data.SHAPES: naive, tz, tz_naive_entities, aware_entities, date, no_created,
null_created): the same rows with TIMESTAMPTZ or DATE event times, created absent or partly NULL,
aware entity timestamps; the hand-written query is written for each shape. Every measurement runs in a fresh
process (so peak RSS is that run's own) from the parquet files to an Arrow table in memory, with
DuckDB at the given --threads. Prints one JSON line per run (with the 1-minute load average
around it) and a summary (median, best, ratio of medians to the first --hand query, the same for
the process's CPU time, which a busy machine disturbs less than wall time, peak); asserts nothing. `hand:struct` is the fastest hand-written query, `hand:total` the same with sqlfeast's whole tie-break
(the same answer on rows that tie on key, ts and created: the `dups` shape plants such rows),
`hand:dedup` the earlier one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

SIZES = {"tiny": (10_000, 100_000), "small": (100_000, 1_000_000), "large": (1_000_000, 5_000_000)}
DRIVER_FEATURES = ["conv_rate", "acc_rate", "avg_daily_trips"]
CUSTOMER_FEATURES = ["current_balance", "avg_passenger_count", "lifetime_trip_count"]
TTL_DRIVER = 2 * 86400
SHAPES_NAIVE = ("timestamp", "present", "naive")


# -- the two implementations ------------------------------------------------------------------
def shape_of(data: Path) -> tuple[str, str, str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from historical_data import SHAPES

    return SHAPES[data.name.rsplit("-", 1)[-1]]


def run_sqlfeast(data: Path, threads: int, strategy: str = "asof"):
    from sqlfeast.compile.templating import MacroLibrary
    from sqlfeast.core.registry import Registry
    from sqlfeast.core.spec import Feature, FeatureView
    from sqlfeast.offline.context import OfflineContext
    from sqlfeast.offline.historical import get_historical_features
    from sqlfeast.project.config import Target
    from sqlfeast.warehouse import connect

    target = Target(
        profile="b",
        name="b",
        type="duckdb",
        schema="main",
        settings={"path": ":memory:", "threads": threads},
        online_store={},
        path="-",
    )
    reg = Registry(project="bench")
    ts_type, created, _ = shape_of(data)
    cols = {"event_timestamp": ts_type}
    if created != "absent":
        cols["created"] = "timestamptz" if ts_type == "timestamptz" else "timestamp"
    created_column = None if created == "absent" else "created"
    reg.feature_views["driver_stats"] = FeatureView(
        "driver_stats",
        ["driver"],
        ["driver_id"],
        "event_timestamp",
        [Feature(f, "bigint" if f == "avg_daily_trips" else "double") for f in DRIVER_FEATURES],
        created_timestamp=created_column,
        ttl_seconds=TTL_DRIVER,
        sql={"duckdb": f"select * from read_parquet('{data / 'driver_stats.parquet'}')"},
        columns=cols,
    )
    reg.feature_views["customer_profile"] = FeatureView(
        "customer_profile",
        ["customer"],
        ["customer_id"],
        "event_timestamp",
        [Feature(f, "bigint" if f == "lifetime_trip_count" else "double") for f in CUSTOMER_FEATURES],
        created_timestamp=created_column,
        sql={"duckdb": f"select * from read_parquet('{data / 'customer_profile.parquet'}')"},
        columns=cols,
    )
    ctx = OfflineContext(
        connect(target, data), MacroLibrary.builtin().renderer("duckdb"), reg, settings=dict(target.settings)
    )
    features = [f"driver_stats:{f}" for f in DRIVER_FEATURES] + [f"customer_profile:{f}" for f in CUSTOMER_FEATURES]
    # "asof" joins each view in its own query (the DuckDB default); "asof+single" in one query.
    name, _, variant = strategy.partition("+")
    job = get_historical_features(
        ctx, str(data / "entities.parquet"), features, strategy=name, stage_views=variant != "single"
    )
    return job.to_arrow()


def hand_written_sql(data: Path, lo: datetime, hi: datetime, total: bool = False) -> str:
    """The fastest query we found: one ASOF join per view on the struct (ts, created).

    DuckDB orders structs field by field, so the ASOF join itself takes the latest ts and, among
    equal ts, the latest created, with no dedup pass; the ttl is checked after the join; the time
    range is pushed into the parquet scans as literals of the column's type. Per shape: an aware
    or naive entity time is converted to the feature column's type on the entity side (naive means
    UTC); a DATE row counts from its midnight; a NULL created ranks below every created
    (the 'n' field); without created the features break ties (greater first, NULL above).
    lo and hi are the entity times as naive UTC. With `total`, the struct carries sqlfeast's whole
    total order (ts, created with NULL last, then every feature, greater first): the same answer
    as sqlfeast's on rows that tie on (key, ts, created), which the shorter struct leaves to
    chance.
    """
    ts_type, created, entity_ts = shape_of(data)
    d, c, e = data / "driver_stats.parquet", data / "customer_profile.parquet", data / "entities.parquet"
    sql_type = {"timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ", "date": "DATE"}[ts_type]

    def literal(t: datetime) -> str:
        if ts_type == "date":
            return f"DATE '{t.date()}'"
        return f"{sql_type} '{t.isoformat(sep=' ')}{'+00' if ts_type == 'timestamptz' else ''}'"

    # the entity time in the feature column's type (probe) and as a naive UTC timestamp (ttl)
    naive = "timezone('UTC', e.event_timestamp)" if entity_ts == "aware" else "e.event_timestamp"
    probe = {
        "timestamp": naive,
        "timestamptz": "e.event_timestamp" if entity_ts == "aware" else f"timezone('UTC', {naive})",
        "date": f"CAST({naive} AS DATE)",
    }[ts_type]
    row_time = "CAST(d.o.t AS TIMESTAMP)" if ts_type == "date" else "d.o.t"
    ttl_bound = f"{probe} - INTERVAL 2 DAY" if ts_type == "timestamptz" else f"{naive} - INTERVAL 2 DAY"

    def order(features: list[str]) -> tuple[str, str]:
        if created in ("present", "duplicated") and not total:
            return (
                "{'t': event_timestamp, 'c': created}",
                f"{{'t': {probe}, 'c': CAST('infinity' AS {sql_type if ts_type == 'timestamptz' else 'TIMESTAMP'})}}",
            )
        types = {f: "BIGINT" if f in ("avg_daily_trips", "lifetime_trip_count") else "DOUBLE" for f in features}
        row = ", ".join(f"'{f}': {f}" for f in features)
        nulls = ", ".join(f"'{f}': CAST(NULL AS {types[f]})" for f in features)
        if created != "absent":  # rows that share ts and created (or a NULL one): the features decide
            return (
                f"{{'t': event_timestamp, 'n': created is not null, 'c': created, {row}}}",
                f"{{'t': {probe}, 'n': true, 'c': CAST('infinity' AS TIMESTAMP), {nulls}}}",
            )
        return f"{{'t': event_timestamp, {row}}}", f"{{'t': {probe}, {nulls}}}"

    (d_key, d_probe), (c_key, c_probe) = order(DRIVER_FEATURES), order(CUSTOMER_FEATURES)
    return f"""
    with d as (
      select driver_id, {d_key} as o, {", ".join(DRIVER_FEATURES)}
      from read_parquet('{d}')
      where event_timestamp <= {literal(hi)} and event_timestamp >= {literal(lo - timedelta(days=2))}
    ), c as (
      select customer_id, {c_key} as o, {", ".join(CUSTOMER_FEATURES)}
      from read_parquet('{c}')
      where event_timestamp <= {literal(hi)}
    )
    select e.driver_id, e.customer_id, e.event_timestamp, e.label,
           {", ".join(f"case when {row_time} >= {ttl_bound} then d.{f} end as {f}" for f in DRIVER_FEATURES)},
           {", ".join(f"c.{f}" for f in CUSTOMER_FEATURES)}
    from read_parquet('{e}', file_row_number = true) e
    asof left join d on e.driver_id = d.driver_id and {d_probe} >= d.o
    asof left join c on e.customer_id = c.customer_id and {c_probe} >= c.o
    order by e.file_row_number
    """


def hand_dedup_sql(data: Path, lo: datetime, hi: datetime) -> str:
    """The previous hand-written query: dedup (key, ts) by latest created, then a plain ASOF join."""
    d, c, e = data / "driver_stats.parquet", data / "customer_profile.parquet", data / "entities.parquet"
    return f"""
    with d as (
      select driver_id, event_timestamp, {", ".join(DRIVER_FEATURES)}
      from read_parquet('{d}')
      where event_timestamp <= TIMESTAMP '{hi}' and event_timestamp >= TIMESTAMP '{lo}' - INTERVAL 2 DAY
      qualify row_number() over (partition by driver_id, event_timestamp order by created desc) = 1
    ), c as (
      select customer_id, event_timestamp, {", ".join(CUSTOMER_FEATURES)}
      from read_parquet('{c}')
      where event_timestamp <= TIMESTAMP '{hi}'
      qualify row_number() over (partition by customer_id, event_timestamp order by created desc) = 1
    )
    select e.driver_id, e.customer_id, e.event_timestamp, e.label,
           {
        ", ".join(
            f"case when d.event_timestamp >= e.event_timestamp - INTERVAL 2 DAY then d.{f} end as {f}"
            for f in DRIVER_FEATURES
        )
    },
           {", ".join(f"c.{f}" for f in CUSTOMER_FEATURES)}
    from read_parquet('{e}', file_row_number = true) e
    asof left join d on e.driver_id = d.driver_id and e.event_timestamp >= d.event_timestamp
    asof left join c on e.customer_id = c.customer_id and e.event_timestamp >= c.event_timestamp
    order by e.file_row_number
    """


def run_hand(data: Path, threads: int, strategy: str = ""):
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    con.execute("set timezone = 'UTC'")
    # naive UTC bounds, whether the entity times are naive or aware
    lo, hi = con.sql(
        "select min(event_timestamp)::timestamp, max(event_timestamp)::timestamp "
        f"from read_parquet('{data / 'entities.parquet'}')"
    ).fetchall()[0]
    if strategy == "dedup":
        if shape_of(data) != SHAPES_NAIVE:
            raise SystemExit("hand:dedup is written for the naive shape only")
        return con.sql(hand_dedup_sql(data, lo, hi)).to_arrow_table()
    return con.sql(hand_written_sql(data, lo, hi, total=strategy == "total")).to_arrow_table()


IMPLS = {"sqlfeast": run_sqlfeast, "hand": run_hand}


def one(impl: str, data: Path, threads: int, strategy: str, check: str | None) -> dict:
    # Imports are a per-process cost outside the retrieval (Feast's driver excludes its own too);
    # everything after them is timed: store setup, reading the entity file, the query, the result.
    import duckdb  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    if impl == "sqlfeast":
        import jinja2  # noqa: F401
        import sqlglot  # noqa: F401

        import sqlfeast.compile.templating  # noqa: F401
        import sqlfeast.offline.historical  # noqa: F401
        import sqlfeast.warehouse  # noqa: F401
    start, cpu_start = time.perf_counter(), time.process_time()
    table = IMPLS[impl](data, threads, strategy)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if check:
        import pyarrow.parquet as pq

        pq.write_table(table, check)
    return {
        "impl": impl,
        "strategy": strategy,
        "rows": table.num_rows,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_mb": round(peak_mb),
    }


def spawn(impl: str, data: Path, threads: int, strategy: str = "asof", check: str | None = None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        impl,
        "--data",
        str(data),
        "--threads",
        str(threads),
        "--strategy",
        strategy,
    ] + (["--check", check] if check else [])
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
    parser.add_argument(
        "--strategies",
        default="asof,asof+single,window",
        help="sqlfeast strategies to time; +single: every view in one query",
    )
    parser.add_argument(
        "--hand", default="struct,dedup", help="hand-written queries to time; the first is the ratio's baseline"
    )
    parser.add_argument("--shapes", default="naive", help="data shapes (historical_data.SHAPES), comma separated")
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
    from historical_data import derive, generate

    for size, shape in [(size, shape) for size in args.sizes.split(",") for shape in args.shapes.split(",")]:
        entities, rows = SIZES[size]
        base = Path(args.root) / size
        if not (base / "entities.parquet").exists():
            generate(base, entities, rows)
        data = Path(args.root) / f"{size}-{shape}"
        if not (data / "entities.parquet").exists():
            derive(base, data, shape)
        size = f"{size}-{shape}"
        # The answers must agree before their times mean anything.
        spawn("hand", data, args.threads, args.hand.split(",")[0], check=str(data / "hand.parquet"))
        for strategy in args.strategies.split(","):
            spawn("sqlfeast", data, args.threads, strategy, check=str(data / f"sqlfeast_{strategy}.parquet"))
            print(
                json.dumps(
                    {
                        "size": size,
                        "strategy": strategy,
                        "equal_to_hand": same_answer(
                            str(data / "hand.parquet"), str(data / f"sqlfeast_{strategy}.parquet")
                        ),
                    }
                )
            )
        runs_of: dict[str, list[dict]] = {}
        for _ in range(args.repeat):  # interleaved; median and best of N
            runs = [("hand", h) for h in args.hand.split(",")] + [("sqlfeast", s) for s in args.strategies.split(",")]
            for impl, strategy in runs:
                load = os.getloadavg()[0]
                result = spawn(impl, data, args.threads, strategy)
                result.update(size=size, load1=round((load + os.getloadavg()[0]) / 2, 2))
                print(json.dumps(result), flush=True)
                runs_of.setdefault(f"{impl}:{strategy}", []).append(result)
        if not runs_of:  # --repeat 0: the answers only
            continue
        median = {k: statistics.median(r["seconds"] for r in v) for k, v in runs_of.items()}
        cpu = {k: statistics.median(r["cpu_seconds"] for r in v) for k, v in runs_of.items()}
        baseline = f"hand:{args.hand.split(',')[0]}"
        for key, results in runs_of.items():
            print(
                f"{size}: {key:18s} median {median[key]:7.3f}s  best {min(r['seconds'] for r in results):7.3f}s  "
                f"ratio {median[key] / median[baseline]:5.2f}  cpu {cpu[key]:7.3f}s  "
                f"cpu ratio {cpu[key] / cpu[baseline]:5.2f}  peak {max(r['peak_mb'] for r in results)} MB  "
                f"load {min(r['load1'] for r in results)}-{max(r['load1'] for r in results)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
