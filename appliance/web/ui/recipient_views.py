"""View models of the recipient pages, built by pure functions from profiles and their records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from ...config.schema import ClarionConfig
from ...db.models import ConsentEvent, Device, Recipient, Suppression, Topic
from ...preferences.matrix import CategorySetting, matrix
from .queries import Cursor, MessageFilters
from .recipient_queries import HISTORY_SHOWN, RecipientFacts
from .views import (
    CHANNEL_LABELS,
    Badge,
    Layout,
    MessageRow,
    Stamp,
    message_row,
    messages_url,
    recipient_url,
    stamp,
)


def recipients_url(text: str, before: Cursor | None = None) -> str:
    params = {"q": text} if text else {}
    if before is not None:
        params["before"] = before.encode()
    return "/ui/recipients" + (f"?{urlencode(params)}" if params else "")


@dataclass(frozen=True)
class RecipientRow:
    id: str
    url: str
    email: str
    phone: str
    locale: str
    created: Stamp


@dataclass(frozen=True)
class RecipientsPage:
    layout: Layout
    query: str
    rows: list[RecipientRow]
    older_url: str | None
    newest_url: str | None  # set when this is not the first page


def recipient_row(recipient: Recipient) -> RecipientRow:
    return RecipientRow(
        id=recipient.external_id,
        url=recipient_url(recipient.external_id),
        email=recipient.email or "—",
        phone=recipient.phone or "—",
        locale=recipient.locale or "—",
        created=stamp(recipient.created_at),
    )


def recipients_page(
    layout: Layout, text: str, rows: list[Recipient], *, page_size: int, before: Cursor | None
) -> RecipientsPage:
    """`rows` holds one more than a page when there is an older page."""
    older = rows[page_size - 1] if len(rows) > page_size else None
    return RecipientsPage(
        layout=layout,
        query=text,
        rows=[recipient_row(r) for r in rows[:page_size]],
        older_url=recipients_url(text, Cursor(older.created_at, older.id)) if older else None,
        newest_url=recipients_url(text) if before is not None else None,
    )


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class DeviceView:
    platform: str
    token: str  # masked: enough to tell devices apart, not enough to send to one
    added: Stamp


@dataclass(frozen=True)
class AddressView:
    channel: str
    address: str
    status: Badge


@dataclass(frozen=True)
class PreferenceCell:
    channel: str
    state: Badge  # says "their choice" when it is not the category's default


@dataclass(frozen=True)
class PreferenceRow:
    category: str
    title: str
    optional: bool
    cells: list[PreferenceCell]


@dataclass(frozen=True)
class TopicView:
    key: str
    name: str
    since: Stamp


@dataclass(frozen=True)
class SuppressionView:
    channel: str
    address: str
    reason: Badge
    detail: str
    source: str
    since: Stamp


@dataclass(frozen=True)
class ConsentView:
    at: Stamp
    subject: str
    change: str
    source: str
    detail: str


@dataclass(frozen=True)
class RecipientPage:
    layout: Layout
    id: str
    profile: list[Fact]
    attributes: list[Fact]
    devices: list[DeviceView]
    addresses: list[AddressView]
    unsubscribed_all: bool
    preferences: list[PreferenceRow]
    topics: list[TopicView]
    suppressions: list[SuppressionView]
    consent: list[ConsentView]
    history: list[MessageRow]
    messages_url: str  # every notification to them, on the messages page
    more_history: bool


def mask(token: str) -> str:
    return f"{token[:4]}…{token[-4:]}" if len(token) > 12 else f"…{token[-4:]}"


def _when(moment: datetime | None) -> str:
    return stamp(moment).full if moment else "—"


def profile_facts(recipient: Recipient, last_message: datetime | None) -> list[Fact]:
    return [
        Fact("Locale", recipient.locale or "— (the default texts)"),
        Fact("Time zone", recipient.timezone or "— (the config's policy time zone)"),
        Fact("Created", _when(recipient.created_at)),
        Fact("Profile updated", _when(recipient.updated_at)),
        Fact("Last notified", _when(last_message)),
    ]


def attribute_facts(attributes: dict[str, Any]) -> list[Fact]:
    def shown(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return [Fact(key, shown(value)) for key, value in sorted(attributes.items())]


def device_view(device: Device) -> DeviceView:
    return DeviceView(device.platform, mask(device.token), stamp(device.created_at))


def address_views(recipient: Recipient, suppressions: list[Suppression]) -> list[AddressView]:
    suppressed = {row.channel: row.reason for row in suppressions}
    given = {("Email", "email"): recipient.email, ("Phone", "sms"): recipient.phone}
    return [
        AddressView(label, address or "", _address_status(address, suppressed.get(channel)))
        for (label, channel), address in given.items()
    ]


def _address_status(address: str | None, suppressed_for: str | None) -> Badge:
    if suppressed_for:
        return _suppressed(suppressed_for)
    return Badge("active", "ok") if address else Badge("no address", "muted")


def _suppressed(reason: str) -> Badge:
    return Badge(f"suppressed: {reason.replace('_', ' ')}", "bad")


def preference_row(setting: CategorySetting) -> PreferenceRow:
    cells = [
        PreferenceCell(
            CHANNEL_LABELS[cell.channel.value], _preference(setting.optional, cell.enabled, cell.chosen)
        )
        for cell in setting.channels
    ]
    return PreferenceRow(setting.name, setting.rules.display_title, setting.optional, cells)


def _preference(optional: bool, enabled: bool, chosen: bool) -> Badge:
    if not optional:
        return Badge("always", "ok")
    state = "on" if enabled else "off"
    return Badge(f"{state}, their choice" if chosen else state, "ok" if enabled else "muted")


def topic_view(topic: Topic, since: datetime) -> TopicView:
    return TopicView(topic.key, topic.name or topic.key, stamp(since))


def suppression_view(row: Suppression) -> SuppressionView:
    return SuppressionView(
        CHANNEL_LABELS.get(row.channel, row.channel),
        row.address,
        _suppressed(row.reason),
        row.detail or "",
        row.source,
        stamp(row.created_at),
    )


def consent_view(event: ConsentEvent) -> ConsentView:
    change = f"{event.old.replace('_', ' ')} → {event.new.replace('_', ' ')}"
    return ConsentView(stamp(event.created_at), event.subject, change, event.source, event.detail or "")


def recipient_page(layout: Layout, config: ClarionConfig, facts: RecipientFacts) -> RecipientPage:
    recipient = facts.recipient
    history = facts.history[:HISTORY_SHOWN]
    return RecipientPage(
        layout=layout,
        id=recipient.external_id,
        profile=profile_facts(recipient, history[0].created_at if history else None),
        attributes=attribute_facts(recipient.attributes or {}),
        devices=[device_view(d) for d in recipient.devices],
        addresses=address_views(recipient, facts.suppressions),
        unsubscribed_all=facts.choices.unsubscribed_all,
        preferences=[preference_row(s) for s in matrix(config, facts.choices)],
        topics=[topic_view(topic, since) for topic, since in facts.topics],
        suppressions=[suppression_view(row) for row in facts.suppressions],
        consent=[consent_view(event) for event in facts.consent],
        history=[message_row(n) for n in history],
        messages_url=messages_url(MessageFilters(recipient=recipient.external_id)),
        more_history=len(facts.history) > HISTORY_SHOWN,
    )
