"""Where circuit state and rate-limit logs live: memory when embedded, Redis when scaled."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from ..catalog import Catalog
from ..settings import Settings
from .circuit import Breakers, CircuitPolicy, CircuitStore, MemoryCircuitStore
from .ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from .redis_circuits import RedisCircuitStore


def circuit_policies(catalog: Catalog) -> dict[str, CircuitPolicy]:
    return {
        name: CircuitPolicy(
            failures=spec.circuit.failures,
            reset_after=spec.circuit.reset_after,
            probe_timeout=spec.timeout * 2,
        )
        for name, spec in catalog.config.providers.items()
    }


#: Redis connections per process (and event loop) at most; an open inbox stream holds one.
REDIS_CONNECTIONS = 512


def redis_client(settings: Settings) -> aioredis.Redis:
    """A client for the calling event loop (redis.asyncio pools are bound to their loop)."""
    assert settings.broker_url is not None
    # Blocking: a worker's sends in flight (a parcel per thread) can outnumber the pool, and
    # redis-py's default pool raises "Too many connections" then instead of waiting for one.
    pool = aioredis.BlockingConnectionPool.from_url(settings.broker_url, max_connections=REDIS_CONNECTIONS)
    return aioredis.Redis.from_pool(pool)


def breakers(store: CircuitStore, catalog: Catalog) -> Breakers:
    return Breakers(store, circuit_policies(catalog), clock=time.time)


def scaled_stores(client: aioredis.Redis, namespace: str) -> tuple[CircuitStore, RateLimiter]:
    return RedisCircuitStore(client, f"{namespace}:circuit"), RedisRateLimiter(client, f"{namespace}:rate")


def embedded_stores() -> tuple[CircuitStore, RateLimiter]:
    return MemoryCircuitStore(), MemoryRateLimiter()


def sign_in_limiter(client: aioredis.Redis | None, namespace: str) -> RateLimiter:
    """Memory in embedded mode (one process); Redis when scaled, so every replica counts the same."""
    return MemoryRateLimiter() if client is None else RedisRateLimiter(client, f"{namespace}:sign-in")
