"""Windowed aggregates in training sets: sqlfeast vs hand-written DuckDB queries, same run.

    python benchmarks/aggregation_bench.py --size small --rounds 3
    python benchmarks/aggregation_bench.py --size large --rounds 1 --impls sqlfeast,hand:rangejoin

Sizes: small = 100k entity rows x 1M events, large = 1M x 5M; one view (orders per customer over
60 days), the 8 functions (count, sum, avg, min, max, stddev, last, count_distinct) over 3 windows
(1d, 7d, 30d) = 24 aggregates. Implementations:
  sqlfeast        get_historical_features, default strategy (DuckDB: the range join with cheap
                  aggregates, macro agg_duckdb_join)
  sqlfeast:join   the same with strategy=join (the portable range join + GROUP BY)
  sqlfeast:window the same with strategy=window (window functions over RANGE frames)
  hand:cheap      the fastest hand-written query found: range join + GROUP BY with FILTER
                  aggregates, count(distinct) as a count of rows whose previous same-value row
                  is older than the window, one arg_max_null per column for `last`
  hand:window     a hand-written window-function query over the union of entity and event rows
  hand:rangejoin  the straightforward hand-written range join + GROUP BY
Every measurement runs in a fresh process from parquet files to an Arrow table in memory; rounds
interleave the implementations; prints one JSON line per run (seconds, peak RSS, the 1-minute load
average, a checksum of the answer) and a summary of medians and ratios to the first --impls entry.
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
from pathlib import Path

SIZES = {"small": (100_000, 1_000_000), "large": (1_000_000, 5_000_000)}
WINDOWS = {"1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct")
DAYS = 60


def generate(out: Path, entities: int, events: int) -> Path:
    """orders.parquet and entities.parquet under out/<entities>x<events>, made once."""
    import duckdb

    folder = out / f"{entities}x{events}"
    if (folder / "entities.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    customers = max(entities // 10, 1)
    con = duckdb.connect()
    con.execute(f"""copy (
        select (hash(i) % {customers})::bigint as customer_id,
               timestamp '2025-01-01' + to_microseconds((hash(i * 7 + 1) % ({DAYS} * 86400000000))::bigint) as ordered_at,
               timestamp '2025-01-01' + to_microseconds((hash(i * 7 + 1) % ({DAYS} * 86400000000))::bigint + 60000000) as loaded_at,
               case when hash(i * 7 + 2) % 20 = 0 then null else round((hash(i * 7 + 3) % 100000) / 100.0, 2) end as amount,
               (hash(i * 7 + 4) % 50)::bigint as store_id
        from range({events}) t(i)) to '{folder / "orders.parquet"}' (format parquet)""")
    con.execute(f"""copy (
        select (hash(i + 99) % {customers})::bigint as customer_id,
               timestamp '2025-01-01' + to_microseconds((hash(i * 3 + 5) % ({DAYS} * 86400000000))::bigint) as event_timestamp,
               (i % 2)::bigint as label
        from range({entities}) t(i)) to '{folder / "entities.parquet"}' (format parquet)""")
    return folder


def aggregations():
    from sqlfeast.core.spec import Aggregation

    types = {
        "count": "bigint",
        "count_distinct": "bigint",
        "sum": "double",
        "avg": "double",
        "stddev": "double",
        "min": "double",
        "max": "double",
        "last": "double",
    }
    out = []
    for wname, seconds in WINDOWS.items():
        for fn in FUNCTIONS:
            column = None if fn == "count" else "store_id" if fn == "count_distinct" else "amount"
            out.append(Aggregation(f"{fn}_{wname}", fn, seconds, column, types[fn]))
    return out


# -- implementations -----------------------------------------------------------------------------
def run_sqlfeast(data: Path, threads: int, strategy: str):
    import pyarrow.parquet as pq

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
    aggs = aggregations()
    reg = Registry(project="bench")
    reg.feature_views["orders"] = FeatureView(
        "orders",
        ["customer"],
        ["customer_id"],
        "ordered_at",
        [Feature(a.name, a.type) for a in aggs],
        created_timestamp="loaded_at",
        sql={"duckdb": f"select * from read_parquet('{data / 'orders.parquet'}')"},
        columns={"ordered_at": "timestamp", "loaded_at": "timestamp", "amount": "double", "store_id": "bigint"},
        aggregations=aggs,
        granularity_seconds=3600,
    )
    ctx = OfflineContext(
        connect(target, data), MacroLibrary.builtin().renderer("duckdb"), reg, settings=dict(target.settings)
    )
    entities = pq.ParquetFile(data / "entities.parquet").read()
    return get_historical_features(ctx, entities, [f"orders:{a.name}" for a in aggs], strategy=strategy).to_arrow()


def _hand_expr(fn: str, frame: str) -> str:
    if fn == "count":
        return f"count(ev) over {frame}"
    if fn == "count_distinct":
        return f"count(distinct store_id) over {frame}"
    if fn == "stddev":
        return f"stddev_samp(amount) over {frame}"
    if fn == "last":
        return f"arg_max_null(amount, case when ev is not null then {{'t': ts, 'n': cr is not null, 'c': cr}} end) over {frame}"
    return f"{fn}(amount) over {frame}"


def hand_window_sql(data: Path) -> str:
    cols = ",\n  ".join(f"{_hand_expr(fn, 'w' + w)} as {fn}_{w}" for w in WINDOWS for fn in FUNCTIONS)
    frames = ",\n  ".join(
        f"w{w} as (partition by customer_id order by ts range between interval {s} second preceding and current row)"
        for w, s in WINDOWS.items()
    )
    return f"""
