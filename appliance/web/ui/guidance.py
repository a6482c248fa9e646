"""What empty pages tell a new operator to do next, derived from their own config."""

from __future__ import annotations

import json

from ...catalog import Catalog
from ...config.schema import Channel


def example_pair(catalog: Catalog) -> tuple[str, str] | None:
    """A (category, template) pair that will send: the template that reaches most of a category's channels.

    Ties go to the first in the YAML, so the example is stable from one page load to the next.
    """
    best: tuple[int, str, str] | None = None
    for template in catalog.config.templates:
        usable = catalog.templates.channels(template)
        for name, category in catalog.config.categories.items():
            reach = len(usable & set(category.channels))
            if reach and (best is None or reach > best[0]):
                best = (reach, name, template)
    return (best[1], best[2]) if best else None


def in_app_pair(catalog: Catalog) -> tuple[str, str] | None:
    """A (category, template) pair that reaches the in-app channel, the first in the YAML."""
    for template in catalog.config.templates:
        if Channel.IN_APP not in catalog.templates.channels(template):
            continue
        for name, category in catalog.config.categories.items():
            if Channel.IN_APP in category.channels:
                return name, template
    return None


def first_send_command(catalog: Catalog) -> str:
    """A curl command that sends a first notification to this server (the API key left to fill in)."""
    category, template = example_pair(catalog) or ("<category>", "<template>")
    return send_command(
        catalog, category, template, {"id": "user-1", "email": "ada@example.com", "phone": "+14155550100"}
    )


def send_command(catalog: Catalog, category: str, template: str, recipient: dict[str, str]) -> str:
    url = catalog.config.server.public_url.rstrip("/")
    return "\n".join(
        [
            f"curl -X POST {url}/v1/notifications \\",
            '  -H "Authorization: Bearer <your API key>" \\',
            '  -H "Content-Type: application/json" \\',
            "  -d '{",
            f'    "to": {json.dumps(recipient)},',
            f'    "category": {json.dumps(category)},',
            f'    "template": {json.dumps(template)}',
            "  }'",
        ]
    )


def sandbox_channels(catalog: Catalog) -> list[str]:
    """Channels with at least one `sandbox` provider, i.e. whose messages this page can show."""
    sandboxes = {name for name, provider in catalog.config.providers.items() if provider.type == "sandbox"}
    return [
        channel.value
        for channel in Channel
        if (config := catalog.config.channels.get(channel)) is not None and sandboxes & set(config.providers)
    ]
