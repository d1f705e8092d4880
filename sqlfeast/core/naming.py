"""Names: quoting identifiers, the project prefix of every warehouse object, placeholders.

Every relation sqlfeast creates is prefixed by the project, so two projects in one schema never
collide. Compiled models refer to sources and refs through placeholder names that the compiler
later replaces with real relations.

>>> quote('a"b')
'"a""b"'
>>> ref_relation("demo", "driver_stats")
'demo__driver_stats'
>>> describe_placeholder(source_placeholder("raw", "orders"))
'source raw.orders'
>>> bool(NAME.match("driver_1")), bool(NAME.match("1driver"))
(True, False)
"""

from __future__ import annotations

import re

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""A plain name: projects, models, entities, sources, push sources."""

SOURCE_PREFIX = "__sqlfeast_source__"


def quote(identifier: str) -> str:
    """Quote an identifier for every supported warehouse (all use double quotes).

    >>> quote("conv_rate")
    '"conv_rate"'
    """
    return '"' + str(identifier).replace('"', '""') + '"'


def ref_relation(project: str, model: str) -> str:
    """The warehouse name of a model: prefixed by project so projects never collide.

    >>> ref_relation("demo", "m")
    'demo__m'
    """
    return f"{project}__{model}"


def source_placeholder(source: str, table: str) -> str:
    """The placeholder table name a rendered ``source('source', 'table')`` stands for.

    >>> source_placeholder("raw", "orders")
    '__sqlfeast_source__raw__orders'
    """
    return f"{SOURCE_PREFIX}{source}__{table}"


def describe_placeholder(placeholder: str) -> str:
    """What a placeholder table name refers to, in words for error messages.

    >>> describe_placeholder("demo__stg")
    'model stg'
    """
    if placeholder.startswith(SOURCE_PREFIX):
        return "source " + placeholder[len(SOURCE_PREFIX) :].replace("__", ".", 1)
    if "__" not in placeholder:
        return f"table {placeholder}"
    return "model " + placeholder.split("__", 1)[-1]


def push_table_name(project: str, push_source_name: str) -> str:
    """The unquoted warehouse table name of a push source (in the target's schema).

    >>> push_table_name("demo", "driver_push")
    'demo__push__driver_push'
    """
    return f"{project}__push__{push_source_name}"


# Model names whose relation `<project>__<name>` is one of sqlfeast's own tables.
RESERVED_MODEL_NAMES = ("registry", "materialization")
RESERVED_MODEL_PREFIX = "push__"  # `<project>__push__<source>`: the push sources' tables


def reserved_model_name(name: str) -> bool:
    """Whether a model named `name` would shadow one of sqlfeast's own tables.

    >>> reserved_model_name("registry"), reserved_model_name("push__x"), reserved_model_name("registry_v2")
    (True, True, False)
    """
    return name.lower() in RESERVED_MODEL_NAMES or name.lower().startswith(RESERVED_MODEL_PREFIX)


def registry_table_name(project: str) -> str:
    """The table holding every applied registry version.

    >>> registry_table_name("demo")
    'demo__registry'
    """
    return f"{project}__registry"


def state_table_name(project: str) -> str:
    """The table holding how far each feature view is materialized.

    >>> state_table_name("demo")
    'demo__materialization'
    """
    return f"{project}__materialization"
