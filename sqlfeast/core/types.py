"""Warehouse-neutral feature types.

Users declare types with neutral names; this module parses them, maps them to each warehouse and
to Arrow, and decides whether a type inferred from SQL is compatible with the declared one.

>>> parse_type("decimal(10, 2)")
FeatureType(name='decimal', precision=10, scale=2, element=None)
>>> parse_type("array<bigint>").sql("snowflake")
'ARRAY'
>>> is_compatible(parse_type("integer"), parse_type("double"))
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from sqlglot import exp

_ALIASES = {
    "string": "varchar",
    "text": "varchar",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "long": "bigint",
    "float8": "double",
    "float64": "double",
    "double precision": "double",
    "float4": "float",
    "float32": "float",
    "real": "float",
    "bool": "boolean",
    "binary": "bytes",
    "blob": "bytes",
    "varbinary": "bytes",
    "bytea": "bytes",
    "numeric": "decimal",
    "number": "decimal",
    "datetime": "timestamp",
    "timestamp_ntz": "timestamp",
    "timestamp_tz": "timestamptz",
    "timestamp with time zone": "timestamptz",
    "smallint": "integer",
    "tinyint": "integer",
}

SCALAR_TYPES = (
    "bigint",
    "integer",
    "double",
    "float",
    "boolean",
    "varchar",
    "timestamp",
    "timestamptz",
    "date",
    "decimal",
    "bytes",
)

_FAMILY = {
    "bigint": "integer",
    "integer": "integer",
    "double": "float",
    "float": "float",
    "decimal": "float",
    "boolean": "boolean",
    "varchar": "string",
    "bytes": "bytes",
    "timestamp": "timestamp",
    "timestamptz": "timestamp",
    "date": "date",
    "array": "array",
}


@dataclass(frozen=True)
class FeatureType:
    name: str
    precision: int | None = None
    scale: int | None = None
    element: "FeatureType | None" = None

    def __str__(self) -> str:
        if self.name == "array":
            return f"array<{self.element}>"
        if self.name == "decimal" and self.precision is not None:
            return f"decimal({self.precision},{self.scale or 0})"
        return self.name

    @property
    def family(self) -> str:
        return _FAMILY[self.name]

    def sql(self, dialect: str) -> str:
        """The type's spelling in a warehouse's CREATE/CAST."""
        if self.name == "array":
            assert self.element is not None  # parse_type gives every array an element type
            return "ARRAY" if dialect == "snowflake" else f"{self.element.sql(dialect)}[]"
        if self.name == "decimal":
            p, s = self.precision or 38, self.scale or 0
            return f"NUMBER({p},{s})" if dialect == "snowflake" else f"DECIMAL({p},{s})"
        if dialect == "snowflake":
            return {
                "bigint": "NUMBER(38,0)",
                "integer": "NUMBER(38,0)",
                "double": "FLOAT",
                "float": "FLOAT",
                "boolean": "BOOLEAN",
                "varchar": "VARCHAR",
                "timestamp": "TIMESTAMP_NTZ",
                "timestamptz": "TIMESTAMP_TZ",
                "date": "DATE",
                "bytes": "BINARY",
            }[self.name]
        return {
            "bigint": "BIGINT",
            "integer": "INTEGER",
            "double": "DOUBLE",
            "float": "FLOAT",
            "boolean": "BOOLEAN",
            "varchar": "VARCHAR",
            "timestamp": "TIMESTAMP",
            "timestamptz": "TIMESTAMPTZ",
            "date": "DATE",
            "bytes": "BLOB",
        }[self.name]

    def arrow(self) -> pa.DataType:
        """The matching pyarrow type (imported lazily: the online client may not need it)."""
        import pyarrow as pa

        if self.name == "array":
            assert self.element is not None  # parse_type gives every array an element type
            return pa.list_(self.element.arrow())
        if self.name == "decimal":
            return pa.decimal128(self.precision or 38, self.scale or 0)
        return {
            "bigint": pa.int64(),
            "integer": pa.int32(),
            "double": pa.float64(),
            "float": pa.float32(),
            "boolean": pa.bool_(),
            "varchar": pa.string(),
            "timestamp": pa.timestamp("us"),
            "timestamptz": pa.timestamp("us", tz="UTC"),
            "date": pa.date32(),
            "bytes": pa.binary(),
        }[self.name]


_DECIMAL = re.compile(r"^(decimal|numeric|number)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)$")
_ARRAY = re.compile(r"^(?:array\s*<\s*(.+)\s*>|(.+)\[\])$")
_VARCHAR_LEN = re.compile(r"^(varchar|char|string|text)\s*\(\s*\d+\s*\)$")


def parse_type(text: str) -> FeatureType:
    """Parse a neutral type name; raises ValueError with the accepted names."""
    raw = " ".join(str(text).strip().lower().split())
    if m := _ARRAY.match(raw):
        return FeatureType("array", element=parse_type(m.group(1) or m.group(2)))
    if m := _DECIMAL.match(raw):
        return FeatureType("decimal", int(m.group(2)), int(m.group(3) or 0))
    if _VARCHAR_LEN.match(raw):
        return FeatureType("varchar")
    name = _ALIASES.get(raw, raw)
    if name not in SCALAR_TYPES:
        raise ValueError(
            f"unknown type '{text}'; use one of bigint, integer, double, float, boolean, "
            "varchar, string, timestamp, date, decimal(p,s), bytes or array<type>"
        )
    return FeatureType(name)


def from_sqlglot(dtype: exp.DataType) -> FeatureType | None:
    """Map a sqlglot DataType to a neutral type; None when unknown or not informative."""
    from sqlglot import exp

    t = dtype.this
    T = exp.DataType.Type
    if t in (T.UNKNOWN, T.NULL):
        return None
    if t == T.ARRAY:
        inner = from_sqlglot(dtype.expressions[0]) if dtype.expressions else None
        return FeatureType("array", element=inner) if inner else None
    if t in (T.BIGINT, T.UBIGINT, T.INT128, T.UINT128):
        return FeatureType("bigint")
    if t in (T.INT, T.UINT, T.MEDIUMINT, T.SMALLINT, T.USMALLINT, T.TINYINT, T.UTINYINT):
        return FeatureType("integer")
    if t in (T.DOUBLE,):
        return FeatureType("double")
    if t in (T.FLOAT,):
        return FeatureType("float")
    if t in (T.DECIMAL, T.BIGDECIMAL, T.DECIMAL32, T.DECIMAL64, T.DECIMAL128):
        params = [p.this.name for p in dtype.expressions if isinstance(p.this, exp.Literal)]
        if len(params) == 2 == len(dtype.expressions) and all(p.isdigit() for p in params):
            return FeatureType("decimal", int(params[0]), int(params[1]))
        return FeatureType("decimal")
    if t == T.BOOLEAN:
        return FeatureType("boolean")
    if t in (T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR, T.BPCHAR):
        return FeatureType("varchar")
    if t in (T.TIMESTAMP, T.DATETIME, T.DATETIME2, T.TIMESTAMPNTZ, T.TIMESTAMP_S, T.TIMESTAMP_MS, T.TIMESTAMP_NS):
        return FeatureType("timestamp")
    if t in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ):
        return FeatureType("timestamptz")
    if t == T.DATE:
        return FeatureType("date")
    if t in (T.BINARY, T.VARBINARY, T.BLOB):
        return FeatureType("bytes")
    return None


def from_arrow(arrow_type: pa.DataType) -> FeatureType | None:
    """Map a pyarrow type to a neutral type; None for types sqlfeast does not model."""
    import pyarrow.types as t

    if t.is_int64(arrow_type) or t.is_uint32(arrow_type) or t.is_uint64(arrow_type):
        return FeatureType("bigint")
    if t.is_integer(arrow_type):
        return FeatureType("integer")
    if t.is_float64(arrow_type):
        return FeatureType("double")
    if t.is_floating(arrow_type):
        return FeatureType("float")
    if t.is_decimal(arrow_type):
        return FeatureType("decimal", arrow_type.precision, arrow_type.scale)
    if t.is_boolean(arrow_type):
        return FeatureType("boolean")
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return FeatureType("varchar")
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type):
        return FeatureType("bytes")
    if t.is_timestamp(arrow_type):
        return FeatureType("timestamptz" if arrow_type.tz else "timestamp")
    if t.is_date(arrow_type):
        return FeatureType("date")
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        inner = from_arrow(arrow_type.value_type)
        return FeatureType("array", element=inner) if inner else None
    return None


def from_warehouse(type_name: str) -> FeatureType | None:
    """Map a warehouse's DESCRIBE type name (DuckDB or Snowflake) to a neutral type."""
    from sqlglot import exp

    try:
        return from_sqlglot(exp.DataType.build(type_name, dialect="duckdb"))
    except Exception:
        try:
            return from_sqlglot(exp.DataType.build(type_name, dialect="snowflake"))
        except Exception:
            return None


def is_compatible(inferred: FeatureType, declared: FeatureType) -> bool:
    """Can a column of type `inferred` be stored as `declared` without losing meaning?

    Integers widen to floats, any precision within a family is accepted; strings never become
    numbers and floats never become integers.
    """
    if inferred.family == declared.family:
        if inferred.name == "array" and inferred.element and declared.element:
            return is_compatible(inferred.element, declared.element)
        return True
    return inferred.family == "integer" and declared.family == "float"
