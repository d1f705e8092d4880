"""Generate a large feature project for the compile benchmark, twice: as a sqlfeast project and as
the equivalent dbt project (same SQL bodies, sources, refs, vars and macros).

The project has a few sources with declared columns, a handful of plain staging models that clean
them, and N feature views that ref() the staging models (most) or read a source directly (some).
Feature views vary in shape: plain projections with casts, project macros, var() filters,
CASE expressions, CTEs and hourly aggregations, so the compiler sees realistic SQL.

    python benchmarks/gen_project.py /tmp/bench 1000   # writes /tmp/bench/sqlfeast and /tmp/bench/dbt
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

# source table -> (entity, join key, [(column, type)])
SOURCES: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "driver_stats": (
        "driver",
        "driver_id",
        [
            ("conv_rate", "double"),
            ("acc_rate", "double"),
            ("avg_daily_trips", "bigint"),
            ("trips", "bigint"),
            ("hours_online", "double"),
            ("rating", "double"),
            ("city", "varchar"),
        ],
    ),
    "customer_profile": (
        "customer",
        "customer_id",
        [
            ("current_balance", "double"),
            ("avg_passenger_count", "double"),
            ("lifetime_trip_count", "bigint"),
            ("spend_cents", "bigint"),
            ("cancellations", "integer"),
            ("tier", "varchar"),
        ],
    ),
    "vehicle_telemetry": (
        "vehicle",
        "vehicle_id",
        [
            ("speed_kmh", "double"),
            ("fuel_level", "double"),
            ("odometer_km", "bigint"),
            ("engine_temp", "double"),
            ("harsh_brakes", "integer"),
            ("model", "varchar"),
        ],
    ),
    "merchant_orders": (
        "merchant",
        "merchant_id",
        [
            ("orders", "bigint"),
            ("revenue_cents", "bigint"),
            ("refunds", "integer"),
            ("prep_minutes", "double"),
            ("rating", "double"),
            ("category", "varchar"),
        ],
    ),
}
COMMON = [("event_timestamp", "timestamp"), ("created", "timestamp")]

MACROS = """\
{% macro cents_to_dollars(column) -%}
({{ column }} / 100.0)
{%- endmacro %}

{% macro safe_divide(numerator, denominator) -%}
case when {{ denominator }} = 0 then null else {{ numerator }} / {{ denominator }} end
{%- endmacro %}

