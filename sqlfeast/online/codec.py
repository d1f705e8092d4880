"""Feature values <-> DynamoDB attribute values, one codec for every online store.

Values are stored as native DynamoDB attributes so any DynamoDB tool can read them: numbers as
``N``, strings ``S``, bytes ``B``, booleans ``BOOL``, arrays ``L`` and NULL as ``NULL``.
Timestamps and dates are ISO 8601 strings (readable, and they sort); floats that DynamoDB
numbers cannot hold (NaN, +-inf, beyond 1e125) are kept as their text in ``S``. The SQLite store
keeps the same attribute dicts as JSON, so both stores round-trip values identically.

>>> from sqlfeast.core.types import parse_type
>>> encode_value(1.5, parse_type("double")), decode_value({"N": "1.5"}, parse_type("double"))
({'N': '1.5'}, 1.5)
>>> decode_value(encode_value(float("nan"), parse_type("double")), parse_type("double"))
nan
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlfeast.core.types import FeatureType

NULL: dict[str, Any] = {"NULL": True}
_MAX_N = 9.9999999999999999e125
_MIN_N = 1e-130


def _enc_float(v: float) -> dict[str, Any]:
    if math.isfinite(v) and (v == 0 or _MIN_N <= abs(v) <= _MAX_N):
        return {"N": repr(float(v))}
    return {"S": repr(float(v))}


def _enc_timestamp(v: datetime) -> dict[str, Any]:
    if v.tzinfo is not None:
        v = v.astimezone(UTC)
    return {"S": v.isoformat()}


def _enc_decimal(v: Decimal) -> dict[str, Any]:
    return {"N": str(v)} if v.is_finite() else {"S": str(v)}


def _dec_timestamptz(a: dict[str, Any]) -> datetime:
    value = datetime.fromisoformat(a["S"])
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def encoder(ftype: FeatureType) -> Callable[[Any], dict[str, Any]]:
    """A function turning one Python value of `ftype` (or None) into an attribute value."""
    name = ftype.name
    if name == "array":
        assert ftype.element is not None  # parse_type gives every array an element type
        inner = encoder(ftype.element)
        return lambda v: NULL if v is None else {"L": [inner(x) for x in v]}
    base: Callable[[Any], dict[str, Any]]
    if name in ("bigint", "integer"):
        base = lambda v: {"N": str(int(v))}  # noqa: E731
    elif name in ("double", "float"):
        base = _enc_float
    elif name == "boolean":
        base = lambda v: {"BOOL": bool(v)}  # noqa: E731
    elif name == "varchar":
        base = lambda v: {"S": str(v)}  # noqa: E731
    elif name == "bytes":
        base = lambda v: {"B": bytes(v)}  # noqa: E731
    elif name in ("timestamp", "timestamptz"):
        base = _enc_timestamp
    elif name == "date":
        base = lambda v: {"S": v.isoformat()}  # noqa: E731
    elif name == "decimal":
        base = _enc_decimal
    else:  # pragma: no cover - parse_type only yields the names above
        raise ValueError(f"no online encoding for type {ftype}")
    return lambda v: NULL if v is None else base(v)


def decoder(ftype: FeatureType) -> Callable[[dict[str, Any]], Any]:
    """The inverse of :func:`encoder` for attribute values read back from a store."""
    name = ftype.name
    if name == "array":
        assert ftype.element is not None  # parse_type gives every array an element type
        inner = decoder(ftype.element)
        return lambda a: None if "NULL" in a else [inner(x) for x in a["L"]]
    base: Callable[[dict[str, Any]], Any]
    if name in ("bigint", "integer"):
        base = lambda a: int(a["N"])  # noqa: E731
    elif name in ("double", "float"):
        base = lambda a: float(a["N"] if "N" in a else a["S"])  # noqa: E731
    elif name == "boolean":
        base = lambda a: a["BOOL"]  # noqa: E731
    elif name == "varchar":
        base = lambda a: a["S"]  # noqa: E731
    elif name == "bytes":
        base = lambda a: bytes(a["B"])  # noqa: E731
    elif name == "timestamptz":
        base = _dec_timestamptz
    elif name == "timestamp":
        base = lambda a: datetime.fromisoformat(a["S"])  # noqa: E731
    elif name == "date":
        base = lambda a: date.fromisoformat(a["S"])  # noqa: E731
    elif name == "decimal":
        base = lambda a: Decimal(a["N"] if "N" in a else a["S"])  # noqa: E731
    else:  # pragma: no cover
        raise ValueError(f"no online decoding for type {ftype}")
    return lambda a: None if "NULL" in a else base(a)


def encode_column(values: list[Any], ftype: FeatureType) -> list[dict[str, Any]]:
    """Encode a whole column; fast paths for the common scalar types (materialization is
    bound by per-value Python work)."""
    name = ftype.name
    if name in ("bigint", "integer"):
        return [NULL if v is None else {"N": str(v)} for v in values]
    if name in ("double", "float"):
        # Ordinary finite floats inline; NaN, inf and out-of-range values through _enc_float.
        return [
            NULL if v is None else ({"N": repr(v)} if (_MIN_N <= abs(v) <= _MAX_N or v == 0) else _enc_float(v))
            for v in values
        ]
    if name == "boolean":
        return [NULL if v is None else {"BOOL": v} for v in values]
    if name == "varchar":
        return [NULL if v is None else {"S": v} for v in values]
    enc = encoder(ftype)
    return [enc(v) for v in values]


def encode_value(value: Any, ftype: FeatureType) -> dict[str, Any]:
    return encoder(ftype)(value)


def decode_value(attr: dict[str, Any], ftype: FeatureType) -> Any:
    return decoder(ftype)(attr)


# -- JSON form (SQLite payloads): binary becomes base64 text -------------------------------------
def to_json_attr(attr: dict[str, Any]) -> dict[str, Any]:
    if "B" in attr:
        return {"B": base64.b64encode(attr["B"]).decode()}
    if "L" in attr:
        return {"L": [to_json_attr(x) for x in attr["L"]]}
    return attr


def from_json_attr(attr: dict[str, Any]) -> dict[str, Any]:
    if "B" in attr:
        return {"B": base64.b64decode(attr["B"])}
    if "L" in attr:
        return {"L": [from_json_attr(x) for x in attr["L"]]}
    return attr


def attr_size(attr: dict[str, Any]) -> int:
    """Bytes an attribute value counts for in DynamoDB's 400 KB item limit (close estimate)."""
    if "S" in attr:
        return len(attr["S"].encode())
    if "N" in attr:
        return len(attr["N"]) // 2 + 2
    if "B" in attr:
        return len(attr["B"])
    if "L" in attr:
        return 3 + sum(attr_size(x) + 1 for x in attr["L"])
    return 1
