"""Dispatch: put committed delivery ids on their "<channel>.<priority>" queue."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import dramatiq

from ..config.schema import Channel, Priority
from ..db.types import utcnow
from ..queueing.actors import PARCEL, DeliveryActors, queue_name
from ..queueing.broker import queue_depth
from .store import Dispatch

log = logging.getLogger(__name__)

ZERO = timedelta(0)


class Dispatcher:
    def __init__(self, broker: dramatiq.Broker, actors: DeliveryActors) -> None:
        self.broker = broker
        self.actors = actors

    def dispatch(self, items: Iterable[Dispatch]) -> list[Dispatch]:
        """Enqueue the items in parcels; return those the broker refused (their lease brings
        them back later)."""
        refused = []
        now = utcnow()
        for (channel, priority, not_before), parcel in _parcels(items):
            message = self.actors.message(channel, priority, [str(item.delivery_id) for item in parcel])
            wait = not_before - now if not_before else None
            try:
                self.broker.enqueue(
                    message, delay=int(wait.total_seconds() * 1000) if wait and wait > ZERO else None
                )
            except Exception:
                log.exception("could not enqueue %d deliveries; the sweeper will retry them", len(parcel))
                refused += parcel
        return refused

    def fan_out(self, campaign_id: uuid.UUID, *, lane: int | None = None, after: timedelta = ZERO) -> None:
        """Enqueue the next batch of a lane of a campaign's fan-out, `after` from now (its send
        rate); without a lane, the message that starts every lane still open."""
        delay = int(after.total_seconds() * 1000) if after > ZERO else None
        arguments = (str(campaign_id),) if lane is None else (str(campaign_id), lane)
        self.broker.enqueue(self.actors.fan_out.message(*arguments), delay=delay)

    def waiting(self, channel: Channel, priority: Priority) -> int:
        """How many messages the broker still holds for this queue."""
        return queue_depth(self.broker, queue_name(channel, priority))


def _parcels(
    items: Iterable[Dispatch],
) -> Iterator[tuple[tuple[Channel, Priority, datetime | None], list[Dispatch]]]:
    """Items sharing a queue and a due time, PARCEL at a time, in the order they came."""
    grouped: dict[tuple[Channel, Priority, datetime | None], list[Dispatch]] = {}
    for item in items:
        grouped.setdefault((item.channel, item.priority, item.not_before), []).append(item)
    for key, group in grouped.items():
        for start in range(0, len(group), PARCEL):
            yield key, group[start : start + PARCEL]
