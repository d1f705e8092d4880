"""dbt-compatible names for Jinja templates, for rendering a dbt project's macros without dbt.

What dbt puts in a template's context and sqlfeast supports: ``return``, ``{% do %}``,
``adapter.dispatch(name, macro_namespace)``, macro namespaces (``dbt.date_trunc``,
``dbt_utils.generate_surrogate_key``, the project's name), ``is_incremental()`` (false),
``this`` as a relation, the full ``target``, ``log``/``print``, ``exceptions``, ``config.get``,
``modules`` (datetime, re, itertools), ``tojson``/``fromjson``/``toyaml``/``fromyaml``, ``zip``,
``set``, ``local_md5``, ``run_started_at``, ``invocation_id``, ``execute``, and macro files with
``{% test %}``, ``{% materialization %}``, ``{% snapshot %}`` and ``{% docs %}`` blocks.
Whatever needs a live dbt (``run_query``, ``statement``, ``adapter.get_relation``...) fails with
the template's line and "install sqlfeast[dbt] to render with dbt".

>>> r = Relation("db", "main", "orders")
>>> str(r), r.identifier, r.schema
('"db"."main"."orders"', 'orders', 'main')
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import re
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes

from sqlfeast.compile.failures import TemplateFailure

RAW_PREFIX = "sqlfeast_m__"  # no leading underscore: Jinja exports only public names
NEEDS_DBT = "install sqlfeast[dbt] to render with dbt"


class MacroReturn(Exception):
    """dbt's `return(value)`: leaves the macro with a value instead of its text."""

    def __init__(self, value: Any):
        super().__init__("return")
        self.value = value


def do_return(value: Any = "") -> None:
    """`{{ return(x) }}` inside a macro."""
    raise MacroReturn(value)


class Unsupported(Exception):
    """A dbt feature that needs dbt itself; becomes a located ValidationError."""


def _unsupported(what: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise TemplateFailure(f"{what} needs a database connection while rendering", hint=NEEDS_DBT)

    return fail


def _quoted(part: str | None) -> str | None:
    return None if part is None else '"' + str(part).replace('"', '""') + '"'


class Relation(str):
    """A relation as dbt's `this` / `ref()` give it: prints as its quoted name, with
    .database, .schema, .identifier (and .name, .table) attributes."""

    database: str | None
    schema: str | None
    identifier: str

    def __new__(cls, database: str | None, schema: str | None, identifier: str, text: str | None = None):
        value = text if text is not None else ".".join(p for p in map(_quoted, (database, schema, identifier)) if p)
        self = super().__new__(cls, value)
        self.database, self.schema, self.identifier = database, schema, identifier
        return self

    @property
    def name(self) -> str:
        return self.identifier

    table = name

    def render(self) -> str:
        return str(self)

    def include(self, database: bool = True, schema: bool = True, identifier: bool = True) -> "Relation":
        return Relation(self.database if database else None, self.schema if schema else None, self.identifier)


class DbtTarget(dict):
    """`target`: every key of the profile's output plus name, type, schema, database, threads, profile_name."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def dbt_target(
    settings: dict[str, Any], name: str, wtype: str, schema: str, database: str | None, profile: str
) -> DbtTarget:
    """dbt's `target` for one profile output (secrets included, as in dbt).

    >>> dbt_target({"path": "x.duckdb"}, "dev", "duckdb", "main", "x", "shop").threads
    1
    """
    target = DbtTarget({k: v for k, v in settings.items() if k != "online_store"})
    target.update(name=name, target_name=name, type=wtype, schema=schema, database=database, profile_name=profile)
    target.setdefault("threads", 1)
    return target


class ModelConfig:
    """`config` in a model: `config(...)` records settings, `config.get(key, default)` reads them."""

    def __init__(self, record: Callable[..., str], values: dict[str, Any]):
        self._record = record
        self._values = values

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        return self._record(**kwargs)

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def require(self, key: str) -> Any:
        if key not in self._values:
            raise TemplateFailure(f"config '{key}' is required but not set", hint=f"add config({key}=...)")
        return self._values[key]


class Exceptions:
    """dbt's `exceptions` namespace."""

    @staticmethod
    def raise_compiler_error(message: str, node: Any = None) -> None:
        # A package's macro often checks what only dbt gives (a Relation, a live adapter).
        raise TemplateFailure(str(message), hint=f"if dbt renders this, {NEEDS_DBT}")

    @staticmethod
    def warn(message: str, node: Any = None) -> str:
        return ""

    raise_not_implemented = raise_compiler_error


class Namespace:
    """A macro namespace (`dbt`, a package, the project): `ns.name` is that macro."""

    def __init__(self, name: str, names: set[str], resolve: Callable[[str], Any]):
        self._name, self._names, self._resolve = name, names, resolve

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._names:
            return self._resolve(name)
        raise TemplateFailure(
            f"macro namespace '{self._name}' has no macro '{name}'", hint=f"check the name, or {NEEDS_DBT}"
        )

    def __contains__(self, name: str) -> bool:
        return name in self._names


def _tojson(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, sort_keys=sort_keys, default=str)


def _toyaml(value: Any, sort_keys: bool = False) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=sort_keys)


