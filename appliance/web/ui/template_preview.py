"""A template rendered with sample data, channel by channel, as the recipient would see it.

The render is the pipeline's own (`TemplateCatalog.render` with `template_context`), so a
preview that works here works when sent; only the opt-out links are stand-ins, since a
preview has no recipient to sign them for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...catalog import Catalog
from ...config.schema import Channel
from ...errors import RenderError, RequestRejected
from ...pipeline.compose import template_context
from ...template_uses import SAMPLE_RECIPIENT, sample_data
from .views import CHANNEL_LABELS


@dataclass(frozen=True)
class Preview:
    """One channel's rendered fields, named as a sandbox capture's (see partials/captured.html)."""

    channel: str
    channel_label: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    action_url: str | None = None
    extra: str | None = None  # push data, as JSON
    error: str | None = None  # why it did not render, naming the field and line


def default_sample(catalog: Catalog, template: str) -> dict[str, Any]:
    """The sample data the config declares for the template, else a placeholder for each name it reads."""
    declared = catalog.config.templates[template].sample_data
    return dict(declared) if declared else sample_data(catalog.templates.uses(template))


def parse_sample(text: str) -> dict[str, Any]:
    """The sample data typed in the form; RequestRejected on `data` when it is not a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestRejected(
            "sample", f"sample data must be JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise RequestRejected("sample", 'sample data must be a JSON object, e.g. {"order_id": "A-1001"}')
    return value


def template_data(sample: dict[str, Any]) -> dict[str, Any]:
    """The sample without its `recipient`: what a send passes as the notification's data."""
    return {key: value for key, value in sample.items() if key != "recipient"}


def preview(
    catalog: Catalog, template: str, channel: Channel, *, locale: str, variant: str, sample: dict[str, Any]
) -> Preview:
    given = sample.get("recipient")
    recipient = {**SAMPLE_RECIPIENT, "locale": locale or None, **(given if isinstance(given, dict) else {})}
    context = template_context(template_data(sample), recipient, _stand_in_links(catalog))
    label = CHANNEL_LABELS[channel.value]
    try:
        fields = catalog.templates.render(template, channel, locale or None, context, variant=variant or None)
    except RenderError as exc:
        return Preview(channel.value, label, error=str(exc))
    return Preview(
        channel.value,
        label,
        subject=(fields.get("subject") or fields.get("title") or "").strip() or None,
        text=fields.get("text") or fields.get("body"),
        html=fields.get("html"),
        action_url=fields.get("action_url"),
        extra=json.dumps(fields["data"], indent=2, ensure_ascii=False) if fields.get("data") else None,
    )


def _stand_in_links(catalog: Catalog) -> dict[str, str]:
    base = catalog.config.server.public_url.rstrip("/")
    return {
        "preferences_url": f"{base}/preferences/preview",
        "unsubscribe_url": f"{base}/unsubscribe/preview",
    }