{% macro clamp(column, low, high) -%}
least(greatest({{ column }}, {{ low }}), {{ high }})
{%- endmacro %}
"""

VARS = {"min_trips": 0, "lookback_days": 30, "max_rating": 5}


def _numeric(cols: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(c, t) for c, t in cols if t != "varchar"]


def _feature_view(i: int, rng: random.Random) -> tuple[str, str, dict[str, str], str]:
    """(header yaml, sql body, features -> type, description) for feature view number i."""
    table = rng.choice(list(SOURCES))
    entity, key, cols = SOURCES[table]
    numeric = _numeric(cols)
    from_ref = rng.random() < 0.8
    relation = f"{{{{ ref('stg_{table}') }}}}" if from_ref else f"{{{{ source('raw', '{table}') }}}}"
    shape = rng.choice(["plain", "plain", "macro", "case", "cte", "agg"])
    picks = rng.sample(numeric, k=min(len(numeric), rng.randint(3, 5)))
    features: dict[str, str] = {}
    lines: list[str] = []
    if shape == "agg":
        for c, t in picks:
            if t in ("bigint", "integer"):
                lines.append(f"sum({c}) as {c}_sum_{i}")
                features[f"{c}_sum_{i}"] = "bigint" if t == "bigint" else "bigint"
            else:
                lines.append(f"avg({c}) as {c}_avg_{i}")
                features[f"{c}_avg_{i}"] = "double"
        lines.append(f"count(*) as n_events_{i}")
        features[f"n_events_{i}"] = "bigint"
        body = (
            f"select {key},\n"
            f"       date_trunc('hour', event_timestamp) as event_timestamp,\n"
            f"       max(created) as created,\n       " + ",\n       ".join(lines) + "\n"
            f"from {relation}\n"
            f"where event_timestamp >= current_date - interval '{{{{ var('lookback_days') }}}} days'\n"
            f"group by {key}, date_trunc('hour', event_timestamp)\n"
        )
    else:
        for n, (c, t) in enumerate(picks):
            name = f"{c}_{i}"
            if shape == "macro" and n == 0 and t == "bigint":
                lines.append(f"{{{{ cents_to_dollars('{c}') }}}} as {name}")
                features[name] = "double"
            elif shape == "macro" and n == 1:
                other = picks[0][0]
                lines.append(f"{{{{ safe_divide('{c}', '{other}') }}}} as {name}")
                features[name] = "double"
            elif shape == "case" and n == 0:
                lines.append(f"case when {c} is null then 0 else {c} end as {name}")
                features[name] = t
            elif n % 2 == 1:
                lines.append(f"cast({c} as double) as {name}")
                features[name] = "double"
            else:
                lines.append(f"{c} as {name}")
                features[name] = t
        projection = ",\n       ".join([key, "event_timestamp", "created"] + lines)
        filt = (
            f"where {key} is not null\n  and event_timestamp >= current_date - interval "
            f"'{{{{ var('lookback_days') }}}} days'\n"
        )
        if shape == "cte":
            body = (
                f"with recent as (\n    select *\n    from {relation}\n"
                f"    where event_timestamp >= current_date - interval '{{{{ var('lookback_days') }}}} days'\n)\n"
                f"select {projection}\nfrom recent\nwhere {key} is not null\n"
            )
        else:
            body = f"select {projection}\nfrom {relation}\n{filt}"
    description = f"{shape} features of {entity} from {table} (view {i})"
    ttl = rng.choice(["0", "1d", "2d", "7d", "12h"])
    feature_yaml = []
    for n, (f, t) in enumerate(features.items()):
        if n == 0:
            feature_yaml.append(f"  {f}: {{type: {t}, description: {f.replace('_', ' ')}}}")
        else:
            feature_yaml.append(f"  {f}: {t}")
    header = (
        "/* @feature_view\n"
        f"entities: [{entity}]\n"
        "timestamp: event_timestamp\n"
        "created_timestamp: created\n"
        f"ttl: {ttl}\n"
        f"description: {description}\n"
        f"owner: {entity}s@example.com\n"
        f"tags: {{team: {entity}s, shape: {shape}}}\n"
        "features:\n" + "\n".join(feature_yaml) + "\n*/\n"
    )
    return header, body, features, description


def _staging(table: str) -> str:
    _, key, cols = SOURCES[table]
    names = [key] + [c for c, _ in COMMON] + [c for c, _ in cols]
    extra = "  and trips >= {{ var('min_trips') }}\n" if table == "driver_stats" else ""
    return (
        f"-- Staging model for raw.{table}: drops rows without a key.\n"
        f"select {', '.join(names)}\n"
        f"from {{{{ source('raw', '{table}') }}}}\n"
        f"where {key} is not null\n{extra}"
    )


def _sources_yaml() -> str:
    out = ["sources:", "  - name: raw", "    schema: raw", "    tables:"]
    for table, (_, key, cols) in SOURCES.items():
        out.append(f"      - name: {table}")
        out.append("        columns:")
        for c, t in [(key, "bigint")] + COMMON + cols:
            out.append(f"          - {{name: {c}, data_type: {t}}}")
    return "\n".join(out) + "\n"


def generate(root: Path, n: int, seed: int = 7) -> tuple[Path, Path]:
    """Write <root>/sqlfeast and <root>/dbt; return both directories."""
    rng = random.Random(seed)
    sf, dbt = root / "sqlfeast", root / "dbt"
    for d in (
        sf / "models" / "staging",
        sf / "models" / "features",
        sf / "macros",
        dbt / "models" / "staging",
        dbt / "models" / "features",
        dbt / "macros",
    ):
        d.mkdir(parents=True, exist_ok=True)
    vars_yaml = "".join(f"  {k}: {v}\n" for k, v in VARS.items())

    # -- sqlfeast project ---------------------------------------------------------------------
    (sf / "sqlfeast_project.yml").write_text(
        "name: bench\nprofile: bench\nmodel-paths: [models]\nmacro-paths: [macros]\ntarget-path: target\n"
        f"vars:\n{vars_yaml}"
    )
    (sf / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/bench.duckdb\n"
        "      schema: main\n"
    )
    entities = "entities:\n" + "".join(
        f"  - name: {e}\n    join_keys: [{k}]\n    description: A {e}\n" for e, k, _ in SOURCES.values()
    )
    (sf / "models" / "schema.yml").write_text(entities + "\n" + _sources_yaml())
    (sf / "macros" / "helpers.sql").write_text(MACROS)

    # -- dbt project ----------------------------------------------------------------------------
    (dbt / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\nmodel-paths: [models]\n"
        "macro-paths: [macros]\ntarget-path: target\n"
        f"vars:\n{vars_yaml}"
        "models:\n  bench:\n    +materialized: view\n"
    )
    (dbt / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: target/bench.duckdb\n"
        "      schema: main\n      threads: 1\n"
    )
    (dbt / "macros" / "helpers.sql").write_text(MACROS)

    for table in SOURCES:
        sql = _staging(table)
        (sf / "models" / "staging" / f"stg_{table}.sql").write_text(sql)
        (dbt / "models" / "staging" / f"stg_{table}.sql").write_text(sql)

    dbt_models = ["version: 2", "models:"]
    for i in range(n):
        header, body, features, description = _feature_view(i, rng)
        name = f"fv_{i:04d}"
        (sf / "models" / "features" / f"{name}.sql").write_text(header + body)
        (dbt / "models" / "features" / f"{name}.sql").write_text(body)
        dbt_models.append(f'  - name: {name}\n    description: "{description}"\n    columns:')
        dbt_models.extend(f"      - {{name: {f}, data_type: {t}}}" for f, t in features.items())
    (dbt / "models" / "schema.yml").write_text(_sources_yaml() + "\n" + "\n".join(dbt_models) + "\n")
    return sf, dbt


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/sqlfeast-bench")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    for path in generate(out, count):
        print(path)
