"""sqlfeast: a SQL-first feature store.

``FeatureStore`` (compile, apply, historical and online retrieval, materialization) needs the
warehouse stack; ``OnlineClient`` needs only the online store's client, so serving processes stay
small. Both are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["FeatureStore", "OnlineClient", "PushMode", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.feature_store import FeatureStore, PushMode
    from sqlfeast.online.client import OnlineClient


def __getattr__(name: str) -> Any:
    if name == "FeatureStore":
        from sqlfeast.feature_store import FeatureStore

        return FeatureStore
    if name == "PushMode":
        from sqlfeast.feature_store import PushMode

        return PushMode
    if name == "OnlineClient":
        from sqlfeast.online.client import OnlineClient

        return OnlineClient
    raise AttributeError(f"module 'sqlfeast' has no attribute {name!r}")
