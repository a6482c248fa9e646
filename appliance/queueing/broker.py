"""The broker: Redis in scaled mode, Dramatiq's in-process broker in embedded mode."""

from __future__ import annotations

from datetime import UTC, datetime
from queue import Queue

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from dramatiq.middleware import AsyncIO, CurrentMessage, default_middleware

from ..settings import Settings


def create_broker(settings: Settings) -> dramatiq.Broker:
    middleware = [m() for m in default_middleware] + [AsyncIO(), CurrentMessage()]
    if settings.broker_url is None:
        return StubBroker(middleware=middleware)
    return RedisBroker(url=settings.broker_url, middleware=middleware, namespace=settings.redis_namespace)


def ping(broker: dramatiq.Broker) -> None:
    """Raise if the broker cannot be reached."""
    if isinstance(broker, RedisBroker):
        broker.client.ping()


def queue_depth(broker: dramatiq.Broker, queue_name: str) -> int:
    """Messages waiting in the broker for a queue and its delay queue, not yet taken by a worker.

    Messages a worker has fetched are left out on purpose: if that worker died, Dramatiq gives
    them back only when a random maintenance pass notices (minutes, at worst), and the sweeper
    must not wait for that. A live worker's copy makes a resend a duplicate the claim ignores.
    """
    if isinstance(broker, RedisBroker):
        keys = (f"{broker.namespace}:{name}" for name in (queue_name, dq_name(queue_name)))
        return sum(int(broker.client.llen(key)) for key in keys)
    queues = getattr(broker, "queues", {})
    return sum(queues[name].qsize() for name in (queue_name, dq_name(queue_name)) if name in queues)


def oldest_waiting(broker: dramatiq.Broker, queue_name: str) -> datetime | None:
    """When the message at the head of a queue was enqueued (delayed messages are left out: they
    wait on purpose), or None when the queue is empty."""
    if isinstance(broker, RedisBroker):
        head = broker.client.lindex(f"{broker.namespace}:{queue_name}", 0)
        raw = broker.client.hget(f"{broker.namespace}:{queue_name}.msgs", head) if head else None
    else:
        raw = _head(getattr(broker, "queues", {}).get(queue_name))
    if raw is None:
        return None
    return datetime.fromtimestamp(dramatiq.Message.decode(raw).message_timestamp / 1000, UTC)


def _head(queue: Queue[bytes] | None) -> bytes | None:
    try:
        return queue.queue[0] if queue is not None else None
    except IndexError:  # a worker took the last one meanwhile
        return None
