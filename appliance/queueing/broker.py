"""The broker: Redis in scaled mode, Dramatiq's in-process broker in embedded mode."""

from __future__ import annotations

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
    """Messages the broker holds for a queue and its delay queue, waiting or in flight."""
    if isinstance(broker, RedisBroker):
        # Dramatiq keeps every un-acked message of a queue in the hash "<namespace>:<queue>.msgs".
        keys = (f"{broker.namespace}:{name}.msgs" for name in (queue_name, dq_name(queue_name)))
        return sum(int(broker.client.hlen(key)) for key in keys)
    queues = getattr(broker, "queues", {})
    return sum(queues[name].qsize() for name in (queue_name, dq_name(queue_name)) if name in queues)
