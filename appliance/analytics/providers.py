"""Each provider's health as the dashboard and the API show it: circuit state and recent attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..config.schema import ClarionConfig
from ..db.engine import Database
from ..pipeline.provider_health import RecentHealth, recent_health
from ..resilience.circuit import Circuit, CircuitStore


@dataclass(frozen=True)
class ProviderHealth:
    name: str
    type: str
    channels: list[str]
    rate_limit: str | None
    circuit: Circuit
    recent: RecentHealth

    @property
    def opened_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.circuit.opened_at, UTC) if self.circuit.opened_at else None


async def provider_health(
    database: Database, circuits: CircuitStore, config: ClarionConfig, *, now: datetime
) -> list[ProviderHealth]:
    return [
        ProviderHealth(
            name=name,
            type=spec.type,
            channels=[channel.value for channel, c in config.channels.items() if name in c.providers],
            rate_limit=str(spec.rate_limit) if spec.rate_limit else None,
            circuit=await circuits.get(name),
            recent=await recent_health(database, name, now=now),
        )
        for name, spec in config.providers.items()
    ]
