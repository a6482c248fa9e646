"""View models of the campaign pages, built by pure functions from campaigns and their progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from operator import attrgetter

from ...analytics.campaign_timeline import STEPS, Timeline
from ...analytics.charts import BarChart, Series, stacked_bars
from ...campaigns.audience import describe
from ...campaigns.engagement import REACHED
from ...campaigns.progress import Progress
from ...campaigns.significance import compare, rate
from ...db.models import Campaign, CampaignState, DeliveryStatus
from .dashboard_views import bucket_label
from .views import Badge, Layout, Option, Stamp, stamp

_STATE_TONES = {
    CampaignState.DRAFT: "muted",
    CampaignState.SCHEDULED: "pending",
    CampaignState.SENDING: "pending",
    CampaignState.TESTING: "pending",
    CampaignState.PAUSED: "warn",
    CampaignState.SENT: "ok",
    CampaignState.CANCELLED: "bad",
}
_FAILED = (DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.BOUNCED, DeliveryStatus.COMPLAINED)
_WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.HELD, DeliveryStatus.SENDING)
#: Seconds between reloads of a campaign page while it is going out (a <meta refresh>, no script).
REFRESH_S = 3


def state_badge(state: str) -> Badge:
    return Badge(state, _STATE_TONES.get(CampaignState(state), "muted"))


@dataclass(frozen=True)
class CampaignRow:
    url: str
    name: str
    state: Badge
    audience: str
    template: str
    planned: int
    created: Stamp


@dataclass(frozen=True)
class CampaignsPage:
    layout: Layout
    rows: list[CampaignRow]
    may_change: bool


def campaign_row(campaign: Campaign) -> CampaignRow:
    return CampaignRow(
        url=f"/ui/campaigns/{campaign.id}",
        name=campaign.name,
        state=state_badge(campaign.state),
        audience=describe(campaign.audience),
        template=campaign.template,
        planned=campaign.planned,
        created=stamp(campaign.created_at),
    )


@dataclass(frozen=True)
class VariantWeights:
    """The weight inputs of one template's A/B variants on the new-campaign form."""

    template: str
    weights: list[tuple[str, int]]  # (variant, weight), the template's defaults unless edited


@dataclass(frozen=True)
class CampaignForm:
    layout: Layout
    values: Mapping[str, str]  # what was typed, shown again after a mistake
    categories: list[Option]
    templates: list[Option]
    topics: list[Option]
    segments: list[Option]
    variants: list[VariantWeights]
    error: str = ""
    error_field: str = ""
    may_change: bool = True


@dataclass(frozen=True)
class Stat:
    label: str
    value: int
    tone: str = ""


@dataclass(frozen=True)
class VariantFunnel:
    name: str
    weight: int
    share: str  # the weight's share of all weights, e.g. "50%"
    recipients: int
    sent: int  # deliveries the provider took (every channel)
    delivered: int
    reached: int  # recipients with at least one message sent: what the rates divide by
    opened: int  # unique recipients, machine-made opens and clicks left out
    clicked: int
    open_rate: str
    click_rate: str


@dataclass(frozen=True)
class Verdict:
    """How the leading variant compares with the runner-up on one rate."""

    metric: str
    text: str
    significant: bool


@dataclass(frozen=True)
class CampaignPage:
    layout: Layout
    id: str
    name: str
    state: Badge
    facts: list[tuple[str, str]]
    stats: list[Stat]
    audience_size: int
    planned: int
    percent_planned: int
    skipped: list[tuple[str, int]]
    funnels: list[VariantFunnel]
    verdicts: list[Verdict]
    actions: list[Option]  # (action, button label) the state allows
    may_change: bool
    refresh_s: int | None  # reload the page while it changes by itself
    message: str = ""
    engagement_tracked: bool = False
    winner: str | None = None
    timeline: list[BarChart] = field(default_factory=list)  # first opens and clicks over time


#: variant -> {"reached", "opened", "clicked"}: unique recipients (campaigns/engagement.py)
Engagement = Mapping[str, Mapping[str, int]]


_ACTIONS: dict[str, list[Option]] = {
    CampaignState.DRAFT: [Option("launch", "Send now"), Option("cancel", "Discard")],
    CampaignState.SCHEDULED: [Option("cancel", "Cancel")],
    CampaignState.TESTING: [Option("cancel", "Cancel")],
    CampaignState.SENDING: [Option("pause", "Pause"), Option("cancel", "Cancel")],
    CampaignState.PAUSED: [Option("resume", "Resume"), Option("cancel", "Cancel")],
}


def campaign_page(
    layout: Layout,
    campaign: Campaign,
    found: Progress,
    *,
    weights: Mapping[str, int],
    audience_size: int,
    engagement: Engagement,
    may_change: bool,
    message: str = "",
    timeline: Timeline | None = None,
) -> CampaignPage:
    going = campaign.state in (CampaignState.SCHEDULED, CampaignState.SENDING, CampaignState.TESTING)
    variants = funnels(weights, found, engagement)
    return CampaignPage(
        layout=layout,
        id=str(campaign.id),
        name=campaign.name,
        state=state_badge(campaign.state),
        facts=_facts(campaign),
        stats=_stats(found.statuses),
        audience_size=max(audience_size, campaign.planned),
        planned=campaign.planned,
        percent_planned=_percent(campaign.planned, max(audience_size, campaign.planned)),
        skipped=sorted(found.skipped.items(), key=lambda item: -item[1]),
        funnels=variants,
        verdicts=_verdicts(variants),
        actions=_ACTIONS.get(CampaignState(campaign.state), []) if may_change else [],
        may_change=may_change,
        refresh_s=REFRESH_S if going or _waiting(found.statuses) else None,
        message=message,
        engagement_tracked=any(e.get("opened") or e.get("clicked") for e in engagement.values()),
        timeline=timeline_charts(timeline, [f.name for f in variants]) if timeline else [],
        winner=campaign.winner,
    )


