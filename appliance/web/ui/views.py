"""One typed view model per page, built from database rows by pure functions.

Templates only lay these out: every label, tone and link is decided here, where a test can
check it without rendering HTML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from ...db.models import Attempt, Delivery, DeliveryEvent, DeliveryStatus, Notification, SandboxMessage
from ...pipeline.status import notification_status
from .auth import Operator
from .queries import Cursor, MessageFilters

# Status -> badge tone: the CSS colours `badge--<tone>`.
_TONES: dict[str, str] = {
    DeliveryStatus.QUEUED: "pending",
    DeliveryStatus.SENDING: "pending",
    DeliveryStatus.SENT: "ok",
    DeliveryStatus.DELIVERED: "ok",
    DeliveryStatus.BOUNCED: "bad",
    DeliveryStatus.COMPLAINED: "bad",
    DeliveryStatus.FAILED: "bad",
    DeliveryStatus.DEAD: "bad",
    DeliveryStatus.SKIPPED: "muted",
    DeliveryStatus.HELD: "pending",
    DeliveryStatus.THROTTLED: "warn",
    "partial": "warn",
    # attempt outcomes
    "retryable": "warn",
    "rate_limited": "warn",
    "permanent": "bad",
    "invalid_recipient": "bad",
    # events reported after sending
    "opened": "ok",
    "clicked": "ok",
    "unsubscribed": "warn",
    "read": "ok",
}
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "push": "Push", "in_app": "In-app", "webhook": "Webhook"}


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str


def badge(status: str) -> Badge:
    return Badge(status.replace("_", " "), _TONES.get(status, "muted"))


@dataclass(frozen=True)
class Stamp:
    """A UTC time shown as text, with the machine-readable value for <time datetime>."""

    iso: str
    date: str
    time: str

    @property
    def full(self) -> str:
        return f"{self.date} {self.time} UTC"


def stamp(moment: datetime) -> Stamp:
    return Stamp(iso=moment.isoformat(), date=moment.strftime("%Y-%m-%d"), time=moment.strftime("%H:%M:%S"))


@dataclass(frozen=True)
class Layout:
    product_name: str
    operator: Operator | None
    active: str = ""  # which navigation entry is the current page


@dataclass(frozen=True)
class LoginPage:
    layout: Layout
    username: str = ""
    next: str = ""
    error: str = ""
    has_users: bool = True


@dataclass(frozen=True)
class ChannelBadge:
    channel: str
    badge: Badge


@dataclass(frozen=True)
class MessageRow:
    id: str
    created: Stamp
    recipient: str
    category: str
    template: str
    channels: list[ChannelBadge]
    status: Badge


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class MessagesPage:
    layout: Layout
    rows: list[MessageRow]
    filters: MessageFilters
    categories: list[Option]
    statuses: list[Option]
    older_url: str | None
    newest_url: str | None  # set when this is not the first page
    first_send: str  # a curl command that sends a first notification, for the empty state
    export_url: str  # every message these filters match, as CSV
    errors: list[str] = field(default_factory=list)  # filters that could not be read


@dataclass(frozen=True)
class AttemptView:
    number: int
    provider: str
    outcome: Badge
    started: Stamp
    latency: str
    message_id: str | None
    error: str | None


@dataclass(frozen=True)
class EventView:
    kind: Badge
    provider: str
    occurred: Stamp
    detail: str | None
    automated: str | None  # why it looks machine-made (a mail proxy, a link scanner)


@dataclass(frozen=True)
class DeliveryView:
    channel: str
    status: Badge
    provider: str | None
    message_id: str | None
    tries: int
    error: str | None
    sent: Stamp | None
    attempts: list[AttemptView]
    events: list[EventView] = field(default_factory=list)


@dataclass(frozen=True)
class CapturedView:
    """A sandbox capture drawn the way the recipient would see it."""

    id: int
    channel: str
    channel_label: str
    provider: str
    to: str
    captured: Stamp
    subject: str | None
    text: str | None
    html: str | None
    action_url: str | None
    extra: str | None  # remaining payload as JSON, e.g. push data or webhook fields
    notification_url: str


@dataclass(frozen=True)
class DetailPage:
    layout: Layout
    id: str
    status: Badge
    created: Stamp
    recipient: str
    category: str
    template: str
    priority: str
    source: str
    data_json: str
    deliveries: list[DeliveryView]
    captured: list[CapturedView]
    recipient_url: str


@dataclass(frozen=True)
class ChannelTab:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class SandboxPage:
    layout: Layout
    messages: list[CapturedView]
    tabs: list[ChannelTab]
    channel: str
    older_url: str | None
    newest_url: str | None
    sandbox_channels: list[str] = field(default_factory=list)  # channels a sandbox provider serves


def message_row(notification: Notification) -> MessageRow:
    return MessageRow(
        id=str(notification.id),
        created=stamp(notification.created_at),
        recipient=notification.recipient.external_id,
        category=notification.category,
        template=notification.template,
        channels=[ChannelBadge(d.channel, badge(d.status)) for d in notification.deliveries],
        status=badge(notification_status(d.status for d in notification.deliveries)),
    )


def messages_url(filters: MessageFilters, before: Cursor | None = None, *, path: str = "/ui/messages") -> str:
    params = filters.query()
    if before is not None:
        params["before"] = before.encode()
    return path + (f"?{urlencode(params)}" if params else "")


def recipient_url(external_id: str) -> str:
    return f"/ui/recipients/{quote(external_id, safe='')}"


def attempt_view(number: int, attempt: Attempt) -> AttemptView:
    return AttemptView(
        number=number,
        provider=attempt.provider,
        outcome=badge(attempt.outcome),
        started=stamp(attempt.started_at),
        latency=f"{attempt.latency_ms:,.1f} ms",
        message_id=attempt.provider_message_id,
        error=attempt.error,
    )


def delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        channel=CHANNEL_LABELS.get(delivery.channel, delivery.channel),
        status=badge(delivery.status),
        provider=delivery.provider,
        message_id=delivery.provider_message_id,
        tries=delivery.attempt_count,
        error=delivery.last_error,
        sent=stamp(delivery.sent_at) if delivery.sent_at else None,
        attempts=[attempt_view(number, a) for number, a in enumerate(delivery.attempts, start=1)],
        events=[event_view(e) for e in delivery.events],
    )


def event_view(event: DeliveryEvent) -> EventView:
    kind = badge(event.kind)
    return EventView(
        kind=Badge(kind.label, "muted") if event.automated else kind,
        provider=event.provider,
        occurred=stamp(event.occurred_at),
        detail=event.detail,
        automated=event.automated,
    )


# Payload keys already shown in their own place on a capture card.
_SHOWN = {"to", "subject", "title", "text", "body", "html", "action_url", "tokens", "headers"}


def captured_view(row: SandboxMessage) -> CapturedView:
    payload: dict[str, Any] = row.payload or {}
    extra = {key: value for key, value in payload.items() if key not in _SHOWN}
    return CapturedView(
        id=row.id,
        channel=row.channel,
        channel_label=CHANNEL_LABELS.get(row.channel, row.channel),
        provider=row.provider,
        to=row.to_address,
        captured=stamp(row.created_at),
        subject=row.subject,
        text=row.text,
        html=row.html,
        action_url=payload.get("action_url"),
        extra=json.dumps(extra, indent=2, ensure_ascii=False, sort_keys=True) if extra else None,
        notification_url=f"/ui/messages/{row.notification_id}",
    )


def detail_page(layout: Layout, notification: Notification, captured: list[SandboxMessage]) -> DetailPage:
    recipient = notification.recipient.external_id
    return DetailPage(
        layout=layout,
        id=str(notification.id),
        status=badge(notification_status(d.status for d in notification.deliveries)),
        created=stamp(notification.created_at),
        recipient=recipient,
        category=notification.category,
        template=notification.template,
        priority=notification.priority,
        source=notification.source,
        data_json=json.dumps(notification.data, indent=2, ensure_ascii=False, sort_keys=True),
        deliveries=[delivery_view(d) for d in notification.deliveries],
        captured=[captured_view(row) for row in captured],
        recipient_url=recipient_url(recipient),
    )


def sandbox_tabs(channel: str) -> list[ChannelTab]:
    tabs = [ChannelTab("All", "/ui/sandbox", channel == "")]
    tabs += [
        ChannelTab(label, f"/ui/sandbox?channel={key}", channel == key)
        for key, label in CHANNEL_LABELS.items()
    ]
    return tabs
