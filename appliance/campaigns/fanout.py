"""Fan-out: one batch of one lane of a campaign's audience at a time, planned like any notification.

Each batch runs in ONE transaction: its notifications are stored and its lane's cursor moves
past them together, so a crash repeats at most an uncommitted batch. The campaign's row lock is
taken last, only to move the cursor and commit, so lanes plan side by side (campaigns/lanes.py);
under it the batch checks that the campaign is still sending and that its lane has not moved
(a second copy of the message got there first): if either changed, the batch is dropped. A
pause, which takes the same lock, thus comes either before a batch (dropped) or after it. The
unique (campaign, recipient) constraint stands behind all of it: nobody gets it twice.
Its lock is FOR NO KEY UPDATE, like every lock of a campaign row (campaigns/locking.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from msgspec import structs
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..catalog import Catalog
from ..config.units import Rate, parse_rate
from ..db.engine import Database
from ..db.models import Campaign, CampaignState
from ..pipeline.intake import Accepted, accept
from ..pipeline.requests import NotificationIn, RecipientIn
from ..pipeline.store import Dispatch, Occasion, Stored, store_in
from . import lanes
from .assignment import assign
from .audience import Member, next_members
from .locking import for_change
from .winner import in_this_phase

BATCH = 500


@dataclass(frozen=True)
class Batch:
    dispatches: tuple[Dispatch, ...] = ()
    more: bool = False  # another batch of this lane follows
    next_in: timedelta = timedelta(0)  # when, to keep to the campaign's send rate


class _Overtaken(Exception):
    """The campaign stopped sending, or another copy of this lane's message moved it on."""


async def open_lanes(database: Database, campaign_id: uuid.UUID) -> list[int]:
    """The lanes of a `sending` campaign still to plan, laid out when its fan-out (or the
    phase after its A/B test) starts."""
    async with database.transaction() as session:
        campaign = await session.scalar(for_change(campaign_id))
        if campaign is None or campaign.state != CampaignState.SENDING:
            return []
        if campaign.lanes is None:
            campaign.lanes = lanes.laid_out(paced=campaign.rate is not None)
        return lanes.still_open(campaign.lanes)


async def fan_out_batch(
    database: Database, catalog: Catalog, campaign_id: uuid.UUID, lane: int, now: datetime
) -> Batch:
    """Plan the lane's next batch; finish the phase when this was the last lane to run out."""
    try:
        async with database.transaction(deferred=True) as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None or campaign.state != CampaignState.SENDING or not campaign.lanes:
                return Batch()  # paused, cancelled or finished meanwhile: stop here
            reached = campaign.lanes.get(str(lane), lanes.DONE)
            if reached == lanes.DONE:
                return Batch()
            rate = parse_rate(campaign.rate) if campaign.rate else None
            size = min(BATCH, rate.count) if rate else BATCH
            start, end = lanes.bounds(lane, len(campaign.lanes))
            after = uuid.UUID(reached) if reached else None
            members = await next_members(
                session, catalog.config, campaign.audience, after, size, start=start, end=end
            )
            chosen = [member for member in members if in_this_phase(campaign, member.external_id)]
            stored = await _plan(session, catalog, campaign, chosen, now) if chosen else []
            more = len(members) == size
            step = _Step(lane, reached, members[-1].id if more else None, campaign.winner)
            await _move_lane(session, campaign, step, now)
            campaign.planned += len(chosen)
    # IntegrityError: another copy's rows came first (or a recipient was deleted meanwhile:
    # the campaign then goes quiet, and recovery.py sends the lane's message again).
    except (_Overtaken, IntegrityError):
        return Batch()
    dispatches = tuple(d for item in stored for d in item.dispatches)
    return Batch(_paced(dispatches, rate, now), more=more, next_in=_pause(len(dispatches), rate))


@dataclass(frozen=True)
class _Step:
    """A batch's step along its lane, as it read the campaign before planning."""

    lane: int
    reached: str | None  # where the lane stood
    last: uuid.UUID | None  # where it now stands; None: it is exhausted
    winner: str | None  # the phase: None before a winner test's pick


