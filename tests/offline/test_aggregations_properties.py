"""Windowed aggregates against a brute-force oracle: DuckDB (window and join strategies, staged
and in one query, mixed with a plain view) and the Snowflake path through fakesnow, on random data
with ties, exact window-edge hits (ts = t - window is in), duplicates, NULLs, and naive and
timezone-aware timestamps."""

from __future__ import annotations

import datetime as dt
import math
import statistics
import warnings

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlfeast.compile.aggregations import output_type
from sqlfeast.core.spec import Aggregation, Feature, FeatureView
from sqlfeast.core.types import parse_type
from tests.offline.historical_helpers import ViewData, duckdb_store, oracle, snowflake_store

BASE = dt.datetime(2024, 1, 1)
UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
COLUMNS = {"amount": ("double", pa.float64()), "qty": ("bigint", pa.int64()), "store": ("varchar", pa.string())}
WINDOWS = (3600, 2 * 3600, 3 * 3600)
FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "last", "count_distinct")
NUMERIC_ONLY = ("sum", "avg", "stddev")


def aggregations_for(windows) -> list[Aggregation]:
    out = []
    for w in windows:
        out.append(Aggregation(f"rows_{w}", "count", w, None, "bigint"))
        for column, (ctype, _) in COLUMNS.items():
            for fn in FUNCTIONS:
                if fn in NUMERIC_ONLY and ctype == "varchar":
                    continue
                out.append(Aggregation(f"{fn}_{column}_{w}", fn, w, column, output_type(fn, parse_type(ctype))))
    return out


def agg_view(data: ViewData, sql: dict[str, str], aggs: list[Aggregation], ts_type: str) -> FeatureView:
    columns = {
        "k1": "bigint",
        "event_timestamp": ts_type,
        "created": "timestamp",
        **{c: t for c, (t, _) in COLUMNS.items()},
    }
    return FeatureView(
        name=data.name,
        entities=["e_k1"],
        join_keys=["k1"],
        timestamp="event_timestamp",
        created_timestamp="created" if data.created else None,
        features=[Feature(a.name, a.type) for a in aggs],
        sql=sql,
        columns=columns,
        aggregations=aggs,
        granularity_seconds=3600,
    )


# -- the oracle ----------------------------------------------------------------------------------
def _utc(value):
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def aggregate_oracle(entity_rows: list[dict], events: list[dict], aggs: list[Aggregation], created: bool) -> list[dict]:
    """For each entity row: every event row with its key and t - window <= ts <= t, plainly."""
    out = []
    for erow in entity_rows:
        t, key = _utc(erow["event_timestamp"]), erow["k1"]
        result = {}
        for agg in aggs:
            rows = (
                []
                if t is None or key is None
                else [
                    r
                    for r in events
                    if r["k1"] == key
                    and r["event_timestamp"] is not None
                    and t - dt.timedelta(seconds=agg.window_seconds) <= _utc(r["event_timestamp"]) <= t
                ]
            )
            values = [r[agg.column] for r in rows if r[agg.column] is not None] if agg.column else []
            fn = agg.function
            if fn == "count":
                value = len(values) if agg.column else len(rows)
            elif fn == "count_distinct":
                value = len(set(values))
            elif fn == "last":
                if not rows:
                    value = None
                else:

                    def rank(r):
                        c = r["created"] if created else None
                        return (_utc(r["event_timestamp"]), c is not None, c or dt.datetime.min)

                    best = max(rank(r) for r in rows)
                    value = {r[agg.column] for r in rows if rank(r) == best}  # any of the tied rows
            elif not values:
                value = None
            elif fn == "sum":
                value = sum(values)
            elif fn == "avg":
                value = sum(values) / len(values)
            elif fn == "min":
                value = min(values)
            elif fn == "max":
                value = max(values)
            elif fn == "stddev":
                value = statistics.stdev(values) if len(values) >= 2 else None
            result[agg.name] = value
        out.append(result)
    return out


