"""Intake: check a request against the loaded config and turn it into a plain value to plan."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import msgspec

from ..catalog import Catalog
from ..config.schema import CategoryConfig, Channel, Priority
from .requests import NotificationIn, RecipientIn


class Accepted(msgspec.Struct, frozen=True):
    """A request that names things the config knows; ready to be planned and stored.

    A Struct, not a dataclass: a campaign makes one per recipient (`msgspec.structs.replace`),
    and a Struct is built in C (~0.3 µs where a frozen dataclass's `replace` took ~3).
    """

    recipient: RecipientIn
    category: str
    rules: CategoryConfig
    template: str
    priority: Priority
    channels: tuple[Channel, ...]  # the category's order, limited to what the template can render
    data: dict[str, Any]
    idempotency_key: str | None  # already scoped to the API key that sent it
    request_hash: str | None  # with a key only: what a repeat of it must match
    send_at: datetime | None = None  # not before then: the scheduler releases it
    campaign_id: uuid.UUID | None = None
    variant: str | None = None


def accept(
    request: NotificationIn, catalog: Catalog, *, caller: str, idempotency_key: str | None = None
) -> Accepted:
    """Raises RequestRejected naming the field when the config cannot serve the request."""
    request.to.check("to.")
    category = catalog.category(request.category)
    usable = catalog.require_template(request.template, category)
    key = idempotency_key or request.idempotency_key
    return Accepted(
        recipient=request.to,
        category=request.category,
        rules=category,
        template=request.template,
        priority=category.priority,
        channels=tuple(channel for channel in category.channels if channel in usable),
        data=request.data,
        idempotency_key=f"{caller}:{key}" if key else None,
        request_hash=request_hash(request) if key else None,
        send_at=request.send_at,
    )


def request_hash(request: NotificationIn) -> str:
    """Same request, same hash, whatever the key order or whitespace the caller used."""
    canonical = msgspec.json.encode(request, order="sorted")
    return hashlib.sha256(canonical).hexdigest()
