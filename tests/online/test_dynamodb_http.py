"""The DynamoDB data-plane client (signed JSON POSTs) against a real server: error codes, their
mapping to OnlineStoreError, retries, timeouts, lost connections and endpoint resolution."""

from __future__ import annotations

import boto3
import pytest

from sqlfeast.errors import OnlineStoreError
from sqlfeast.online import open_online_store
from sqlfeast.online.base import ReadRequest
from sqlfeast.online.client import OnlineClient
from sqlfeast.online.dynamodb_http import DynamoDBConnectionError, DynamoDBError, DynamoDBHttp

from .conftest import dynamodb_settings
from .helpers import HOUR, T0, registry_of, stats_rows, stats_view
from .proxy import FaultProxy


@pytest.fixture
def proxy(dynamodb_endpoint):
    p = FaultProxy(dynamodb_endpoint).start()
    yield p
    p.stop()


def raw_client(endpoint: str, **kwargs) -> DynamoDBHttp:
    session = boto3.session.Session(region_name="us-east-1")
    return DynamoDBHttp(endpoint, "us-east-1", session.get_credentials(), **kwargs)


def applied_store(endpoint: str, project: str, tmp_path, **settings):
    store = open_online_store(dynamodb_settings(endpoint, **settings), project, tmp_path)
    view = stats_view()
    registry = registry_of(project, view)
    store.apply(registry)
    return store, view, registry


def test_operations_round_trip_as_dynamodb_json(dynamodb_endpoint, unique_project, tmp_path):
    store, view, _ = applied_store(dynamodb_endpoint, unique_project, tmp_path)
    table = store.table_name(view.name)
    http = raw_client(dynamodb_endpoint)
    item = {
        "entity_key": {"S": "driver_id=1"},
        "_event_ts": {"N": "5"},
        "_created_ts": {"N": "5"},
        "blob": {"B": b"\x00\xff"},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "list": {"L": [{"N": "1"}, {"S": "é"}]},
    }
    assert http.call("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": item}}]}}).get(
        "UnprocessedItems"
    ) in ({}, None)
    got = http.call("BatchGetItem", {"RequestItems": {table: {"Keys": [{"entity_key": {"S": "driver_id=1"}}]}}})
    [back] = got["Responses"][table]
    assert back == {**item, "blob": {"B": "AP8="}}  # binary travels as base64 text
    # ... and boto3 reads the same item with the bytes it sent
    boto = boto3.client("dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1")
    assert boto.get_item(TableName=table, Key={"entity_key": {"S": "driver_id=1"}})["Item"]["blob"] == {
        "B": b"\x00\xff"
    }
    http.close()
    store.close()


def test_error_answers_carry_dynamodbs_code(dynamodb_endpoint, unique_project, tmp_path):
    store, view, _ = applied_store(dynamodb_endpoint, unique_project, tmp_path)
    http = raw_client(dynamodb_endpoint)
    with pytest.raises(DynamoDBError) as missing:
        http.call("BatchGetItem", {"RequestItems": {"no-such-table": {"Keys": [{"entity_key": {"S": "x"}}]}}})
    assert missing.value.code == "ResourceNotFoundException" and missing.value.status == 400
    table = store.table_name(view.name)
    item = {"entity_key": {"S": "k"}, "_event_ts": {"N": "1"}, "_created_ts": {"N": "1"}}
    http.call("PutItem", {"TableName": table, "Item": item})
    with pytest.raises(DynamoDBError) as failed:
        http.call(
            "PutItem",
            {
                "TableName": table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": "entity_key"},
            },
        )
    assert failed.value.code == "ConditionalCheckFailedException"
    with pytest.raises(DynamoDBError) as invalid:
        http.call("PutItem", {"TableName": table, "Item": {"other": {"S": "no key"}}})
    assert invalid.value.code == "ValidationException"
    http.close()
    store.close()


def test_missing_table_asks_for_apply(dynamodb_endpoint, unique_project, tmp_path):
    store = open_online_store(dynamodb_settings(dynamodb_endpoint), unique_project, tmp_path)
    view = stats_view()
    with pytest.raises(OnlineStoreError) as err:
        store.read([ReadRequest(view, ["driver_id=1"], ["trips"])])
    assert "DynamoDB BatchGetItem failed: ResourceNotFoundException" in err.value.render()
    assert "run 'sqlfeast apply' first" in err.value.render()
    with pytest.raises(OnlineStoreError, match="BatchWriteItem failed: ResourceNotFoundException"):
        store.batch_write(store.table_name(view.name), [{"entity_key": {"S": "x"}}])
    store.close()


