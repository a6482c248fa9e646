"""What callers send to create and launch campaigns, as typed values (msgspec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
LocalTime = Annotated[
    str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description='"HH:MM", e.g. "09:00"')
]
SendRate = Annotated[str, msgspec.Meta(pattern=r"^\s*\d+\s*/\s*[smhdw]\s*$", description='e.g. "5000/m"')]


class AudienceIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, frozen=True):
    """One of `topic` or `segment`; neither means every recipient."""

    topic: Name | None = None
    segment: Name | None = None


class VariantIn(msgspec.Struct, forbid_unknown_fields=True):
    weight: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    category: Name
    template: Name
    data: dict[str, Any] = {}
    audience: AudienceIn = AudienceIn()
    variants: dict[Name, VariantIn] = {}  # the template's variants and weights when left out
    local_time: LocalTime | None = None  # each recipient at this time of their own day
    rate: SendRate | None = None  # deliveries per period, e.g. "5000/m"


class LaunchIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    send_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None  # now when left out
