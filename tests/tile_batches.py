"""Random batches of sub-tile partials, as materialize hands them to the blob encoders (the
tests of the batch encoder and of the batch combine share them)."""

from __future__ import annotations

import random
from array import array

from sqlfeast.core.spec import Aggregation, FeatureView
from sqlfeast.online.tile_layout import HLL_TAG, SPARSE_MAX

AGGS = [
    Aggregation("n", "count", 7200),
    Aggregation("a_sum", "sum", 7200, "a", "double"),
    Aggregation("a_std", "stddev", 7200, "a", "double"),
    Aggregation("a_max", "max", 3600, "a", "double"),
    Aggregation("a_last", "last", 7200, "a", "double"),
    Aggregation("q_min", "min", 7200, "q", "bigint"),
    Aggregation("q_last", "last", 7200, "q", "bigint"),
    Aggregation("q_std", "stddev", 7200, "q", "bigint"),
    Aggregation("s_distinct", "count_distinct", 7200, "s", "bigint"),
]


class Parts:
    """Distinct entries of a batch as materialize hands them over (``parts(a, b)``)."""

    def __init__(self, groups: list[list[int]], flat: bool):
        self.groups = groups
        if flat:  # an integer column's entries one sub-tile after the other, as materialize has them
            kept = [g if len(g) <= SPARSE_MAX else [] for g in groups]
            self.entries = array("q", [v for g in kept for v in g])
            self.starts = [0]
            for g in kept:
                self.starts.append(self.starts[-1] + len(g))

    def parts(self, a: int, b: int) -> tuple[bytes, list[int], bytes]:
        counts, entries = bytearray(), []
        hll = b""
        for got in self.groups[a:b]:
            if len(got) > SPARSE_MAX:
                counts.append(HLL_TAG)
                hll += bytes(range(128))[: len(got)].ljust(128, b"\x01")
            else:
                counts.append(len(got))
                entries += got
        return bytes(counts), entries, hll


def random_batch(rnd: random.Random, entities: int, odd: bool, start_below: int = 10**6):
    """Sub-tiles of `entities` entities, each starting at a random key below `start_below`: bounds,
    keys, rows, newest times and per column (a, q, s) its partials. `odd`: some sub-tiles with
    fewer values than rows (some none: empty, their last value NULL)."""
    bounds, keys, n, maxts = [0], [], [], []
    a: dict[str, list] = {"nn": [], "s": [], "q": [], "lo": [], "hi": [], "last": [], "last_nulls": []}
    q: dict[str, list] = {"nn": [], "s": [], "q": [], "lo": [], "hi": [], "last": [], "last_nulls": []}
    s: dict[str, list] = {"nn": [], "d": []}
    groups = []
    width = rnd.choice([10, 1000, 10**6, 10**11])
    for _ in range(entities):
        key = rnd.randrange(start_below)
        for _ in range(rnd.randrange(1, 30)):
            key += rnd.randrange(1, 400)
            rows = rnd.choice([1, 1, 1, 2, 5])
            row = len(keys)
            keys.append(key)
            n.append(rows)
            maxts.append((key >> 1) * 3600 * 10**6 + rnd.randrange(3600 * 10**6))
            for col, kind in ((a, "float"), (q, "int")):
                nn = rows if not odd or rnd.random() > 0.1 else rnd.randrange(0, rows + 1)
                col["nn"].append(nn)
                vals = [rnd.uniform(-1e4, 1e4) if kind == "float" else rnd.randrange(-width, width) for _ in range(nn)]
                total = sum(vals) if vals else 0
                col["s"].append(total)
                col["q"].append(float(sum(float(v) * float(v) for v in vals)))
                col["lo"].append(min(vals) if vals else 0)
                col["hi"].append(max(vals) if vals else 0)
                col["last"].append(vals[-1] if vals else 0)
                if not vals:
                    col["last_nulls"].append(row)
            s["nn"].append(rows)
            spread = rnd.choice([width, 2**40])
            groups.append(sorted({rnd.randrange(-spread, spread) for _ in range(rows if rnd.random() > 0.05 else 40)}))
        bounds.append(len(keys))
    a = {k: (array("d", v) if k in ("s", "q", "lo", "hi", "last") else v) for k, v in a.items()}
    q = {k: (array("d", v) if k == "q" else v) for k, v in q.items()}
    s["d"] = Parts(groups, flat=rnd.random() > 0.3)
    return bounds, keys, n, maxts, [a, q, s]


def slice_columns(cols, a, b):
    out = []
    for got in cols:
        part = {}
        for what, values in got.items():
            if what == "last_nulls":
                part[what] = [i - a for i in values if a <= i < b]
            elif what == "d":
                part[what] = values.parts(a, b)
            else:
                part[what] = values[a:b]
        out.append(part)
    return out


def batch_view() -> FeatureView:
    """The view of AGGS over the batch's columns a (double), q and s (bigint)."""
    return FeatureView(
        "o",
        ["c"],
        ["c_id"],
        "ts",
        [],
        columns={"a": "double", "q": "bigint", "s": "bigint"},
        granularity_seconds=3600,
        aggregations=AGGS,
    )
