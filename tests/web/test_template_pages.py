"""The template pages, asserted as HTML through the test client, over both stacks.

An operator sees every template of the config, previews one per channel, locale and variant
with sample data they can edit, sees where a render fails, and (as a marketer or an admin)
sends a test that the pipeline delivers like any other; a viewer previews but cannot send.
"""

from __future__ import annotations

import html
import json
import uuid
from typing import Any

from sqlalchemy import func, select

from appliance.db.models import Notification, SandboxMessage
from tests.conftest import Stack
from tests.web.test_campaign_pages import submit
from tests.web.test_ui_pages import Tags, new_id, settled, sign_in


async def notifications(stack: Stack) -> int:
    async with stack.client.app.state.services.database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Notification)) or 0)


async def captures(stack: Stack, notification_id: str) -> list[SandboxMessage]:
    async with stack.client.app.state.services.database.sessions() as session:
        query = select(SandboxMessage).where(SandboxMessage.notification_id == uuid.UUID(notification_id))
        return list(await session.scalars(query.order_by(SandboxMessage.channel)))


def srcdocs(text: str) -> list[str]:
    return [str(attrs["srcdoc"]) for attrs in Tags(text).all("iframe")]


def send_form(recipient: str, **changes: str) -> dict[str, str]:
    return {"to.id": recipient, "to.email": f"{recipient}@example.com", "category": "orders", **changes}


async def page_text(stack: Stack, template: str, **query: Any) -> str:
    response = await stack.client.get(f"/ui/templates/{template}", params=query)
    assert response.status_code == 200, response.text[:500]
    return response.text


async def preview(stack: Stack, template: str, **query: Any) -> str:
    """The page's text as a reader sees it (entities decoded)."""
    return html.unescape(await page_text(stack, template, **query))


