"""Response bodies of the REST API (request bodies live in appliance.pipeline.requests)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from ...config.schema import DefaultChoice


class Accepted(msgspec.Struct):
    id: str


class TopicAccepted(msgspec.Struct):
    """A notification to a topic: a campaign to its subscribers, fanned out in batches."""

    campaign_id: str
    topic: str
    state: str  # sending, or scheduled for `send_at`
    progress_url: str  # GET it for how many subscribers were planned and sent


class AttemptOut(msgspec.Struct):
    provider: str
    outcome: str
    started_at: datetime
    latency_ms: float
    provider_message_id: str | None
    error: str | None


class EventOut(msgspec.Struct):
    """What happened to a delivery after it was sent: a provider's report, an open, a click."""

    kind: str  # delivered, bounced, complained, failed, opened, clicked
    provider: str  # "tracking" for opens and clicks
    occurred_at: datetime
    automated: str | None  # why an open or click looks machine-made (a mail proxy, a link scanner)


class DeliveryOut(msgspec.Struct):
    id: str
    channel: str
    status: str
    priority: str
    provider: str | None
    provider_message_id: str | None
    tries: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    attempts: list[AttemptOut]
    events: list[EventOut]
    not_before: datetime | None = None  # deferred by quiet hours until then


class NotificationOut(msgspec.Struct):
    id: str
    status: str
    recipient: str
    category: str
    template: str
    priority: str
    data: dict[str, Any]
    created_at: datetime
    deliveries: list[DeliveryOut]


class DeviceOut(msgspec.Struct):
    platform: str
    token: str
    created_at: datetime


class RecipientOut(msgspec.Struct):
    id: str
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str | None
    attributes: dict[str, Any]
    devices: list[DeviceOut]
    created_at: datetime
    updated_at: datetime


class BatchItemOut(msgspec.Struct, omit_defaults=True):
    index: int
    status: int
    id: str | None = None
    error: dict[str, Any] | None = None


class BatchOut(msgspec.Struct):
    accepted: int
    rejected: int
    results: list[BatchItemOut]


class SandboxMessageOut(msgspec.Struct):
    id: int
    created_at: datetime
    provider: str
    channel: str
    to: str
    subject: str | None
    text: str | None
    html: str | None
    payload: dict[str, Any]
    delivery_id: str
    notification_id: str


class SandboxPage(msgspec.Struct):
    messages: list[SandboxMessageOut]


class Health(msgspec.Struct):
    status: str
    checks: dict[str, str] = {}


class ChannelPreferenceOut(msgspec.Struct):
    enabled: bool
    source: Annotated[
        Literal["default", "recipient"],
        msgspec.Meta(
            description="`recipient` when they chose it; `default` when the category's default applies"
        ),
    ]


class CategoryPreferencesOut(msgspec.Struct):
    title: str
    description: str
    opt_out: Annotated[bool, msgspec.Meta(description="false: always sent, whatever the recipient chose")]
    default: DefaultChoice
    channels: dict[str, ChannelPreferenceOut]


class PreferencesOut(msgspec.Struct):
    """`enabled` is each channel's own setting; `unsubscribed_all` overrides every opt-out-able one."""

    recipient: str
    unsubscribed_all: bool
    categories: dict[str, CategoryPreferencesOut]
    preferences_url: Annotated[
        str, msgspec.Meta(description="signed link to the recipient's preference center")
    ]


class ConsentEventOut(msgspec.Struct):
    id: int
    at: datetime
    subject: Annotated[str, msgspec.Meta(examples=["marketing.email", "all", "address.email"])]
    old: str
    new: str
    source: Annotated[str, msgspec.Meta(examples=["api:demo", "preference_center", "one_click", "mailto"])]
    detail: str | None


class ConsentPage(msgspec.Struct):
    events: list[ConsentEventOut]
    next: Annotated[
        int | None, msgspec.Meta(description="pass as `before` for the next page; null on the last")
    ]


class UnsubscribedOut(msgspec.Struct):
    recipient: str
    category: str


class InboxMessageOut(msgspec.Struct):
    """One message in a recipient's inbox; `id`s only grow, newest is largest."""

    id: int
    category: str
    title: str
    body: str
    action_url: str | None
    created_at: datetime
    expires_at: datetime | None
    seen: Annotated[bool, msgspec.Meta(description="shown in the list; unseen ones are new")]
    read: Annotated[bool, msgspec.Meta(description="opened or clicked")]
    archived: bool


class InboxCountsOut(msgspec.Struct):
    """Of the messages not archived nor expired: how many are unread, and how many unseen."""

    unread: int
    unseen: int


class InboxPageOut(msgspec.Struct):
    messages: list[InboxMessageOut]
    counts: InboxCountsOut
    next: Annotated[
        int | None, msgspec.Meta(description="pass as `before` for the next page; null on the last")
    ]
