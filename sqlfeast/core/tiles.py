"""The tile plan of an online aggregation view: which partial aggregates its tiles keep, and
how large an entity's item can get (no I/O; the online store's layout is in online/tiles.py).

>>> from sqlfeast.core.spec import Aggregation, FeatureView
>>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], columns={"a": "double"}, granularity_seconds=3600,
...     aggregations=[Aggregation("m", "max", 86400, "a")])
>>> plan_of(v).max_sub_tiles
50
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlfeast.core.types import parse_type

US = 1_000_000
SPARSE_MAX = 16  # distinct hashes a sub-tile keeps exactly; past that, a HyperLogLog
HLL_P = 8
HLL_M = 1 << HLL_P
HLL_BYTES = HLL_M // 2  # four-bit registers, two a byte
HLL_RSE = 1.04 / math.sqrt(HLL_M)  # relative standard error of the HyperLogLog estimate
MAX_ITEM_BYTES = 400 * 1024
# What a variable-size value (text, bytes, arrays) is assumed to take in the size estimate.
VARIABLE_VALUE_BYTES = 32


# -- the plan: which partials a view keeps -------------------------------------------------------
@dataclass
class ColumnPlan:
    name: str
    type: str
    kind: str  # "int", "float" or "other" (values kept as codec attributes)
    sum: bool = False
    sumsq: bool = False
    minmax: bool = False
    last: bool = False
    distinct: bool = False


@dataclass
class Plan:
    granularity_us: int
    longest_us: int
    columns: list[ColumnPlan] = field(default_factory=list)

    # Value decoders of the columns in plan order, filled by the online layer on first use.
    decoders: list[Callable[[dict[str, Any]], Any]] = field(default_factory=list)
    # Section numbers of each column's partials in the tile blob, filled likewise.
    sections: list[dict[str, int]] = field(default_factory=list)
    section_total: int = 0
    # What a read of some aggregates does (by their names), filled likewise.
    reads: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def column(self, name: str) -> ColumnPlan:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def max_sub_tiles(self) -> int:
        """Sub-tiles an item can hold: edge and rest of every tile the longest window reaches."""
        return 2 * (self.longest_us // self.granularity_us + 1)

    def sub_tile_bytes(self) -> int:
        """The largest a sub-tile can be in the blob (variable values at VARIABLE_VALUE_BYTES)."""
        size = 3 * 8
        for c in self.columns:
            value = 8 if c.kind != "other" else VARIABLE_VALUE_BYTES
            size += 8  # non-NULL count
            size += 8 if c.sum and c.kind != "other" else VARIABLE_VALUE_BYTES if c.sum else 0
            size += 8 if c.sumsq else 0
            size += 2 * value if c.minmax else 0
            size += VARIABLE_VALUE_BYTES if c.last else 0
            size += 4 + 1 + max(HLL_BYTES, 8 * SPARSE_MAX) if c.distinct else 0
        return size

    def max_item_bytes(self) -> int:
        return self.max_sub_tiles * self.sub_tile_bytes() + 512


def _kind(type_text: str) -> str:
    t = parse_type(type_text)
    if t.name in ("bigint", "integer"):
        return "int"
    if t.name in ("double", "float"):
        return "float"
    return "other"


def plan_of(view: Any) -> Plan:
    """The partials an aggregation view's tiles keep, from its declaration.

    >>> from sqlfeast.core.spec import Aggregation, FeatureView
    >>> v = FeatureView("o", ["c"], ["c_id"], "ts", [], columns={"amount": "double"}, granularity_seconds=3600,
    ...     aggregations=[Aggregation("s", "sum", 7200, "amount"), Aggregation("n", "count", 3600)])
    >>> p = plan_of(v)
    >>> [(c.name, c.kind, c.sum, c.sumsq) for c in p.columns], p.max_sub_tiles
    ([('amount', 'float', True, False)], 6)
    """
    g = int(view.granularity_seconds or 3600) * US
    longest = max((a.window_seconds for a in view.aggregations), default=0) * US
    plan = Plan(g, longest)
    for agg in view.aggregations:
        if not agg.column:
            continue
        if agg.column not in plan.column_names:
            type_text = (view.columns or {}).get(agg.column) or (agg.type if agg.type != "unknown" else "varchar")
            plan.columns.append(ColumnPlan(agg.column, type_text, _kind(type_text)))
        c = plan.column(agg.column)
        f = agg.function
        c.sum = c.sum or f in ("sum", "avg", "stddev")
        c.sumsq = c.sumsq or f == "stddev"
        c.minmax = c.minmax or f in ("min", "max")
        c.last = c.last or f == "last"
        c.distinct = c.distinct or f == "count_distinct"
    return plan
