"""dbt's env_var(): environment variables in profiles.yml, dbt_project.yml and templates.

>>> env_var_value("SQLFEAST_SURELY_UNSET_VARIABLE", "fallback")
'fallback'
"""

from __future__ import annotations

import os
from typing import Any

_MISSING = object()


class MissingEnvVar(Exception):
    """An env_var() without a default whose variable is not set."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def env_var_value(name: str, default: Any = _MISSING) -> str:
    """dbt's env_var(): the variable's value, the default, or MissingEnvVar."""
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is _MISSING:
        raise MissingEnvVar(name)
    return default
