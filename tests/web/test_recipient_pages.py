"""The recipient pages, asserted as HTML through the test client, over both stacks.

Given a recipient the API knows well (profile, device, preferences, a topic, a suppressed
address, notifications), an operator finds them by id, email or phone and sees all of it on
their page, each notification linking to its own; a new operator is told where recipients come from.
"""

from __future__ import annotations

import html
from typing import Any

from tests.conftest import AUTH, Stack
from tests.web.test_ui_pages import login_code, new_id, send, settled, sign_in

TOKEN = "fcm-token-0123456789abcdef"


async def api(stack: Stack, method: str, path: str, body: dict[str, Any]) -> None:
    answer = await stack.client.request(method, path, json=body, headers=AUTH)
    assert answer.is_success, answer.text


async def well_known(stack: Stack) -> tuple[str, str]:
    """A recipient with something in every section of their page, and one notification to them."""
    recipient = new_id()
    profile = {
        "id": recipient,
        "email": f"{recipient}@Example.com",
        "phone": "+14155550123",
        "locale": "fr",
        "timezone": "Europe/Paris",
        "attributes": {"plan": "pro", "seats": 12},
    }
    await api(stack, "POST", "/v1/recipients", profile)
    await api(stack, "POST", f"/v1/recipients/{recipient}/devices", {"platform": "fcm", "token": TOKEN})
    await api(
        stack,
        "PUT",
        f"/v1/recipients/{recipient}/preferences",
        {"categories": {"marketing": {"email": False}}},
    )
    await api(stack, "PUT", "/v1/topics/newsletter", {"name": "Monthly newsletter"})
    await api(stack, "POST", "/v1/topics/newsletter/subscribers", {"add": [recipient]})
    await api(
        stack,
        "POST",
        "/v1/suppressions",
        {"channel": "sms", "address": "+14155550123", "reason": "complaint"},
    )
    notification_id = await send(stack.client, {**login_code(recipient), "to": {"id": recipient}})
    await settled(stack.client, notification_id)
    return recipient, notification_id


async def page_text(stack: Stack, path: str, **query: str) -> str:
    answer = await stack.client.get(path, params=query or None)  # empty params would drop the path's query
    assert answer.status_code == 200, answer.text[:500]
    return html.unescape(answer.text)


async def test_no_recipients_yet_says_where_they_come_from(stack: Stack) -> None:
    await sign_in(stack.client)
    text = await page_text(stack, "/ui/recipients")
    assert "No recipients yet" in text and 'href="/ui/import"' in text and "POST /v1/recipients" in text
    assert 'href="/ui/recipients" class="nav__link" aria-current="page"' in text


async def test_a_recipient_is_found_by_the_start_of_their_id_email_or_phone(stack: Stack) -> None:
    recipient, _ = await well_known(stack)
    other = new_id()
    await api(stack, "POST", "/v1/recipients", {"id": other, "email": "grace@example.org"})
    await sign_in(stack.client)
    for query in (recipient, recipient[:-3], f"{recipient}@example.COM", "+1415555012"):
        text = await page_text(stack, "/ui/recipients", q=query)
        assert f'href="/ui/recipients/{recipient}"' in text, query
        assert f'href="/ui/recipients/{other}"' not in text, query
    everyone = await page_text(stack, "/ui/recipients")
    assert everyone.index(other) < everyone.index(recipient)  # newest first
    none = await page_text(stack, "/ui/recipients", q="100%_nobody")
    assert "No recipient matches" in none


async def test_the_list_pages_through_older_recipients(stack: Stack) -> None:
    rows = ["id,email"] + [f"reader-{n:03},reader-{n}@example.com" for n in range(55)]
    answer = await stack.client.post(
        "/v1/recipients/import",
        content="\n".join(rows).encode(),
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    await sign_in(stack.client)
    first = await page_text(stack, "/ui/recipients", q="reader-")
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = await page_text(stack, older)
    listed = [text.count('href="/ui/recipients/reader-') for text in (first, second)]
    assert listed == [50, 5]
    assert "← Newest" in second and 'rel="next"' not in second


async def test_a_recipient_page_shows_everything_known_about_them(stack: Stack) -> None:
    recipient, notification_id = await well_known(stack)
    await sign_in(stack.client)
    text = await page_text(stack, f"/ui/recipients/{recipient}")
    # profile and addresses
    assert f"{recipient}@Example.com" in text and "Europe/Paris" in text and ">fr<" in text
    assert (
        '<dt class="mono">plan</dt><dd>pro</dd>' in text and '<dt class="mono">seats</dt><dd>12</dd>' in text
    )
    assert "suppressed: complaint" in text
    # the device, masked
    assert "fcm-…cdef" in text and TOKEN not in text
    # preferences: their own choice, the defaults, a category that cannot be turned off
    marketing = text.split("News and offers")[1].split("</tr>")[0]
    assert "Email</span>off, their choice" in marketing and "Push</span>on<" in marketing
    security = text.split("Security")[1].split("</tr>")[0]
    assert "cannot be turned off" in security and "always" in security
    # topics and the consent log
    assert "Monthly newsletter" in text and "newsletter" in text
    assert "marketing.email" in text and "default → opted out" in text and "api:demo" in text
    # history, each linking to the notification's page
    assert f'href="/ui/messages/{notification_id}"' in text and "login_code" in text


async def test_a_new_recipient_page_tells_what_to_do_next(stack: Stack) -> None:
    recipient = new_id()
    await api(stack, "POST", "/v1/recipients", {"id": recipient})
    await sign_in(stack.client)
    text = await page_text(stack, f"/ui/recipients/{recipient}")
    assert f"POST /v1/recipients/{recipient}/devices" in text
    assert "Nothing sent to them yet" in text and 'href="/ui/templates"' in text
    assert "No consent changes yet" in text and "Not subscribed to any topic" in text


async def test_the_message_page_links_to_its_recipient(stack: Stack) -> None:
    recipient, notification_id = await well_known(stack)
    await sign_in(stack.client)
    text = await page_text(stack, f"/ui/messages/{notification_id}")
    assert f'href="/ui/recipients/{recipient}"' in text


async def test_an_unknown_recipient_is_a_404_page(stack: Stack) -> None:
    await sign_in(stack.client, username="viewer")
    answer = await stack.client.get("/ui/recipients/nobody-here")
    assert answer.status_code == 404 and "There is no recipient" in answer.text
