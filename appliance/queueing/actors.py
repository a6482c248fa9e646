"""One Dramatiq actor per channel and priority, each on its own queue "<channel>.<priority>".

Separate queues keep a marketing blast from ever waiting in front of an OTP, and let an
operator dedicate `clarion worker --queues` processes to high priority.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta

import dramatiq

from ..config.schema import Channel, Priority

FanOutHandler = Callable[[str, int | None], Awaitable[None]]
ParcelHandler = Callable[[Sequence[str], Priority], Awaitable[None]]

#: Delivery ids per message at most. A parcel is claimed and recorded in one transaction each:
#: the database round trips, not the provider call, are what a delivery costs. Bounded so that
#: one message's sends in flight (parcel x worker threads) stay within a provider's reason.
PARCEL = 50

# Retries are decided from the database (the category's retry policy); this is only a backstop.
_BROKER_MAX_RETRIES = 1000


#: Campaign fan-out: planning work, kept off the delivery queues.
CAMPAIGNS_QUEUE = "campaigns"


def queue_name(channel: Channel, priority: Priority) -> str:
    return f"{channel.value}.{priority.value}"


class DeliveryActors:
    def __init__(
        self,
        broker: dramatiq.Broker,
        channels: Iterable[Channel],
        handler: ParcelHandler,
        *,
        fan_out: FanOutHandler,
        time_limit: timedelta,
    ) -> None:
        self.fan_out = dramatiq.Actor(
            _renamed(fan_out, "fan_out_campaign"),
            broker=broker,
            actor_name="fan_out_campaign",
            queue_name=CAMPAIGNS_QUEUE,
            priority=0,
            options={
                "max_retries": _BROKER_MAX_RETRIES,
                "time_limit": int(time_limit.total_seconds() * 1000),
            },
        )
        self.actors: dict[tuple[Channel, Priority], dramatiq.Actor] = {}
        for channel in channels:
            for priority in Priority:
                name = f"deliver_{channel.value}_{priority.value}"
                self.actors[channel, priority] = dramatiq.Actor(
                    # The ids are the message's arguments: a message of one id, as older
                    # releases sent, is a parcel of one.
                    _renamed(lambda *delivery_ids, p=priority: handler(delivery_ids, p), name),
                    broker=broker,
                    actor_name=name,
                    queue_name=queue_name(channel, priority),
                    priority=0,
                    options={
                        "max_retries": _BROKER_MAX_RETRIES,
                        "time_limit": int(time_limit.total_seconds() * 1000),
                    },
                )

    def message(self, channel: Channel, priority: Priority, delivery_ids: Sequence[str]) -> dramatiq.Message:
        return self.actors[channel, priority].message(*delivery_ids)

    def queue_names(self) -> list[str]:
        return [CAMPAIGNS_QUEUE, *(actor.queue_name for actor in self.actors.values())]

    def high_priority_queues(self) -> set[str]:
        return {actor.queue_name for (_, priority), actor in self.actors.items() if priority is Priority.HIGH}


def _renamed(fn: Callable[..., Awaitable[None]], name: str) -> Callable[..., Awaitable[None]]:
    """`fn` as a coroutine function called `name`: Dramatiq's logs and its AsyncIO middleware
    go by the function it is given."""

    async def run(*arguments: object) -> None:
        await fn(*arguments)

    run.__name__ = run.__qualname__ = name
    return run
