"""Dispatch: put committed delivery ids on their "<channel>.<priority>" queue."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta

import dramatiq

from ..config.schema import Channel, Priority
from ..db.types import utcnow
from ..queueing.actors import DeliveryActors, queue_name
from ..queueing.broker import queue_depth
from .store import Dispatch

log = logging.getLogger(__name__)

ZERO = timedelta(0)


class Dispatcher:
    def __init__(self, broker: dramatiq.Broker, actors: DeliveryActors) -> None:
        self.broker = broker
        self.actors = actors

    def dispatch(self, items: Iterable[Dispatch]) -> list[Dispatch]:
        """Enqueue each item; return those the broker refused (their lease brings them back later)."""
        refused = []
        now = utcnow()
        for item in items:
            message = self.actors.message(item.channel, item.priority, str(item.delivery_id))
            wait = item.not_before - now if item.not_before else None
            try:
                self.broker.enqueue(
                    message, delay=int(wait.total_seconds() * 1000) if wait and wait > ZERO else None
                )
            except Exception:
                log.exception("could not enqueue delivery %s; the sweeper will retry it", item.delivery_id)
                refused.append(item)
        return refused

    def fan_out(self, campaign_id: uuid.UUID, *, after: timedelta = ZERO) -> None:
        """Enqueue the next batch of a campaign's fan-out, `after` from now (its send rate)."""
        delay = int(after.total_seconds() * 1000) if after > ZERO else None
        self.broker.enqueue(self.actors.fan_out.message(str(campaign_id)), delay=delay)

    def waiting(self, channel: Channel, priority: Priority) -> int:
        """How many messages the broker still holds for this queue."""
        return queue_depth(self.broker, queue_name(channel, priority))
