"""What the UI pages read from the database: recent notifications, one notification, its captures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar.di import NamedDependency, Provide
from litestar.params import Parameter
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import raiseload, selectinload

from ...db.engine import Database
from ...db.models import Delivery, Notification, Recipient, SandboxMessage

PAGE_SIZE = 50
Text = Annotated[str, Parameter(max_length=255)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MessageFilters:
    recipient: str = ""
    category: str = ""
    status: str = ""  # matches a notification when any of its deliveries has it
    id: uuid.UUID | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before

    @property
    def active(self) -> bool:
        return bool(self.recipient or self.category or self.status or self.id or self.since or self.until)

    def query(self) -> dict[str, str]:
        """As the filter form's GET parameters; times as its datetime-local inputs write them."""
        values = {
            "recipient": self.recipient,
            "category": self.category,
            "status": self.status,
            "id": str(self.id) if self.id else "",
            "since": _local(self.since),
            "until": _local(self.until),
        }
        return {key: value for key, value in values.items() if value}


def _local(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M") if moment else ""


def parse_moment(raw: str) -> datetime | None:
    """A datetime-local value (or any ISO time), read as UTC; None when blank. ValueError if unreadable."""
    if not raw.strip():
        return None
    moment = datetime.fromisoformat(raw.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the page holds notifications strictly older than this one."""

    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        return f"{(self.created_at - _EPOCH) // timedelta(microseconds=1)}_{self.id.hex}"

    def older(
        self, created_at: ColumnElement[datetime], row_id: ColumnElement[uuid.UUID]
    ) -> ColumnElement[bool]:
        """The condition for rows after this one in newest-first order."""
        return or_(created_at < self.created_at, and_(created_at == self.created_at, row_id < self.id))

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """None for a missing or mangled cursor: the page then starts from the newest."""
        micros, _, hex_id = (raw or "").partition("_")
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id))
        except (ValueError, OverflowError):
            return None


@dataclass(frozen=True)
class AskedFilters:
    filters: MessageFilters
    errors: list[str]  # values that could not be read, and why: they were left out


def asked_filters(
    recipient: Text = "",
    category: Text = "",
    status: Text = "",
    id: Text = "",
    since: Text = "",
    until: Text = "",
) -> AskedFilters:
    """The filters as typed in the query string (a dependency of every messages view)."""
    errors: list[str] = []
    values: dict[str, Any] = {}
    try:
        values["id"] = uuid.UUID(id.strip()) if id.strip() else None
    except ValueError:
        errors.append(f"Notification ID: {id.strip()!r} is not an ID (they look like 0f8c…-…).")
    for name, raw, label in (("since", since, "From"), ("until", until, "Until")):
        try:
            values[name] = parse_moment(raw)
        except ValueError:
            errors.append(f"{label}: {raw!r} is not a date and time.")
    filters = MessageFilters(recipient=recipient.strip(), category=category, status=status, **values)
    return AskedFilters(filters, errors)


#: `asked: AskedFiltersDep` in a handler: the messages filters from its query string.
MESSAGE_FILTERS = {"asked": Provide(asked_filters, sync_to_thread=False)}
AskedFiltersDep = NamedDependency[AskedFilters]


async def recent_notifications(
    database: Database, filters: MessageFilters, *, before: Cursor | None, limit: int
) -> list[Notification]:
    """Newest first, with deliveries (their attempts are not needed for a list)."""
    query = (
        select(Notification)
        .options(
            selectinload(Notification.deliveries).options(
                raiseload(Delivery.attempts), raiseload(Delivery.events)
            )
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    if filters.recipient:
        query = query.join(Recipient, Notification.recipient_id == Recipient.id).where(
            Recipient.external_id == filters.recipient
        )
    if filters.category:
        query = query.where(Notification.category == filters.category)
    if filters.status:
        query = query.where(Notification.deliveries.any(Delivery.status == filters.status))
    if filters.id:
        query = query.where(Notification.id == filters.id)
    if filters.since:
        query = query.where(Notification.created_at >= filters.since)
    if filters.until:
        query = query.where(Notification.created_at < filters.until)
    if before is not None:
        query = query.where(before.older(Notification.created_at, Notification.id))
    async with database.sessions() as session:
        return list(await session.scalars(query))


async def notification_by_id(database: Database, notification_id: uuid.UUID) -> Notification | None:
    """One notification with its deliveries and their attempts (loaded eagerly by the models)."""
    async with database.sessions() as session:
        return await session.scalar(select(Notification).where(Notification.id == notification_id))


async def captured_for(database: Database, notification_id: uuid.UUID) -> list[SandboxMessage]:
    """What sandbox providers captured for one notification, in channel order."""
    query = (
        select(SandboxMessage)
        .where(SandboxMessage.notification_id == notification_id)
        .order_by(SandboxMessage.channel, SandboxMessage.id)
    )
    async with database.sessions() as session:
        return list(await session.scalars(query))