async def _move_lane(session: AsyncSession, campaign: Campaign, step: _Step, now: datetime) -> None:
    """Under the campaign's lock: the lane moves on, if the campaign is where the batch found it
    (still sending, in the same phase, the lane where it was); otherwise the batch is dropped."""
    await session.refresh(campaign, with_for_update={"key_share": True})
    if (
        campaign.state != CampaignState.SENDING
        or campaign.winner != step.winner
        or campaign.lanes is None
        or campaign.lanes.get(str(step.lane), lanes.DONE) != step.reached
    ):
        raise _Overtaken
    campaign.lanes = {**campaign.lanes, str(step.lane): step.last.hex if step.last else lanes.DONE}
    campaign.updated_at = now
    if lanes.finished(campaign.lanes):  # every lane ran out: this phase of the fan-out is complete
        _finish_phase(campaign, now)


def _finish_phase(campaign: Campaign, now: datetime) -> None:
    if campaign.winner_test and campaign.winner is None:  # the test share is planned: send, wait, pick
        campaign.state = CampaignState.TESTING
    else:
        campaign.state, campaign.finished_at = CampaignState.SENT, now


async def _plan(
    session: AsyncSession, catalog: Catalog, campaign: Campaign, members: list[Member], now: datetime
) -> list[Stored]:
    occasion = Occasion(
        source=f"campaign:{campaign.id}",
        now=now,
        queue_lease=catalog.config.delivery.queue_lease,
        policy=catalog.config.policy,
    )
    # The request is the same for every member but the recipient: checked once per batch.
    request = NotificationIn(
        to=RecipientIn(id=members[0].external_id),
        category=campaign.category,
        template=campaign.template,
        data=campaign.data,
    )
    common = structs.replace(accept(request, catalog, caller="campaign"), campaign_id=campaign.id)
    weights = campaign_weights(catalog, campaign)
    items = [_item(catalog, campaign, common, weights, member, now) for member in members]
    results = await store_in(session, items, occasion, {member.external_id: member for member in members})
    return [result for result in results if isinstance(result, Stored)]


def _item(
    catalog: Catalog,
    campaign: Campaign,
    common: Accepted,
    weights: dict[str, int],
    member: Member,
    now: datetime,
) -> Accepted:
    variant = campaign.winner or (assign(str(campaign.id), member.external_id, weights) if weights else None)
    # A variant may test a send time: its own local time instead of the campaign's.
    own = (campaign.variants.get(variant) or {}).get("local_time") if variant else None
    return structs.replace(
        common,
        recipient=RecipientIn(id=member.external_id),
        variant=variant,
        send_at=_local_send_time(own or campaign.local_time, campaign, member, catalog, now),
    )


def campaign_weights(catalog: Catalog, campaign: Campaign) -> dict[str, int]:
    """The campaign's own variant weights, else the template's."""
    if campaign.variants:
        return {name: int(spec.get("weight", 1)) for name, spec in campaign.variants.items()}
    return catalog.templates.variants(campaign.template)


def _local_send_time(
    local_time: str | None, campaign: Campaign, member: Member, catalog: Catalog, now: datetime
) -> datetime | None:
    """`local_time` on the recipient's own clock: the first such moment from the launch on."""
    if local_time is None:
        return None
    zone = _zone(member.timezone or catalog.config.policy.timezone, catalog)
    start = max(now, campaign.send_at or now).astimezone(zone)
    wall = time.fromisoformat(local_time)
    at = datetime.combine(start.date(), wall, tzinfo=zone)
    if at < start:
        at = datetime.combine(start.date() + timedelta(days=1), wall, tzinfo=zone)
    return at.astimezone(UTC)


def _zone(name: str, catalog: Catalog) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(catalog.config.policy.timezone)


def _paced(dispatches: tuple[Dispatch, ...], rate: Rate | None, now: datetime) -> tuple[Dispatch, ...]:
    """Spread a batch over its share of the send rate, so providers see a steady stream."""
    if rate is None:
        return dispatches
    step = timedelta(seconds=rate.period_s / rate.count)
    return tuple(
        structs.replace(d, not_before=max(d.not_before or now, now + step * index))
        for index, d in enumerate(dispatches)
    )


def _pause(dispatched: int, rate: Rate | None) -> timedelta:
    """How long the batch's deliveries take at the rate: the next batch starts after them."""
    return timedelta(seconds=rate.period_s * dispatched / rate.count) if rate else timedelta(0)
