"""Circuit breakers: stop calling a provider that keeps failing, probe it now and then.

    closed --(N consecutive retryable failures)--> open --(reset_after)--> half_open
    half_open --(the one probe succeeds)--> closed;  --(it fails)--> open again

The transitions are pure functions of (circuit, event, now); a store keeps the circuit —
in memory in embedded mode, in Redis in scaled mode so every worker process shares it.
"""

from __future__ import annotations

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
    """The breakers of every provider, over one store."""

    def __init__(
        self, store: CircuitStore, policies: dict[str, CircuitPolicy], clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.policies = policies
        self.clock = clock

    async def admit(self, name: str) -> bool:
        policy = self.policies[name]
        return await self.store.update(name, lambda c: admit(c, self.clock(), policy))

    async def report(self, name: str, healthy: bool) -> None:
        policy = self.policies[name]
        await self.store.update(name, lambda c: (report(c, healthy, self.clock(), policy), None))

    async def state(self, name: str) -> Circuit:
        return await self.store.get(name)
