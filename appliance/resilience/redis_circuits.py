"""Circuit state in Redis, so every worker process trips and probes the same breaker."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import redis.asyncio as aioredis

from .circuit import Circuit, CircuitState

T = TypeVar("T")


class RedisCircuitStore:
    def __init__(self, client: aioredis.Redis, namespace: str = "clarion:circuit") -> None:
        self.client = client
        self.namespace = namespace

    def _key(self, name: str) -> str:
        return f"{self.namespace}:{name}"

    async def get(self, name: str) -> Circuit:
        return _decode(await self.client.hgetall(self._key(name)))

    async def update(self, name: str, change: Callable[[Circuit], tuple[Circuit, T]]) -> T:
        key = self._key(name)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    before = _decode(await pipe.hgetall(key))
                    after, result = change(before)
                    if after == before:
                        await pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.hset(key, mapping=_encode(after))
                    await pipe.execute()
                    return result
                except aioredis.WatchError:
                    continue  # another worker changed it first: decide again on its state


def _encode(circuit: Circuit) -> dict[str, str]:
    return {
        "state": circuit.state.value,
        "failures": str(circuit.failures),
        "opened_at": repr(circuit.opened_at),
        "probe_until": repr(circuit.probe_until),
    }


def _decode(raw: dict[bytes, bytes]) -> Circuit:
    if not raw:
        return Circuit()
    return Circuit(
        state=CircuitState(raw[b"state"].decode()),
        failures=int(raw[b"failures"]),
        opened_at=float(raw[b"opened_at"]),
        probe_until=float(raw[b"probe_until"]),
    )
