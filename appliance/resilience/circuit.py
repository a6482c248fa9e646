"""Circuit breakers: stop calling a provider that keeps failing, probe it now and then.

    closed --(N consecutive retryable failures)--> open --(reset_after)--> half_open
    half_open --(the one probe succeeds)--> closed;  --(it fails)--> open again

The transitions are pure functions of (circuit, event, now); a store keeps the circuit —
in memory in embedded mode, in Redis in scaled mode so every worker process shares it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

T = TypeVar("T")


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitPolicy:
    failures: int = 5
    reset_after: timedelta = timedelta(seconds=30)
    probe_timeout: timedelta = timedelta(seconds=30)  # a probe that never reports back frees the slot


@dataclass(frozen=True)
class Circuit:
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probe_until: float = 0.0


def admit(circuit: Circuit, now: float, policy: CircuitPolicy) -> tuple[Circuit, bool]:
    """May a call go to the provider now? Half-open admits one probe at a time."""
    if circuit.state is CircuitState.CLOSED:
        return circuit, True
    if circuit.state is CircuitState.OPEN:
        if now - circuit.opened_at < policy.reset_after.total_seconds():
            return circuit, False
        probe = now + policy.probe_timeout.total_seconds()
        return replace(circuit, state=CircuitState.HALF_OPEN, probe_until=probe), True
    if now < circuit.probe_until:
        return circuit, False
    return replace(circuit, probe_until=now + policy.probe_timeout.total_seconds()), True


def report(circuit: Circuit, healthy: bool, now: float, policy: CircuitPolicy) -> Circuit:
    """Record a call's result. `healthy` means the provider answered sanely (even a refusal)."""
    if healthy:
        return Circuit() if circuit != Circuit() else circuit
    if circuit.state is CircuitState.HALF_OPEN:
        return Circuit(CircuitState.OPEN, circuit.failures + 1, opened_at=now)
    if circuit.state is CircuitState.OPEN:
        return circuit
    failures = circuit.failures + 1
    if failures >= policy.failures:
        return Circuit(CircuitState.OPEN, failures, opened_at=now)
    return replace(circuit, failures=failures)


class CircuitStore(Protocol):
    async def get(self, name: str) -> Circuit: ...

    async def update(self, name: str, change: Callable[[Circuit], tuple[Circuit, T]]) -> T:
        """Apply `change` atomically; return what it returned alongside the new circuit."""
        ...


class MemoryCircuitStore:
    """For embedded mode: one process, so a dict is the shared truth.

    `update` has no await between read and write, so it is atomic on its event loop.
    """

    def __init__(self) -> None:
        self.circuits: dict[str, Circuit] = {}

    async def get(self, name: str) -> Circuit:
        return self.circuits.get(name, Circuit())

    async def update(self, name: str, change: Callable[[Circuit], tuple[Circuit, T]]) -> T:
        circuit, result = change(self.circuits.get(name, Circuit()))
        self.circuits[name] = circuit
        return result


class Breakers:
    """The breakers of every provider, over one store.

    What this process last saw of a circuit is trusted for `trust_for` seconds while it was
    closed: a send then costs no store round trip (in Redis, a WATCH transaction before and
    after every call, the largest share of a send's cost after the database). A failure always
    goes to the store, so failures from every process count together; another process's trip
    is seen here at most `trust_for` later, and a success there resets our count only then.
    """

    def __init__(
        self,
        store: CircuitStore,
        policies: dict[str, CircuitPolicy],
        clock: Callable[[], float],
        *,
        trust_for: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.policies = policies
        self.clock = clock
        self.trust_for = trust_for
        self.monotonic = monotonic
        self._seen: dict[str, tuple[Circuit, float]] = {}

    async def admit(self, name: str) -> bool:
        seen = self._trusted(name)
        if seen is not None and seen.state is CircuitState.CLOSED:
            return True
        policy = self.policies[name]
        return await self._update(name, lambda c: admit(c, self.clock(), policy))

    async def report(self, name: str, healthy: bool) -> None:
        if healthy and self._trusted(name) == Circuit():
            return  # a success on a clean circuit changes nothing
        policy = self.policies[name]
        await self._update(name, lambda c: (report(c, healthy, self.clock(), policy), None))

    async def state(self, name: str) -> Circuit:
        return await self.store.get(name)

    def _trusted(self, name: str) -> Circuit | None:
        seen = self._seen.get(name)
        if seen is None or self.monotonic() - seen[1] >= self.trust_for:
            return None
        return seen[0]

    async def _update(self, name: str, change: Callable[[Circuit], tuple[Circuit, T]]) -> T:
        seen = self._seen.get(name)
        if seen is not None:  # the sends in flight meanwhile keep trusting it: one look, not one each
            self._seen[name] = (seen[0], self.monotonic())

        def noted(circuit: Circuit) -> tuple[Circuit, T]:
            after, result = change(circuit)
            self._seen[name] = (after, self.monotonic())
            return after, result

        return await self.store.update(name, noted)