def _fromyaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def dbt_globals(
    target: DbtTarget, project: str, packages: dict[str, set[str]], resolve: Callable[[str], Any]
) -> dict[str, Any]:
    """The dbt names every template of a dbt project sees (model-specific ones are added per model).

    >>> g = dbt_globals(DbtTarget(type="duckdb"), "shop", {"dbt": {"date_trunc"}}, lambda n: n)
    >>> g["dbt"].date_trunc, g["is_incremental"]()
    ('date_trunc', False)
    """
    namespaces = {name: Namespace(name, names, resolve) for name, names in packages.items()}
    return {
        **namespaces,
        "return": do_return,
        "target": target,
        "is_incremental": lambda: False,
        "should_full_refresh": lambda: False,
        "execute": True,
        "flags": SimpleNamespace(FULL_REFRESH=False, STORE_FAILURES=False, WHICH="compile"),
        "log": lambda message, info=False: "",
        "print": lambda *args: "",
        "exceptions": Exceptions(),
        "modules": SimpleNamespace(datetime=datetime, re=re, itertools=itertools, pytz=None),
        "tojson": _tojson,
        "fromjson": json.loads,
        "toyaml": _toyaml,
        "fromyaml": _fromyaml,
        "zip": zip,
        "set": set,
        "local_md5": lambda s: hashlib.md5(str(s).encode()).hexdigest(),
        "run_started_at": datetime.datetime.now(datetime.UTC),
        "invocation_id": str(uuid.uuid4()),
        "dbt_version": "1.11.0",
        "graph": {"nodes": {}, "sources": {}, "macros": {}},
        "builtins": SimpleNamespace(ref=None, source=None, config=None),
        "run_query": _unsupported("run_query()"),
        "statement": _unsupported("statement()"),
        "load_result": _unsupported("load_result()"),
        "load_relation": _unsupported("load_relation()"),
        "api": SimpleNamespace(
            Relation=SimpleNamespace(
                create=lambda database=None, schema=None, identifier=None, **kw: Relation(
                    database, schema, identifier or ""
                )
            )
        ),
    }


class DbtBlocks(jinja2.ext.Extension):
    """dbt's block tags in macro files: `{% test name(args) %}` is the macro `test_name`;
    `{% materialization %}`, `{% snapshot %}` and `{% docs %}` blocks load and are left to dbt."""

    tags = {"test", "data_test", "materialization", "snapshot", "docs"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        token = next(parser.stream)
        if token.value in ("test", "data_test"):
            node = jinja2.nodes.Macro(lineno=token.lineno)
            node.name = RAW_PREFIX + "test_" + parser.stream.expect("name").value
            parser.parse_signature(node)
            node.body = parser.parse_statements((f"name:end{token.value}",), drop_needle=True)
            return node
        while parser.stream.current.type != "block_end":
            next(parser.stream)
        parser.parse_statements((f"name:end{token.value}",), drop_needle=True)
        return jinja2.nodes.Output([], lineno=token.lineno)
