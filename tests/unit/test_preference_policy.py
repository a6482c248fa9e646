"""Preference policy: who gets what (rules × choices × suppression × caps), quiet hours and caps
on the recipient's own clock, across daylight-saving changes.

Planning is checked against a reference model written from the rules in words; quiet hours and
cap windows against what the recipient's wall clock shows, over zones with 1-hour, 30-minute and
midnight DST changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from appliance.config.schema import (
    CategoryConfig,
    Channel,
    DefaultChoice,
    PolicyConfig,
    Priority,
    Strategy,
)
from appliance.db.models import DeliveryStatus as S
from appliance.pipeline.planner import Circumstances, PlannedDelivery, plan
from appliance.preferences.choices import Choices
from appliance.preferences.clock import clock_change
from appliance.preferences.frequency import FrequencyCap, Period, parse_cap, parse_caps
from appliance.preferences.quiet_hours import QuietHours, parse_quiet_hours
from appliance.preferences.verdict import Standing, cap_reached, quiet_until, unreachable_reason

CATEGORY = "digest"
LATER = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)

# --- Planning against a reference model -------------------------------------------------------


def wants(rules: CategoryConfig, channel: Channel, choices: Choices) -> bool:
    """The rules in words: a category users may not leave always goes; then "unsubscribe from
    everything" wins; then the recipient's own choice; then the category's default."""
    if not rules.opt_out:
        return True
    if choices.unsubscribed_all:
        return False
    if (CATEGORY, channel.value) in choices.explicit:
        return choices.explicit[CATEGORY, channel.value]
    return rules.default is DefaultChoice.OPTED_IN


def reaches(channel: Channel, standing: Standing) -> bool:
    addressed = {
        Channel.EMAIL: standing.has_email,
        Channel.SMS: standing.has_phone,
        Channel.PUSH: standing.device_count > 0,
    }.get(channel, True)
    return addressed and channel not in standing.suppressed


def expected(
    rules: CategoryConfig, standing: Standing, circumstances: Circumstances
) -> list[tuple[S, datetime | None]]:
    """(status, not_before) per channel, in the category's order."""
    outcome: list[tuple[S, datetime | None]] = []
    nothing_queued_yet = True
    for channel in rules.channels:
        if not reaches(channel, standing) or not wants(rules, channel, standing.choices):
            outcome.append((S.SKIPPED, None))
        elif circumstances.capped is not None:
            outcome.append((S.THROTTLED, None))
        elif rules.strategy is Strategy.ALL or nothing_queued_yet:
            outcome.append((S.QUEUED, circumstances.not_before))
            nothing_queued_yet = False
        else:
            outcome.append((S.HELD, None))
    return outcome


channel_orders = st.permutations(list(Channel)).flatmap(
    lambda order: st.integers(1, len(order)).map(lambda n: list(order[:n]))
)


@st.composite
def category_rules(draw: st.DrawFn) -> CategoryConfig:
    opt_out = draw(st.booleans())
    return CategoryConfig(
        channels=draw(channel_orders),
        opt_out=opt_out,
        default=draw(st.sampled_from(DefaultChoice)) if opt_out else DefaultChoice.OPTED_IN,
        strategy=draw(st.sampled_from(Strategy)),
        priority=draw(st.sampled_from(Priority)),
    )


choices = st.builds(
    Choices,
    unsubscribed_all=st.booleans(),
    # Choices about another category must not leak into this one.
    explicit=st.dictionaries(
        st.tuples(st.sampled_from([CATEGORY, "other"]), st.sampled_from([c.value for c in Channel])),
        st.booleans(),
        max_size=8,
    ),
)
standings = st.builds(
    Standing,
    has_email=st.booleans(),
    has_phone=st.booleans(),
    device_count=st.integers(0, 2),
    suppressed=st.dictionaries(
        st.sampled_from(Channel), st.sampled_from(["bounced", "complained"]), max_size=3
    ),
    choices=choices,
)
circumstances = st.builds(
    Circumstances,
    capped=st.none() | st.sampled_from([FrequencyCap(2, Period.DAY), FrequencyCap(5, Period.WEEK)]),
    not_before=st.none() | st.just(LATER),
)


