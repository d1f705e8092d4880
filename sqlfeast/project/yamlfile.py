"""YAML loading that remembers where each mapping and key came from.

Mappings load as :class:`LineDict`, which keeps the 1-based line of the mapping and of each key,
so later validation can point at ``models/schema.yml:12``.

>>> data = load_yaml("a:\\n  b: 1\\n", "x.yml")
>>> data.key_line("a"), data["a"].key_line("b")
(1, 2)
"""

from __future__ import annotations

from typing import Any

import yaml

from sqlfeast.errors import Location, ValidationError


class LineDict(dict):
    line: int = 0
    key_lines: dict

    def key_line(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that keeps its own line and the line of each item."""

    line: int = 0
    item_lines: list

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.MarkedYAMLError(
                "while constructing a mapping", node.start_mark, f"found duplicate key '{key}'", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    items = LineList(loader.construct_object(child, deep=True) for child in node.value)
    items.line = node.start_mark.line + 1
    items.item_lines = [child.start_mark.line + 1 for child in node.value]
    return items


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


# libyaml parses several times faster (every model header is YAML); its error texts differ, so
# any error is reported by re-parsing with the pure-Python loader above.
_BaseFastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # pure Python without libyaml


class _FastLoader(_BaseFastLoader):  # type: ignore[valid-type,misc]  # chosen at import time
    pass


_FastLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_FastLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, path: str, line_offset: int = 0) -> Any:
    """Parse YAML text; a syntax error becomes a ValidationError at the file's own line."""
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        pass
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 + line_offset if mark else None
        col = mark.column + 1 if mark else None
        problem = (err.problem or err.context or "invalid YAML").strip()
        raise ValidationError(
            f"invalid YAML: {problem}", Location(path, line, col), hint="fix the YAML syntax"
        ) from None
    except yaml.YAMLError as err:
        raise ValidationError(f"invalid YAML: {err}", Location(path)) from None


def line_of(data: Any, key: str | None = None, default: int | None = None) -> int | None:
    """The line of `data` (or of `key` inside it) when known."""
    if isinstance(data, LineDict):
        return data.key_line(key) if key is not None else data.line
    if isinstance(data, LineList) and key is None:
        return data.line
    return default
