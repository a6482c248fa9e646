"""The operator UI, asserted as HTML through the test client, over both stacks.

Given notifications sent through the REST API, an operator who signs in sees them listed,
opens one with its attempts, and sees in the sandbox what the recipient would have got.
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from html.parser import HTMLParser
from typing import Any

from litestar.testing import AsyncTestClient

from appliance.db.models import SandboxMessage
from appliance.web.ui.auth import derive_key
from tests.conftest import AUTH, Stack

CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


# ---------- helpers ----------


async def csrf_token(client: AsyncTestClient, path: str = "/ui/login") -> str:
    """The token a form on `path` carries (getting the page also sets the CSRF cookie)."""
    page = await client.get(path)
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field on {path}: {page.text[:500]}"
    return match.group(1)


async def sign_in(
    client: AsyncTestClient, username: str = "admin", password: str = "clarion-demo", next: str = ""
) -> Any:
    token = await csrf_token(client)
    form = {"username": username, "password": password, "next": next, "_csrf_token": token}
    return await client.post("/ui/login", data=form, follow_redirects=False)


async def send(client: AsyncTestClient, body: dict[str, Any]) -> str:
    response = await client.post("/v1/notifications", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def settled(client: AsyncTestClient, notification_id: str, timeout_s: float = 5) -> dict[str, Any]:
    """Poll the API until the notification is neither queued nor sending."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
        if body["status"] not in ("queued", "sending"):
            return dict(body)
        assert asyncio.get_running_loop().time() < deadline, f"not settled in {timeout_s}s: {body}"
        await asyncio.sleep(0.05)


def login_code(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient, "email": f"{recipient}@example.com", "phone": "+14155550100"},
        "category": "security",
        "template": "login_code",
        "data": {"code": "493817"},
    }


def order_shipped(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient, "email": f"{recipient}@example.com"},
        "category": "orders",
        "template": "order_shipped",
        "data": {"order_id": "A-1001", "carrier": "DHL"},
    }


def new_id() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def sms_capture(text: str) -> SandboxMessage:
    return SandboxMessage(
        delivery_id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        provider="sandbox_sms",
        channel="sms",
        to_address="+14155550100",
        text=text,
        payload={},
    )


async def capture(stack: Stack, *rows: SandboxMessage) -> None:
    """Store captures as a sandbox provider would, without going through delivery."""
    async with stack.client.app.state.services.database.transaction() as session:
        for row in rows:
            session.add(row)
            await session.flush()  # one at a time, so ids follow the order given


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as the browser would parse them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


# ---------- signing in ----------


async def test_pages_need_a_signed_in_operator_and_come_back_after_sign_in(stack: Stack) -> None:
    client = stack.client
    root = await client.get("/", follow_redirects=False)
    assert root.headers["location"] == "/ui/"

    response = await client.get("/ui/messages?status=failed", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fmessages%3Fstatus%3Dfailed"
    for path in ("/ui/sandbox", f"/ui/messages/{uuid.uuid4()}"):
        assert (
            (await client.get(path, follow_redirects=False)).headers["location"].startswith("/ui/login?next=")
        )

    signed_in = await sign_in(client, next="/ui/messages?status=failed")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/ui/messages?status=failed"
    page = await client.get("/ui/messages?status=failed")
    assert page.status_code == 200
    assert '<option value="failed" selected>' in page.text
    home = await client.get("/ui/", follow_redirects=False)
    assert home.headers["location"] == "/ui/dashboard"


async def test_a_wrong_password_or_unknown_user_is_refused_with_the_form_again(stack: Stack) -> None:
    for username, password in [("admin", "wrong-password"), ("nobody", "clarion-demo")]:
        response = await sign_in(stack.client, username, password)
        assert response.status_code == 401
        assert "do not match an operator" in response.text
        assert f'value="{username}"' in response.text  # the username is kept, the password is not
        assert "clarion_session" not in response.headers.get("set-cookie", "")
    assert (await stack.client.get("/ui/messages", follow_redirects=False)).status_code == 303


async def test_the_session_cookie_is_encrypted_http_only_and_scoped_to_the_ui(stack: Stack) -> None:
    response = await sign_in(stack.client)
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("clarion_session="))
    assert "HttpOnly" in cookie
    assert "Path=/ui" in cookie
    assert "SameSite=lax" in cookie
    assert "admin" not in cookie.split(";")[0]