def planned(rules: CategoryConfig, standing: Standing, situation: Circumstances) -> list[PlannedDelivery]:
    return plan(CATEGORY, rules, rules.channels, standing, situation)


@settings(max_examples=250)
@given(rules=category_rules(), standing=standings, situation=circumstances)
def test_the_plan_agrees_with_the_rules_in_words(
    rules: CategoryConfig, standing: Standing, situation: Circumstances
) -> None:
    deliveries = planned(rules, standing, situation)
    assert [(d.status, d.not_before) for d in deliveries] == expected(rules, standing, situation)


@settings(max_examples=100)
@given(rules=category_rules(), standing=standings, situation=circumstances)
def test_deliveries_follow_the_category_order_and_say_why_they_are_not_sent(
    rules: CategoryConfig, standing: Standing, situation: Circumstances
) -> None:
    deliveries = planned(rules, standing, situation)
    assert [d.channel for d in deliveries] == rules.channels
    assert [d.position for d in deliveries] == list(range(len(rules.channels)))
    assert all(d.priority is rules.priority for d in deliveries)
    for delivery in deliveries:
        assert (delivery.reason is not None) == (delivery.status in {S.SKIPPED, S.THROTTLED})
        if delivery.status is S.THROTTLED:
            assert str(situation.capped) in (delivery.reason or "")


@settings(max_examples=100)
@given(rules=category_rules(), standing=standings, situation=circumstances)
def test_fallback_queues_at_most_one_channel_and_holds_the_rest_behind_it(
    rules: CategoryConfig, standing: Standing, situation: Circumstances
) -> None:
    statuses = [d.status for d in planned(rules, standing, situation)]
    if rules.strategy is Strategy.FALLBACK:
        assert statuses.count(S.QUEUED) <= 1
        if S.HELD in statuses:
            assert S.QUEUED in statuses[: statuses.index(S.HELD)]
    else:
        assert S.HELD not in statuses


@settings(max_examples=100)
@given(rules=category_rules(), standing=standings, situation=circumstances)
def test_a_category_users_may_not_leave_is_skipped_only_where_it_cannot_arrive(
    rules: CategoryConfig, standing: Standing, situation: Circumstances
) -> None:
    if rules.opt_out:
        rules = rules.model_copy(update={"opt_out": False, "default": DefaultChoice.OPTED_IN})
    for delivery in planned(rules, standing, situation):
        if delivery.status is S.SKIPPED:
            assert delivery.reason == unreachable_reason(delivery.channel, standing)
        else:
            assert unreachable_reason(delivery.channel, standing) is None


def test_an_unsubscribed_recipient_still_gets_a_sign_in_code_but_not_a_digest() -> None:
    standing = Standing(True, False, 0, choices=Choices(unsubscribed_all=True))
    code = CategoryConfig(channels=[Channel.EMAIL, Channel.SMS], opt_out=False)
    digest = CategoryConfig(channels=[Channel.EMAIL], opt_out=True)
    assert [d.status for d in plan("sign_in", code, code.channels, standing)] == [S.QUEUED, S.SKIPPED]
    assert [d.status for d in plan("digest", digest, digest.channels, standing)] == [S.SKIPPED]


# --- Clocks: zones, DST changes and the instants around them ---------------------------------

