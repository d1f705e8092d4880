"""Data for the historical retrieval benchmark: the driver/customer data set at a chosen size.

    python benchmarks/historical_data.py --entities 100000 --rows 1000000 --out /tmp/hist_small

writes driver_stats.parquet and customer_profile.parquet (``rows`` rows each, 30 days of events,
created a few seconds after each event, some (key, timestamp) ties) and entities.parquet
(``entities`` rows: driver_id, customer_id, event_timestamp, label). Deterministic (hash based).

`derive(base, out, shape)` rewrites those files into another data shape (see SHAPES): the time
columns as TIMESTAMPTZ or DATE, the created column absent or partly NULL, the entity timestamps
aware. The values are the same rows; only the types and the created column change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb

DRIVERS = 10_000
CUSTOMERS = 50_000


def generate(out: str | Path, entities: int, rows: int) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    base = "TIMESTAMP '2024-01-01'"
    # hash(i, salt) gives stable pseudo-random numbers without a seed.
    con.execute(f"""
        copy (
          select 1000 + (hash(i, 1) % {DRIVERS})::bigint as driver_id,
                 {base} + to_seconds((hash(i, 2) % (30 * 86400 / 60))::bigint * 60) as event_timestamp,
                 {base} + to_seconds((hash(i, 2) % (30 * 86400 / 60))::bigint * 60 + (hash(i, 3) % 30)::bigint) + to_microseconds(i) as created,
                 (hash(i, 4) % 10000) / 10000.0 as conv_rate,
                 (hash(i, 5) % 10000) / 10000.0 as acc_rate,
                 (hash(i, 6) % 100)::bigint as avg_daily_trips
          from range({rows}) t(i) order by event_timestamp
        ) to '{out / "driver_stats.parquet"}' (format parquet, row_group_size 122880)""")
    con.execute(f"""
        copy (
          select 1 + (hash(i, 11) % {CUSTOMERS})::bigint as customer_id,
                 {base} + to_seconds((hash(i, 12) % (30 * 86400 / 60))::bigint * 60) as event_timestamp,
                 {base} + to_seconds((hash(i, 12) % (30 * 86400 / 60))::bigint * 60 + (hash(i, 13) % 30)::bigint) + to_microseconds(i) as created,
                 (hash(i, 14) % 100000) / 10.0 as current_balance,
                 (hash(i, 15) % 400) / 100.0 as avg_passenger_count,
                 (hash(i, 16) % 5000)::bigint as lifetime_trip_count
          from range({rows}) t(i) order by event_timestamp
        ) to '{out / "customer_profile.parquet"}' (format parquet, row_group_size 122880)""")
    con.execute(f"""
        copy (
          select 1000 + (hash(i, 21) % {DRIVERS})::bigint as driver_id,
                 1 + (hash(i, 22) % {CUSTOMERS})::bigint as customer_id,
                 {base} + to_seconds(86400 + (hash(i, 23) % (29 * 86400))::bigint) as event_timestamp,
                 (hash(i, 24) % 2)::bigint as label
          from range({entities}) t(i)
        ) to '{out / "entities.parquet"}' (format parquet)""")
    return out


# shape -> (feature event ts type, created: present|absent|partly_null, entity ts: naive|aware)
SHAPES = {
    "naive": ("timestamp", "present", "naive"),
    "tz": ("timestamptz", "present", "aware"),
    "tz_naive_entities": ("timestamptz", "present", "naive"),
    "aware_entities": ("timestamp", "present", "aware"),
    "date": ("date", "present", "naive"),
    "no_created": ("timestamp", "absent", "naive"),
    "null_created": ("timestamp", "partly_null", "naive"),
    # about one row in a hundred has a twin with the same key, ts and created and other values
    "dups": ("timestamp", "duplicated", "naive"),
}


def derive(base: str | Path, out: str | Path, shape: str) -> Path:
    """The base data set rewritten into `shape` (naive timestamps are read as UTC)."""
    ts_type, created, entity_ts = SHAPES[shape]
    base, out = Path(base), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    for view in ("driver_stats", "customer_profile"):
        ts = {
            "timestamp": "event_timestamp",
            "timestamptz": "timezone('UTC', event_timestamp) as event_timestamp",
            "date": "CAST(event_timestamp AS DATE) as event_timestamp",
        }[ts_type]
        cr = {
            "present": "timezone('UTC', created) as created" if ts_type == "timestamptz" else "created",
            "absent": None,
            # about one row in ten has no created timestamp
            "partly_null": "CASE WHEN hash(created) % 10 = 0 THEN NULL ELSE created END as created",
            "duplicated": "created",
        }[created]
        columns = ", ".join(c for c in ("* exclude (event_timestamp, created)", ts, cr) if c)
        rows = f"select {columns} from read_parquet('{base / (view + '.parquet')}')"
        if created == "duplicated":  # twins: same key, ts and created; every feature changed
            path = str(base / (view + ".parquet"))
            src = f"read_parquet('{path}')"
            keep = ("schema", "duckdb_schema", "driver_id", "customer_id", "event_timestamp", "created")
            names = [
                c for (c,) in con.execute(f"select name from parquet_schema('{path}')").fetchall() if c not in keep
            ]
            changed = ", ".join(f"{c} + 1 as {c}" for c in names)
            rows += f" union all by name select * replace ({changed}) from {src} where hash(created) % 100 = 0"
        con.execute(f"copy ({rows}) to '{out / (view + '.parquet')}' (format parquet, row_group_size 122880)")
    ets = "timezone('UTC', event_timestamp)" if entity_ts == "aware" else "event_timestamp"
    con.execute(
        f"copy (select driver_id, customer_id, {ets} as event_timestamp, label "
        f"from read_parquet('{base / 'entities.parquet'}')) to '{out / 'entities.parquet'}' (format parquet)"
    )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default="/tmp/sqlfeast_hist")
    args = parser.parse_args()
    print(generate(args.out, args.entities, args.rows))
