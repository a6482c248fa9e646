"""The inbox's pure parts: recipient tokens, the config that needs a secret, and the doorbell
that wakes a stream waiting on one event loop when a delivery rings it from another thread."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.inbox.feed import MemoryFeed
from appliance.inbox.tokens import RecipientTokens
from tests.unit.test_config_loading import problems, write

SECRET = "a-secret-of-16-chars-or-more"
recipient_ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)


@given(recipient_ids)
def test_a_token_is_the_hex_hmac_sha256_of_the_recipient_id(recipient_id: str) -> None:
    expected = hmac.new(SECRET.encode(), recipient_id.encode(), hashlib.sha256).hexdigest()
    tokens = RecipientTokens(SECRET)
    assert tokens.sign(recipient_id) == expected
    assert tokens.signed_for(recipient_id, expected.upper())  # hex is hex, in either case


@given(recipient_ids, recipient_ids)
def test_a_token_opens_only_its_own_recipients_inbox(owner: str, other: str) -> None:
    tokens = RecipientTokens(SECRET)
    assert tokens.signed_for(other, tokens.sign(owner)) is (owner == other)
    assert not RecipientTokens(SECRET + "x").signed_for(owner, tokens.sign(owner))


def test_garbage_is_no_token() -> None:
    tokens = RecipientTokens(SECRET)
    for garbage in ("", "zz", "é" * 64, tokens.sign("a")[:-1]):
        assert not tokens.signed_for("a", garbage)


def test_an_inbox_provider_needs_the_inbox_secret(tmp_path: Path) -> None:
    base = """\
server: {secret_key: a-long-enough-secret}
channels: {in_app: {providers: [inbox]}}
providers: {inbox: {type: inbox, expire_after: soon}}
categories: {news: {channels: [in_app]}}
"""
    found = "\n".join(problems(write(tmp_path, base)))
    assert "providers.inbox.type: an `inbox` provider needs `inbox: {secret: ...}`" in found
    assert "providers.inbox.expire_after" in found
    bad_inbox = "inbox: {secret: tiny-secret, allowed_origins: [evil]}\n"
    short = "\n".join(problems(write(tmp_path, base + bad_inbox)))
    assert "inbox.secret: must be at least 16 characters" in short
    assert "inbox.allowed_origins.0" in short
    assert "tiny-secret" not in short  # a secret is never echoed, not even a bad one


async def test_a_ring_from_another_thread_wakes_only_that_recipients_streams() -> None:
    feed = MemoryFeed()
    with feed.listen("ada") as ada, feed.listen("bob") as bob:
        threading.Thread(target=lambda: asyncio.run(feed.ring("ada"))).start()
        assert await ada.wait(timedelta(seconds=5))
        assert not await bob.wait(timedelta(milliseconds=50))
        assert not await ada.wait(timedelta(milliseconds=50))  # one ring, one wake-up


@pytest.mark.parametrize("rings", [1, 3])
async def test_rings_while_busy_are_not_lost(rings: int) -> None:
    feed = MemoryFeed()
    with feed.listen("ada") as ada:
        for _ in range(rings):
            await feed.ring("ada")  # the stream is reading the table meanwhile
        assert await ada.wait(timedelta(seconds=1))
