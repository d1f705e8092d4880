#!/usr/bin/env bash
# Install sqlfeast into .venv and run the example project end to end on the embedded defaults
# (DuckDB warehouse, SQLite online store): compile, apply, a training set, materialize, online read.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"
set -x
# Sample data for the week up to today, so the online values are fresh (within each view's ttl).
python -c "from sqlfeast.project.sample_data import write_sample_data, today_utc; write_sample_data('.', end=today_utc())"
sqlfeast compile
sqlfeast plan
sqlfeast apply
sqlfeast ls
sqlfeast historical -e data/entities.parquet --service driver_activity_v1 -o target/training.parquet
# Windowed aggregates (driver_trip_windows: count, sum, avg, min, max, stddev, last, count_distinct).
sqlfeast historical -e data/entities.parquet -f driver_trip_windows -o target/windows.parquet
sqlfeast materialize-incremental now
sqlfeast get-online -f driver_hourly_stats:conv_rate -f customer_profile:current_balance \
    -e driver_id=1001,customer_id=2001 -e driver_id=1002,customer_id=2002 --status
# The aggregation view online: its tiles combined for the windows ending now.
sqlfeast get-online -f driver_trip_windows -e driver_id=1001 -e driver_id=1002 --status
