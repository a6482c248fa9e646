"""Dispatch: committed delivery ids travel in parcels, one queue and one due time each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name

from appliance.config.schema import Channel, Priority
from appliance.db.types import utcnow
from appliance.pipeline.dispatch import Dispatcher
from appliance.pipeline.store import Dispatch
from appliance.queueing.actors import PARCEL, DeliveryActors


async def _ignored(*arguments: object) -> None:
    raise AssertionError("no worker runs here")


def _waiting(broker: StubBroker, queue: str) -> list[tuple[str, ...]]:
    held = broker.queues[queue].queue
    return [tuple(dramatiq.Message.decode(raw).args) for raw in held]


def test_ids_go_in_parcels_of_one_queue_and_one_due_time_in_the_order_given() -> None:
    broker = StubBroker()
    actors = DeliveryActors(
        broker, [Channel.WEBHOOK, Channel.EMAIL], _ignored, fan_out=_ignored, time_limit=timedelta(minutes=1)
    )
    later = utcnow() + timedelta(hours=1)
    now_due = [Dispatch(uuid.uuid4(), Channel.WEBHOOK, Priority.NORMAL) for _ in range(PARCEL * 2 + 7)]
    email = Dispatch(uuid.uuid4(), Channel.EMAIL, Priority.NORMAL)
    deferred = [Dispatch(uuid.uuid4(), Channel.WEBHOOK, Priority.NORMAL, not_before=later) for _ in range(3)]

    refused = Dispatcher(broker, actors).dispatch([*now_due[:5], email, *deferred, *now_due[5:]])

    assert refused == []
    parcels = _waiting(broker, "webhook.normal")
    assert [len(parcel) for parcel in parcels] == [PARCEL, PARCEL, 7]
    assert [i for parcel in parcels for i in parcel] == [str(d.delivery_id) for d in now_due]
    assert _waiting(broker, "email.normal") == [(str(email.delivery_id),)]
    assert _waiting(broker, dq_name("webhook.normal")) == [tuple(str(d.delivery_id) for d in deferred)]


async def test_a_parcel_reaches_its_handler_with_its_queue_priority() -> None:
    """The courier defers the claims of all but high-priority parcels (db/sqlite_writers.py)."""
    handled: list[tuple[tuple[str, ...], Priority]] = []

    async def handler(delivery_ids: Sequence[str], priority: Priority) -> None:
        handled.append((tuple(delivery_ids), priority))

    actors = DeliveryActors(
        StubBroker(), [Channel.SMS], handler, fan_out=_ignored, time_limit=timedelta(minutes=1)
    )
    for priority in Priority:  # the coroutine itself, not Dramatiq's sync wrapper around it
        await actors.actors[Channel.SMS, priority].fn.__wrapped__("a", "b")
    assert handled == [(("a", "b"), priority) for priority in Priority]
