"""The pure decisions of delivery: state machine, notification status, settle, planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from appliance.config.schema import CategoryConfig, Channel, RetryPolicy
from appliance.db.models import DeliveryStatus as S
from appliance.pipeline.planner import plan
from appliance.pipeline.route import AttemptRecord, Routed
from appliance.pipeline.settle import settle
from appliance.pipeline.status import FINAL, can_move, notification_status
from appliance.preferences.verdict import Standing
from appliance.providers.base import Outcome

statuses = st.sampled_from(list(S))


@given(st.lists(statuses, min_size=1, max_size=12))
def test_a_walk_of_legal_steps_never_leaves_a_final_state_except_dead_to_queued(path: list[S]) -> None:
    current = S.QUEUED
    for target in path:
        if can_move(current, target):
            if current in FINAL:
                assert (current, target) == (S.DEAD, S.QUEUED) or current is S.DELIVERED
            current = target


def test_late_provider_events_never_move_a_delivery_backwards() -> None:
    assert not can_move(S.DELIVERED, S.SENT)
    assert not can_move(S.BOUNCED, S.DELIVERED)
    assert not can_move(S.FAILED, S.SENT)
    assert can_move(S.SENT, S.DELIVERED) and can_move(S.DELIVERED, S.BOUNCED)


@given(st.lists(statuses, min_size=1, max_size=6))
def test_notification_status_is_one_of_a_small_vocabulary(deliveries: list[S]) -> None:
    status = notification_status(deliveries)
    assert status in set(S) | {"partial"}
    active = set(deliveries) - {S.SKIPPED}
    if len(active) == 1:
        assert status == next(iter(active))
    if active and active <= {S.SENT, S.DELIVERED} and len(active) > 1:
        assert status == S.SENT
    if active & {S.QUEUED, S.SENDING} and len(active) > 1:
        assert status == S.SENDING


def test_notification_status_examples() -> None:
    assert notification_status([S.SENT, S.SKIPPED]) == S.SENT
    assert notification_status([S.SENT, S.FAILED]) == "partial"
    assert notification_status([S.DEAD, S.FAILED]) == S.FAILED
    assert notification_status([S.SKIPPED]) == S.SKIPPED
    assert notification_status([]) == S.SKIPPED


policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 10),
    backoff_min=st.integers(1, 5000).map(lambda ms: timedelta(milliseconds=ms)),
    backoff_max=st.integers(5000, 600_000).map(lambda ms: timedelta(milliseconds=ms)),
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def routed(
    *outcomes: Outcome, circuit_open: tuple[str, ...] = (), throttled_s: float | None = None
) -> Routed:
    attempts = tuple(AttemptRecord(f"p{i}", outcome, NOW, 1.0) for i, outcome in enumerate(outcomes))
    throttled = timedelta(seconds=throttled_s) if throttled_s is not None else None
    return Routed(attempts, circuit_open, throttled)


@given(policy=policies, tries=st.integers(1, 12))
def test_a_retryable_failure_spends_a_try_and_backs_off_until_the_last(
    policy: RetryPolicy, tries: int
) -> None:
    settlement = settle(routed(Outcome.retryable("HTTP 503")), tries, policy)
    if tries >= policy.max_attempts:
        assert settlement.status is S.DEAD and settlement.retry_in is None
        assert f"after {tries} tries" in (settlement.error or "")
        return
    assert (settlement.status, settlement.spent_a_try) == (S.QUEUED, True)
    assert settlement.retry_in is not None
    assert min(policy.backoff_min, policy.backoff_max / 2) <= settlement.retry_in <= policy.backoff_max


@given(policy=policies, tries=st.integers(1, 50), after=st.integers(0, 900))
def test_a_rate_limited_round_waits_as_asked_and_spends_no_try(
    policy: RetryPolicy, tries: int, after: int
) -> None:
    settlement = settle(routed(Outcome.rate_limited("429", timedelta(seconds=after))), tries, policy)
    assert (settlement.status, settlement.spent_a_try) == (S.QUEUED, False)
    assert settlement.retry_in == timedelta(seconds=after)


@given(policy=policies, tries=st.integers(1, 50), wait=st.floats(0.001, 60))
def test_spent_limits_and_open_circuits_wait_without_failing(
    policy: RetryPolicy, tries: int, wait: float
) -> None:
    throttled = settle(routed(throttled_s=wait), tries, policy)
    assert (throttled.status, throttled.spent_a_try) == (S.QUEUED, False)
    assert throttled.retry_in == timedelta(seconds=wait)
    held = settle(routed(circuit_open=("primary", "backup")), tries, policy)
    assert (held.status, held.spent_a_try) == (S.QUEUED, False)
    assert "primary: circuit open" in (held.error or "")


def test_a_failover_round_that_ends_sent_is_sent() -> None:
    settlement = settle(routed(Outcome.retryable("timeout"), Outcome.sent("id-2")), 1, RetryPolicy())
    assert (settlement.status, settlement.provider_message_id) == (S.SENT, "id-2")


@given(policy=policies, tries=st.integers(1, 12))
def test_permanent_outcomes_fail_at_once_and_sent_records_the_message_id(
    policy: RetryPolicy, tries: int
) -> None:
    assert settle(routed(Outcome.permanent("bad key")), tries, policy).status is S.FAILED
    assert settle(routed(Outcome.invalid_recipient("no such user")), tries, policy).status is S.FAILED
    sent = settle(routed(Outcome.sent("msg-1")), tries, policy)
    assert (sent.status, sent.provider_message_id) == (S.SENT, "msg-1")


def test_a_channel_without_providers_fails() -> None:
    assert settle(routed(), 1, RetryPolicy()).status is S.FAILED


@given(
    email=st.booleans(),
    phone=st.booleans(),
    devices=st.integers(0, 3),
    channels=st.lists(st.sampled_from(list(Channel)), unique=True, min_size=1),
)
def test_planning_keeps_the_category_order_and_skips_only_unreachable_channels(
    email: bool, phone: bool, devices: int, channels: list[Channel]
) -> None:
    rules = CategoryConfig(channels=channels)
    planned = plan("news", rules, channels, Standing(email, phone, devices))
    assert [p.channel for p in planned] == channels
    assert [p.position for p in planned] == list(range(len(channels)))
    for item in planned:
        reachable = {Channel.EMAIL: email, Channel.SMS: phone, Channel.PUSH: devices > 0}.get(
            item.channel, True
        )
        assert item.status is (S.QUEUED if reachable else S.SKIPPED)
