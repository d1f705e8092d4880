"""Property tests: every strategy on DuckDB, and the Snowflake path through fakesnow, agree with
the brute-force oracle on random data full of ties, boundary hits, nulls and duplicates."""

from __future__ import annotations

import datetime as dt
import warnings

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.offline.historical_helpers import ViewData, duckdb_store, oracle, snowflake_store

BASE = dt.datetime(2024, 1, 1)
# A coarse grid of hours makes equal timestamps and exact ttl boundary hits common.
hours = st.integers(0, 6)
maybe_hours = st.one_of(st.none(), hours)
values = st.one_of(st.none(), st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 2)))


def _ts(h):
    return None if h is None else BASE + dt.timedelta(hours=h)


@st.composite
def view_rows(draw, name: str, keys: list[str], created: bool):
    rows, seen = [], set()
    for _ in range(draw(st.integers(0, 20))):
        row = {
            k: draw(st.one_of(st.none(), st.integers(1, 2)) if draw(st.integers(0, 9)) == 0 else st.integers(1, 2))
            for k in keys
        }
        row["event_timestamp"] = _ts(draw(hours))
        row["created"] = _ts(draw(maybe_hours)) if created else None
        # Rows equal on keys, ts and created have no defined winner; keep one of them.
        ident = tuple(row[k] for k in keys) + (row["event_timestamp"], row["created"])
        if ident in seen:
            continue
        seen.add(ident)
        row["f1"] = draw(values)
        row["f2"] = draw(values)
        rows.append(row)
    ttl = draw(st.sampled_from([0, 3600, 2 * 3600]))
    return ViewData(
        name,
        keys,
        ["f1", "f2"] if name == "a" else ["g1"],
        [dict(r, g1=r["f1"]) for r in rows],
        ttl_seconds=ttl,
        created=created,
    )


@st.composite
def scenarios(draw):
    a = draw(view_rows("a", ["k1"], created=True))
    b = draw(view_rows("b", ["k1", "k2"], created=draw(st.booleans())))
    if not b.created:  # without created, equal (keys, ts) has no winner either
        seen, rows = set(), []
        for r in b.rows:
            ident = (r["k1"], r["k2"], r["event_timestamp"])
            if ident not in seen:
                seen.add(ident)
                rows.append(r)
        b.rows = rows
    n = draw(st.integers(0, 12))
    entities = [
        {
            "k1": draw(st.one_of(st.none(), st.integers(1, 3))),
            "k2": draw(st.integers(1, 2)),
            "event_timestamp": _ts(draw(st.one_of(hours, st.integers(-1, 8), st.none()))),
            "label": draw(st.integers(0, 1)),
        }
        for _ in range(n)
    ]
    if entities and draw(st.booleans()):
        entities.append(dict(entities[0]))  # an exact duplicate entity row
    return a, b, entities


ENTITY_SCHEMA = pa.schema(
    [("k1", pa.int64()), ("k2", pa.int64()), ("event_timestamp", pa.timestamp("us")), ("label", pa.int64())]
)
FEATURES = ["a:f1", "a:f2", "b:g1"]


def _expected(a, b, entities, full=False, filter_created=False):
    return oracle(entities, [(a, {}, None), (b, {}, None)], full_feature_names=full, filter_by_created=filter_created)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.booleans())
def test_duckdb_every_strategy_matches_oracle(scenario, filter_created):
    a, b, entities = scenario
    store = duckdb_store([a, b])
    table = pa.Table.from_pylist(entities, schema=ENTITY_SCHEMA)
    expected = _expected(a, b, entities, full=True, filter_created=filter_created)
    for strategy in ("asof", "window", "join"):
        for staged in (True, False):  # one query per view (the DuckDB default), or one query
            job = store.get_historical_features(
                table,
                FEATURES,
                full_feature_names=True,
                strategy=strategy,
                filter_by_created_timestamp=filter_created,
                stage_views=staged,
            )
            assert bool(job.stages) == staged
            assert job.to_arrow().to_pylist() == expected, (strategy, staged, job.sql)


def _snowflake_rows(store, table, strategy, filter_created):
    job = store.get_historical_features(
        table, FEATURES, full_feature_names=True, strategy=strategy, filter_by_created_timestamp=filter_created
    )
    return job.to_arrow().to_pylist()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.booleans())
def test_snowflake_path_through_fakesnow_matches_oracle(scenario, filter_created):
    """Real connector code and the snowflake__ macros, executed by fakesnow (Snowflake SQL on
    DuckDB). fakesnow cannot run ASOF JOIN, so the window and join strategies run here; the ASOF
    SQL is checked in test_historical_snowflake_golden.py."""
    fakesnow = pytest.importorskip("fakesnow")
    a, b, entities = scenario
    table = pa.Table.from_pylist(entities, schema=ENTITY_SCHEMA)
    expected = _expected(a, b, entities, full=True, filter_created=filter_created)
    with warnings.catch_warnings(), fakesnow.patch():
        warnings.simplefilter("ignore")
        store = snowflake_store([a, b])
        for strategy in ("window", "join"):
            got = _snowflake_rows(store, table, strategy, filter_created)
            assert got == expected, (strategy,)
        store.warehouse.close()
