"""One push message, several device tokens: send to each, then say what happened to the message.

The rule, shared by `fcm` and `apns`:
- a token that works or is dead (sent, invalid_recipient) says nothing about the next one: go on;
- any other failure (auth, quota, outage, timeout) is the provider's, and would hit the next
  token too: stop there;
- the message is sent if any token got it (the first success names it; dead tokens are listed
  in `invalid_tokens`, and the delivery engine removes those devices); otherwise the provider's failure
  decides; if every token is dead the recipient is invalid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from .base import Outcome, OutcomeKind

_TOKEN_LEVEL = frozenset({OutcomeKind.SENT, OutcomeKind.INVALID_RECIPIENT})


async def send_each(tokens: Sequence[str], send_one: Callable[[str], Awaitable[Outcome]]) -> Outcome:
    results: list[tuple[str, Outcome]] = []
    for token in tokens:
        outcome = await send_one(token)
        results.append((token, outcome))
        if outcome.kind not in _TOKEN_LEVEL:
            break
    return combine(results)


def combine(results: Sequence[tuple[str, Outcome]]) -> Outcome:
    """The message's outcome from each token's, in the order they were sent."""
    if not results:
        return Outcome.invalid_recipient("the message has no device tokens")
    dead = [f"{short(token)} ({outcome.error})" for token, outcome in results if _is_dead(outcome)]
    gone = tuple(token for token, outcome in results if _is_dead(outcome))
    sent = [outcome for _, outcome in results if outcome.kind is OutcomeKind.SENT]
    if sent:
        note = f"{len(dead)} of {len(results)} tokens are invalid: {'; '.join(dead)}" if dead else None
        return Outcome(OutcomeKind.SENT, sent[0].provider_message_id, error=note, invalid_tokens=gone)
    last = results[-1][1]
    if not _is_dead(last):
        return replace(last, invalid_tokens=gone)
    return Outcome(
        OutcomeKind.INVALID_RECIPIENT,
        error=f"every device token is invalid: {'; '.join(dead)}",
        invalid_tokens=gone,
    )


def short(token: str) -> str:
    """Enough of a token to find it in a database, not the whole (long) value."""
    return token if len(token) <= 12 else token[:12] + "…"


def _is_dead(outcome: Outcome) -> bool:
    return outcome.kind is OutcomeKind.INVALID_RECIPIENT
