"""Response bodies of the REST API (request bodies live in appliance.pipeline.requests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Accepted(msgspec.Struct):
    id: str


class AttemptOut(msgspec.Struct):
    provider: str
    outcome: str
    started_at: datetime
    latency_ms: float
    provider_message_id: str | None
    error: str | None


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
