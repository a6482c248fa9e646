"""View models of the operator's own pages: providers and dead letters. Pure functions of rows."""

from __future__ import annotations

from dataclasses import dataclass

from ...analytics.providers import ProviderHealth
from ...pipeline.dead_letters import DeadLetter
from ...pipeline.provider_health import WINDOW
from ...resilience.circuit import CircuitState
from .views import CHANNEL_LABELS, Badge, Layout, Stamp, stamp

_CIRCUIT = {
    CircuitState.CLOSED: Badge("closed", "ok"),
    CircuitState.HALF_OPEN: Badge("half-open: probing", "warn"),
    CircuitState.OPEN: Badge("open: passed over", "bad"),
}


@dataclass(frozen=True)
class ProviderCard:
    name: str
    type: str
    channels: list[str]
    rate_limit: str | None
    circuit: Badge
    failures: int  # consecutive, towards opening the circuit
    opened: Stamp | None
    attempts: int
    error_rate: str
    error_tone: str
    p50: str
    p95: str


@dataclass(frozen=True)
class ProvidersPage:
    layout: Layout
    cards: list[ProviderCard]
    window_min: int = int(WINDOW.total_seconds() // 60)


def provider_card(report: ProviderHealth) -> ProviderCard:
    health = report.recent
    rate = health.error_rate
    return ProviderCard(
        name=report.name,
        type=report.type,
        channels=[CHANNEL_LABELS.get(c, c) for c in report.channels],
        rate_limit=report.rate_limit,
        circuit=_CIRCUIT[report.circuit.state],
        failures=report.circuit.failures,
        opened=stamp(report.opened_at) if report.opened_at else None,
        attempts=health.attempts,
        error_rate=f"{rate:.1%}" if health.attempts else "–",
        error_tone="bad" if rate >= 0.2 else "warn" if rate > 0 else "ok",
        p50=_ms(health.latency_p50_ms),
        p95=_ms(health.latency_p95_ms),
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:,.1f} ms"


@dataclass(frozen=True)
class DeadLetterRow:
    delivery_id: str
    notification_url: str
    channel: str
    recipient: str
    category: str
    template: str
    tries: int
    error: str
    died: Stamp


@dataclass(frozen=True)
class DeadLettersPage:
    layout: Layout
    rows: list[DeadLetterRow]
    may_change: bool
    older_url: str | None
    newest_url: str | None
    done: str = ""  # what the last action did, said once after its redirect


def dead_letter_row(letter: DeadLetter) -> DeadLetterRow:
    return DeadLetterRow(
        delivery_id=str(letter.delivery_id),
        notification_url=f"/ui/messages/{letter.notification_id}",
        channel=CHANNEL_LABELS.get(letter.channel, letter.channel),
        recipient=letter.recipient,
        category=letter.category,
        template=letter.template,
        tries=letter.tries,
        error=letter.error or "no error recorded",
        died=stamp(letter.dead_since),
    )
