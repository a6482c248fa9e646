"""The tables. The database is the source of truth; the broker only carries delivery ids."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .ids import new_id
from .types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The largest integer id either database stores; cursors beyond it are rejected, not overflowed.
MAX_ROW_ID = 2**63 - 1

# SQLite has no BIGINT autoincrement; INTEGER PRIMARY KEY is its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"
    HELD = "held"  # a fallback channel, waiting for the ones before it to fail
    THROTTLED = "throttled"  # the category's frequency cap was reached; not sent


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    unsubscribed_all: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    devices: Mapped[list[Device]] = relationship(
        back_populates="recipient",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="Device.created_at",
    )


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(4096), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recipient: Mapped[Recipient] = relationship(back_populates="devices")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_created_at", "created_at"),
        # Frequency caps: only notifications that took a slot, so the rest cost no index entry.
        Index(
            "ix_notifications_frequency",
            "recipient_id",
            "category",
            "counted_at",
            postgresql_where=text("counted_at IS NOT NULL"),
            sqlite_where=text("counted_at IS NOT NULL"),
        ),
        # A campaign reaches each recipient once, however often its fan-out is resumed. Partial:
        # a send of no campaign (every API send) writes no entry here.
        Index(
            "uq_notifications_campaign_recipient",
            "campaign_id",
            "recipient_id",
            unique=True,
            postgresql_where=text("campaign_id IS NOT NULL"),
            sqlite_where=text("campaign_id IS NOT NULL"),
        ),
        # An Idempotency-Key names one notification: the first answer, replayed for every repeat.
        Index(
            "uq_notifications_idempotency_key",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
            sqlite_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    counted_at: Mapped[datetime | None]  # when it took a slot of its category's frequency cap
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    variant: Mapped[str | None] = mapped_column(String(64))  # the A/B variant rendered, if any
    # Scoped to the API key that sent it; with the hash of the request it came with, so that a
    # repeat carrying another request is refused rather than replayed.
    idempotency_key: Mapped[str | None] = mapped_column(String(400))
    request_hash: Mapped[str | None] = mapped_column(String(64))

    recipient: Mapped[Recipient] = relationship(lazy="joined")
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="notification",
        lazy="selectin",
        order_by=lambda: [Delivery.position, Delivery.channel],
    )


class Delivery(Base):
    """One channel of one notification; its lease says who may work on it until when."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_lease", "status", "lease_expires_at"),
        # Provider events find deliveries by it; a delivery has none until it is sent.
        Index(
            "ix_deliveries_provider_message_id",
            "provider_message_id",
            postgresql_where=text("provider_message_id IS NOT NULL"),
            sqlite_where=text("provider_message_id IS NOT NULL"),
        ),
        Index("ix_deliveries_created_at", "created_at"),  # analytics: the hours a rollup refresh recounts
        Index("ix_deliveries_updated_at", "updated_at"),  # analytics: hours changed since a refresh
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(default=0, server_default="0")  # the category's channel order
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED)
    attempt_count: Mapped[int] = mapped_column(default=0)
    lease_expires_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]  # deferred by quiet hours until then
    provider: Mapped[str | None] = mapped_column(String(64))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]

    notification: Mapped[Notification] = relationship(back_populates="deliveries")
    attempts: Mapped[list[Attempt]] = relationship(lazy="selectin", order_by="Attempt.id")
    events: Mapped[list[DeliveryEvent]] = relationship(lazy="selectin", order_by="DeliveryEvent.id")


