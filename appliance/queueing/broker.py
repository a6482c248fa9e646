"""The broker: Redis in scaled mode, Dramatiq's in-process broker in embedded mode."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
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
