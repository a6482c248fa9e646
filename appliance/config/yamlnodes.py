"""Read YAML into plain data while remembering the line of every key.

PyYAML's composer gives us nodes with marks; we build the same dicts and lists
`yaml.safe_load` would, plus a map from key path to line, so every later error
(schema, cross-reference, missing env var) can name `file:line: a.b.c`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    duplicate_keys: list[tuple[Path, int]] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def load_located(text: str) -> LocatedDocument:
    """Parse one YAML document; raises yaml.YAMLError with its mark on syntax errors."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    document = LocatedDocument(data=None)
    if node is None:
        document.data = {}
        return document
    constructor = yaml.SafeLoader("")
    document.data = _build(node, (), document, constructor)
    return document


def _build(node: yaml.Node, path: Path, doc: LocatedDocument, constructor: yaml.SafeLoader) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            child = (*path, key)
            if key in result:
                doc.duplicate_keys.append((child, key_node.start_mark.line + 1))
            doc.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, doc, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), doc, constructor) for index, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)