ZONES = [
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",  # +12:45 / +13:45, changes at 02:45
    "UTC",
]
FIRST = datetime(2020, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
LAST = datetime(2030, 12, 31, tzinfo=UTC)


@cache
def clock_changes(name: str) -> tuple[datetime, ...]:
    """Every instant from 2020 to 2030 at which `name` changes its offset from UTC."""
    zone = ZoneInfo(name)
    found: list[datetime] = []
    day = FIRST
    while day < LAST:
        following = day + timedelta(days=1)
        if (change := clock_change(day, following, zone)) is not None:
            found.append(change)
        day = following
    return tuple(found)


def wall(at: datetime, zone: ZoneInfo) -> time:
    return at.astimezone(zone).time()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(zone: str, *parts: int, fold: int = 0) -> datetime:
    """A wall-clock reading in `zone` as a UTC instant; `fold=1` is the second of a repeated time."""
    return datetime(*parts, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


@dataclass(frozen=True)
class Moment:
    zone: ZoneInfo
    now: datetime
    change: datetime | None  # the clock change `now` was drawn near, if any


@st.composite
def moments(draw: st.DrawFn) -> Moment:
    """An instant in 2020–2030, often within a day, two hours or twenty minutes of a clock change."""
    name = draw(st.sampled_from(ZONES))
    changes = clock_changes(name)
    if changes and draw(st.integers(0, 3)) > 0:
        change = draw(st.sampled_from(changes))
        spread = draw(st.sampled_from([20 * 60, 2 * 3600, 30 * 3600]))
        now = change + timedelta(seconds=draw(st.integers(-spread, spread)))
        return Moment(ZoneInfo(name), now, change)
    now = draw(st.datetimes(FIRST.replace(tzinfo=None), LAST.replace(tzinfo=None), timezones=st.just(UTC)))
    return Moment(ZoneInfo(name), now, None)


@st.composite
def wall_times(draw: st.DrawFn, moment: Moment) -> time:
    """Any HH:MM, or one within 90 minutes of the wall times either side of the clock change."""
    if moment.change is None or draw(st.booleans()):
        return time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    just_before = (moment.change - timedelta(seconds=1)).astimezone(moment.zone).replace(tzinfo=None)
    just_after = moment.change.astimezone(moment.zone).replace(tzinfo=None)
    edge = draw(st.sampled_from([just_before + timedelta(seconds=1), just_after]))
    shifted = edge + timedelta(minutes=draw(st.integers(-90, 90)))
    return time(shifted.hour, shifted.minute)


@st.composite
def quiet_cases(draw: st.DrawFn) -> tuple[QuietHours, Moment]:
    moment = draw(moments())
    start = draw(wall_times(moment))
    end = draw(wall_times(moment).filter(lambda end: end != start))
    return QuietHours(start, end), moment


# --- Quiet hours ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(case=quiet_cases())
def test_a_deferral_ends_at_the_first_moment_the_wall_clock_leaves_quiet_hours(
    case: tuple[QuietHours, Moment],
) -> None:
    window, moment = case
    zone, now = moment.zone, moment.now
    until = window.ends_after(now, zone)
    if until is None:
        assert not window.contains(wall(now, zone))
        return
    assert window.contains(wall(now, zone))
    assert until.utcoffset() == timedelta(0)
    assert now < until
    open_each_day = (
        datetime.combine(FIRST.date(), window.start) - datetime.combine(FIRST.date(), window.end)
    ) % DAY
    if open_each_day > timedelta(hours=1):  # longer than any skipped stretch: some of it shows every day
        assert until <= now + timedelta(hours=25)
    assert not window.contains(wall(until, zone)), f"still quiet at {until.astimezone(zone)}"
    # Clocks change, and windows end, on whole minutes: probing each one finds any earlier way out.
    probe = now.replace(second=0, microsecond=0)
    while probe < until:
        if probe >= now:
            assert window.contains(wall(probe, zone)), (
                f"not quiet at {probe.astimezone(zone)}, yet deferred to {until.astimezone(zone)}"
            )
        probe += timedelta(minutes=1)


PARIS, NEW_YORK = "Europe/Paris", "America/New_York"


def ends(window: str, zone: str, now: datetime) -> datetime | None:
    return parse_quiet_hours(window).ends_after(now, ZoneInfo(zone))


def test_paris_night_window_over_the_spring_forward_ends_at_eight_summer_time() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; the night is an hour shorter.
    assert ends("21:00-08:00", PARIS, local(PARIS, 2026, 3, 28, 23, 30)) == local(PARIS, 2026, 3, 29, 8, 0)
    assert local(PARIS, 2026, 3, 29, 8, 0) == utc(2026, 3, 29, 6, 0)


def test_paris_window_ending_in_the_skipped_hour_ends_when_the_clocks_jump_past_it() -> None:
    # "01:30-02:30": 02:30 does not exist that night; at 01:00 UTC the wall clock reads 03:00.
    assert ends("01:30-02:30", PARIS, local(PARIS, 2026, 3, 29, 1, 45)) == utc(2026, 3, 29, 1, 0)
    assert ends("01:30-02:30", PARIS, local(PARIS, 2026, 3, 29, 1, 29)) is None


def test_paris_window_ending_in_the_skipped_hour_does_not_end_an_hour_early() -> None:
    # From 00:10 the wall clock stays inside "00:00-02:30" until it jumps from 01:59:59 to 03:00.
    until = ends("00:00-02:30", PARIS, local(PARIS, 2026, 3, 29, 0, 10))
    assert until == utc(2026, 3, 29, 1, 0)
    assert until is not None and wall(until, ZoneInfo(PARIS)) == time(3, 0)


def test_paris_night_window_over_the_fall_back_ends_at_eight_winter_time() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; the night is an hour longer.
    assert ends("21:00-08:00", PARIS, local(PARIS, 2026, 10, 24, 22, 0)) == utc(2026, 10, 25, 7, 0)


def test_paris_both_readings_of_the_repeated_half_past_two_defer_to_three_winter_time() -> None:
    first = local(PARIS, 2026, 10, 25, 2, 30, fold=0)  # 02:30 CEST
    second = local(PARIS, 2026, 10, 25, 2, 30, fold=1)  # 02:30 CET, an hour later
    assert (first, second) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    for now in (first, second):
        until = ends("02:00-03:00", PARIS, now)
        assert until == local(PARIS, 2026, 10, 25, 3, 0) == utc(2026, 10, 25, 2, 0)
        assert until > now


def test_paris_window_ending_in_the_repeated_hour_ends_at_its_first_reading_then_quiet_again() -> None:
    assert ends("01:30-02:30", PARIS, local(PARIS, 2026, 10, 25, 1, 45)) == utc(2026, 10, 25, 0, 30)
    # The clocks go back into the window: 02:10 CET is quiet again, until 02:30 CET.
    assert ends("01:30-02:30", PARIS, local(PARIS, 2026, 10, 25, 2, 10, fold=1)) == utc(2026, 10, 25, 1, 30)


def test_new_york_night_windows_over_both_changes() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT; 2026-11-01: 02:00 EDT becomes 01:00 EST.
    assert ends("21:00-08:00", NEW_YORK, local(NEW_YORK, 2026, 3, 7, 22, 0)) == utc(2026, 3, 8, 12, 0)
    assert ends("21:00-08:00", NEW_YORK, local(NEW_YORK, 2026, 10, 31, 22, 0)) == utc(2026, 11, 1, 13, 0)


def test_new_york_window_ending_in_the_skipped_hour_ends_when_the_clocks_jump() -> None:
    assert ends("01:30-02:30", NEW_YORK, local(NEW_YORK, 2026, 3, 8, 1, 45)) == utc(2026, 3, 8, 7, 0)


def test_new_york_both_readings_of_the_repeated_hour_defer_to_two_standard_time() -> None:
    for fold in (0, 1):
        now = local(NEW_YORK, 2026, 11, 1, 1, 30, fold=fold)
        until = ends("01:00-02:00", NEW_YORK, now)
        assert until == utc(2026, 11, 1, 7, 0)
        assert until > now


def test_lord_howe_window_ending_in_the_skipped_half_hour_ends_when_the_clocks_jump() -> None:
    # 2026-10-04: 02:00 LHST (+10:30) becomes 02:30 LHDT (+11).
    zone = "Australia/Lord_Howe"
    assert ends("22:00-02:15", zone, local(zone, 2026, 10, 4, 1, 50)) == utc(2026, 10, 3, 15, 30)


def test_a_window_wrapping_through_the_repeated_hour_ends_when_the_wall_clock_reaches_its_end() -> None:
    # "02:40-02:20" at 02:50 CEST: the clocks go back to 02:00 CET and reach 02:20 twenty minutes on,
    # not tomorrow.
    assert ends("02:40-02:20", PARIS, local(PARIS, 2026, 10, 25, 2, 50)) == utc(2026, 10, 25, 1, 20)


def test_a_window_open_only_in_the_skipped_hour_stays_quiet_until_the_next_day() -> None:
    # "02:30-02:00" is quiet all day but 02:00-02:30, which Paris skips on 2026-03-29.
    assert ends("02:30-02:00", PARIS, local(PARIS, 2026, 3, 29, 1, 0)) == local(PARIS, 2026, 3, 30, 2, 0)


def test_quiet_until_uses_the_recipients_zone_and_else_the_policy_zone() -> None:
    rules = CategoryConfig(channels=[Channel.EMAIL])
    policy = PolicyConfig(timezone=NEW_YORK, quiet_hours=parse_quiet_hours("21:00-08:00"))
    now = utc(2026, 1, 15, 3, 0)  # 22:00 in New York, 04:00 in Paris
    in_paris = Standing(True, False, 0, timezone=PARIS)
    unknown = Standing(True, False, 0, timezone="Mars/Olympus_Mons")
    assert quiet_until(rules, policy, in_paris, now) == local(PARIS, 2026, 1, 15, 8, 0)
    assert quiet_until(rules, policy, unknown, now) == local(NEW_YORK, 2026, 1, 15, 8, 0)


# --- Frequency cap windows --------------------------------------------------------------------

TWO_A_DAY, FIVE_A_WEEK, ONE_AN_HOUR = parse_cap("2/day"), parse_cap("5/week"), parse_cap("1/hour")


def starts(cap: FrequencyCap, zone: str, now: datetime) -> datetime:
    return cap.window_start(now, ZoneInfo(zone))


def reached(cap: FrequencyCap, zone: str, now: datetime, *slots: datetime) -> bool:
    return cap_reached([cap], slots, now, ZoneInfo(zone)) is cap


def test_the_23_hour_day_starts_at_local_midnight_and_counts_a_slot_taken_at_it() -> None:
    now = local(PARIS, 2026, 3, 29, 23, 0)
    midnight = local(PARIS, 2026, 3, 29, 0, 0)
    assert starts(TWO_A_DAY, PARIS, now) == midnight == utc(2026, 3, 28, 23, 0)
    assert now - midnight == timedelta(hours=22)
    assert reached(TWO_A_DAY, PARIS, now, midnight, now - timedelta(hours=1))
    assert not reached(TWO_A_DAY, PARIS, now, midnight - timedelta(microseconds=1), now - timedelta(hours=1))


def test_on_the_23_hour_day_a_slot_22_hours_back_on_the_day_before_does_not_count() -> None:
    now = local(PARIS, 2026, 3, 29, 21, 30)
    yesterday = now - timedelta(hours=22)
    assert yesterday.astimezone(ZoneInfo(PARIS)).date().day == 28
    assert not reached(TWO_A_DAY, PARIS, now, yesterday, now - timedelta(hours=1))
    assert reached(TWO_A_DAY, PARIS, now, now - timedelta(hours=2), now - timedelta(hours=1))


def test_the_25_hour_day_holds_slots_24_hours_apart_and_the_next_day_does_not() -> None:
    late = local(PARIS, 2026, 10, 25, 23, 30)
    assert starts(TWO_A_DAY, PARIS, late) == utc(2026, 10, 24, 22, 0)
    assert reached(TWO_A_DAY, PARIS, late, late - timedelta(hours=24), late - timedelta(hours=1))
    next_day = local(PARIS, 2026, 10, 26, 0, 30)
    assert starts(TWO_A_DAY, PARIS, next_day) == utc(2026, 10, 25, 23, 0)
    taken = next_day - timedelta(hours=24)
    assert taken.astimezone(ZoneInfo(PARIS)).date().day == 25
    assert not reached(TWO_A_DAY, PARIS, next_day, taken, next_day - timedelta(minutes=5))


def test_a_week_starts_on_monday_at_local_midnight_across_the_changes() -> None:
    assert starts(FIVE_A_WEEK, PARIS, local(PARIS, 2026, 3, 29, 12, 0)) == local(PARIS, 2026, 3, 23, 0, 0)
    assert starts(FIVE_A_WEEK, PARIS, local(PARIS, 2026, 3, 30, 0, 30)) == utc(2026, 3, 29, 22, 0)
    assert starts(FIVE_A_WEEK, PARIS, local(PARIS, 2026, 10, 26, 9, 0)) == utc(2026, 10, 25, 23, 0)
    assert starts(FIVE_A_WEEK, NEW_YORK, local(NEW_YORK, 2026, 11, 1, 23, 0)) == utc(2026, 10, 26, 4, 0)


def test_the_two_repeated_two_oclock_hours_are_different_hourly_windows() -> None:
    first = local(PARIS, 2026, 10, 25, 2, 30, fold=0)  # CEST
    second = local(PARIS, 2026, 10, 25, 2, 30, fold=1)  # CET
    assert starts(ONE_AN_HOUR, PARIS, first) == utc(2026, 10, 25, 0, 0)
    assert starts(ONE_AN_HOUR, PARIS, second) == utc(2026, 10, 25, 1, 0)
    assert reached(ONE_AN_HOUR, PARIS, first, local(PARIS, 2026, 10, 25, 2, 10, fold=0))
    assert not reached(ONE_AN_HOUR, PARIS, second, local(PARIS, 2026, 10, 25, 2, 10, fold=0))


def test_the_repeated_hours_differ_given_as_wall_times_too() -> None:
    """Window starts are cached: by the instant, not by a wall time both readings share."""
    zone = ZoneInfo(PARIS)
    first = datetime(2026, 10, 25, 2, 30, tzinfo=zone, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=zone, fold=1)
    assert ONE_AN_HOUR.window_start(first, zone) == utc(2026, 10, 25, 0, 0)
    assert ONE_AN_HOUR.window_start(second, zone) == utc(2026, 10, 25, 1, 0)


def test_a_day_whose_midnight_is_skipped_starts_when_the_clocks_jump() -> None:
    # Santiago, 2026-09-06: 24:00 (-04) becomes 01:00 (-03).
    zone = "America/Santiago"
    assert starts(TWO_A_DAY, zone, local(zone, 2026, 9, 6, 9, 0)) == utc(2026, 9, 6, 4, 0)


def test_an_hour_whose_top_is_skipped_starts_when_the_clocks_jump() -> None:
    # Chatham, 2026-09-27: 02:45 (+12:45) becomes 03:45 (+13:45); the hour "03" begins at the jump.
    zone = "Pacific/Chatham"
    now = local(zone, 2026, 9, 27, 3, 50)
    assert starts(ONE_AN_HOUR, zone, now) == utc(2026, 9, 26, 14, 0)
    assert reached(ONE_AN_HOUR, zone, now, utc(2026, 9, 26, 14, 1))


def test_a_month_starts_on_the_first_at_local_midnight() -> None:
    assert starts(parse_cap("3/month"), PARIS, local(PARIS, 2026, 3, 31, 12, 0)) == utc(2026, 2, 28, 23, 0)


LONGEST = {
    Period.HOUR: timedelta(hours=1),
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(weeks=1),
    Period.MONTH: timedelta(days=31),
}


def period_of(cap: FrequencyCap, at: datetime, zone: ZoneInfo) -> tuple[int, ...]:
    """Which calendar day, ISO week or month the wall clock shows at `at`."""
    day = at.astimezone(zone).date()
    if cap.period is Period.WEEK:
        return tuple(day.isocalendar())[:2]
    if cap.period is Period.MONTH:
        return (day.year, day.month)
    return (day.toordinal(),)


def at_boundary(cap: FrequencyCap, wall_clock: datetime) -> bool:
    if wall_clock.minute or wall_clock.second or wall_clock.microsecond:
        return False
    if cap.period is Period.HOUR:
        return True
    if cap.period is Period.WEEK:
        return wall_clock.hour == 0 and wall_clock.weekday() == 0
    if cap.period is Period.MONTH:
        return wall_clock.hour == 0 and wall_clock.day == 1
    return wall_clock.hour == 0


def is_clock_change(at: datetime, zone: ZoneInfo) -> bool:
    return (at - timedelta(seconds=1)).astimezone(zone).utcoffset() != at.astimezone(zone).utcoffset()


@settings(max_examples=400, deadline=None)
@given(moment=moments(), period=st.sampled_from(Period))
def test_a_cap_window_starts_at_the_periods_boundary_on_the_local_calendar(
    moment: Moment, period: Period
) -> None:
    cap, zone, now = FrequencyCap(1, period), moment.zone, moment.now
    start = cap.window_start(now, zone)
    assert start.utcoffset() == timedelta(0)
    assert start <= now
    assert now - start < LONGEST[period] + timedelta(hours=1)
    # At the boundary (minute 0, midnight, Monday, the 1st), or, when the clocks skip that
    # reading, at the instant they jump past it.
    assert at_boundary(cap, start.astimezone(zone)) or is_clock_change(start, zone)
    if period is not Period.HOUR:
        assert period_of(cap, start, zone) == period_of(cap, now, zone)
        assert period_of(cap, start - timedelta(microseconds=1), zone) != period_of(cap, now, zone)


@settings(max_examples=150, deadline=None)
@given(
    moment=moments(), period=st.sampled_from(Period), back=st.lists(st.integers(0, 40 * 86400), max_size=6)
)
def test_a_cap_counts_exactly_the_slots_taken_since_its_window_started(
    moment: Moment, period: Period, back: list[int]
) -> None:
    zone, now = moment.zone, moment.now
    slots = [now - timedelta(seconds=seconds) for seconds in back]
    start = FrequencyCap(1, period).window_start(now, zone)
    inside = sum(1 for slot in slots if slot >= start)
    for count in range(1, 8):
        cap = FrequencyCap(count, period)
        assert (cap_reached([cap], slots, now, zone) is cap) == (inside >= count)


# --- Config parsing ---------------------------------------------------------------------------


def category(**fields: object) -> CategoryConfig:
    return CategoryConfig.model_validate({"channels": ["email"], **fields})


def test_quiet_hours_parse_a_window_spanning_midnight() -> None:
    window = category(quiet_hours="21:00-08:00").quiet_hours
    assert window == QuietHours(time(21, 0), time(8, 0))
    assert str(window) == "21:00-08:00"
    assert window is not None and window.contains(time(23, 0)) and not window.contains(time(8, 0))


@pytest.mark.parametrize("text", [" 9:00-10:00", "21:00", "24:00-08:00", "21:60-08:00", "21:00-08:00-09:00"])
def test_quiet_hours_that_are_not_two_hh_mm_times_are_rejected(text: str) -> None:
    with pytest.raises(ValidationError, match="HH:MM-HH:MM"):
        category(quiet_hours=text)


def test_quiet_hours_that_start_and_end_together_are_rejected() -> None:
    with pytest.raises(ValidationError, match="same time"):
        category(quiet_hours="08:00-08:00")


def test_frequency_caps_parse_one_or_a_list() -> None:
    assert category(frequency_cap="2/day").frequency_cap == (FrequencyCap(2, Period.DAY),)
    assert category(frequency_cap=["2/day", "5/week"]).frequency_cap == (
        FrequencyCap(2, Period.DAY),
        FrequencyCap(5, Period.WEEK),
    )
    assert category().frequency_cap == ()
    assert parse_caps(None) == ()


@pytest.mark.parametrize("text", ["0/day", "2/fortnight", "two/day", "-1/day", "2"])
def test_frequency_caps_that_allow_nothing_or_name_no_period_are_rejected(text: str) -> None:
    with pytest.raises(ValidationError, match="n > 0"):
        category(frequency_cap=text)


def test_a_category_cannot_both_have_quiet_hours_and_bypass_them() -> None:
    with pytest.raises(ValidationError, match="contradict"):
        category(quiet_hours="21:00-08:00", bypass_quiet_hours=True)
    assert category(quiet_hours="21:00-08:00", bypass_quiet_hours=False).quiet_hours is not None


def test_a_category_users_may_not_leave_cannot_default_to_opted_out() -> None:
    with pytest.raises(ValidationError, match="cannot default to opted_out"):
        category(opt_out=False, default="opted_out")


def test_high_priority_bypasses_the_global_quiet_hours_unless_told_otherwise() -> None:
    policy = PolicyConfig.model_validate({"timezone": PARIS, "quiet_hours": "22:00-07:00"})
    own = parse_quiet_hours("23:00-06:00")
    assert category(priority="high").quiet_hours_under(policy) is None
    assert category(priority="high", bypass_quiet_hours=False).quiet_hours_under(policy) == policy.quiet_hours
    assert category(priority="high", quiet_hours="23:00-06:00").quiet_hours_under(policy) == own
    assert category().quiet_hours_under(policy) == policy.quiet_hours
    assert category(bypass_quiet_hours=True).quiet_hours_under(policy) is None
    assert category(priority="bulk").quiet_hours_under(PolicyConfig()) is None