class Attempt(Base):
    """One provider call for one delivery."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_provider_started_at", "provider", "started_at"),)  # provider health

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    latency_ms: Mapped[float] = mapped_column(Float)
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class DeliveryEvent(Base):
    """What a provider reported about a delivery (delivered, bounced, ...), as its webhook said."""

    __tablename__ = "delivery_events"
    __table_args__ = (Index("ix_delivery_events_received_at", "received_at"),)  # analytics refresh

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Opens and clicks a machine made (a mail proxy, a link scanner): why it looks automated.
    automated: Mapped[str | None] = mapped_column(String(64))


class SuppressionReason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    INVALID = "invalid"  # the provider said the address can never receive
    MANUAL = "manual"
    UNSUBSCRIBE = "unsubscribe"


class Suppression(Base):
    """An address nothing is sent to any more, and why."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Preference(Base):
    """A recipient's own choice for one channel of one category; no row means the category's default."""

    __tablename__ = "preferences"

    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentEvent(Base):
    """One change to what a recipient receives: when, what, old -> new, and through what."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_created_at", "created_at"),)  # unsubscribes in a range

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(96))  # "marketing.email", "all", "address.email"
    old: Mapped[str] = mapped_column(String(16))
    new: Mapped[str] = mapped_column(String(16))
    # api:<key name>, preference_center, one_click, mailto, provider:<name>
    source: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Topic(Base):
    """A list recipients subscribe to; a notification or campaign to it reaches every subscriber."""

    __tablename__ = "topics"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicSubscription(Base):
    __tablename__ = "topic_subscriptions"

    topic_key: Mapped[str] = mapped_column(ForeignKey("topics.key", ondelete="CASCADE"), primary_key=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    """A saved filter over recipients, defined in the UI (those from the YAML are not stored)."""

    __tablename__ = "segments"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignState(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    TESTING = "testing"  # the test share is out; waiting to pick the winner for the rest
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class Campaign(Base):
    """One message to an audience: fanned out in batches, resumable, once per recipient."""

    __tablename__ = "campaigns"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64))
    template: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"topic": k} | {"segment": k} | {}
    variants: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name -> {"weight": n}
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.DRAFT)
    send_at: Mapped[datetime | None]
    local_time: Mapped[str | None] = mapped_column(String(5))  # "09:00" in each recipient's zone
    rate: Mapped[str | None] = mapped_column(String(32))  # "5000/m": deliveries planned per period
    # The fan-out's lanes (campaigns/lanes.py): lane -> the last recipient id it reached (hex),
    # None before its first batch, "done" once exhausted; None before the fan-out starts.
    lanes: Mapped[dict[str, str | None] | None] = mapped_column(JSON)
    planned: Mapped[int] = mapped_column(default=0)
    # Test, then send the winner: {"test_share": %, "wait_s": s, "metric": "opens"|"clicks"}.
    winner_test: Mapped[dict[str, Any] | None]
    winner: Mapped[str | None] = mapped_column(String(64))  # picked: the rest all get this variant
    tested_at: Mapped[datetime | None]  # when the last test delivery went out: the wait starts
    # A notification to a topic is a campaign; its Idempotency-Key (scoped to the API key) and body.
    idempotency_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DeliveryRollup(Base):
    """Deliveries created in one UTC hour, counted by category, channel and current status.

    A cache of `deliveries` (+ their opens and clicks) that analytics reads instead of millions of
    rows; `analytics/rollup.py` recounts an hour whenever one of its deliveries or events changes.
    """

    __tablename__ = "delivery_rollups"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    deliveries: Mapped[int]
    opened: Mapped[int]  # deliveries with at least one open a person made (not a proxy or scanner)
    clicked: Mapped[int]


class RollupWatermark(Base):
    """Up to when the rollup has taken changes in: rows changed since then are recounted next."""

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    refreshed_at: Mapped[datetime]


# APScheduler's SQLAlchemy job store, declared here so migrations own it (the store only reads it).
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class SandboxMessage(Base):
    """A message a `sandbox` provider captured instead of sending."""

    __tablename__ = "sandbox_messages"
    __table_args__ = (Index("ix_sandbox_messages_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    notification_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    provider: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    to_address: Mapped[str] = mapped_column(String(4096))
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboxMessage(Base):
    """One in-app message in a recipient's inbox. Ids only grow: the real-time feed replays by them."""

    __tablename__ = "inbox_messages"
    __table_args__ = (Index("ix_inbox_messages_recipient_id_id", "recipient_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    # Unique: a delivery retried after its row was written (at-least-once) finds it, not a twin.
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True
    )
    category: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    action_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]  # shown in the list: the badge may stop counting it as new
    read_at: Mapped[datetime | None]  # opened or clicked
    archived_at: Mapped[datetime | None]  # put away: left out of the inbox and its counts