def test_ui_keys_are_hkdf_sha256_so_cookies_made_before_stay_valid() -> None:
    # derive_key is the standard library's; this is the cryptography HKDF it replaced.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    for secret in ("clarion-demo-secret-key-0123456789", "é" * 80):
        for purpose in ("session", "csrf"):
            info = f"clarion/ui/{purpose}".encode()
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
            assert derive_key(secret, purpose) == hkdf.derive(secret.encode())


async def test_a_login_without_its_csrf_token_is_refused(stack: Stack) -> None:
    await csrf_token(stack.client)  # the cookie is there; the form field is not
    form = {"username": "admin", "password": "clarion-demo"}
    response = await stack.client.post("/ui/login", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert "This form has expired" in response.text
    forged = await stack.client.post(
        "/ui/login", data={**form, "_csrf_token": "0" * 128}, follow_redirects=False
    )
    assert forged.status_code == 403


async def test_signing_out_needs_the_csrf_token_and_ends_the_session(stack: Stack) -> None:
    await sign_in(stack.client)
    refused = await stack.client.post("/ui/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert (await stack.client.get("/ui/messages")).status_code == 200

    token = await csrf_token(stack.client, "/ui/messages")
    response = await stack.client.post("/ui/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    assert (await stack.client.get("/ui/messages", follow_redirects=False)).status_code == 303


async def test_sign_in_never_redirects_to_another_site(stack: Stack) -> None:
    for target in ("https://evil.example/", "//evil.example/ui", "/v1/notifications", "/\\evil.example"):
        stack.client.cookies.clear()
        response = await sign_in(stack.client, next=target)
        assert response.headers["location"] == "/ui/dashboard", target


async def test_the_api_needs_no_csrf_token_and_gets_no_cookies(stack: Stack) -> None:
    await sign_in(stack.client)  # even with UI cookies in the jar
    response = await stack.client.post("/v1/notifications", json=login_code(new_id()), headers=AUTH)
    assert response.status_code == 202, response.text
    assert "set-cookie" not in response.headers
    assert "set-cookie" not in (await stack.client.get("/healthz")).headers
    css = await stack.client.get("/ui/static/clarion.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


# ---------- messages ----------


async def test_an_empty_messages_page_shows_how_to_send_the_first_notification(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/ui/messages")
    text = html.unescape(page.text)
    assert "No notifications yet" in text
    public_url = stack.catalog.config.server.public_url.rstrip("/")
    assert f"curl -X POST {public_url}/v1/notifications" in text
    assert "Authorization: Bearer <your API key>" in text
    assert '"category": "marketing",\n    "template": "welcome"' in text


async def test_the_messages_page_lists_a_delivered_notification(stack: Stack) -> None:
    recipient = new_id()
    notification_id = await send(stack.client, login_code(recipient))
    await settled(stack.client, notification_id)
    await sign_in(stack.client)

    page = await stack.client.get("/ui/messages")

    assert page.status_code == 200
    assert f'href="/ui/messages/{notification_id}"' in page.text
    assert recipient in page.text
    assert ">security</td>" in page.text
    assert ">login_code</td>" in page.text
    assert '<span class="badge badge--ok"><span class="badge__prefix">email</span>sent</span>' in page.text
    assert '<span class="badge badge--ok"><span class="badge__prefix">sms</span>sent</span>' in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_the_messages_page_filters_by_recipient_category_and_status(stack: Stack) -> None:
    first, second = new_id(), new_id()
    ids = [await send(stack.client, login_code(first)), await send(stack.client, order_shipped(second))]
    for notification_id in ids:
        await settled(stack.client, notification_id)
    await sign_in(stack.client)

    by_recipient = (await stack.client.get(f"/ui/messages?recipient={first}")).text
    assert first in by_recipient and second not in by_recipient
    by_category = (await stack.client.get("/ui/messages?category=orders")).text
    assert second in by_category and first not in by_category
    # order_shipped's push channel is skipped: this recipient has no device
    by_status = (await stack.client.get("/ui/messages?status=skipped")).text
    assert second in by_status and first not in by_status
    nothing = (await stack.client.get("/ui/messages?recipient=nobody-at-all")).text
    assert "No notifications match" in nothing


async def test_the_messages_page_pages_through_older_notifications(stack: Stack) -> None:
    from appliance.web.ui import queries

    recipient = new_id()
    ids = [await send(stack.client, login_code(recipient)) for _ in range(queries.PAGE_SIZE + 2)]
    await sign_in(stack.client)

    first = await stack.client.get(f"/ui/messages?recipient={recipient}")
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older, "no link to older notifications"
    assert first.text.count('class="row-link"') == queries.PAGE_SIZE
    second = await stack.client.get(html.unescape(older.group(1)))
    assert second.text.count('class="row-link"') == 2
    assert 'rel="next"' not in second.text
    shown = set(re.findall(r'href="/ui/messages/([0-9a-f-]{36})"', first.text + second.text))
    assert shown == set(ids)


async def test_the_detail_page_shows_each_delivery_with_its_attempts(stack: Stack) -> None:
    recipient = new_id()
    notification_id = await send(stack.client, order_shipped(recipient))
    body = await settled(stack.client, notification_id)
    await sign_in(stack.client)

    page = await stack.client.get(f"/ui/messages/{notification_id}")

    assert page.status_code == 200
    text = page.text
    assert notification_id in text and recipient in text
    email = next(d for d in body["deliveries"] if d["channel"] == "email")
    assert "Attempt 1" in text
    assert "sandbox_email" in text
    assert email["attempts"][0]["provider_message_id"] in text
    assert re.search(r"\d+\.\d ms", text)
    assert "recipient has no registered push device" in text  # the skipped push channel says why
    # what the recipient sees, captured by the sandbox, on the same page
    assert "Order A-1001 is on its way" in text


async def test_an_unknown_notification_is_a_404_page(stack: Stack) -> None:
    await sign_in(stack.client)
    response = await stack.client.get(f"/ui/messages/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "Page not found" in response.text


# ---------- sandbox ----------


async def test_the_sandbox_shows_the_rendered_email_and_the_sms_text(stack: Stack) -> None:
    code_id = await send(stack.client, login_code(new_id()))
    order_id = await send(stack.client, order_shipped(new_id()))
    for notification_id in (code_id, order_id):
        await settled(stack.client, notification_id)
    await sign_in(stack.client)

    page = await stack.client.get("/ui/sandbox")

    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Order A-1001 is on its way" in text  # the email subject, above its frame
    assert "Your code is 493817. It expires in 10 minutes." in text  # the SMS bubble
    assert "+14155550100" in text
    frames = Tags(page.text).all("iframe")
    assert frames, "the HTML email is not shown in a frame"
    assert all("sandbox" in frame and not frame["sandbox"] for frame in frames)  # no allowances
    assert any("<h2>Order A-1001 is on its way</h2>" in (frame.get("srcdoc") or "") for frame in frames)
    assert f'href="/ui/messages/{order_id}"' in page.text

    sms_only = html.unescape((await stack.client.get("/ui/sandbox?channel=sms")).text)
    assert "Your code is 493817" in sms_only
    assert "Order A-1001 is on its way" not in sms_only


async def test_the_sandbox_pages_through_older_captures(stack: Stack) -> None:
    from appliance.web.ui import queries

    await capture(stack, *[sms_capture(f"code {n}") for n in range(queries.PAGE_SIZE + 2)])
    await sign_in(stack.client)

    first = await stack.client.get("/ui/sandbox")
    assert first.text.count('<article class="capture ') == queries.PAGE_SIZE
    assert f"code {queries.PAGE_SIZE + 1}<" in first.text  # newest first
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older, "no link to older captures"
    second = await stack.client.get(html.unescape(older.group(1)))
    assert second.text.count('<article class="capture ') == 2
    assert "code 0<" in second.text
    assert "← Newest" in second.text


async def test_html_in_a_captured_email_stays_inside_the_sandboxed_frame(stack: Stack) -> None:
    hostile = (
        '<p>Hi</p><script>alert("page")</script><img src=x onerror="alert(1)">'
        '"></iframe><script>alert("escaped")</script>'
    )
    await capture(
        stack,
        SandboxMessage(
            delivery_id=uuid.uuid4(),
            notification_id=uuid.uuid4(),
            provider="sandbox_email",
            channel="email",
            to_address="ada@example.com",
            subject="<b>Subject</b>",
            text="hi",
            html=hostile,
            payload={},
        ),
    )
    await sign_in(stack.client)

    page = await stack.client.get("/ui/sandbox")

    tags = Tags(page.text)
    assert [s.get("src") for s in tags.all("script")] == ["/ui/static/clarion.js"]
    assert not tags.all("img")
    [frame] = tags.all("iframe")
    assert frame["srcdoc"] == hostile
    assert "sandbox" in frame and not frame["sandbox"]
    assert "&lt;b&gt;Subject&lt;/b&gt;" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_an_empty_sandbox_says_which_channels_it_captures(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/ui/sandbox")
    assert "Nothing captured yet" in page.text
    assert "Email, SMS, Push, Webhook" in page.text  # in-app goes to the inbox, not a sandbox
