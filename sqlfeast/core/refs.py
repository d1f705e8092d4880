"""Feature references: one grammar for historical and online retrieval.

``view`` (every feature of the view), ``view:feature``, and for historical retrieval
``view[as=alias, join_key=column]:feature`` (the view joined a second time under another name,
its join keys read from other entity columns).

>>> parse_feature_ref("trips[as=origin, location_id=origin_id]:avg_fare")
FeatureRef(view='trips', feature='avg_fare', alias='origin', key_map=(('location_id', 'origin_id'),))
>>> parse_feature_ref("driver_hourly_stats").feature is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlfeast.errors import RetrievalError

_REF = re.compile(r"^\s*([^\[\]:\s]+)\s*(?:\[([^\]]*)\])?\s*(?::\s*(.*?))?\s*$")


@dataclass(frozen=True)
class FeatureRef:
    """A parsed feature reference."""

    view: str
    feature: str | None  # None: every feature of the view
    alias: str | None = None
    key_map: tuple[tuple[str, str], ...] = ()  # (view join key, entity column)


def parse_feature_ref(text: str) -> FeatureRef:
    """Parse ``view``, ``view:feature`` or ``view[as=a, key=column, ...]:feature``."""
    match = _REF.match(text) if isinstance(text, str) else None
    if not match:
        raise RetrievalError(
            f"cannot read feature reference {text!r}",
            hint="write 'view:feature', 'view' or 'view[as=alias, key=column]:feature'",
        )
    view, options, feature = match.group(1), match.group(2), match.group(3)
    alias, key_map = None, []
    if options is not None:
        for part in options.split(","):
            name, eq, value = (s.strip() for s in part.partition("="))
            if not eq or not name or not value:
                raise RetrievalError(
                    f"cannot read '{part.strip()}' in feature reference {text!r}",
                    hint="options look like [as=origin, location_id=origin_id]",
                )
            if name == "as":
                alias = value
            else:
                key_map.append((name, value))
    if feature == "":
        raise RetrievalError(
            f"feature reference {text!r} names no feature after ':'",
            hint="write 'view:feature', or just 'view' for all of its features",
        )
    return FeatureRef(view, feature, alias, tuple(key_map))