def _facts(campaign: Campaign) -> list[tuple[str, str]]:
    when = "not launched yet"
    if campaign.send_at is not None:
        when = stamp(campaign.send_at).full
    if campaign.local_time:
        when = f"{campaign.local_time} in each recipient's time zone, from {when}"
    facts = [
        ("Audience", describe(campaign.audience)),
        ("Category", campaign.category),
        ("Template", campaign.template),
        ("Send", when),
        ("Rate", campaign.rate or "as fast as the providers allow"),
        ("Created", f"{stamp(campaign.created_at).full} by {campaign.created_by}"),
    ]
    if campaign.winner_test:
        facts.append(("A/B test", _winner_text(campaign)))
    if campaign.finished_at is not None:
        facts.append(("Finished", stamp(campaign.finished_at).full))
    return facts


def _winner_text(campaign: Campaign) -> str:
    test = campaign.winner_test or {}
    metric = "open rate" if test.get("metric") == "opens" else "click rate"
    wait = format_wait(float(test.get("wait_s", 0)))
    text = f"{test.get('test_share')}% first; after {wait}, the best {metric} goes to the rest"
    if campaign.winner:
        return f"{text}. Winner: {campaign.winner}"
    if campaign.tested_at is not None:
        return (
            f"{text}. Picking at {stamp(campaign.tested_at + timedelta(seconds=float(test['wait_s']))).full}"
        )
    if campaign.state == CampaignState.TESTING:
        return f"{text}. Sending to the test group; the wait starts once it is all out"
    return text


def format_wait(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _stats(statuses: Mapping[str, int]) -> list[Stat]:
    def total(group: tuple[str, ...]) -> int:
        return sum(statuses.get(status, 0) for status in group)

    return [
        Stat("Waiting", total(_WAITING), "pending"),
        Stat("Sent", total(REACHED), "ok"),
        Stat("Failed", total(_FAILED[:2]), "bad"),
        Stat("Skipped", statuses.get(DeliveryStatus.SKIPPED, 0)),
        Stat("Capped", statuses.get(DeliveryStatus.THROTTLED, 0), "warn"),
    ]


def _waiting(statuses: Mapping[str, int]) -> bool:
    return any(statuses.get(status, 0) for status in _WAITING)


def funnels(weights: Mapping[str, int], found: Progress, engagement: Engagement) -> list[VariantFunnel]:
    """Each variant's funnel, in name order: the campaign page's table and its CSV."""
    return [_funnel(name, weights, found, engagement) for name in sorted(weights)]


def _funnel(name: str, weights: Mapping[str, int], found: Progress, engagement: Engagement) -> VariantFunnel:
    statuses = found.variants.get(name, {})
    counts = engagement.get(name, {})
    reached, opened, clicked = (counts.get(key, 0) for key in ("reached", "opened", "clicked"))
    return VariantFunnel(
        name=name,
        weight=weights[name],
        share=f"{_percent(weights[name], sum(weights.values()))}%",
        recipients=found.reached.get(name, 0),
        sent=sum(statuses.get(status, 0) for status in REACHED),
        delivered=statuses.get(DeliveryStatus.DELIVERED, 0),
        reached=reached,
        opened=opened,
        clicked=clicked,
        open_rate=_rate_text(opened, reached),
        click_rate=_rate_text(clicked, reached),
    )


def _verdicts(funnels: list[VariantFunnel]) -> list[Verdict]:
    if len(funnels) < 2:
        return []
    return [
        verdict
        for metric, count in (("open rate", attrgetter("opened")), ("click rate", attrgetter("clicked")))
        if (verdict := _verdict(metric, funnels, count)) is not None
    ]


def _verdict(
    metric: str, funnels: list[VariantFunnel], count: Callable[[VariantFunnel], int]
) -> Verdict | None:
    if not any(count(f) for f in funnels):
        return None
    leader, runner_up = sorted(funnels, key=lambda f: rate(count(f), f.reached), reverse=True)[:2]
    shown = f"{leader.name} {_rate_text(count(leader), leader.reached)} vs {runner_up.name} "
    shown += _rate_text(count(runner_up), runner_up.reached)
    test = compare(count(leader), leader.reached, count(runner_up), runner_up.reached)
    if test is None:
        return Verdict(metric, f"{shown}: too few recipients yet to tell them apart", False)
    if test.significant:
        return Verdict(metric, f"{shown}: {leader.name} leads, significant (p = {test.p_value:.3f})", True)
    return Verdict(metric, f"{shown}: not significant yet (p = {test.p_value:.2f})", False)


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _rate_text(part: int, whole: int) -> str:
    return f"{100 * rate(part, whole):.1f}%" if whole else "—"


VARIANT_COLORS = ["#3a55e0", "#0f8a7a", "#c26d00", "#8b46d6", "#c0396b", "#56677a"]
_STEP_TITLES = {"opened": "First opens per variant", "clicked": "First clicks per variant"}


def timeline_charts(found: Timeline, variants: list[str]) -> list[BarChart]:
    """One chart per funnel step that anyone has reached yet, a bar per bucket stacked by variant."""
    names = variants or [""]
    series = [
        Series(name, name or "All", VARIANT_COLORS[i % len(VARIANT_COLORS)]) for i, name in enumerate(names)
    ]
    labels = [bucket_label(start, found.bucket) for start in found.starts]
    return [
        stacked_bars(
            f"timeline-{step}", _STEP_TITLES[step], labels, found.counts[step], series, unit="people"
        )
        for step in STEPS
        if any(found.counts[step])
    ]
