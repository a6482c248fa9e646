"""The courier: what a channel actor does with one delivery id, start to finish.

claim (lease) -> compose (render) -> route (providers in order) -> settle (decide) -> record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from ..catalog import Catalog
from ..config.schema import Channel, RetryPolicy
from ..db.engine import Database
from ..db.models import DeliveryStatus
from ..db.types import utcnow
from ..errors import RenderError
from ..providers.base import Provider
from .claims import claim
from .compose import compose
from .record import record
from .route import Gates, route
from .settle import Settlement, settle

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised to hand the delivery back to the broker for a delayed retry."""

    def __init__(self, delay_ms: int, reason: str | None) -> None:
        self.delay_ms = delay_ms
        super().__init__(reason or "retry")


class Courier:
    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        providers: Mapping[str, Provider],
        gates: Gates,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.providers = providers
        self.gates = gates
        self.clock = clock

    async def deliver(self, delivery_id: str) -> None:
        delivery = self.catalog.config.delivery
        claimed = await claim(self.database, uuid.UUID(delivery_id), now=self.clock(), lease=delivery.lease)
        if claimed is None:
            return  # settled already, or another worker holds a live lease: a duplicate message
        policy = self._policy(claimed.category)
        if claimed.suppressed:
            settlement = Settlement(
                DeliveryStatus.SKIPPED, error=f"address is suppressed ({claimed.suppressed})"
            )
            await record(
                self.database, claimed, settlement, [], now=self.clock(), queue_lease=delivery.queue_lease
            )
            return
        try:
            message = compose(claimed, self.catalog.templates)
        except RenderError as exc:
            settlement, attempts = Settlement(DeliveryStatus.FAILED, error=f"render: {exc}"), []
        else:
            channel = self.catalog.config.channels.get(Channel(claimed.channel))
            routed = await route(message, channel.providers if channel else [], self.providers, self.gates)
            settlement, attempts = settle(routed, claimed.tries, policy), list(routed.attempts)
        await record(
            self.database, claimed, settlement, attempts, now=self.clock(), queue_lease=delivery.queue_lease
        )
        log.info(
            "delivery %s %s -> %s",
            delivery_id,
            claimed.channel,
            settlement.status,
            extra={"delivery_id": delivery_id, "notification_id": str(claimed.notification_id)},
        )
        if settlement.retry_in is not None:
            raise RetryLater(int(settlement.retry_in.total_seconds() * 1000), settlement.error)

    def _policy(self, category: str) -> RetryPolicy:
        # A category removed by a config reload keeps the default policy for what is in flight.
        found = self.catalog.config.categories.get(category)
        return found.retry if found else RetryPolicy()
