"""The collaborators the offline stage works with, handed in by the caller.

Historical retrieval, materialization and push take one of these instead of the FeatureStore
facade, so they depend only on the parts they use and never import the layer above.

>>> ctx = OfflineContext(warehouse=None, renderer=None, registry=None)
>>> ctx.online_store is None and ctx.settings == {}
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from sqlfeast.compile.templating import Renderer
    from sqlfeast.core.registry import Registry
    from sqlfeast.offline.state import RegistryStore
    from sqlfeast.online.base import OnlineStore
    from sqlfeast.warehouse.base import Warehouse


@dataclass
class OfflineContext:
    """A warehouse connection, the macro renderer for its dialect, the registry to work from,
    and, where the work needs them, the registry store (materialization state), the online
    store and the target's settings (``pit_strategy``, ``pit_stage_views``, ...)."""

    warehouse: "Warehouse"
    renderer: "Renderer"
    registry: "Registry"
    registry_store: "RegistryStore | None" = None
    online_store: "OnlineStore | None" = None
    settings: dict[str, Any] = field(default_factory=dict)
