"""The pure decisions of delivery: state machine, notification status, settle, planning."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from appliance.config.schema import Channel, Priority, RetryPolicy
from appliance.db.models import DeliveryStatus as S
from appliance.pipeline.planner import Reachability, plan
from appliance.pipeline.settle import settle
from appliance.pipeline.status import FINAL, can_move, notification_status
from appliance.providers.base import Outcome, OutcomeKind

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
failures = st.sampled_from([OutcomeKind.RETRYABLE, OutcomeKind.RATE_LIMITED])


@given(policy=policies, tries=st.integers(1, 12), kind=failures, after=st.none() | st.integers(0, 900))
def test_a_transient_failure_retries_with_bounded_backoff_until_the_last_try(
    policy: RetryPolicy, tries: int, kind: OutcomeKind, after: int | None
) -> None:
    retry_after = timedelta(seconds=after) if after is not None else None
    settlement = settle(Outcome(kind, error="busy", retry_after=retry_after), tries, policy)
    if tries >= policy.max_attempts:
        assert settlement.status is S.DEAD and settlement.retry_in is None
        assert f"after {tries} tries" in (settlement.error or "")
        return
    assert settlement.status is S.QUEUED
    assert settlement.retry_in is not None
    assert settlement.retry_in >= min(policy.backoff_min, policy.backoff_max / 2)
    assert settlement.retry_in <= max(policy.backoff_max, retry_after or timedelta(0))
    if retry_after is not None:
        assert settlement.retry_in >= retry_after


@given(policy=policies, tries=st.integers(1, 12))
def test_permanent_outcomes_fail_at_once_and_sent_records_the_message_id(
    policy: RetryPolicy, tries: int
) -> None:
    assert settle(Outcome.permanent("bad key"), tries, policy).status is S.FAILED
    assert settle(Outcome.invalid_recipient("no such user"), tries, policy).status is S.FAILED
    sent = settle(Outcome.sent("msg-1"), tries, policy)
    assert (sent.status, sent.provider_message_id) == (S.SENT, "msg-1")


@given(
    email=st.booleans(),
    phone=st.booleans(),
    devices=st.integers(0, 3),
    channels=st.lists(st.sampled_from(list(Channel)), unique=True, min_size=1),
)
def test_planning_keeps_the_category_order_and_skips_only_unreachable_channels(
    email: bool, phone: bool, devices: int, channels: list[Channel]
) -> None:
    planned = plan(channels, Priority.NORMAL, Reachability(email, phone, devices))
    assert [p.channel for p in planned] == channels
    for item in planned:
        reachable = {Channel.EMAIL: email, Channel.SMS: phone, Channel.PUSH: devices > 0}.get(
            item.channel, True
        )
        assert item.skipped is (not reachable)