def assert_matches(got: list[dict], expected: list[dict], context) -> None:
    assert len(got) == len(expected), context
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        for name, want in e.items():
            have = g[name]
            if isinstance(want, set):
                assert have in want, (context, i, name, have, want)
            elif isinstance(want, float) and have is not None:
                assert math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-9), (context, i, name, have, want)
            else:
                assert have == want, (context, i, name, have, want)


# -- data ----------------------------------------------------------------------------------------
def _ts(minutes, aware):
    if minutes is None:
        return None
    value = BASE + dt.timedelta(minutes=minutes)
    return value.replace(tzinfo=UTC).astimezone(PLUS2) if aware else value


# Half-hour steps over a few hours: equal timestamps and exact window-edge hits are common.
steps = st.integers(0, 12).map(lambda n: n * 30)


@st.composite
def scenarios(draw):
    created = draw(st.booleans())
    aware_events = draw(st.booleans())
    events = []
    for _ in range(draw(st.integers(0, 25))):
        row = {
            "k1": draw(st.one_of(st.integers(1, 2), st.integers(1, 2), st.none())),
            "event_timestamp": _ts(draw(st.one_of(steps, steps, steps, st.none())), False),
            "created": _ts(draw(st.one_of(st.none(), steps)), False) if created else None,
            "amount": draw(st.one_of(st.none(), st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 2)))),
            "qty": draw(st.one_of(st.none(), st.integers(-3, 3))),
            "store": draw(st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))),
        }
        events.append(row)
        if draw(st.integers(0, 5)) == 0:
            events.append(dict(row))  # an exact duplicate event: counted twice
    aware_entities = draw(st.booleans())
    entities = [
        {
            "k1": draw(st.one_of(st.integers(1, 3), st.integers(1, 2), st.none())),
            "event_timestamp": _ts(draw(st.one_of(steps, st.integers(-60, 900), st.none())), aware_entities),
            "label": draw(st.integers(0, 1)),
        }
        for _ in range(draw(st.integers(0, 10)))
    ]
    if entities and draw(st.booleans()):
        entities.append(dict(entities[0]))  # a duplicate entity row comes back twice
    windows = draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3, unique=True))
    return created, aware_events, events, entities, aware_entities, windows


def _events_view(created, aware, events) -> ViewData:
    ts_type = pa.timestamp("us", tz="UTC") if aware else pa.timestamp("us")
    rows = [
        dict(
            r,
            event_timestamp=r["event_timestamp"].replace(tzinfo=UTC)
            if aware and r["event_timestamp"] is not None
            else r["event_timestamp"],
        )
        for r in events
    ]
    return ViewData(
        "orders",
        ["k1"],
        list(COLUMNS),
        rows,
        created=created,
        types={"event_timestamp": ts_type, **{c: t for c, (_, t) in COLUMNS.items()}},
    )


def _entity_table(entities, aware):
    ts = pa.timestamp("us", tz="+02:00") if aware else pa.timestamp("us")
    schema = pa.schema([("k1", pa.int64()), ("event_timestamp", ts), ("label", pa.int64())])
    return pa.Table.from_pylist(entities, schema=schema)


