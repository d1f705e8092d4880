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
python -c "from sqlfeast.sample_data import write_sample_data; write_sample_data('.')"
sqlfeast compile
sqlfeast plan
sqlfeast apply
sqlfeast ls
sqlfeast historical -e data/entities.parquet --service driver_activity_v1 -o target/training.parquet
sqlfeast materialize-incremental 2026-01-15T00:00:00
sqlfeast get-online -f driver_hourly_stats:conv_rate -f customer_profile:current_balance \
    -e driver_id=1001 -e customer_id=2001
