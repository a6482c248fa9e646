"""Circuit breakers and sliding-window rate limits, against simple reference models."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.config.units import parse_rate
from appliance.resilience.circuit import (
    Breakers,
    Circuit,
    CircuitPolicy,
    CircuitState,
    CircuitStore,
    MemoryCircuitStore,
    admit,
    report,
)
from appliance.resilience.ratelimit import MARGIN_S, MemoryRateLimiter
from appliance.resilience.redis_circuits import RedisCircuitStore

T = TypeVar("T")
POLICY = CircuitPolicy(failures=3, reset_after=timedelta(seconds=10), probe_timeout=timedelta(seconds=2))

# (seconds since the previous event, event): a call's result, or an attempt to pass the breaker
events = st.lists(st.tuples(st.floats(0, 15), st.sampled_from(["ok", "fail", "admit"])), max_size=40)


@given(events)
def test_the_breaker_opens_after_n_consecutive_failures_and_admits_one_probe_after_reset(
    steps: list[tuple[float, str]],
) -> None:
    circuit, now, streak = Circuit(), 0.0, 0
    for gap, event in steps:
        now += gap
        if event == "admit":
            before = circuit
            circuit, allowed = admit(circuit, now, POLICY)
            if before.state is CircuitState.CLOSED:
                assert allowed
            elif before.state is CircuitState.OPEN:
                assert allowed == (now - before.opened_at >= 10)
                assert circuit.state is (CircuitState.HALF_OPEN if allowed else CircuitState.OPEN)
            else:
                assert allowed == (now >= before.probe_until)  # one probe at a time
            continue
        before = circuit
        circuit = report(circuit, event == "ok", now, POLICY)
        streak = 0 if event == "ok" else streak + 1
        if event == "ok":
            assert circuit == Circuit()
        elif before.state is CircuitState.HALF_OPEN:
            assert circuit.state is CircuitState.OPEN and circuit.opened_at == now
        elif before.state is CircuitState.CLOSED:
            assert (circuit.state is CircuitState.OPEN) == (before.failures + 1 >= 3)


@given(
    count=st.integers(1, 10),
    period=st.sampled_from(["s", "m"]),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60),
)
async def test_no_sliding_window_ever_holds_more_calls_than_the_rate(
    count: int, period: str, gaps: list[float]
) -> None:
    rate = parse_rate(f"{count}/{period}")
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    granted: list[float] = []
    for gap in gaps:
        now[0] += gap
        wait = await limiter.acquire("p", rate)
        if wait == 0:
            granted.append(now[0])
        else:
            assert wait > 0
            in_window = [t for t in granted if t > now[0] - rate.period_s - MARGIN_S]
            assert len(in_window) == rate.count  # refused only when the window is really full
    for start in granted:
        assert len([t for t in granted if start <= t < start + rate.period_s]) <= rate.count


@pytest.mark.parametrize("limiter_kind", ["memory", "redis"])
async def test_both_limiters_agree_on_a_burst(limiter_kind: str, request: pytest.FixtureRequest) -> None:
    if limiter_kind == "memory":
        limiter = MemoryRateLimiter()
    else:
        import redis.asyncio as aioredis

        from appliance.resilience.ratelimit import RedisRateLimiter

        client = aioredis.Redis.from_url(request.getfixturevalue("fresh_redis"))
        limiter = RedisRateLimiter(client, f"clarion-test-{uuid.uuid4().hex[:8]}:rate")
    rate = parse_rate("5/s")
    waits = [await limiter.acquire("burst", rate) for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert all(0 < wait <= 1 + MARGIN_S + 0.002 for wait in waits[5:])


class Counted:
    """A circuit store that counts its round trips, over a real one."""

    def __init__(self, store: CircuitStore) -> None:
        self.store, self.updates = store, 0

    async def get(self, name: str) -> Circuit:
        return await self.store.get(name)

    async def update(self, name: str, change: Callable[[Circuit], tuple[Circuit, T]]) -> T:
        self.updates += 1
        return await self.store.update(name, change)


@pytest.mark.parametrize("store_kind", ["memory", "redis"])
async def test_healthy_sends_cost_no_store_round_trip_while_the_closed_circuit_is_trusted(
    store_kind: str, request: pytest.FixtureRequest
) -> None:
    shared = _circuit_store(store_kind, request)
    ticks = [0.0]
    here, there = (
        Breakers(
            Counted(shared), {"p": POLICY}, clock=lambda: ticks[0], monotonic=lambda: ticks[0], trust_for=0.5
        )
        for _ in range(2)
    )
    for _ in range(20):
        assert await here.admit("p")
        await here.report("p", healthy=True)
    assert here.store.updates == 1  # the first look; the rest trusted what it saw

    for _ in range(3):  # another process trips the breaker; every failure goes to the store
        assert await there.admit("p")
        await there.report("p", healthy=False)
    assert (await shared.get("p")).state is CircuitState.OPEN
    assert await here.admit("p")  # still trusting its closed view, for at most trust_for
    ticks[0] += 0.5
    assert not await here.admit("p")  # looked again: open
    assert not await here.admit("p") and here.store.updates == 3  # an open circuit is never trusted


def _circuit_store(kind: str, request: pytest.FixtureRequest) -> CircuitStore:
    if kind == "memory":
        return MemoryCircuitStore()
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(request.getfixturevalue("fresh_redis"))
    return RedisCircuitStore(client, f"clarion-test-{uuid.uuid4().hex[:8]}:circuit")
