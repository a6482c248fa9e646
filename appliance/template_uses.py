"""Which variables a template reads, found in its syntax tree, and sample data that fills them.

The operator UI previews a template before anything is sent; with undefined variables being
errors (see `appliance.rendering`), the preview needs a value for each one the template reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import meta, nodes

#: Names every render provides itself (see `appliance.pipeline.compose.template_context`).
PROVIDED = frozenset({"recipient", "data", "preferences_url", "unsubscribe_url"})
SAMPLE_RECIPIENT = {"id": "sample-recipient", "email": "ada@example.com", "phone": "+14155550100"}


@dataclass
class Uses:
    """What one template reads: the data's keys, and the recipient's fields."""

    data: set[str] = field(default_factory=set)
    recipient: set[str] = field(default_factory=set)
    lists: set[str] = field(default_factory=set)  # data keys looped over with `for`

    def add(self, ast: nodes.Template) -> None:
        self.data |= meta.find_undeclared_variables(ast) - PROVIDED
        self.data |= _attributes_of(ast, "data")
        self.recipient |= _attributes_of(ast, "recipient")
        self.lists |= {
            loop.iter.name for loop in ast.find_all(nodes.For) if isinstance(loop.iter, nodes.Name)
        }


def _attributes_of(ast: nodes.Template, name: str) -> set[str]:
    """`x` for every `name.x` in the template."""
    return {
        node.attr
        for node in ast.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == name
    }


def sample_data(uses: Uses) -> dict[str, Any]:
    """A placeholder for each key the template reads, and a recipient with the fields it reads."""
    data: dict[str, Any] = {
        name: [_placeholder(f"{name} {n}") for n in (1, 2)] if name in uses.lists else _placeholder(name)
        for name in sorted(uses.data)
    }
    extra = sorted(uses.recipient - SAMPLE_RECIPIENT.keys())
    return {**data, "recipient": {**SAMPLE_RECIPIENT, **{name: _placeholder(name) for name in extra}}}


def _placeholder(name: str) -> str:
    return f"Sample {name.replace('_', ' ')}"
