"""The courier: what a channel actor does with a parcel of delivery ids, start to finish.

claim (lease) -> policy (again: the recipient may have changed their mind) -> compose (render)
-> route (providers in order) -> settle (decide) -> record -> dispatch the next fallback channel
and the retries. Claim and record take the whole parcel in one transaction each; the rounds in
between run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from ..catalog import Catalog
from ..config.schema import Channel, Priority, RetryPolicy
from ..db.engine import Database
from ..db.models import CampaignState, DeliveryStatus
from ..db.types import utcnow
from ..errors import RenderError
from ..observability import metrics
from ..observability.context import bound
from ..preferences.footer import opt_out_links
from ..preferences.frequency import FrequencyCap
from ..preferences.slots import Wanted, take_slots
from ..preferences.verdict import blocked, quiet_until, unreachable_reason
from ..providers.base import Provider
from ..tracking.email import email_tracking
from .claims import Claimed, claim
from .compose import compose
from .dispatch import Dispatcher
from .record import Round, record
from .route import AttemptRecord, Gates, route
from .settle import Settlement, backoff, settle

log = logging.getLogger(__name__)

#: How often a delivery of a paused campaign looks again whether it was resumed.
PAUSED_RECHECK = timedelta(seconds=10)


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

    async def deliver(self, delivery_ids: Sequence[str], priority: Priority) -> None:
        """One parcel of `priority`'s queue: claimed together, sent side by side, recorded
        together, then what follows (fallback channels, retries after their delay) enqueued once
        the record is committed. A claim that is not high-priority is deferred
        (db/sqlite_writers.py): an OTP starts at once, a newsletter can wait behind requests."""
        delivery = self.catalog.config.delivery
        claimed = await claim(
            self.database,
            [uuid.UUID(delivery_id) for delivery_id in delivery_ids],
            now=self.clock(),
            lease=delivery.lease,
            heeds_choices=self._heeds_choices,
            deferred=priority is not Priority.HIGH,
        )  # those settled already or leased by another worker are left out: duplicate messages
        verdicts = await self._verdicts(claimed)
        rounds = await asyncio.gather(
            *(self._round(each, verdict) for each, verdict in zip(claimed, verdicts, strict=True))
        )
        follow_ups = await record(self.database, rounds, now=self.clock(), queue_lease=delivery.queue_lease)
        self.dispatcher.dispatch(follow_ups)  # a refused one is re-sent by the sweeper once its lease lapses
        for done in rounds:
            _report(done)

    async def _verdicts(self, claimed: Sequence[Claimed]) -> list[Settlement | None]:
        """Each delivery's policy verdict (None: send it), the parcel's frequency slots taken
        together."""
        verdicts = [self._checked(each) for each in claimed]
        capped = [i for i, each in enumerate(claimed) if verdicts[i] is None and self._caps(each.category)]
        if capped:
            slotted = await self._take_slots([claimed[i] for i in capped])
            for i, verdict in zip(capped, slotted, strict=True):
                verdicts[i] = verdict
        return verdicts

    async def _take_slots(self, capped: list[Claimed]) -> list[Settlement | None]:
        """The frequency slots of a parcel's capped deliveries, in one transaction: None where
        one was taken, a throttle where the cap is reached."""
        policy = self.catalog.config.policy
        wanted = [
            Wanted(
                each.notification_id,
                (each.recipient.id, each.category),
                self._caps(each.category),
                each.standing.zone(policy),
            )
            for each in capped
        ]
        try:
            reached = await take_slots(self.database, wanted, self.clock())
        except Exception as exc:  # the database went away: retry these, not the whole parcel
            log.exception(
                "deliveries %s: their frequency slots could not be taken; they will be tried again",
                ", ".join(str(each.delivery_id) for each in capped),
            )
            return [self._broken(each, exc) for each in capped]
        return [
            None
            if cap is None
            else Settlement(DeliveryStatus.THROTTLED, error=f"frequency cap {cap} reached", spent_a_try=False)
            for cap in reached
        ]

    def _checked(self, claimed: Claimed) -> Settlement | None:
        try:
            return self._check_policy(claimed)
        except Exception as exc:  # a bug: retry this one, not the parcel
            # The ids bound only here: the check logs nothing else, and binding costs each delivery.
            with _bound(claimed):
                log.exception(
                    "delivery %s: its policy check failed; it will be tried again", claimed.delivery_id
                )
            return self._broken(claimed, exc)

    async def _round(self, claimed: Claimed, verdict: Settlement | None) -> Round:
        """One round for a claimed delivery: sent unless its policy verdict settled it."""
        if verdict is not None:
            return Round(claimed, verdict)
        with _bound(claimed):
            try:
                return Round(claimed, *await self._send(claimed))
            except Exception as exc:  # a bug or a lost connection: retry this one, not the parcel
                log.exception("delivery %s: its round failed; it will be tried again", claimed.delivery_id)
                return Round(claimed, self._broken(claimed, exc))

    def _caps(self, category: str) -> tuple[FrequencyCap, ...]:
        rules = self.catalog.config.categories.get(category)
        return rules.frequency_cap if rules else ()

    def _check_policy(self, claimed: Claimed) -> Settlement | None:
        """Why this delivery must not go out now (skip, defer); None when it may, its frequency
        slot aside (taken for the whole parcel: _verdicts)."""
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
        return None  # may go, once its frequency slot is taken (_verdicts)

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

    def _broken(self, claimed: Claimed, exc: Exception) -> Settlement:
        """Our fault, not the provider's (Redis or the database went away, a bug): wait and
        retry without spending a try, so an outage never turns deliveries dead."""
        return Settlement(
            DeliveryStatus.QUEUED,
            error=f"internal error: {type(exc).__name__}: {exc}",
            retry_in=backoff(claimed.tries, self._retry_policy(claimed.category)),
            spent_a_try=False,
        )

    def _heeds_choices(self, category: str) -> bool:
        """Whether a recipient's choices can stop this category (see _check_policy): only where
        they may opt out. A category removed by a reload is judged on reachability alone."""
        rules = self.catalog.config.categories.get(category)
        return rules is not None and rules.opt_out

    def _retry_policy(self, category: str) -> RetryPolicy:
        # A category removed by a config reload keeps the default policy for what is in flight.
        found = self.catalog.config.categories.get(category)
        return found.retry if found else RetryPolicy()


def _report(done: Round) -> None:
    claimed, status = done.claimed, done.settlement.status
    with _bound(claimed):
        metrics.delivery_settled(
            claimed.channel, done.attempts[-1].provider if done.attempts else None, status.value
        )
        log.info("delivery %s %s -> %s", claimed.delivery_id, claimed.channel, status)


def _bound(claimed: Claimed) -> contextlib.AbstractContextManager[None]:
    """The delivery's ids on every log line of its round."""
    return bound(
        delivery_id=claimed.delivery_id,
        notification_id=claimed.notification_id,
        campaign_id=claimed.campaign_id,
    )


def _defer(until: datetime, now: datetime, why: str) -> Settlement:
    return Settlement(
        DeliveryStatus.QUEUED, error=why, retry_in=until - now, not_before=until, spent_a_try=False
    )