with e as (select row_number() over () - 1 as rn, customer_id, event_timestamp from read_parquet('{data / "entities.parquet"}')),
b as (select min(event_timestamp) - interval 30 day as lo, max(event_timestamp) as hi from e),
u as (
  select customer_id, ordered_at as ts, loaded_at as cr, 1 as ev, null::bigint as rn, amount, store_id
  from read_parquet('{data / "orders.parquet"}'), b where ordered_at between b.lo and b.hi
  union all
  select customer_id, event_timestamp, null, null, rn, null, null from e)
select rn,
  {cols}
from u
window {frames}
qualify rn is not null
order by rn"""


def hand_rangejoin_sql(data: Path) -> str:
    parts = []
    for w, s in WINDOWS.items():
        inw = f"o.ordered_at >= e.event_timestamp - interval {s} second"
        for fn in FUNCTIONS:
            if fn == "count":
                parts.append(f"count(case when {inw} then 1 end) as count_{w}")
            elif fn == "count_distinct":
                parts.append(f"count(distinct case when {inw} then o.store_id end) as count_distinct_{w}")
            elif fn == "stddev":
                parts.append(f"stddev_samp(case when {inw} then o.amount end) as stddev_{w}")
            elif fn == "last":
                parts.append(
                    f"arg_max_null(case when {inw} then o.amount end, case when {inw} then "
                    f"{{'t': o.ordered_at, 'c': o.loaded_at}} end) as last_{w}"
                )
            else:
                parts.append(f"{fn}(case when {inw} then o.amount end) as {fn}_{w}")
    cols = ",\n  ".join(parts)
    return f"""
with e as (select row_number() over () - 1 as rn, customer_id, event_timestamp from read_parquet('{data / "entities.parquet"}'))
select e.rn,
  {cols}
from e left join read_parquet('{data / "orders.parquet"}') o
  on o.customer_id = e.customer_id and o.ordered_at <= e.event_timestamp
 and o.ordered_at >= e.event_timestamp - interval 30 day
group by e.rn
order by e.rn"""


def hand_cheap_sql(data: Path) -> str:
    aggs, outs = [], []
    for w, s in WINDOWS.items():
        inw = f"o.ts >= e.event_timestamp - interval {s} second"
        aggs += [
            f"count(*) filter (where {inw}) as count_{w}",
            f"sum(o.amount) filter (where {inw}) as sum_{w}",
            f"avg(o.amount) filter (where {inw}) as avg_{w}",
            f"min(o.amount) filter (where {inw}) as min_{w}",
            f"max(o.amount) filter (where {inw}) as max_{w}",
            f"stddev_samp(o.amount) filter (where {inw}) as stddev_{w}",
            f"count(*) filter (where {inw} and o.prev < e.event_timestamp - interval {s} second) as count_distinct_{w}",
        ]
        outs += [
            f"case when g.lt >= g.et - interval {s} second then g.lv end as last_{w}" if fn == "last" else f"g.{fn}_{w}"
            for fn in FUNCTIONS
        ]
    return f"""
