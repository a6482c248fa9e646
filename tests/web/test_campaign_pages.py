"""The campaign and segment pages, asserted as HTML through the test client, over both stacks.

A marketer saves a draft from the form, sends it from its page and sees every recipient planned
in one variant or the other; mistakes come back on the form with the field named and nothing
saved; a viewer can look but not change anything.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import yaml

from appliance.web.ui.segments import rules_text
from tests.conftest import AUTH, Stack
from tests.web.test_ui_pages import Tags, csrf_token, sign_in

READERS = 6


async def readers(stack: Stack) -> None:
    await stack.client.put("/v1/topics/newsletter", json={"name": "Newsletter"}, headers=AUTH)
    rows = ["id,email,locale,attr.plan,topics"]
    rows += [
        f"reader-{n},reader-{n}@example.com,{'fr' if n % 2 else 'en'},pro,newsletter" for n in range(READERS)
    ]
    answer = await stack.client.post(
        "/v1/recipients/import",
        content="\n".join(rows).encode(),
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text


def newsletter_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "December newsletter",
        "category": "marketing",
        "template": "newsletter",
        "data": '{"headline": "December"}',
        "audience": "topic",
        "topic": "newsletter",
        "weight.newsletter.A": "50",
        "weight.newsletter.B": "50",
        "when": "draft",
    }
    return {**form, **changes}


async def submit(stack: Stack, path: str, form: dict[str, str], from_page: str) -> Any:
    token = await csrf_token(stack.client, from_page)
    return await stack.client.post(path, data={**form, "_csrf_token": token}, follow_redirects=False)


async def campaign_api(stack: Stack, url: str) -> dict[str, Any]:
    campaign_id = url.split("?")[0].rsplit("/", 1)[-1]
    return dict((await stack.client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json())


async def until_sent(stack: Stack, url: str, timeout_s: float = 15) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = await campaign_api(stack, url)
        waiting = sum(body["progress"]["deliveries"].get(s, 0) for s in ("queued", "sending", "held"))
        if body["state"] == "sent" and not waiting:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def test_an_empty_campaign_list_says_how_to_start_and_is_in_the_navigation(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/ui/campaigns")
    assert page.status_code == 200
    current = [a for a in Tags(page.text).all("a") if a.get("aria-current") == "page"]
    assert [a["href"] for a in current] == ["/ui/campaigns"]
    assert "No campaigns yet" in page.text
    assert 'href="/ui/campaigns/new"' in page.text


async def test_a_draft_saved_from_the_form_is_sent_from_its_page_to_every_subscriber(stack: Stack) -> None:
    await readers(stack)
    await sign_in(stack.client, username="marketer")

    saved = await submit(stack, "/ui/campaigns", newsletter_form(), "/ui/campaigns/new")
    assert saved.status_code == 303, saved.text
    url = saved.headers["location"]
    draft = await stack.client.get(url)
    assert "Draft saved" in draft.text and ">draft<" in draft.text
    assert (await campaign_api(stack, url))["created_by"] == "ui:marketer"

    launched = await submit(stack, url.split("?")[0] + "/launch", {}, url)
    assert launched.status_code == 303
    body = await until_sent(stack, url)

    assert body["progress"]["recipients"] == READERS
    page = await stack.client.get(url.split("?")[0])
    recipients = re.findall(r'data-label="Recipients" class="num">(\d+)<', page.text)
    assert len(recipients) == 2 and sum(map(int, recipients)) == READERS
    assert ">sent<" in page.text and 'http-equiv="refresh"' not in page.text
    listed = await stack.client.get("/ui/campaigns")
    assert "December newsletter" in listed.text and "topic newsletter" in listed.text


async def test_a_scheduled_campaign_waits_for_its_time_and_can_be_cancelled(stack: Stack) -> None:
    await readers(stack)
    await sign_in(stack.client)
    form = newsletter_form(when="at", send_at="2099-01-01T09:00")
    scheduled = await submit(stack, "/ui/campaigns", form, "/ui/campaigns/new")
    url = scheduled.headers["location"]
    page = await stack.client.get(url)
    assert "Scheduled" in page.text and "2099-01-01 09:00:00 UTC" in page.text
    assert 'http-equiv="refresh"' in page.text

    await submit(stack, url.split("?")[0] + "/cancel", {}, url)
    assert (await campaign_api(stack, url))["state"] == "cancelled"


async def test_a_mistake_comes_back_on_the_form_with_the_field_and_what_was_typed(stack: Stack) -> None:
    await sign_in(stack.client)
    cases = {
        "data": newsletter_form(data="{not json"),
        "audience.topic": newsletter_form(topic="nobody-has-this"),
        "variants.C": newsletter_form(**{"weight.newsletter.C": "10"}),
        "send_at": newsletter_form(when="at", send_at=""),
        "rate": newsletter_form(rate="fast"),
    }
    for field, form in cases.items():
        answer = await submit(stack, "/ui/campaigns", form, "/ui/campaigns/new")
        assert answer.status_code == 422, (field, answer.text[:300])
        assert f"<code>{field}</code>" in answer.text, (field, answer.text)
        assert 'value="December newsletter"' in answer.text
    listed = await stack.client.get("/v1/campaigns", headers=AUTH)
    assert listed.json()["campaigns"] == []


async def test_a_viewer_sees_campaigns_and_segments_but_changes_nothing(stack: Stack) -> None:
    await readers(stack)
    await sign_in(stack.client)
    draft = await submit(stack, "/ui/campaigns", newsletter_form(), "/ui/campaigns/new")
    url = draft.headers["location"].split("?")[0]
    await stack.client.post("/ui/logout", data={"_csrf_token": await csrf_token(stack.client, url)})

    await sign_in(stack.client, username="viewer")
    listed = await stack.client.get("/ui/campaigns")
    assert "December newsletter" in listed.text and "New campaign" not in listed.text
    page = await stack.client.get(url)
    assert "Send now" not in page.text
    for path, form, origin in (
        (f"{url}/launch", {}, url),
        ("/ui/campaigns", newsletter_form(name="Sneaky"), "/ui/campaigns/new"),
        ("/ui/segments", {"intent": "save", "key": "mine", "rules": "{all: []}"}, "/ui/segments"),
    ):
        answer = await submit(stack, path, form, origin)
        assert answer.status_code == 403, (path, answer.text[:300])
        assert "Not allowed for your role" in answer.text
    assert (await campaign_api(stack, url))["state"] == "draft"
    assert len((await stack.client.get("/v1/campaigns", headers=AUTH)).json()["campaigns"]) == 1
    assert (await stack.client.get("/v1/segments/mine", headers=AUTH)).status_code == 404


async def test_segment_rules_are_previewed_with_a_live_count_then_saved(stack: Stack) -> None:
    await readers(stack)
    await sign_in(stack.client)
    rules = "all:\n  - {attribute: plan, op: eq, value: pro}\n  - {field: locale, op: eq, value: fr}"

    preview = await submit(stack, "/ui/segments", {"intent": "preview", "rules": rules}, "/ui/segments")
    assert preview.status_code == 200
    assert re.search(r'id="preview-count">3<', preview.text), preview.text
    assert (await stack.client.get("/v1/segments/french_pros", headers=AUTH)).status_code == 404

    form = {"intent": "save", "key": "french_pros", "name": "French pros", "rules": rules}
    saved = await submit(stack, "/ui/segments", form, "/ui/segments")
    assert saved.status_code == 303 and saved.headers["location"] == "/ui/segments?saved=french_pros"
    listed = await stack.client.get(saved.headers["location"])
    row = listed.text.split('data-segment="french_pros"')[1].split("</tr>")[0]
    assert "French pros" in row and 'class="num">3<' in row
    assert (await stack.client.get("/v1/segments/french_pros/count", headers=AUTH)).json()["count"] == 3


async def test_rules_that_do_not_parse_are_listed_with_where_to_fix_them(stack: Stack) -> None:
    await sign_in(stack.client)
    for rules, expected in (
        ("all: [", "not YAML or JSON"),
        ("{attribute: plan, op: between, value: 3}", "rules.op"),
        ("- just a list", "write a condition"),
    ):
        answer = await submit(stack, "/ui/segments", {"intent": "preview", "rules": rules}, "/ui/segments")
        assert answer.status_code == 422, rules
        assert expected in answer.text, (rules, answer.text[-2000:])


def test_rules_are_shown_as_the_yaml_they_were_written_in() -> None:
    rules = {"all": [{"attribute": "plan", "op": "eq", "value": "pro"},
                     {"any": [{"field": "locale", "op": "in", "value": ["fr", "de"]},
                              {"all": [{"attribute": "churned", "op": "not_exists"}]}]}]}  # fmt: skip
    shown = rules_text(rules)
    assert shown.splitlines()[1] == "  - {attribute: plan, op: eq, value: pro}"
    assert yaml.safe_load(shown) == rules


async def test_a_winner_test_is_set_from_the_form_and_checked_like_the_api(stack: Stack) -> None:
    await readers(stack)
    await sign_in(stack.client)
    winner = {"winner": "on", "winner_share": "20", "winner_wait": "4h", "winner_metric": "clicks"}
    saved = await submit(stack, "/ui/campaigns", newsletter_form(**winner), "/ui/campaigns/new")
    assert saved.status_code == 303, saved.text
    body = await campaign_api(stack, saved.headers["location"])
    assert body["winner_test"] == {"test_share": 20, "wait_s": 14400.0, "metric": "clicks"}
    page = await stack.client.get(saved.headers["location"])
    assert "20% first; after 4h, the best click rate goes to the rest" in page.text

    for field, changes in (
        ("winner.test_share", {**winner, "winner_share": "95"}),
        ("winner.wait", {**winner, "winner_wait": "soon"}),
        ("winner", {**winner, "weight.newsletter.B": "0"}),
    ):
        answer = await submit(stack, "/ui/campaigns", newsletter_form(**changes), "/ui/campaigns/new")
        assert answer.status_code == 422 and f"<code>{field}</code>" in answer.text, (
            field,
            answer.text[-3000:],
        )