def _with_aggregation_view(store, data, aggs, aware, dialect):
    sql = store.registry.feature_views[data.name].sql
    store.registry.feature_views[data.name] = agg_view(data, sql, aggs, "timestamptz" if aware else "timestamp")
    return store


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_duckdb_aggregates_match_oracle(scenario):
    created, aware_events, events, entities, aware_entities, windows = scenario
    aggs = aggregations_for(windows)
    data = _events_view(created, aware_events, events)
    plain = ViewData(
        "latest",
        ["k1"],
        ["amount"],
        [dict(r) for r in events if r["k1"] is not None],
        created=created,
        types={"amount": pa.float64()},
    )
    plain.rows = [r for r in plain.rows if r["event_timestamp"] is not None]
    seen, unique = set(), []
    for r in plain.rows:  # rows equal on keys, ts and created have no defined latest row
        ident = (r["k1"], r["event_timestamp"], r["created"])
        if ident not in seen:
            seen.add(ident)
            unique.append(r)
    plain.rows = unique
    store = _with_aggregation_view(duckdb_store([data, plain]), data, aggs, aware_events, "duckdb")
    table = _entity_table(entities, aware_entities)
    expected = aggregate_oracle(entities, events, aggs, created)
    plain_expected = oracle(entities, [(plain, {}, None)], full_feature_names=True)
    refs = [f"orders:{a.name}" for a in aggs]
    for strategy in ("asof", "window", "join"):
        job = store.get_historical_features(table, refs, strategy=strategy)
        got = job.to_arrow()
        assert got.column_names[:3] == ["k1", "event_timestamp", "label"]
        assert got.column("label").to_pylist() == [e["label"] for e in entities]
        assert_matches(got.to_pylist(), expected, (strategy, job.sql))
        for staged in (True, False):  # an aggregation view beside a plain view
            job = store.get_historical_features(
                table, ["latest:amount"] + refs, full_feature_names=True, strategy=strategy, stage_views=staged
            )
            rows = job.to_arrow().to_pylist()
            assert [r["latest__amount"] for r in rows] == [r["latest__amount"] for r in plain_expected]
            assert_matches(
                [{k.split("__", 1)[-1]: v for k, v in r.items()} for r in rows], expected, (strategy, staged)
            )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_snowflake_path_through_fakesnow_matches_oracle(scenario):
    """The snowflake__aggregate_join macro through the real connector, executed by fakesnow."""
    fakesnow = pytest.importorskip("fakesnow")
    created, aware_events, events, entities, aware_entities, windows = scenario
    aggs = aggregations_for(windows)
    data = _events_view(created, False, events)  # fakesnow's write_pandas keeps naive timestamps only
    table = _entity_table(entities, aware_entities)
    expected = aggregate_oracle(entities, events, aggs, created)
    with warnings.catch_warnings(), fakesnow.patch():
        warnings.simplefilter("ignore")
        store = _with_aggregation_view(snowflake_store([data]), data, aggs, False, "snowflake")
        job = store.get_historical_features(table, [f"orders:{a.name}" for a in aggs])
        rows = job.to_arrow().to_pylist()
        store.warehouse.close()
    assert_matches(rows, expected, job.sql)


def test_window_edges_exactly():
    """ts = t - window and ts = t are in; a microsecond older than t - window is out."""
    t = dt.datetime(2024, 1, 2)
    events = [
        {"k1": 1, "event_timestamp": t - dt.timedelta(hours=1), "created": None, "amount": 1.0, "qty": 1, "store": "a"},
        {
            "k1": 1,
            "event_timestamp": t - dt.timedelta(hours=1, microseconds=1),
            "created": None,
            "amount": 2.0,
            "qty": 2,
            "store": "b",
        },
        {"k1": 1, "event_timestamp": t, "created": None, "amount": 4.0, "qty": 4, "store": "c"},
        {
            "k1": 1,
            "event_timestamp": t + dt.timedelta(microseconds=1),
            "created": None,
            "amount": 8.0,
            "qty": 8,
            "store": "d",
        },
    ]
    aggs = [
        Aggregation("n", "count", 3600, None, "bigint"),
        Aggregation("s", "sum", 3600, "qty", "bigint"),
        Aggregation("l", "last", 3600, "store", "varchar"),
        Aggregation("d", "count_distinct", 3600, "store", "bigint"),
    ]
    # 'c' again a microsecond before the window and 'a' at t - window: a value seen before the
    # window counts once if it is also in it, and a row exactly at t - window is in
    events.append(dict(events[1], store="c", amount=16.0, qty=16))
    events.append(dict(events[0], store="a", amount=32.0, qty=32))
    data = _events_view(False, False, events)
    store = _with_aggregation_view(duckdb_store([data]), data, aggs, False, "duckdb")
    table = _entity_table([{"k1": 1, "event_timestamp": t, "label": 0}], False)
    for strategy in ("asof", "window", "join"):
        row = (
            store.get_historical_features(table, ["orders:n", "orders:s", "orders:l", "orders:d"], strategy=strategy)
            .to_arrow()
            .to_pylist()[0]
        )
        assert (row["n"], row["s"], row["l"], row["d"]) == (3, 37, "c", 2), strategy