with e as (select row_number() over () - 1 as rn, customer_id, event_timestamp from read_parquet('{data / "entities.parquet"}')),
b as (select min(event_timestamp) - interval 30 day as lo, max(event_timestamp) as hi from e),
o as (select customer_id, ordered_at as ts, amount,
             epoch_us(ordered_at)::hugeint * 18446744073709551616 + coalesce(epoch_us(loaded_at) + 4611686018427387905, 0) as okey,
             case when store_id is not null then coalesce(lag(ordered_at) over (partition by customer_id, store_id order by ordered_at),
                                                          '-infinity'::timestamp) end as prev
      from read_parquet('{data / "orders.parquet"}'), b where ordered_at between b.lo and b.hi),
g as (select e.rn, any_value(e.event_timestamp) as et, arg_max_null(o.amount, o.okey) filter (where o.ts is not null) as lv,
             max(o.ts) as lt, {", ".join(aggs)}
      from e left join o on o.customer_id = e.customer_id and o.ts <= e.event_timestamp
       and o.ts >= e.event_timestamp - interval 30 day
      group by e.rn)
select g.rn, {", ".join(outs)} from g order by g.rn"""


def run_hand(data: Path, threads: int, which: str):
    import duckdb

    con = duckdb.connect(config={"threads": threads})
    con.execute("set enable_progress_bar = false")
    sql = {"window": hand_window_sql, "rangejoin": hand_rangejoin_sql, "cheap": hand_cheap_sql}[which](data)
    return con.execute(sql).to_arrow_table()


def checksum(table) -> str:
    """A short fingerprint of the answer: per aggregate, the non-NULL count and the rounded sum."""
    import pyarrow.compute as pc

    parts = []
    for w in WINDOWS:
        for fn in FUNCTIONS:
            col = table.column(f"{fn}_{w}")
            total = pc.sum(col).as_py() or 0
            parts.append(f"{col.null_count}:{round(float(total), 2)}")
    return ",".join(parts)


def one(impl: str, data: Path, threads: int) -> dict:
    start = time.perf_counter()
    if impl.startswith("sqlfeast"):
        table = run_sqlfeast(data, threads, impl.split(":")[1] if ":" in impl else "asof")
    else:
        table = run_hand(data, threads, impl.split(":")[1])
    seconds = time.perf_counter() - start
    return {
        "impl": impl,
        "seconds": round(seconds, 3),
        "rows": table.num_rows,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "checksum": checksum(table),
    }


def spawn(impl: str, data: Path, threads: int) -> dict:
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", impl, "--data", str(data), "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load_before"], result["load_after"] = round(load, 2), round(os.getloadavg()[0], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--impls", default="sqlfeast,hand:cheap,hand:rangejoin,sqlfeast:join")
    parser.add_argument("--work", default="/tmp/sqlfeast-aggregation-bench")
    parser.add_argument("--child")
    parser.add_argument("--data")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, Path(args.data), args.threads)))
        return
    data = generate(Path(args.work), *SIZES[args.size])
    impls = args.impls.split(",")
    runs: dict[str, list[dict]] = {i: [] for i in impls}
    for r in range(args.rounds):
        for impl in impls:
            result = spawn(impl, data, args.threads)
            result["round"] = r
            print(json.dumps(result), flush=True)
            runs[impl].append(result)
    base = statistics.median(x["seconds"] for x in runs[impls[0]])
    print(f"\nsize {args.size} {SIZES[args.size]}, threads {args.threads}, {args.rounds} round(s)")
    answers = {x["checksum"] for rs in runs.values() for x in rs}
    print("same answer everywhere:", len(answers) == 1)
    for impl, rs in runs.items():
        med = statistics.median(x["seconds"] for x in rs)
        print(
            f"{impl:16s} median {med:8.2f} s  best {min(x['seconds'] for x in rs):8.2f} s  "
            f"ratio to {impls[0]} {med / base:5.2f}  peak {max(x['peak_mb'] for x in rs):7.0f} MB"
        )


if __name__ == "__main__":
    main()
