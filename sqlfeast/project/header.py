"""The ``/* @feature_view ... */`` annotation header of a model file.

The header is YAML inside the file's leading block comment. Its removal leaves blank lines in
place, so the SQL body keeps the line numbers of the original file.

>>> h = parse_header("/* @feature_view\\nentities: [driver]\\ntimestamp: ts\\nfeatures: {x: double}\\n*/\\nselect 1", "m.sql")
>>> h.data["entities"], h.body.count("\\n")
(['driver'], 5)
>>> parse_ttl("2d")
172800
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlfeast.errors import Location, ValidationError
from sqlfeast.project.yamlfile import LineDict, LineList, load_yaml

HEADER_KEYS = (
    "name",
    "entities",
    "timestamp",
    "created_timestamp",
    "ttl",
    "online",
    "description",
    "owner",
    "tags",
    "features",
    "meta",
    "tests",
    "aggregations",
    "granularity",
)
_START = re.compile(r"\A(\s*)/\*\s*@feature_view\b[^\n]*\n?")
_TTL_PART = re.compile(r"(\d+)\s*([smhdw])")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Header:
    data: LineDict | None  # None for a plain model
    body: str  # the file with the header blanked out (same number of lines)
    line: int  # line of the @feature_view marker

    @property
    def is_feature_view(self) -> bool:
        return self.data is not None


def parse_header(text: str, path: str) -> Header:
    """Split a model file into its header (if any) and its SQL body."""
    match = _START.match(text)
    if not match:
        return Header(None, text, 0)
    start_line = match.group(1).count("\n") + 1
    end = text.find("*/", match.end())
    if end < 0:
        raise ValidationError(
            "the @feature_view header is not closed", Location(path, start_line), hint="end the header comment with */"
        )
    yaml_text = text[match.end() : end]
    yaml_first_line = start_line + 1 if match.group(0).endswith("\n") else start_line
    data = load_yaml(yaml_text, path, line_offset=yaml_first_line - 1)
    if data is None:
        data = LineDict()
        data.line, data.key_lines = start_line, {}
    if not isinstance(data, LineDict):
        raise ValidationError(
            "the @feature_view header must be a YAML mapping",
            Location(path, start_line),
            hint="write 'key: value' lines such as 'entities: [driver]'",
        )
    _shift_lines(data, yaml_first_line - 1)
    header_text = text[: end + 2]
    # Keep line numbers: replace the header by as many newlines as it spanned.
    body = "\n" * header_text.count("\n") + text[end + 2 :]
    return Header(data, body, start_line)


def _shift_lines(data: Any, offset: int) -> None:
    if isinstance(data, LineDict):
        data.line += offset
        data.key_lines = {k: v + offset for k, v in data.key_lines.items()}
        for value in data.values():
            _shift_lines(value, offset)
    elif isinstance(data, list):
        if isinstance(data, LineList):
            data.line += offset
            data.item_lines = [line + offset for line in data.item_lines]
        for item in data:
            _shift_lines(item, offset)


def parse_ttl(value: Any) -> int:
    """Seconds from '90s', '15m', '2h', '2d', '1w', '1h30m', an integer of seconds, or 0."""
    if value is None or value is False:
        return 0
    if isinstance(value, bool):
        raise ValueError("ttl must be a duration such as 30m, 2h, 2d or 1w")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("ttl cannot be negative")
        return value
    text = str(value).strip().lower().replace(" ", "")
    if text.isdigit():
        return int(text)
    parts = _TTL_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(
            f"invalid ttl '{value}'; use a number with a unit s, m, h, d or w (e.g. 2d), or 0 for no limit"
        )
    return sum(int(n) * _TTL_UNITS[u] for n, u in parts)
