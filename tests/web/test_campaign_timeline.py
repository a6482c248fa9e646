"""A campaign page draws its funnel over time: each variant's first opens, bucket by bucket."""

from __future__ import annotations

import uuid

from tests.conftest import AUTH, Stack
from tests.integration.test_campaigns import (
    add_recipients,
    create,
    finished,
    newsletter,
    open_emails_of_variant,
)
from tests.web.test_ui_pages import sign_in


async def test_the_campaign_page_charts_first_opens_per_variant_over_time(stack: Stack) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 30, topic=topic)
    body = newsletter(audience={"topic": topic}, variants={"A": {"weight": 50}, "B": {"weight": 50}})
    campaign_id = await create(stack.client, body)
    await stack.client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)
    await finished(stack.client, campaign_id)

    await sign_in(stack.client, "viewer")
    before = await stack.client.get(f"/ui/campaigns/{campaign_id}")
    assert "First opens per variant" not in before.text  # nobody has opened yet: no empty chart

    opened = await open_emails_of_variant(stack, campaign_id, "B")
    again = await open_emails_of_variant(stack, campaign_id, "B")  # a second open is not a second person
    assert opened == again > 0
    page = await stack.client.get(f"/ui/campaigns/{campaign_id}")
    assert "First opens per variant" in page.text and "First clicks per variant" not in page.text
    desc = page.text.split('-desc">', 1)[1].split("</desc>", 1)[0]
    assert desc.startswith(f"{opened:,} people from") and f": B {opened:,}." in desc, desc
