"""Historical retrieval on a real Snowflake account (ASOF and window strategies).

Runs only when SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and SNOWFLAKE_PASSWORD (or
SNOWFLAKE_PRIVATE_KEY_PATH) are set; SNOWFLAKE_WAREHOUSE, SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA and
SNOWFLAKE_ROLE are used when present. It creates tables prefixed SQLFEAST_TEST_ and drops them.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from sqlfeast.project.config import Target
from sqlfeast.warehouse import connect
from tests.offline.historical_helpers import Store, ViewData, oracle, registry_for

pytestmark = [
    pytest.mark.live_snowflake,
    pytest.mark.skipif(
        not (
            os.environ.get("SNOWFLAKE_ACCOUNT")
            and os.environ.get("SNOWFLAKE_USER")
            and (os.environ.get("SNOWFLAKE_PASSWORD") or os.environ.get("SNOWFLAKE_PRIVATE_KEY_PATH"))
        ),
        reason="needs SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and a password or private key",
    ),
]
T = lambda h: dt.datetime(2024, 1, 1) + dt.timedelta(hours=h)  # noqa: E731


def live_target() -> Target:
    env = os.environ
    settings = {
        k: env[f"SNOWFLAKE_{k.upper()}"]
        for k in ("account", "user", "password", "role", "warehouse", "database", "schema", "private_key_path")
        if env.get(f"SNOWFLAKE_{k.upper()}")
    }
    return Target(
        profile="live",
        name="live",
        type="snowflake",
        schema=settings.get("schema", "PUBLIC"),
        settings=settings,
        online_store={},
        path="env",
    )


@pytest.mark.parametrize("strategy", ["asof", "window", "join"])
def test_live_point_in_time_join(strategy):
    from snowflake.connector.pandas_tools import write_pandas

    view = ViewData(
        "drv",
        ["driver_id"],
        ["conv"],
        [
            dict(driver_id=1, event_timestamp=T(1), created=T(1), conv=0.1),
            dict(driver_id=1, event_timestamp=T(3), created=T(3), conv=0.3),
            dict(driver_id=1, event_timestamp=T(3), created=T(4), conv=0.35),
            dict(driver_id=2, event_timestamp=T(2), created=T(2), conv=0.2),
        ],
        ttl_seconds=7200,
    )
    entities = [
        dict(driver_id=1, event_timestamp=T(3), label=1),
        dict(driver_id=1, event_timestamp=T(6), label=0),
        dict(driver_id=2, event_timestamp=T(2), label=1),
        dict(driver_id=3, event_timestamp=T(2), label=0),
        dict(driver_id=1, event_timestamp=T(3), label=1),
    ]
    wh = connect(live_target(), Path("."))
    table = f"SQLFEAST_TEST_{uuid.uuid4().hex[:8].upper()}"
    try:
        write_pandas(
            wh.con,
            view.arrow().to_pandas(),
            table,
            auto_create_table=True,
            quote_identifiers=False,
            use_logical_type=True,
        )
        registry = registry_for([view], {"drv": {"snowflake": f"select * from {table}"}})
        store = Store(registry, wh, wh.target)
        got = store.get_historical_features(pa.Table.from_pylist(entities), ["drv:conv"], strategy=strategy)
        assert got.to_arrow().to_pylist() == oracle(entities, [(view, {}, None)])
    finally:
        wh.execute(f"DROP TABLE IF EXISTS {table}")
        wh.close()
