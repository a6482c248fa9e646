"""CSV downloads of the UI's tables: what they hold, and that no cell runs as a spreadsheet formula.

Over both stacks: the messages list (all of it, not one page), the dashboard's tables, the
categories and a campaign's funnel.
"""

from __future__ import annotations

import csv
import io

import pytest

from appliance.web.ui.csv_export import csv_line, safe_cell
from appliance.web.ui.queries import PAGE_SIZE
from tests.conftest import Stack
from tests.web.test_campaign_pages import READERS, newsletter_form, readers, submit, until_sent
from tests.web.test_ui_pages import login_code, new_id, order_shipped, send, settled, sign_in


async def download(stack: Stack, path: str) -> list[list[str]]:
    response = await stack.client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="')
    return list(csv.reader(io.StringIO(response.text)))


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"])
def test_text_that_a_spreadsheet_would_run_is_quoted_as_text(text: str) -> None:
    assert safe_cell(text) == f"'{text}"


def test_numbers_and_plain_text_stay_as_they_are() -> None:
    assert [safe_cell(v) for v in (-3, 0.25, "ada", "a=b", None)] == [-3, 0.25, "ada", "a=b", None]
    assert csv_line(['=HYPERLINK("http://x")', 'say "hi", then', -1]) == (
        '"\'=HYPERLINK(""http://x"")","say ""hi"", then",-1\r\n'
    )


async def test_the_messages_download_holds_every_message_the_filters_match(stack: Stack) -> None:
    hostile, plain = "=1+2", new_id()
    ids = [await send(stack.client, login_code(hostile))]
    ids += [await send(stack.client, order_shipped(plain)) for _ in range(PAGE_SIZE + 1)]
    for notification_id in ids:
        await settled(stack.client, notification_id)
    await sign_in(stack.client, username="viewer")

    rows = await download(stack, "/ui/messages/export")
    assert rows[0] == ["created_at", "id", "recipient", "category", "template", "status", "channels"]
    assert len(rows) == 1 + len(ids)  # more than one page of the list
    assert {row[1] for row in rows[1:]} == set(ids)
    mine = next(row for row in rows if row[1] == ids[0])
    assert mine[2:6] == ["'=1+2", "security", "login_code", "sent"]
    assert mine[6] == "sms:sent email:sent"  # the category's channel order
    listed = (await stack.client.get(f"/ui/messages?category=orders&recipient={plain}")).text
    assert f'href="/ui/messages/export?recipient={plain}&amp;category=orders" download' in listed
    orders = await download(stack, f"/ui/messages/export?category=orders&recipient={plain}")
    assert len(orders) == 1 + PAGE_SIZE + 1


async def test_the_dashboard_and_category_tables_download_as_shown(stack: Stack) -> None:
    for notification_id in [await send(stack.client, login_code(new_id())) for _ in range(2)]:
        await settled(stack.client, notification_id)
    await sign_in(stack.client)

    series = await download(stack, "/ui/dashboard/export/series?range=24h")
    assert series[0] == ["Time (UTC)", "Email", "SMS", "Sent", "Total"]
    assert len(series) == 1 + 24 and sum(int(row[-1]) for row in series[1:]) == 4
    channels = await download(stack, "/ui/dashboard/export/channels")
    assert channels[0][:3] == ["Channel", "Sent", "Delivered"]
    assert channels[1][:4] == ["Email", "2", "1.0", "0.0"]
    queues = await download(stack, "/ui/dashboard/export/queues")
    assert ["email.high", "0", ""] in queues
    security = await download(stack, "/ui/dashboard/export/series?range=7d&category=security")
    assert len(security) == 1 + 7
    categories = await download(stack, "/ui/categories/export?range=30d")
    assert categories[1][:2] == ["security", "4"]
    assert (await stack.client.get("/ui/dashboard/export/nothing")).status_code in (400, 404)


async def test_a_campaigns_funnel_downloads_per_variant(stack: Stack) -> None:
    await readers(stack)
    await sign_in(stack.client, username="marketer")
    launched = await submit(stack, "/ui/campaigns", newsletter_form(when="now"), "/ui/campaigns/new")
    url = launched.headers["location"].split("?")[0]
    await until_sent(stack, url)

    assert f'href="{url}/export" download' in (await stack.client.get(url)).text
    rows = await download(stack, f"{url}/export")
    assert rows[0] == ["variant", "weight", "recipients", "sent", "delivered", "reached", "opened", "clicked"]
    assert [row[0] for row in rows[1:]] == ["A", "B"]
    assert sum(int(row[2]) for row in rows[1:]) == READERS
