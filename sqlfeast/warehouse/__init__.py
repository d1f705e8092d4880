"""Warehouse adapters: one small class per warehouse, behind the same interface.

>>> from sqlfeast.warehouse import adapter_class
>>> adapter_class("duckdb").dialect
'duckdb'
"""

from __future__ import annotations

from sqlfeast.warehouse.base import Warehouse


def adapter_class(warehouse_type: str) -> type[Warehouse]:
    if warehouse_type == "duckdb":
        from sqlfeast.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse
    if warehouse_type == "snowflake":
        from sqlfeast.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse
    raise ValueError(f"unknown warehouse type {warehouse_type!r}")


def connect(target, project_root) -> Warehouse:
    """Open the target's warehouse (lazily connects on first use)."""
    return adapter_class(target.type)(target, project_root)


__all__ = ["Warehouse", "adapter_class", "connect"]
