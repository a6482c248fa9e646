"""The courier: what a channel actor does with one delivery id, start to finish.

claim (lease) -> policy (again: the recipient may have changed their mind) -> compose (render)
-> route (providers in order) -> settle (decide) -> record -> dispatch the next fallback channel.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from ..catalog import Catalog
from ..config.schema import CategoryConfig, Channel, RetryPolicy
from ..db.engine import Database
from ..db.models import CampaignState, DeliveryStatus
from ..db.types import utcnow
from ..errors import RenderError
from ..observability import metrics
from ..observability.context import bound
from ..preferences.footer import opt_out_links
from ..preferences.slots import take_slot
from ..preferences.verdict import blocked, quiet_until, unreachable_reason
from ..providers.base import Provider
from ..tracking.email import email_tracking
from .claims import Claimed, claim
from .compose import compose
from .dispatch import Dispatcher
from .record import record
from .route import AttemptRecord, Gates, route
from .settle import Settlement, settle

log = logging.getLogger(__name__)

#: How often a delivery of a paused campaign looks again whether it was resumed.
PAUSED_RECHECK = timedelta(seconds=10)


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
        dispatcher: Dispatcher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.catalog = catalog
        self.providers = providers
        self.gates = gates
        self.dispatcher = dispatcher
        self.clock = clock

    async def deliver(self, delivery_id: str) -> None:
        delivery = self.catalog.config.delivery
        with bound(delivery_id=delivery_id):
            claimed = await claim(
                self.database,
                uuid.UUID(delivery_id),
                now=self.clock(),
                lease=delivery.lease,
                heeds_choices=self._heeds_choices,
            )
            if claimed is None:
                return  # settled already, or another worker holds a live lease: a duplicate message
            with bound(notification_id=claimed.notification_id, campaign_id=claimed.campaign_id):
                await self._round(claimed)

    async def _round(self, claimed: Claimed) -> None:
        """One round for a claimed delivery: check, send, record, then hand on what follows."""
        delivery = self.catalog.config.delivery
        settlement = await self._check_policy(claimed)
        attempts: list[AttemptRecord] = []
        if settlement is None:
            settlement, attempts = await self._send(claimed)
        follow_ups = await record(
            self.database, claimed, settlement, attempts, now=self.clock(), queue_lease=delivery.queue_lease
        )
        self.dispatcher.dispatch(follow_ups)  # a refused one is re-sent by the sweeper once its lease lapses
        metrics.delivery_settled(
            claimed.channel, attempts[-1].provider if attempts else None, settlement.status.value
        )
        log.info("delivery %s %s -> %s", claimed.delivery_id, claimed.channel, settlement.status)
        if settlement.retry_in is not None:
            raise RetryLater(int(settlement.retry_in.total_seconds() * 1000), settlement.error)

    async def _check_policy(self, claimed: Claimed) -> Settlement | None:
        """Why this delivery must not go out now (skip, defer or throttle); None when it may."""
        if claimed.campaign_state == CampaignState.CANCELLED:
            return Settlement(DeliveryStatus.SKIPPED, error="campaign cancelled", spent_a_try=False)
        if claimed.campaign_state == CampaignState.PAUSED:
            return _defer(self.clock() + PAUSED_RECHECK, self.clock(), "campaign paused")
        channel = Channel(claimed.channel)
        rules = self.catalog.config.categories.get(claimed.category)
        if rules is None:  # removed by a config reload: honour what the recipient can still receive
            reason = unreachable_reason(channel, claimed.standing)
            return Settlement(DeliveryStatus.SKIPPED, error=reason, spent_a_try=False) if reason else None
        reason = blocked(claimed.category, rules, channel, claimed.standing)
        if reason is not None:
            return Settlement(DeliveryStatus.SKIPPED, error=reason, spent_a_try=False)
        now = self.clock()
        if claimed.not_before is not None and claimed.not_before > now:  # came early (a sweep, a restart)
            return _defer(claimed.not_before, now, "scheduled")
        policy = self.catalog.config.policy
        until = quiet_until(rules, policy, claimed.standing, now)
        if until is not None:
            local = until.astimezone(claimed.standing.zone(policy))
            return _defer(until, now, f"quiet hours: deferred until {local:%H:%M} {local.tzname()}")
        return await self._take_slot(claimed, rules, now)

    async def _take_slot(self, claimed: Claimed, rules: CategoryConfig, now: datetime) -> Settlement | None:
        if not rules.frequency_cap:
            return None
        zone = claimed.standing.zone(self.catalog.config.policy)
        pair = (claimed.recipient.id, claimed.category)
        reached = await take_slot(
            self.database, claimed.notification_id, pair, rules.frequency_cap, zone, now
        )
        if reached is None:
            return None
        return Settlement(
            DeliveryStatus.THROTTLED, error=f"frequency cap {reached} reached", spent_a_try=False
        )

    async def _send(self, claimed: Claimed) -> tuple[Settlement, list[AttemptRecord]]:
        config = self.catalog.config
        links = opt_out_links(
            config, self.catalog.links, claimed.recipient.id, claimed.recipient.locale, claimed.category
        )
        rules = config.categories.get(claimed.category)
        tracking = email_tracking(self.catalog.tracking, rules) if rules else None
        try:
            message = compose(claimed, self.catalog.templates, links, tracking)
        except RenderError as exc:
            return Settlement(DeliveryStatus.FAILED, error=f"render: {exc}"), []
        channel = config.channels.get(Channel(claimed.channel))
        routed = await route(message, channel.providers if channel else [], self.providers, self.gates)
        return settle(routed, claimed.tries, self._retry_policy(claimed.category)), list(routed.attempts)

    def _heeds_choices(self, category: str) -> bool:
        """Whether a recipient's choices can stop this category (see _check_policy): only where
        they may opt out. A category removed by a reload is judged on reachability alone."""
        rules = self.catalog.config.categories.get(category)
        return rules is not None and rules.opt_out

    def _retry_policy(self, category: str) -> RetryPolicy:
        # A category removed by a config reload keeps the default policy for what is in flight.
        found = self.catalog.config.categories.get(category)
        return found.retry if found else RetryPolicy()


def _defer(until: datetime, now: datetime, why: str) -> Settlement:
    return Settlement(
        DeliveryStatus.QUEUED, error=why, retry_in=until - now, not_before=until, spent_a_try=False
    )
