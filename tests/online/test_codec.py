"""Value encoding shared by every online store: edge values round-trip exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sqlfeast.core.types import parse_type
from sqlfeast.online.base import entity_key
from sqlfeast.online.codec import decode_value, encode_column, encode_value, from_json_attr, to_json_attr


@pytest.mark.parametrize(
    "type_text,value",
    [
        ("double", 1e-300),
        ("double", 1e300),
        ("double", -0.0),
        ("double", float("inf")),
        ("double", float("-inf")),
        ("bigint", -(2**63)),
        ("decimal(38,10)", Decimal("-1234567890.0123456789")),
        ("timestamptz", datetime(2024, 1, 1, 12, tzinfo=UTC)),
        ("varchar", ""),
        ("array<array<bigint>>", [[1], [], None]),
        ("bytes", b""),
        ("array<bytes>", [b"\x00", None]),
    ],
)
def test_edge_values_round_trip(type_text, value):
    ftype = parse_type(type_text)
    attr = encode_value(value, ftype)
    assert decode_value(from_json_attr(to_json_attr(attr)), ftype) == value
    assert encode_column([value], ftype) == [attr]


def test_nan_round_trips_as_nan_and_numbers_stay_native():
    ftype = parse_type("double")
    assert math.isnan(decode_value(encode_value(float("nan"), ftype), ftype))
    assert encode_value(0.5, ftype) == {"N": "0.5"}  # a native DynamoDB number
    assert encode_value(None, ftype) == {"NULL": True}


def test_entity_keys_are_canonical_and_unambiguous():
    assert entity_key(["driver_id", "customer_id"], [1, 2]) == entity_key(["customer_id", "driver_id"], [2, 1])
    assert entity_key(["a"], ["x=1,b=2"]) != entity_key(["a", "b"], ["x=1", "2"])
    assert entity_key(["a"], [1.0]) == entity_key(["a"], [1]) == "a=1"
