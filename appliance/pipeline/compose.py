"""Compose: render a claimed delivery's template into the message its channel sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..config.schema import Channel
from ..errors import RenderError
from ..preferences.footer import OptOutLinks, with_links
from ..providers.base import (
    EmailMessage,
    Envelope,
    InAppMessage,
    Message,
    PushMessage,
    SmsMessage,
    WebhookMessage,
)
from ..rendering import TemplateCatalog
from ..tracking.email import EmailTracking
from .claims import Claimed


def compose(
    claimed: Claimed,
    templates: TemplateCatalog,
    links: OptOutLinks | None = None,
    tracking: EmailTracking | None = None,
) -> Message:
    """Raises RenderError when the template cannot render or the address has gone.

    `links` are given for categories the recipient may opt out of: templates can use them,
    and emails carry them in a footer and in List-Unsubscribe headers. `tracking` adds the
    open pixel and click redirects to HTML emails, last, so it sees the footer's links too.
    """
    channel = Channel(claimed.channel)
    recipient = claimed.recipient
    context = template_context(claimed.data, recipient.template_context(), links.context() if links else {})
    fields = templates.render(claimed.template, channel, recipient.locale, context, variant=claimed.variant)
    envelope = Envelope(
        delivery_id=str(claimed.delivery_id),
        notification_id=str(claimed.notification_id),
        recipient_id=recipient.external_id,
        category=claimed.category,
        template=claimed.template,
        data=claimed.data,
    )
    match channel:
        case Channel.EMAIL:
            email = EmailMessage(
                envelope,
                _required(recipient.email, "email address"),
                fields["subject"].strip(),
                fields.get("text"),
                fields.get("html"),
            )
            email = with_links(email, links) if links else email
            if tracking is not None and email.html is not None:
                email = replace(email, html=tracking.apply(claimed.delivery_id, email.html))
            return email
        case Channel.SMS:
            return SmsMessage(envelope, _required(recipient.phone, "phone number"), fields["text"].strip())
        case Channel.PUSH:
            if not recipient.device_tokens:
                raise RenderError("recipient has no registered push device any more")
            return PushMessage(
                envelope,
                recipient.device_tokens,
                fields["title"].strip(),
                fields["body"].strip(),
                {**fields.get("data", {}), **({"preferences_url": links.preferences_url} if links else {})},
            )
        case Channel.IN_APP:
            return InAppMessage(
                envelope, fields["title"].strip(), fields["body"].strip(), fields.get("action_url")
            )
        case Channel.WEBHOOK:
            return WebhookMessage(envelope, fields["text"])


def template_context(
    data: Mapping[str, Any], recipient: Mapping[str, Any], links: Mapping[str, str]
) -> dict[str, Any]:
    """What a template sees: the data's keys at the top and under `data`, the recipient, the opt-out links."""
    return {**data, "data": data, "recipient": recipient, **links}


def _required(value: str | None, what: str) -> str:
    if not value:
        raise RenderError(f"recipient has no {what} any more")
    return value
