"""Finding a message: by ID and time as well as recipient, category and status; and its page
shows what happened after sending (opens, clicks), machine-made ones marked as such."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.conftest import Stack
from tests.integration.test_tracking import BROWSER, PROXY, email_html, local, newsletter
from tests.web.test_ui_pages import new_id, order_shipped, send, settled, sign_in


def listed(page: str) -> set[str]:
    return set(re.findall(r'href="/ui/messages/([0-9a-f-]{36})"', page))


async def test_messages_are_found_by_id_and_by_time(stack: Stack) -> None:
    first = await send(stack.client, order_shipped(new_id()))
    second = await send(stack.client, order_shipped(new_id()))
    await sign_in(stack.client, "viewer")

    by_id = await stack.client.get(f"/ui/messages?id={second}")
    assert listed(by_id.text) == {second}

    soon = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    past = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert listed((await stack.client.get(f"/ui/messages?since={soon}")).text) == set()
    recent = await stack.client.get(f"/ui/messages?since={past}&until={soon}")
    assert {first, second} <= listed(recent.text)
    assert f'value="{past}"' in recent.text  # the form keeps what was asked


async def test_an_unreadable_id_or_time_is_said_and_the_rest_of_the_filters_apply(stack: Stack) -> None:
    recipient = new_id()
    mine = await send(stack.client, order_shipped(recipient))
    await sign_in(stack.client, "viewer")
    page = await stack.client.get(f"/ui/messages?id=nope&since=yesterday&recipient={recipient}")
    assert page.status_code == 422
    assert "Notification ID: &#39;nope&#39; is not an ID" in page.text
    assert "From: &#39;yesterday&#39; is not a date and time." in page.text
    assert listed(page.text) == {mine}


async def test_a_message_page_shows_opens_and_clicks_and_marks_machine_made_ones(stack: Stack) -> None:
    notification_id, body = await email_html(stack, newsletter(new_id()))
    pixel = local(re.search(r'<img src="([^"]+/t/o/[^"]+)"', body).group(1))  # type: ignore[union-attr]
    await stack.client.get(pixel, headers={"User-Agent": BROWSER})
    await stack.client.get(pixel, headers={"User-Agent": PROXY})
    await settled(stack.client, notification_id)
    await sign_in(stack.client, "viewer")
    page = await stack.client.get(f"/ui/messages/{notification_id}")
    assert "After sending" in page.text
    assert page.text.count('class="badge badge--ok">opened') == 1
    assert 'class="badge badge--muted">opened' in page.text and "machine-made: mail proxy" in page.text
