"""Prometheus metrics: what each process counts, and what `/metrics` reads at scrape time.

Counters and histograms live in prometheus_client's process-wide registry, because that is
where the library keeps them: the API process and each `clarion worker` expose their own.
Labels name channels, providers, queues and outcomes, never a recipient, an address or an id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

DELIVERIES = Counter(
    "clarion_deliveries",
    "Delivery rounds settled by a worker, by outcome (queued: it will be tried again).",
    ["channel", "provider", "status"],
)
PROVIDER_CALLS = Histogram(
    "clarion_provider_call_seconds",
    "How long a provider took to answer one send, by the kind of answer.",
    ["provider", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

#: The provider label of a round that reached no provider (policy skip, open circuits, render error).
NO_PROVIDER = "none"


def delivery_settled(channel: str, provider: str | None, status: str) -> None:
    DELIVERIES.labels(channel=channel, provider=provider or NO_PROVIDER, status=status).inc()


def provider_answered(provider: str, outcome: str, latency_s: float) -> None:
    PROVIDER_CALLS.labels(provider=provider, outcome=outcome).observe(latency_s)


class QueueDepths(Collector):
    """Messages waiting per broker queue, asked of the broker when Prometheus scrapes."""

    def __init__(self, queues: Callable[[], Iterable[str]], depth: Callable[[str], int]) -> None:
        self.queues = queues
        self.depth = depth

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "clarion_queue_depth",
            "Messages waiting in the broker for a queue, delayed ones included.",
            labels=["queue"],
        )
        for queue in self.queues():
            gauge.add_metric([queue], self.depth(queue))
        yield gauge


def exposition(*collectors: Collector) -> bytes:
    """The text format of this process's metrics followed by the given scrape-time collectors."""
    extra = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        extra.register(collector)
    return generate_latest(REGISTRY) + generate_latest(extra)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Expose this process's registry over HTTP on a background thread (for `clarion worker`)."""
    start_http_server(port, addr=host)
