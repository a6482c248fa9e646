"""What callers send to create and launch campaigns, as typed values (msgspec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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


class VariantIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    weight: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1
    local_time: LocalTime | None = None  # to test a send time: this variant's, on each recipient's clock


WaitFor = Annotated[
    str, msgspec.Meta(pattern=r"^\s*\d+(\.\d+)?\s*(s|m|h|d)\s*$", description='e.g. "4h", "30m"')
]


class WinnerTestIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Send the variants to a test share first, wait, then send the better one to everyone else."""

    test_share: Annotated[int, msgspec.Meta(ge=1, le=90, description="percent of the audience")] = 20
    wait: WaitFor = "4h"  # after the test share is planned, before picking
    metric: Literal["opens", "clicks"] = "opens"


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    category: Name
    template: Name
    data: dict[str, Any] = {}
    audience: AudienceIn = AudienceIn()
    variants: dict[Name, VariantIn] = {}  # the template's variants and weights when left out
    local_time: LocalTime | None = None  # each recipient at this time of their own day
    rate: SendRate | None = None  # deliveries per period, e.g. "5000/m"
    winner: WinnerTestIn | None = None  # test, then send the winner (needs two variants or more)


class LaunchIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    send_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None  # now when left out
