"""Per-provider rate limits over a true sliding window, shared by every worker process.

Why not Dramatiq's WindowRateLimiter: it counts whole-second buckets, so with `20/s` it
lets 20 calls through at 0.9 s and 20 more at 1.1 s — 40 inside 200 ms. Providers count
over sliding windows, and an operator's `20/s` must mean "never more than 20 in any
second". A log of recent call times (a sorted set in Redis) gives exactly that, and a
small margin keeps network jitter from pushing arrivals at the provider over the limit.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

from ..config.units import Rate

#: Spacing kept beyond the period, so two calls granted exactly one period apart cannot
#: arrive closer than that after uneven network delays.
MARGIN_S = 0.05


class RateLimiter(Protocol):
    async def acquire(self, key: str, rate: Rate) -> float:
        """Take one slot: 0.0 if taken, else the seconds until one frees up."""
        ...

    async def forget(self, key: str) -> None:
        """Free every slot taken under `key`."""
        ...


class MemoryRateLimiter:
    """For embedded mode: all workers are threads of one process and one event loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.calls: dict[str, deque[float]] = {}

    async def acquire(self, key: str, rate: Rate) -> float:
        now = self.clock()
        calls = self.calls.setdefault(key, deque())
        window = rate.period_s + MARGIN_S
        while calls and calls[0] <= now - window:
            calls.popleft()
        if len(calls) < rate.count:
            calls.append(now)
            return 0.0
        return calls[0] + window - now

    async def forget(self, key: str) -> None:
        self.calls.pop(key, None)


# KEYS[1] the log; ARGV: count, period in ms, a unique member. Redis' own clock keeps processes agreeing.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count, period = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < count then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + period - now + 1
"""


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, namespace: str = "clarion:rate") -> None:
        self.client = client
        self.namespace = namespace
        self.script = client.register_script(_SLIDING_WINDOW)
        self._sequence = 0

    async def acquire(self, key: str, rate: Rate) -> float:
        self._sequence += 1
        member = f"{id(self)}:{self._sequence}:{time.time_ns()}"
        wait_ms = await self.script(
            keys=[f"{self.namespace}:{key}"],
            args=[rate.count, int((rate.period_s + MARGIN_S) * 1000), member],
        )
        return int(wait_ms) / 1000

    async def forget(self, key: str) -> None:
        await self.client.delete(f"{self.namespace}:{key}")
