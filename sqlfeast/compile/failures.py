"""The error a template function raises before the template line it came from is known.

>>> TemplateFailure("var('x') is not defined", hint="give a default").hint
'give a default'
"""

from __future__ import annotations


class TemplateFailure(Exception):
    """A user error raised by a template function, before its line is known."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
