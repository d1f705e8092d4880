"""Historical retrieval API: entity inputs, key mappings, names, time zones, outputs, errors."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from sqlfeast.compile.templating import MacroLibrary
from sqlfeast.errors import RetrievalError, SqlfeastError, UsageError
from sqlfeast.offline.historical import parse_feature_ref
from tests.offline.historical_helpers import UTC, ViewData, duckdb_store, oracle

T = lambda h: dt.datetime(2024, 1, 1) + dt.timedelta(hours=h)  # noqa: E731


def driver_view(ttl=0):
    return ViewData(
        "driver_stats",
        ["driver_id"],
        ["conv_rate", "acc_rate"],
        [
            dict(driver_id=1, event_timestamp=T(1), created=T(1), conv_rate=0.1, acc_rate=0.5),
            dict(driver_id=1, event_timestamp=T(3), created=T(3), conv_rate=0.3, acc_rate=0.6),
            dict(driver_id=1, event_timestamp=T(3), created=T(4), conv_rate=0.35, acc_rate=0.65),
            dict(driver_id=2, event_timestamp=T(2), created=T(2), conv_rate=0.2, acc_rate=None),
        ],
        ttl_seconds=ttl,
    )


def location_view():
    return ViewData(
        "location_stats",
        ["location_id"],
        ["avg_wait"],
        [
            dict(location_id=10, event_timestamp=T(0), created=T(0), avg_wait=1.0),
            dict(location_id=20, event_timestamp=T(1), created=T(1), avg_wait=2.0),
            dict(location_id=10, event_timestamp=T(4), created=T(4), avg_wait=4.0),
        ],
    )


ENTITIES = [
    dict(driver_id=1, event_timestamp=T(3), label=1, origin_id=10, destination_id=20),
    dict(driver_id=1, event_timestamp=T(5), label=0, origin_id=20, destination_id=10),
    dict(driver_id=2, event_timestamp=T(2), label=1, origin_id=10, destination_id=10),
    dict(driver_id=3, event_timestamp=T(2), label=0, origin_id=30, destination_id=20),
    dict(driver_id=1, event_timestamp=T(3), label=1, origin_id=10, destination_id=20),
]


@pytest.fixture
def store(tmp_path):
    return duckdb_store([driver_view(), location_view()], services={"svc": ["driver_stats:conv_rate"]}, tmp=tmp_path)


def rows(job):
    return job.to_arrow().to_pylist()


# -- semantics on small hand-checked data -------------------------------------------------------
def test_known_answer_order_duplicates_and_labels(store):
    got = rows(store.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"]))
    assert [r["conv_rate"] for r in got] == [0.35, 0.35, 0.2, None, 0.35]
    assert [r["label"] for r in got] == [1, 0, 1, 0, 1]
    assert list(got[0]) == ["driver_id", "event_timestamp", "label", "origin_id", "destination_id", "conv_rate"]


def test_ttl_bounds_are_inclusive(tmp_path):
    s = duckdb_store([driver_view(ttl=7200)], tmp=tmp_path)
    ent = [
        dict(driver_id=1, event_timestamp=T(5)),
        dict(
            driver_id=1,
            event_timestamp=T(
                5,
            )
            + dt.timedelta(seconds=1),
        ),
        dict(driver_id=2, event_timestamp=T(2)),
    ]
    got = rows(s.get_historical_features(pa.Table.from_pylist(ent), ["driver_stats:conv_rate"]))
    # ts 3h is exactly 2h before 5h: still inside; one second later it is outside.
    assert [r["conv_rate"] for r in got] == [0.35, None, 0.2]


def test_key_mapping_joins_the_same_view_twice(store):
    feats = [
        "location_stats[as=origin, location_id=origin_id]:avg_wait",
        "location_stats[as=destination, location_id=destination_id]:avg_wait",
    ]
    got = rows(store.get_historical_features(pa.Table.from_pylist(ENTITIES), feats, full_feature_names=True))
    views = [
        (location_view(), {"location_id": "origin_id"}, "origin"),
        (location_view(), {"location_id": "destination_id"}, "destination"),
    ]
    assert got == oracle(ENTITIES, views, full_feature_names=True)
    assert [r["origin__avg_wait"] for r in got] == [1.0, 2.0, 1.0, None, 1.0]


def test_parse_feature_ref():
    ref = parse_feature_ref("v[as=o, a=b, c = d]:f")
    assert (ref.view, ref.feature, ref.alias, ref.key_map) == ("v", "f", "o", (("a", "b"), ("c", "d")))
    assert parse_feature_ref("v").feature is None


def test_feature_service_and_whole_view(store):
    ent = pa.Table.from_pylist(ENTITIES)
    assert rows(store.get_historical_features(ent, "svc")) == rows(
        store.get_historical_features(ent, ["driver_stats:conv_rate"])
    )
    got = rows(store.get_historical_features(ent, ["driver_stats"]))
    assert list(got[0])[-2:] == ["conv_rate", "acc_rate"]


def test_filter_by_created_timestamp(tmp_path):
    view = ViewData(
        "v",
        ["driver_id"],
        ["x"],
        [
            dict(driver_id=1, event_timestamp=T(1), created=T(1), x=1.0),
            dict(driver_id=1, event_timestamp=T(2), created=T(9), x=2.0),  # known only later
        ],
    )
    s = duckdb_store([view], tmp=tmp_path)
    ent = pa.Table.from_pylist([dict(driver_id=1, event_timestamp=T(3))])
    assert rows(s.get_historical_features(ent, ["v:x"]))[0]["x"] == 2.0
    for strategy in ("asof", "window", "join"):
        got = rows(s.get_historical_features(ent, ["v:x"], filter_by_created_timestamp=True, strategy=strategy))
        assert got[0]["x"] == 1.0


# -- entity inputs -------------------------------------------------------------------------------
def test_entity_inputs_all_give_the_same_answer(store, tmp_path):
    pd = pytest.importorskip("pandas")
    table = pa.Table.from_pylist(ENTITIES)
    path = tmp_path / "entities.parquet"
    pq.write_table(table, path)
    feats = ["driver_stats:conv_rate", "driver_stats:acc_rate"]
    expected = rows(store.get_historical_features(table, feats))
    assert rows(store.get_historical_features(pd.DataFrame(ENTITIES), feats)) == expected
    assert rows(store.get_historical_features(str(path), feats)) == expected
    assert rows(store.get_historical_features(path, feats)) == expected
    assert (
        rows(store.get_historical_features(pa.RecordBatchReader.from_batches(table.schema, table.to_batches()), feats))
        == expected
    )
    sql = f"select * from read_parquet('{path}')"
    assert rows(store.get_historical_features(sql, feats)) == expected
    assert rows(store.get_historical_features(table, feats, strategy="window")) == expected


def test_timezones_are_converted_not_shifted(tmp_path):
    """An entity timestamp at 05:00+02:00 is 03:00 UTC; naive timestamps are UTC."""
    s = duckdb_store([driver_view()], tmp=tmp_path)
    plus2 = dt.timezone(dt.timedelta(hours=2))
    ent = pa.table(
        {
            "driver_id": [1, 1],
            "event_timestamp": pa.array(
                [dt.datetime(2024, 1, 1, 4, 30, tzinfo=plus2), dt.datetime(2024, 1, 1, 5, 0, tzinfo=plus2)],
                pa.timestamp("us", tz="+02:00"),
            ),
        }
    )
    got = s.get_historical_features(ent, ["driver_stats:conv_rate"]).to_arrow()
    assert got.column("conv_rate").to_pylist() == [0.1, 0.35]
    assert got.schema.field("event_timestamp").type == pa.timestamp("us", tz="+02:00")  # returned untouched


def test_timestamptz_feature_view(tmp_path):
    view = driver_view()
    view.types = {"event_timestamp": pa.timestamp("us", tz="America/New_York")}
    view.rows = [dict(r, event_timestamp=r["event_timestamp"].replace(tzinfo=UTC)) for r in view.rows]
    s = duckdb_store([view], tmp=tmp_path)
    s.registry.feature_views["driver_stats"].columns = {"event_timestamp": "timestamptz", "created": "timestamp"}
    s.warehouse.execute("SET TimeZone = 'Asia/Tokyo'")  # must not matter
    got = rows(s.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"]))
    assert [r["conv_rate"] for r in got] == [0.35, 0.35, 0.2, None, 0.35]
    # and the same when the type is only known from the warehouse
    s.registry.feature_views["driver_stats"].columns = {}
    got = rows(s.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"]))
    assert [r["conv_rate"] for r in got] == [0.35, 0.35, 0.2, None, 0.35]


def test_pandas_nanoseconds_and_dates(store):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": pd.to_datetime(["2024-01-01 03:00:00", "2024-01-02 00:00:00"])}
    )
    assert [r["conv_rate"] for r in rows(store.get_historical_features(df, ["driver_stats:conv_rate"]))] == [0.35, 0.2]
    ent = pa.table({"driver_id": [2], "event_timestamp": pa.array([dt.date(2024, 1, 2)])})
    assert rows(store.get_historical_features(ent, ["driver_stats:conv_rate"]))[0]["conv_rate"] == 0.2


# -- outputs -------------------------------------------------------------------------------------
def test_to_parquet_to_table_to_pandas_and_sql(store, tmp_path):
    job = store.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"])
    expected = job.to_arrow()
    out = tmp_path / "train.parquet"
    assert job.to_parquet(out, batch_size=2) == len(ENTITIES)  # several batches, streamed
    assert pq.read_table(out).equals(expected)
    relation = job.to_table("training_set")
    assert store.warehouse.query_arrow(f"select * from {relation}").to_pylist() == expected.to_pylist()
    if pytest.importorskip("pandas"):
        assert job.to_pandas()["conv_rate"].tolist()[:3] == [0.35, 0.35, 0.2]
    assert "asof left join" in job.sql.lower()


TWO_VIEWS = [
    "driver_stats:conv_rate",
    "location_stats[as=origin, location_id=origin_id]:avg_wait",
    "driver_stats:acc_rate",
]


def test_views_joined_one_query_each_by_default_on_duckdb(store, tmp_path):
    staged = store.get_historical_features(pa.Table.from_pylist(ENTITIES), TWO_VIEWS)
    single = store.get_historical_features(pa.Table.from_pylist(ENTITIES), TWO_VIEWS, stage_views=False)
    assert len(staged.stages) == 1 and not single.stages
    assert staged.sql.startswith("CREATE TEMPORARY TABLE") and "positional join" in staged.sql
    assert "positional join" not in single.sql
    expected = single.to_arrow()
    assert expected.column_names == [
        "driver_id",
        "event_timestamp",
        "label",
        "origin_id",
        "destination_id",
        "conv_rate",
        "acc_rate",
        "avg_wait",
    ]
    out = tmp_path / "staged.parquet"
    assert staged.to_parquet(out, batch_size=2) == len(ENTITIES)  # several batches, streamed
    assert pq.read_table(out).equals(expected)
    assert [r["avg_wait"] for r in expected.to_pylist()] == [1.0, 2.0, 1.0, None, 1.0]
    # The staging tables are gone afterwards, also when a reader stops early.
    batches = staged.iter_batches(batch_size=2)
    next(batches)
    batches.close()
    temp = "select count(*) from duckdb_tables() where table_name like '__sqlfeast%'"
    assert store.warehouse.query_arrow(temp).column(0)[0].as_py() == 0


def test_stage_views_setting_from_the_profile(tmp_path):
    s = duckdb_store([driver_view(), location_view()], tmp=tmp_path, pit_stage_views=False)
    assert not s.get_historical_features(pa.Table.from_pylist(ENTITIES), TWO_VIEWS).stages
    assert s.get_historical_features(pa.Table.from_pylist(ENTITIES), TWO_VIEWS, stage_views=True).stages
    empty = s.get_historical_features(pa.Table.from_pylist(ENTITIES).slice(0, 0), TWO_VIEWS, stage_views=True)
    assert empty.to_arrow().num_rows == 0 and empty.to_arrow().column_names[-1] == "avg_wait"
    bad = duckdb_store([driver_view(), location_view()], tmp=tmp_path, pit_stage_views="sometimes")
    with pytest.raises(UsageError) as err:
        bad.get_historical_features(pa.Table.from_pylist(ENTITIES), TWO_VIEWS)
    assert err.value.message == "pit_stage_views / stage_views must be true or false, not 'sometimes'"


def test_time_range_is_pushed_down(store):
    job = store.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"])
    assert "<= CAST('2024-01-01 05:00:00.000000' AS TIMESTAMP)" in job.sql
    s = duckdb_store([driver_view(ttl=3600)])
    job = s.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"])
    assert ">= CAST('2024-01-01 01:00:00.000000' AS TIMESTAMP)" in job.sql  # min ts 2h - ttl 1h


def test_empty_entity_rows(store):
    ent = pa.Table.from_pylist(ENTITIES).slice(0, 0)
    got = store.get_historical_features(ent, ["driver_stats:conv_rate"]).to_arrow()
    assert got.num_rows == 0 and got.column_names[-1] == "conv_rate"


def test_strategy_from_profile_and_project_macro_override(tmp_path):
    s = duckdb_store([driver_view()], tmp=tmp_path, pit_strategy="window")
    job = s.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"])
    assert "asof" not in job.sql.lower() and "__fid" in job.sql
    lib = MacroLibrary.builtin()
    lib.add(
        "macros/pit.sql",
        "{% macro duckdb__point_in_time_join(entity, views, options) -%}"
        "select {{ entity.row | quote }}, 42.0 as {{ views[0].features[0].output | quote }} "
        "from {{ entity.relation }} order by 1{%- endmacro %}",
    )
    s.renderer = lib.renderer("duckdb")
    got = rows(s.get_historical_features(pa.Table.from_pylist(ENTITIES), ["driver_stats:conv_rate"]))
    assert [r["conv_rate"] for r in got] == [42.0] * len(ENTITIES)


def test_identifiers_cannot_inject(tmp_path):
    view = ViewData(
        'we"ird',
        ["driver_id"],
        ['x"; drop table t; --'],
        [dict(driver_id=1, event_timestamp=T(1), created=T(1), **{'x"; drop table t; --': 1.5})],
    )
    s = duckdb_store([view], tmp=tmp_path)
    got = rows(
        s.get_historical_features(
            pa.table({"driver_id": [1], "event_timestamp": [T(2)]}), ['we"ird:x"; drop table t; --']
        )
    )
    assert got[0]['x"; drop table t; --'] == 1.5


# -- clear errors --------------------------------------------------------------------------------
ENT = pa.Table.from_pylist(ENTITIES)


@pytest.mark.parametrize(
    "entity_df, features, options, error, message",
    [
        (
            ENT,
            ["driver_stat:conv_rate"],
            {},
            RetrievalError,
            "unknown feature view 'driver_stat' (did you mean 'driver_stats'?)",
        ),
        (
            ENT,
            ["driver_stats:conv_rat"],
            {},
            RetrievalError,
            "feature view 'driver_stats' has no feature 'conv_rat' (did you mean 'conv_rate'?)",
        ),
        (ENT, [], {}, RetrievalError, "no features requested"),
        (ENT, "svx", {}, RetrievalError, "unknown feature service 'svx' (did you mean 'svc'?)"),
        (ENT, ["driver_stats:"], {}, RetrievalError, "feature reference 'driver_stats:' names no feature after ':'"),
        (
            ENT,
            ["driver_stats[as]:conv_rate"],
            {},
            RetrievalError,
            "cannot read 'as' in feature reference 'driver_stats[as]:conv_rate'",
        ),
        (
            ENT,
            ["location_stats[loc_id=origin_id]:avg_wait"],
            {},
            RetrievalError,
            "'loc_id' in location_stats[...] is not a join key of feature view 'location_stats'",
        ),
        (
            ENT.drop_columns(["driver_id"]),
            ["driver_stats:conv_rate"],
            {},
            RetrievalError,
            "entity rows have no column 'driver_id' (join key 'driver_id' of feature view 'driver_stats')",
        ),
        (
            ENT.drop_columns(["event_timestamp"]),
            ["driver_stats:conv_rate"],
            {},
            RetrievalError,
            "entity rows have no timestamp column 'event_timestamp'",
        ),
        (
            ENT,
            ["driver_stats:conv_rate"],
            {"timestamp_column": "ts"},
            RetrievalError,
            "entity rows have no timestamp column 'ts'",
        ),
        (
            ENT.set_column(1, "event_timestamp", pa.array(["2024-01-01"] * 5)),
            ["driver_stats:conv_rate"],
            {},
            RetrievalError,
            "entity timestamp column 'event_timestamp' has type string, not a timestamp",
        ),
        (
            ENT,
            ["driver_stats:conv_rate", "driver_stats:conv_rate"],
            {"strategy": "magic"},
            UsageError,
            "unknown point-in-time strategy 'magic'",
        ),
        (
            ENT,
            ["driver_stats:conv_rate"],
            {"filter_by_created": True},
            UsageError,
            "unknown option 'filter_by_created' for get_historical_features (did you mean 'filter_by_created_timestamp'?)",
        ),
        (
            ENT,
            ["driver_stats:conv_rate", "location_stats[as=driver_stats, location_id=origin_id]:avg_wait"],
            {},
            RetrievalError,
            "feature view 'driver_stats' is joined twice with different join keys",
        ),
        (
            ENT,
            ["location_stats[location_id=origin_id]:avg_wait", "location_stats[location_id=destination_id]:avg_wait"],
            {},
            RetrievalError,
            "feature view 'location_stats' is joined twice with different join keys",
        ),
        (
            ENT,
            [
                "location_stats[as=o, location_id=origin_id]:avg_wait",
                "location_stats[as=d, location_id=destination_id]:avg_wait",
            ],
            {},
            RetrievalError,
            "output column 'avg_wait' of feature 'd:avg_wait' collides with feature 'o:avg_wait'",
        ),
        (
            ENT.append_column("conv_rate", pa.array([1] * 5)),
            ["driver_stats:conv_rate"],
            {},
            RetrievalError,
            "output column 'conv_rate' of feature 'driver_stats:conv_rate' collides with an entity column",
        ),
        ("missing.parquet", ["driver_stats:conv_rate"], {}, RetrievalError, "entity file not found: missing.parquet"),
        (42, ["driver_stats:conv_rate"], {}, RetrievalError, "entity rows of type int are not supported"),
        ("select nope from nowhere", ["driver_stats:conv_rate"], {}, SqlfeastError, "DuckDB: Catalog Error"),
    ],
)
def test_clear_errors(store, entity_df, features, options, error, message):
    with pytest.raises(error) as info:
        store.get_historical_features(entity_df, features, **options).to_arrow()
    # The whole message, one line, no traceback text; database errors keep their own detail.
    text = info.value.render()
    assert "Traceback" not in text
    # The whole message, with or without its hint; a database error keeps the database's detail.
    assert message in (info.value.message, text) or (message.startswith("DuckDB:") and text.startswith(message)), text


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_historical(example_project, monkeypatch):
    from sqlfeast.cli import main

    monkeypatch.chdir(example_project)
    import duckdb

    duckdb.sql(
        "copy (select driver_id, event_timestamp + interval 1 hour as event_timestamp, 1 as label "
        "from 'data/driver_stats.parquet' order by all limit 50) to 'ent.parquet'"
    )
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "historical",
            "-e",
            "ent.parquet",
            "-f",
            "driver_hourly_stats:conv_rate, driver_hourly_stats:acc_rate",
            "-o",
            "out.parquet",
            "--full-feature-names",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Wrote 50 rows to out.parquet" in res.output
    by_file = pq.read_table("out.parquet")
    assert by_file.column_names[-2:] == ["driver_hourly_stats__conv_rate", "driver_hourly_stats__acc_rate"]
    assert by_file.column("driver_hourly_stats__conv_rate").null_count < 50
    res = runner.invoke(
        main,
        [
            "historical",
            "--entity-sql",
            "select * from read_parquet('ent.parquet')",
            "-f",
            "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate",
            "-o",
            "sql.parquet",
            "--full-feature-names",
            "--strategy",
            "window",
        ],
    )
    assert res.exit_code == 0, res.output
    assert pq.read_table("sql.parquet").equals(by_file)
    res = runner.invoke(main, ["historical", "-e", "ent.parquet", "-f", "driver_hourly_stats:nope", "-o", "x.parquet"])
    assert res.exit_code == 1 and "feature view 'driver_hourly_stats' has no feature 'nope'" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["historical", "-f", "driver_hourly_stats:conv_rate", "-o", "x.parquet"])
    assert res.exit_code == 2 and "pass exactly one of -e/--entities FILE and --entity-sql QUERY" in res.output