async def test_the_list_shows_every_template_with_its_channels_locales_and_variants(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/ui/templates")
    assert page.status_code == 200
    assert 'href="/ui/templates" class="nav__link" aria-current="page"' in page.text
    assert 'href="/ui/recipients"' in page.text
    for name in stack.catalog.config.templates:
        assert f'href="/ui/templates/{name}"' in page.text
    row = page.text.split('data-template="newsletter"')[1].split("</tr>")[0]
    assert all(channel in row for channel in ("Email", "Push", "In-app")) and "SMS" not in row
    assert "A, B" in row
    welcome = page.text.split('data-template="welcome"')[1].split("</tr>")[0]
    assert "default, fr" in welcome and "Sent when someone signs up." in welcome


async def test_a_template_is_previewed_on_every_channel_with_its_declared_sample_data(stack: Stack) -> None:
    await sign_in(stack.client)
    raw = await page_text(stack, "order_shipped")
    text = html.unescape(raw)
    assert "From <code>sample_data</code> in the config" in text
    [email] = srcdocs(raw)
    assert "Order A-1001 is on its way" in email and "<li>Blue mug</li>" in email
    assert 'iframe class="mail__frame" sandbox srcdoc' in text  # the email cannot script the page
    assert "Order A-1001 shipped" in text and "Arriving Thursday." in text  # push
    assert '"order_id": "A-1001"' in text  # push data
    assert "Order A-1001 for sample-recipient shipped via DHL." in text  # webhook


async def test_without_declared_sample_data_the_names_the_template_reads_are_filled_in(stack: Stack) -> None:
    await sign_in(stack.client)
    text = await preview(stack, "login_code")
    assert "Made up from the names the template uses" in text
    assert '"code": "Sample code"' in text
    assert "Your code is Sample code. It expires in 10 minutes." in text


async def test_the_pickers_choose_channel_locale_and_variant_and_the_data_can_be_edited(stack: Stack) -> None:
    await sign_in(stack.client)
    french = await preview(stack, "welcome", locale="fr", sample=json.dumps({"recipient": {"name": "Zoé"}}))
    assert "Your own data" in french
    assert "Bienvenue, Zoé !" in french and "Bienvenue, Zoé" in french  # email subject and push title
    assert '<option value="fr" selected>' in french

    sms = await preview(stack, "login_code", channel="sms", sample='{"code": "493817"}')
    assert "Your code is 493817." in sms
    assert "Your sign-in code" not in sms  # the email is not shown when SMS is picked

    tested = await preview(
        stack, "newsletter", variant="B", channel="email", sample='{"headline": "December"}'
    )
    assert "This month: December" in tested
    plain = await preview(stack, "newsletter", channel="email", sample='{"headline": "December"}')
    assert "This month: December" not in plain and 'mail__subject">December<' in plain

    unknown = await preview(stack, "newsletter", channel="fax", locale="xx", variant="Z")
    assert unknown.count('<option value="" selected>') == 3  # every picker back to its default


async def test_a_render_error_says_which_channel_field_and_line_failed(stack: Stack) -> None:
    await sign_in(stack.client)
    text = await preview(stack, "login_code", sample='{"recipient": {"name": "Ada"}}')
    assert "Render error" in text
    assert "template 'login_code' (sms, text, line 1): 'code' is undefined" in text
    assert "template 'login_code' (email, subject, line 1): 'code' is undefined" in text

    broken = await preview(stack, "login_code", sample='{"code": ')
    assert "sample data must be JSON: Expecting value (line 1, column 10)" in broken
    assert 'aria-invalid="true"' in broken


async def test_a_test_send_goes_through_the_pipeline_and_lands_on_its_message_page(stack: Stack) -> None:
    await sign_in(stack.client, username="marketer")
    recipient = new_id()
    origin = "/ui/templates/order_shipped"
    sent = await submit(stack, f"{origin}/test", send_form(recipient, sample='{"order_id": "T-1"}'), origin)
    assert sent.status_code == 303, sent.text[:500]
    url = sent.headers["location"]
    assert url.startswith("/ui/messages/")
    notification_id = url.rsplit("/", 1)[-1]
    body = await settled(stack.client, notification_id)
    channels = {d["channel"]: d["status"] for d in body["deliveries"]}
    assert channels["email"] in ("sent", "delivered") and channels["webhook"] in ("sent", "delivered")
    assert [c.subject for c in await captures(stack, notification_id) if c.channel == "email"] == [
        "Order T-1 is on its way"
    ]
    page = await stack.client.get(url)
    assert '<dd class="mono">ui:marketer</dd>' in page.text  # a test send is recognisable by its source
    assert f'href="/ui/recipients/{recipient}"' in page.text


async def test_the_same_send_form_submitted_twice_sends_once(stack: Stack) -> None:
    await sign_in(stack.client)
    origin = "/ui/templates/login_code"
    page = await stack.client.get(origin)
    [key] = [str(attrs["value"]) for attrs in Tags(page.text).all("input") if attrs.get("name") == "key"]
    form = send_form(new_id(), category="security", sample='{"code": "1234"}', key=key)
    first, again = [await submit(stack, f"{origin}/test", form, origin) for _ in range(2)]
    assert first.headers["location"] == again.headers["location"]
    assert await notifications(stack) == 1


async def test_a_test_send_renders_the_variant_previewed(stack: Stack) -> None:
    await sign_in(stack.client)
    origin = "/ui/templates/newsletter"
    form = send_form(new_id(), category="marketing", variant="B", sample='{"headline": "December"}')
    sent = await submit(stack, f"{origin}/test", form, origin)
    notification_id = sent.headers["location"].rsplit("/", 1)[-1]
    await settled(stack.client, notification_id)
    emails = [c for c in await captures(stack, notification_id) if c.channel == "email"]
    assert [c.subject for c in emails] == ["This month: December"]


async def test_a_mistake_in_the_test_form_comes_back_with_the_field_named(stack: Stack) -> None:
    await sign_in(stack.client)
    origin = "/ui/templates/order_shipped"
    answer = await submit(stack, f"{origin}/test", send_form("ada", **{"to.email": "not-an-email"}), origin)
    assert answer.status_code == 422
    assert "<code>to.email</code>: must be an email address" in answer.text
    assert 'name="to.email" type="email" value="not-an-email"' in answer.text
    assert 'aria-invalid="true" aria-describedby="test-error"' in answer.text
    assert await notifications(stack) == 0


async def test_a_viewer_previews_but_gets_no_send_form_and_a_403_on_sending(stack: Stack) -> None:
    await sign_in(stack.client, username="viewer")
    origin = "/ui/templates/order_shipped"
    page = await stack.client.get(origin)
    assert "Order A-1001 is on its way" in html.unescape(page.text)
    assert f'action="{origin}/test"' not in page.text and "Send test" not in page.text
    assert "an admin or a marketer sends tests" in page.text
    answer = await submit(stack, f"{origin}/test", send_form(new_id()), origin)
    assert answer.status_code == 403 and "Not allowed for your role" in answer.text
    assert await notifications(stack) == 0


async def test_a_test_send_without_its_csrf_token_is_refused(stack: Stack) -> None:
    await sign_in(stack.client)
    answer = await stack.client.post(
        "/ui/templates/order_shipped/test", data=send_form(new_id()), follow_redirects=False
    )
    assert answer.status_code == 403 and "This form has expired" in answer.text
    assert await notifications(stack) == 0


async def test_an_unknown_template_is_a_404_page(stack: Stack) -> None:
    await sign_in(stack.client)
    answer = await stack.client.get("/ui/templates/nope")
    assert answer.status_code == 404 and "There is no template &#39;nope&#39; in the config." in answer.text
