"""Feast's keyword names and forms on sqlfeast's Python API, beside sqlfeast's own (no Feast needed).

Runs on a fresh copy of the example project (DuckDB warehouse, SQLite online store) with sample
data ending today, applied and materialized.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from sqlfeast import FeatureStore, OnlineClient, PushMode
from sqlfeast.errors import PushError, RetrievalError, SqlfeastError, UsageError
from sqlfeast.project.sample_data import today_utc, write_sample_data
from tests.conftest import copy_example

FEATS = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = copy_example(tmp_path_factory.mktemp("aliases") / "demo", with_data=False)
    model = root / "models" / "drivers" / "driver_hourly_stats.sql"
    model.write_text(model.read_text().rstrip() + "\nunion all\nselect * from {{ push_source('driver_stats_push') }}\n")
    write_sample_data(root, end=today_utc())
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with FeatureStore(root) as fs:
            fs.apply()
            fs.materialize("2020-01-01", "now", quiet=True)
        yield root
    finally:
        os.chdir(cwd)


@pytest.fixture
def fs(project):
    with FeatureStore(repo_path=project) as store:
        yield store


def test_columnar_entity_rows_are_rows(fs):
    columnar = fs.get_online_features(FEATS, entity_rows={"driver_id": [1004, 1005]}).to_dict()
    rows = fs.get_online_features(FEATS, [{"driver_id": 1004}, {"driver_id": 1005}]).to_dict()
    assert columnar == rows
    assert columnar["driver_id"] == [1004, 1005]
    assert all(isinstance(v, float) for v in columnar["conv_rate"])
    # A mapping of single values is still one row; tuples and pandas work as columns too.
    assert fs.get_online_features(FEATS, {"driver_id": 1004}).to_dict()["driver_id"] == [1004]
    assert fs.get_online_features(FEATS, {"driver_id": (1004, 1005)}).to_dict() == rows
    assert fs.get_online_features(FEATS, pd.DataFrame({"driver_id": [1004, 1005]})).to_dict() == rows
    client = OnlineClient.from_project(fs.root)
    assert client.get_online_features(FEATS, {"driver_id": [1004, 1005]}).to_dict() == rows


def test_columnar_mistakes_are_named(fs):
    with pytest.raises(RetrievalError, match="different lengths"):
        fs.get_online_features(FEATS, {"driver_id": [1004, 1005], "customer_id": [2001]})
    with pytest.raises(RetrievalError, match="mix lists and single values"):
        fs.get_online_features(FEATS, {"driver_id": [1004], "customer_id": 2001})


def test_repo_path_and_project_dir(project):
    with FeatureStore(repo_path=project) as a, FeatureStore(project) as b:
        assert a.root == b.root
    with pytest.raises(UsageError, match="not both"):
        FeatureStore(project, repo_path=project)


def test_list_and_get_with_feast_names(fs):
    assert [v.name for v in fs.list_feature_views(tags={"team": "drivers"})] == ["driver_hourly_stats"]
    assert fs.list_feature_views(tags={"team": "nobody"}) == []
    assert len(fs.list_feature_views(allow_cache=False)) == 3
    assert fs.get_feature_view("customer_profile", allow_registry_cache=True).name == "customer_profile"
    assert fs.get_entity("driver").join_keys == ["driver_id"]
    with pytest.raises(SqlfeastError, match="unknown entity 'drivr'.*driver"):
        fs.get_entity("drivr")
    assert [e.name for e in fs.list_entities(tags={"team": "drivers"})] == []  # entities carry no tags
    names = {getattr(s, "qualified_name", None) or s.name for s in fs.list_data_sources()}
    assert names == {"raw.driver_stats", "raw.customer_profile", "driver_stats_push"}
    assert fs.get_data_source("raw.driver_stats").name == "driver_stats"
    assert fs.get_data_source("driver_stats").qualified_name == "raw.driver_stats"
    assert fs.get_data_source("driver_stats_push").feature_views == ["driver_hourly_stats"]
    with pytest.raises(SqlfeastError, match="unknown data source"):
        fs.get_data_source("nope")
    assert fs.get_feature_service("driver_activity_v1", allow_cache=True).name == "driver_activity_v1"
    assert [s.name for s in fs.list_feature_services(tags={})] == ["driver_activity_v1"]


def test_feature_service_object_and_async(fs):
    service = fs.get_feature_service("driver_activity_v1")
    rows = [{"driver_id": 1001, "customer_id": 2001}]
    by_object = fs.get_online_features(service, rows).to_dict()
    assert by_object == fs.get_online_features("driver_activity_v1", rows).to_dict()
    got = asyncio.run(fs.get_online_features_async(FEATS, {"driver_id": [1001]}))
    assert got.to_dict() == fs.get_online_features(FEATS, [{"driver_id": 1001}]).to_dict()
    client = OnlineClient.from_project(fs.root)
    assert asyncio.run(client.get_online_features_async(FEATS, [{"driver_id": 1001}])).to_dict() == got.to_dict()
    resp = fs.get_online_features(FEATS, [{"driver_id": 1001}], include_feature_view_version_metadata=True)
    assert resp.to_dict() == got.to_dict()


def test_online_response_to_df_and_timestamps(fs):
    resp = fs.get_online_features(FEATS, [{"driver_id": 1001}, {"driver_id": 999}])
    plain = resp.to_dict()
    assert set(plain) == {"driver_id", "conv_rate", "acc_rate"}  # unchanged without the flag
    stamped = resp.to_dict(include_event_timestamps=True)
    ts = resp.event_timestamps["conv_rate"][0]
    assert stamped["conv_rate__event_timestamp"] == [ts, None]  # sqlfeast's name, as before
    assert stamped["conv_rate__ts"] == [int((ts - datetime(1970, 1, 1)).total_seconds()), 0]  # Feast's
    df = resp.to_df()
    assert list(df.columns) == ["driver_id", "conv_rate", "acc_rate"]
    assert df["conv_rate"].iloc[0] == plain["conv_rate"][0]
    assert "conv_rate__ts" in resp.to_df(include_event_timestamps=True).columns
    assert resp.to_arrow(include_event_timestamps=True).column("conv_rate__ts").to_pylist()[1] == 0


def test_retrieval_job_to_df_and_to_sql(fs):
    entity_df = pd.DataFrame({"driver_id": [1001, 1002], "event_timestamp": [today_utc() - timedelta(hours=3)] * 2})
    job = fs.get_historical_features(entity_df=entity_df, features=FEATS)
    assert job.to_df().equals(job.to_pandas())
    assert job.to_sql() == job.sql and "select" in job.to_sql().lower()
    service_job = fs.get_historical_features(
        entity_df=entity_df.assign(customer_id=[2001, 2002]), features=fs.get_feature_service("driver_activity_v1")
    )
    assert "current_balance" in service_job.to_df().columns
    with pytest.raises(UsageError, match="validation_reference"):
        job.to_df(validation_reference=object())


def test_materialize_with_feast_keywords(fs):
    start, end = today_utc() - timedelta(days=1), today_utc()
    ours = fs.materialize(start, end, ["driver_hourly_stats"], quiet=True)
    feasts = fs.materialize(start_date=start, end_date=end, feature_views=["driver_hourly_stats"], quiet=True)
    assert [r.view for r in feasts] == [r.view for r in ours] == ["driver_hourly_stats"]
    assert feasts[0].rows == ours[0].rows
    inc = fs.materialize_incremental(end_date=end, feature_views=["customer_profile"], quiet=True)
    assert [r.view for r in inc] == ["customer_profile"]
    with pytest.raises(UsageError, match="not both"):
        fs.materialize(start, end, start_date=start)
    with pytest.raises(UsageError, match="needs a start and an end"):
        fs.materialize(end_date=end)
    with pytest.raises(UsageError, match="disable_event_timestamp"):
        fs.materialize(start, end, disable_event_timestamp=True)
    with pytest.raises(UsageError, match="needs an end"):
        fs.materialize_incremental()


class FeastLikePushMode:
    """Stands for Feast's PushMode enum members: all push() reads is the member's name."""

    def __init__(self, name: str):
        self.name = name


def test_push_with_feast_names(fs):
    now = datetime.utcnow().replace(microsecond=0) - timedelta(minutes=5)

    def frame(driver: int, conv: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "driver_id": [driver],
                "event_timestamp": [now],
                "created": [now],
                "conv_rate": [conv],
                "acc_rate": [conv],
                "avg_daily_trips": [1],
            }
        )

    fs.push("driver_stats_push", df=frame(9101, 0.1), to=PushMode.ONLINE)
    fs.push(
        "driver_stats_push",
        df=frame(9102, 0.2),
        to=FeastLikePushMode("ONLINE_AND_OFFLINE"),
        allow_registry_cache=True,
        transform_on_write=True,
    )
    fs.push("driver_stats_push", frame(9103, 0.3), to="offline")
    got = fs.get_online_features(FEATS, {"driver_id": [9101, 9102, 9103]}).to_dict()
    assert got["conv_rate"] == [0.1, 0.2, None]
    with pytest.raises(PushError, match="'to' must be one of"):
        fs.push("driver_stats_push", df=frame(9104, 0.4), to="sideways")
    with pytest.raises(PushError, match="'to' must be one of"):
        fs.push("driver_stats_push", df=frame(9104, 0.4), to=FeastLikePushMode("SIDEWAYS"))
    with pytest.raises(UsageError, match="not both"):
        fs.push("driver_stats_push", frame(9104, 0.4), df=frame(9104, 0.4))
    assert fs.get_online_features(FEATS, {"driver_id": [9104]}).to_dict()["conv_rate"] == [None]


def test_write_to_online_store(fs):
    now = datetime.utcnow().replace(microsecond=0) - timedelta(minutes=5)
    df = pd.DataFrame(
        {
            "driver_id": [9201, 9202],
            "event_timestamp": [now, now],
            "created": [now, now],
            "conv_rate": [0.5, 0.6],
            "acc_rate": [0.1, 0.2],
            "avg_daily_trips": [1, 2],
        }
    )
    assert fs.write_to_online_store("driver_hourly_stats", df) == {"written": 2, "skipped": 0}
    older = df.assign(event_timestamp=[now - timedelta(hours=1)] * 2, conv_rate=[0.0, 0.0])
    assert fs.write_to_online_store("driver_hourly_stats", df=pa.Table.from_pandas(older)) == {
        "written": 0,
        "skipped": 2,
    }  # newer wins
    assert fs.get_online_features(FEATS, {"driver_id": [9201, 9202]}).to_dict()["conv_rate"] == [0.5, 0.6]
    with pytest.raises(UsageError, match="lack column"):
        fs.write_to_online_store("driver_hourly_stats", df.drop(columns=["acc_rate"]))
    with pytest.raises(RetrievalError, match="unknown feature view"):
        fs.write_to_online_store("driver_hourly_stat", df)


def test_teardown_removes_online_tables(tmp_path):
    root = copy_example(tmp_path / "demo", with_data=False)
    write_sample_data(root, drivers=3, customers=2, days=1, end=today_utc())
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with FeatureStore(repo_path=root) as fs:
            fs.apply()
            dropped = fs.teardown()
            assert len(dropped) >= 2
            assert fs.online_store.load_registry() is None
    finally:
        os.chdir(cwd)
