"""Every provider at a glance: what it serves, its circuit, and how its recent calls went.

One reading for the API (`GET /v1/providers`) and the operator page alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..catalog import Catalog
from ..db.engine import Database
from ..resilience.circuit import Circuit, CircuitStore
from .provider_health import RecentHealth, recent_health


@dataclass(frozen=True)
class ProviderReport:
    name: str
    type: str
    channels: list[str]  # in failover order within each channel, as the YAML lists them
    rate_limit: str | None
    circuit: Circuit
    recent: RecentHealth

    @property
    def opened_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.circuit.opened_at, UTC) if self.circuit.opened_at else None


async def provider_overview(
    catalog: Catalog, circuits: CircuitStore, database: Database, *, now: datetime
) -> list[ProviderReport]:
    config = catalog.config
    return [
        ProviderReport(
            name=name,
            type=spec.type,
            channels=[channel.value for channel, c in config.channels.items() if name in c.providers],
            rate_limit=str(spec.rate_limit) if spec.rate_limit else None,
            circuit=await circuits.get(name),
            recent=await recent_health(database, name, now=now),
        )
        for name, spec in config.providers.items()
    ]
