"""The pure parts of analytics: time windows, hour runs, rates and chart geometry."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from appliance.analytics.charts import HEIGHT, TOP, Series, nice_ceiling, stacked_bars
from appliance.analytics.counting import Count
from appliance.analytics.funnel import funnel
from appliance.analytics.rollup import runs
from appliance.analytics.windows import HOUR, TimeRange, window

NOW = datetime(2026, 12, 3, 10, 42, 17, tzinfo=UTC)


def count(status: str, n: int, channel: str = "email", opened: int = 0, clicked: int = 0) -> Count:
    return Count(None, None, channel, status, n, opened, clicked)


def test_a_window_ends_with_the_bucket_that_holds_now() -> None:
    day = window(TimeRange.DAY, NOW)
    assert day.end == datetime(2026, 12, 3, 11, tzinfo=UTC) and len(day.starts()) == 24
    assert day.starts()[-1] <= NOW < day.end and day.from_rollup
    hour = window(TimeRange.HOUR, NOW)
    assert hour.bucket == timedelta(minutes=5) and len(hour.starts()) == 12 and not hour.from_rollup
    month = window(TimeRange.MONTH, NOW)
    assert month.start == datetime(2026, 11, 4, tzinfo=UTC) and month.from_rollup


def test_consecutive_hours_are_recounted_as_one_span() -> None:
    h = datetime(2026, 12, 3, tzinfo=UTC)
    hours = [h, h + HOUR, h + 2 * HOUR, h + 5 * HOUR]
    assert runs(hours) == [(h, h + 3 * HOUR), (h + 5 * HOUR, h + 6 * HOUR)]
    assert runs([]) == []


def test_rates_divide_by_what_was_sent_and_opens_by_delivered_email() -> None:
    found = funnel(
        [
            count("sent", 80, opened=20, clicked=5),
            count("bounced", 10, opened=1),  # a bounce's opens do not count
            count("delivered", 10, channel="sms"),
            count("failed", 3),
            count("skipped", 7),
        ],
        unsubscribed=2,
    )
    assert (found.deliveries, found.sent, found.delivered, found.failed) == (110, 100, 90, 3)
    assert found.delivery_rate == 0.9 and found.bounce_rate == 0.1
    assert found.open_rate == 20 / 80 and found.click_rate == 5 / 80
    assert found.unsubscribe_rate == 2 / 90


def test_nothing_sent_has_unknown_rates_not_zero() -> None:
    nothing = funnel([count("skipped", 4)])
    assert [nothing.delivery_rate, nothing.open_rate, nothing.unsubscribe_rate] == [None, None, None]


@given(st.integers(min_value=0, max_value=10**12))
def test_the_axis_top_holds_the_tallest_bar_in_four_round_steps(tallest: int) -> None:
    top = nice_ceiling(tallest)
    step = top // 4
    assert top >= tallest and top % 4 == 0
    assert step // 10 ** math.floor(math.log10(step)) in (1, 2, 5, 10)
    assert top < max(tallest, 1) * 10  # never more than ten times the data: bars stay readable


def test_bars_stack_in_series_order_and_are_described_in_words() -> None:
    series = [Series("email", "Email", "#00f"), Series("sms", "SMS", "#0f0"), Series("push", "Push", "#f00")]
    chart = stacked_bars("c", "Messages", ["09:00", "10:00"], [{"email": 3, "sms": 1}, {"email": 5}], series)
    assert [s.color for s in chart.segments] == ["#00f", "#0f0", "#00f"]
    first_email, first_sms, second = chart.segments
    assert first_sms.y + first_sms.height == first_email.y  # SMS sits on top of email
    plot = HEIGHT - TOP - 36
    assert (second.y, second.height) == (TOP + plot * 3 / 8, plot * 5 / 8)  # the axis tops out at 8
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert [s.label for s in chart.legend] == ["Email", "SMS"]  # Push sent nothing: left out
    assert chart.description == "9 messages from 09:00 to 10:00: Email 8, SMS 1. Busiest: 10:00 with 5."
    empty = stacked_bars("e", "Messages", ["09:00", "10:00"], [{}, {}], series)
    assert empty.segments == [] and empty.description == "No messages from 09:00 to 10:00."
