"""A campaign with a send rate spreads each batch's deliveries over the batch's share of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from appliance.campaigns.fanout import _paced
from appliance.config.schema import Channel, Priority
from appliance.config.units import parse_rate
from appliance.pipeline.store import Dispatch

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def dispatches(count: int, not_before: datetime | None = None) -> tuple[Dispatch, ...]:
    return tuple(Dispatch(uuid.uuid4(), Channel.EMAIL, Priority.BULK, not_before) for _ in range(count))


def test_a_rate_spaces_the_deliveries_evenly_from_now() -> None:
    batch = dispatches(4)
    paced = _paced(batch, parse_rate("20/s"), NOW)
    assert [d.not_before for d in paced] == [NOW + timedelta(milliseconds=50 * n) for n in range(4)]
    assert [d.delivery_id for d in paced] == [d.delivery_id for d in batch]


def test_a_delivery_deferred_past_its_slot_keeps_its_later_time() -> None:
    later = NOW + timedelta(hours=8)  # past the recipient's quiet hours
    [paced] = _paced(dispatches(1, later), parse_rate("20/s"), NOW)
    assert paced.not_before == later


def test_without_a_rate_the_batch_goes_as_planned() -> None:
    batch = dispatches(3)
    assert _paced(batch, None, NOW) is batch
