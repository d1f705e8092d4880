"""Every store checks rows before writing and answers the same: values that do not fit the
declared type and keys over the 2,048-byte limit are rejected naming view, column and entity key,
with nothing of the batch written; NULL or oversized keys read as NOT_FOUND; duplicate keys in one
write are counted as skipped. On SQLite, moto and AWS DynamoDB Local."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sqlfeast.errors import OnlineStoreError
from sqlfeast.online import open_online_store
from sqlfeast.online.base import ReadRequest
from sqlfeast.online.client import OnlineClient

from .conftest import dynamodb_settings
from .helpers import T0, registry_of, stats_rows, stats_view


@pytest.fixture(params=["sqlite", "moto", "dynamodb_local"])
def store(request, tmp_path, unique_project):
    if request.param == "sqlite":
        settings = {"type": "sqlite", "path": "online.db"}
    elif request.param == "moto":
        settings = dynamodb_settings(request.getfixturevalue("dynamodb_endpoint"))
    else:
        settings = dynamodb_settings(request.getfixturevalue("dynamodb_local_endpoint"))
    store = open_online_store(settings, unique_project, tmp_path)
    registry = registry_of(unique_project, stats_view())
    store.apply(registry)
    yield store, registry
    store.teardown(registry)
    store.close()


def stored_keys(store, view, ids) -> set[str]:
    found = store.read([ReadRequest(view, [f"driver_id={i}" for i in ids], ["conv_rate"])])[0]
    return set(found)


@pytest.mark.parametrize(
    "column,values,shown",
    [
        ("trips", pa.array(["1", "abc"]), "'1'"),  # text in a bigint column
        ("conv_rate", pa.array(["0.5", "x"]), "'0.5'"),  # text in a double column
        ("trips", pa.array([1.0, 2.5]), "2.5"),  # a fraction does not fit a bigint
    ],
)
def test_a_value_that_does_not_fit_its_type_is_rejected_naming_view_column_and_key(store, column, values, shown):
    store, registry = store
    view = registry.get_feature_view("driver_stats")
    rows = stats_rows([1, 2], T0, 0.5)
    rows = rows.set_column(rows.schema.get_field_index(column), column, values)
    with pytest.raises(OnlineStoreError) as err:
        store.write_rows(view, rows)
    text = str(err.value)
    assert "driver_stats" in text and f"'{column}'" in text and "driver_id=" in text and shown in text
    assert stored_keys(store, view, [1, 2]) == set()


def test_lossless_casts_are_written(store):
    store, registry = store
    view = registry.get_feature_view("driver_stats")
    rows = stats_rows([1], T0, 0.5)
    rows = rows.set_column(rows.schema.get_field_index("trips"), "trips", pa.array([7], pa.int32()))
    rows = rows.set_column(rows.schema.get_field_index("conv_rate"), "conv_rate", pa.array([3], pa.int64()))
    store.write_rows(view, rows)
    found = store.read([ReadRequest(view, ["driver_id=1"], ["conv_rate", "trips"])])[0]
    assert found["driver_id=1"].values == {"conv_rate": 3.0, "trips": 7}


def test_a_key_over_the_limit_is_rejected_on_write_and_not_found_on_read(store):
    store, registry = store
    view = stats_view(keys=("driver_id",))
    long_view = type(view)(**{**view.__dict__, "join_key_types": {"driver_id": "varchar"}})
    big = "x" * 3000
    rows = pa.table(
        {
            "driver_id": pa.array(["short", big]),
            "event_timestamp": pa.array([T0, T0], pa.timestamp("us")),
            "created": pa.array([T0, T0], pa.timestamp("us")),
            "conv_rate": pa.array([0.1, 0.2]),
            "trips": pa.array([1, 2], pa.int64()),
        }
    )
    with pytest.raises(OnlineStoreError) as err:
        store.write_rows(long_view, rows)
    assert "2048-byte key limit" in str(err.value) and "driver_id=xxxx" in str(err.value)
    found = store.read([ReadRequest(long_view, ["driver_id=short"], ["conv_rate"])])[0]
    assert found == {}  # nothing of the batch was written
    response = OnlineClient(store, registry_of(registry.project, long_view)).get_online_features(
        ["driver_stats:conv_rate"], [{"driver_id": big}]
    )
    assert response.statuses["conv_rate"] == ["NOT_FOUND"]  # on DynamoDB too, not a failed request


def test_null_and_oversized_keys_read_as_not_found(store):
    store, registry = store
    view = registry.get_feature_view("driver_stats")
    store.write_rows(view, stats_rows([1], T0, 0.5))
    client = OnlineClient(store, registry)
    response = client.get_online_features(
        ["driver_stats:conv_rate"], [{"driver_id": 1}, {"driver_id": None}, {"driver_id": "9" * 3000}]
    )
    assert response.statuses["conv_rate"] == ["PRESENT", "NOT_FOUND", "NOT_FOUND"]


def test_duplicate_keys_in_one_write_count_as_skipped_on_every_store(store):
    store, registry = store
    view = registry.get_feature_view("driver_stats")
    rows = pa.concat_tables([stats_rows([1], T0, 0.5), stats_rows([1], T0.replace(hour=1), 0.7)])
    result = store.write_rows(view, rows)
    assert (result.written, result.skipped) == (1, 1)
