"""Sign-in attempts are limited per username and per client address, over both stacks.

The example config keeps the defaults: 5 attempts per username and 20 per address in 15 minutes.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.web.test_ui_pages import sign_in

WINDOW_S = 15 * 60


async def fail(stack: Stack, username: str, times: int) -> None:
    for attempt in range(times):
        response = await sign_in(stack.client, username, "not-the-password")
        assert response.status_code == 401, f"attempt {attempt + 1}: {response.status_code}"


def assert_locked_out(response: Any) -> None:
    assert response.status_code == 429
    assert 0 < int(response.headers["retry-after"]) <= WINDOW_S
    assert "Too many sign-in attempts" in response.text
    assert "Try again in 15 minutes." in response.text
    assert "clarion_session" not in response.headers.get("set-cookie", "")


async def test_five_failed_attempts_lock_the_username_even_against_the_right_password(stack: Stack) -> None:
    await fail(stack, "admin", 5)

    assert_locked_out(await sign_in(stack.client, "admin", "clarion-demo"))
    assert (await stack.client.get("/ui/messages", follow_redirects=False)).status_code == 303


async def test_a_successful_sign_in_starts_the_username_count_again(stack: Stack) -> None:
    await fail(stack, "admin", 4)
    assert (await sign_in(stack.client)).status_code == 303
    stack.client.cookies.clear()

    await fail(stack, "admin", 5)  # five more: the four before the success no longer count
    assert_locked_out(await sign_in(stack.client, "admin", "not-the-password"))


async def test_a_locked_username_does_not_lock_other_operators(stack: Stack) -> None:
    await fail(stack, "admin", 5)
    assert_locked_out(await sign_in(stack.client))

    signed_in = await sign_in(stack.client, "marketer", "clarion-demo")
    assert signed_in.status_code == 303
    assert (await stack.client.get("/ui/messages")).status_code == 200


async def test_twenty_attempts_from_one_address_lock_it_for_every_username(stack: Stack) -> None:
    for n in range(4):  # spread over usernames, so no username limit is reached
        await fail(stack, f"guess-{n}", 5)

    assert_locked_out(await sign_in(stack.client, "marketer", "clarion-demo"))
