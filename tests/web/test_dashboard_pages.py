"""The dashboard and category pages, asserted as HTML through the test client, over both stacks.

An operator who signs in lands on the dashboard; once notifications go out, its numbers, charts
and tables move; opens count towards the open rate; each category has its own page; a viewer
sees all of it.
"""

from __future__ import annotations

import re
import uuid

from appliance.db.models import Delivery
from appliance.db.types import utcnow
from appliance.tracking.record import OPENED, record
from tests.conftest import Stack
from tests.web.test_ui_pages import Tags, login_code, new_id, order_shipped, send, settled, sign_in

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Safari/537.36"


def tile(page: str, key: str) -> str:
    match = re.search(rf'data-tile="{key}">.*?class="tile__value">([^<]*)<', page, re.S)
    assert match, f"no {key} tile"
    return match.group(1)


def row(page: str, table: str, first_cell: str) -> list[str]:
    """The cell texts of the row that starts with `first_cell` in the table `table`."""
    body = page.split(f'data-table="{table}"')[1].split("</table>")[0]
    for tr in re.findall(r"<tr role=\"row\">(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in {table}")


async def sent(stack: Stack, *bodies: dict[str, object]) -> list[str]:
    ids = [await send(stack.client, body) for body in bodies]
    for notification_id in ids:
        await settled(stack.client, notification_id)
    return ids


async def test_signing_in_lands_on_the_dashboard_which_says_how_to_start(stack: Stack) -> None:
    signed_in = await sign_in(stack.client)
    assert signed_in.headers["location"] == "/ui/dashboard"
    page = await stack.client.get("/ui/dashboard")
    assert page.status_code == 200
    current = [a["href"] for a in Tags(page.text).all("a") if a.get("aria-current") == "page"]
    assert current == ["/ui/dashboard"]
    assert "Nothing sent last 24 hours" in page.text
    assert "curl -X POST" in page.text
    assert 'data-table="providers"' in page.text and ">sandbox_email<" in page.text
    assert row(page.text, "queues", "email.high")[1] == "0"


async def test_the_dashboard_numbers_move_as_notifications_go_out(stack: Stack) -> None:
    await sign_in(stack.client)
    await sent(stack, login_code(new_id()))  # email + sms
    first = (await stack.client.get("/ui/dashboard")).text
    assert tile(first, "sent") == "2"
    assert row(first, "channels", "Email")[1] == "1"

    # 2 + 3 more: email, sms; email, push (skipped: no device), webhook
    await sent(stack, login_code(new_id()), order_shipped(new_id()))
    page = (await stack.client.get("/ui/dashboard")).text
    assert tile(page, "sent") == "6"
    assert tile(page, "delivery") == "100.0%" and tile(page, "bounce") == "0.0%"
    assert row(page, "channels", "Email")[1] == "3"
    svgs = [svg for svg in Tags(page).all("svg") if svg.get("class") == "chart__svg"]
    assert len(svgs) == 2 and all(svg["role"] == "img" for svg in svgs)
    assert "Messages by channel" in page and "Messages by status" in page
    summary = r"7 messages from \d\d:00 to \d\d:00: Email 3, SMS 2, Push 1, Webhook 1\."
    assert re.search(rf'<desc id="volume-channel-desc">{summary}', page)
    assert row(page, "providers", "sandbox_sms")[3] == "2"  # attempts in the last 5 minutes


async def test_a_person_opening_an_email_moves_the_open_rate(stack: Stack) -> None:
    await sign_in(stack.client)
    [notification_id] = await sent(stack, login_code(new_id()))
    assert tile((await stack.client.get("/ui/dashboard")).text, "open") == "0.0%"
    database = stack.client.app.state.services.database
    async with database.sessions() as session:
        email = (
            await session.scalars(
                Delivery.__table__.select()
                .with_only_columns(Delivery.id)
                .where(Delivery.notification_id == uuid.UUID(notification_id), Delivery.channel == "email")
            )
        ).one()
    await record(database, email, OPENED, user_agent=BROWSER, method="GET", now=utcnow())
    await record(database, email, OPENED, user_agent="GoogleImageProxy", method="GET", now=utcnow())

    page = (await stack.client.get("/ui/dashboard")).text
    assert tile(page, "open") == "100.0%"
    assert row(page, "channels", "Email")[4] == "100.0%"
    assert row(page, "channels", "SMS")[4] == "—"  # SMS opens are not tracked
    hour = (await stack.client.get("/ui/dashboard?range=1h")).text  # counted live, in 5-minute buckets
    assert tile(hour, "open") == "100.0%" and tile(hour, "sent") == "2"


async def test_each_category_has_its_rates_and_its_own_page(stack: Stack) -> None:
    await sent(stack, login_code(new_id()), login_code(new_id()), order_shipped(new_id()))
    await sign_in(stack.client, username="viewer")  # looking is for every role

    listed = (await stack.client.get("/ui/categories?range=7d")).text
    assert row(listed, "categories", "security")[1] == "4"
    assert row(listed, "categories", "orders")[1] == "2"
    assert row(listed, "categories", "marketing")[1:3] == ["0", "—"]  # configured, nothing sent yet
    assert 'href="/ui/categories/security?range=7d"' in listed
    assert '<option value="7d" selected>' in listed

    one = await stack.client.get("/ui/categories/security?range=7d")
    assert one.status_code == 200
    assert tile(one.text, "sent") == "4"
    assert "security messages by channel" in one.text
    assert 'data-table="providers"' not in one.text  # shared by every category: on the dashboard only
    assert (await stack.client.get("/ui/categories/no-such-thing")).status_code == 404
    assert (await stack.client.get("/ui/dashboard?range=2y")).status_code == 400