def test_condition_failure_reaches_the_caller_as_not_written(dynamodb_endpoint, unique_project, tmp_path):
    store, view, registry = applied_store(dynamodb_endpoint, unique_project, tmp_path, newer_wins="conditional")
    assert store.write_rows(view, stats_rows([1, 2], T0 + HOUR, 0.9, 9)).written == 2
    result = store.write_rows(view, stats_rows([1, 2, 3], T0, 0.1, 1))  # older for 1 and 2
    assert (result.written, result.skipped) == (1, 2)
    data = OnlineClient(store, registry).get_online_features(
        "driver_stats:trips", [{"driver_id": i} for i in (1, 2, 3)]
    )
    assert data.to_dict()["trips"] == [9, 9, 1]
    store.close()


def test_throttled_conditional_puts_are_retried(proxy, unique_project, tmp_path):
    store, view, registry = applied_store(proxy.endpoint, unique_project, tmp_path)
    proxy.throttle_every = 2
    result = store.write_rows(view, stats_rows(list(range(1, 21)), T0, 0.5, 4))  # a small write: PutItems
    assert result.written == 20 and proxy.counts["throttled"] >= 10
    data = OnlineClient(store, registry).get_online_features(
        "driver_stats:trips", [{"driver_id": i} for i in range(1, 21)]
    )
    assert data.to_dict()["trips"] == [4] * 20
    store.close()


def test_lost_server_is_a_clear_error_and_reads_resume_when_it_returns(proxy, unique_project, tmp_path):
    store, view, registry = applied_store(proxy.endpoint, unique_project, tmp_path, connect_attempts=2)
    store.write_rows(view, stats_rows([1], T0, 0.5, 4))
    client = OnlineClient(store, registry)
    assert client.get_online_features("driver_stats:trips", [{"driver_id": 1}]).to_dict()["trips"] == [4]
    proxy.stop()
    with pytest.raises(OnlineStoreError) as err:
        client.get_online_features("driver_stats:trips", [{"driver_id": 1}])
    assert err.value.message.startswith(f"cannot reach DynamoDB at {proxy.endpoint}: ")
    assert "re-running is safe" in err.value.render()
    proxy.start()  # same port: the pool opens new connections
    assert client.get_online_features("driver_stats:trips", [{"driver_id": 1}]).to_dict()["trips"] == [4]
    store.close()


def test_read_timeout_setting_bounds_a_silent_server(proxy, unique_project, tmp_path):
    store, view, registry = applied_store(
        proxy.endpoint, unique_project, tmp_path, read_timeout=0.3, connect_attempts=1
    )
    proxy.delay = 1.5
    with pytest.raises(OnlineStoreError, match=f"cannot reach DynamoDB at {proxy.endpoint}: .*timed out"):
        store.read([ReadRequest(view, ["driver_id=1"], ["trips"])])
    proxy.delay = 0
    store.close()


def test_connection_refused_raises_connection_error():
    from tests.online.conftest import free_port

    http = raw_client(f"http://127.0.0.1:{free_port()}", connect_timeout=1)
    with pytest.raises(DynamoDBConnectionError):
        http.call("BatchGetItem", {"RequestItems": {}})
    http.close()


def test_endpoint_comes_from_boto3_configuration(dynamodb_endpoint, unique_project, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    settings = dynamodb_settings(dynamodb_endpoint)
    del settings["endpoint_url"]
    store = open_online_store(settings, unique_project, tmp_path)
    view = stats_view()
    registry = registry_of(unique_project, view)
    store.apply(registry)
    store.write_rows(view, stats_rows([7], T0, 0.5, 70))
    assert store.http.endpoint_url == dynamodb_endpoint
    data = OnlineClient(store, registry).get_online_features("driver_stats:trips", [{"driver_id": 7}])
    assert data.to_dict()["trips"] == [70]
    store.close()


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8000", "https://dynamodb.eu-west-1.amazonaws.com", "https://example.com:8443/base"]
)
@pytest.mark.parametrize("token", [None, "session/token+=="])
def test_signature_equals_botocores_sigv4(endpoint, token, monkeypatch):
    """The data plane formats the canonical request itself: it must sign exactly as botocore's
    SigV4Auth.add_auth does for the same request at the same second."""
    from datetime import datetime

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from sqlfeast.online import dynamodb_http

    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    monkeypatch.setattr(dynamodb_http, "_timestamp", lambda: "20240102T030405Z")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime(2024, 1, 2, 3, 4, 5))
    http = DynamoDBHttp(endpoint, "eu-west-1", credentials)
    body = b'{"RequestItems":{"t":{"Keys":[{"entity_key":{"S":"driver_id=1"}}]}}}'
    ours = http._signed_headers("BatchGetItem", body)
    request = AWSRequest(
        method="POST",
        url=endpoint.rstrip("/") + ("" if endpoint.count("/") > 2 else "/"),
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.BatchGetItem"},
    )
    botocore.auth.SigV4Auth(credentials, "dynamodb", "eu-west-1").add_auth(request)
    theirs = dict(request.headers.items())
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        assert ours.get(name) == theirs.get(name), name
    http.close()
