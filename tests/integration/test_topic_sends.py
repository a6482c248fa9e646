"""A notification addressed to a topic reaches every subscriber once, through a campaign, with
each subscriber's own preferences respected; over both stacks."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import AUTH, Stack
from tests.integration.test_campaigns import add_recipients, finished


def to_topic(topic: str, **extra: Any) -> dict[str, Any]:
    return {
        "to": {"topic": topic},
        "category": "marketing",
        "template": "newsletter",
        "data": {"headline": "To all"},
        **extra,
    }


async def test_a_topic_send_reaches_each_subscriber_once_and_skips_who_opted_out(stack: Stack) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    ids = await add_recipients(stack.settings.database_url, 12, topic=topic)
    opted_out = f"c-{ids[0].hex[:12]}"
    changed = await stack.client.put(
        f"/v1/recipients/{opted_out}/preferences",
        json={"categories": {"marketing": {"email": False}}},
        headers=AUTH,
    )
    assert changed.status_code == 200, changed.text

    sent = await stack.client.post("/v1/notifications", json=to_topic(topic), headers=AUTH)

    assert sent.status_code == 202, sent.text
    answer = sent.json()
    assert (answer["topic"], answer["state"]) == (topic, "sending")
    assert answer["progress_url"] == f"/v1/campaigns/{answer['campaign_id']}"
    body = await finished(stack.client, answer["campaign_id"])
    assert body["progress"]["recipients"] == 12
    assert body["created_by"] == "api:demo"
    assert body["progress"]["skipped"].get("preference", 0) >= 1  # the opted-out subscriber's email


async def test_a_repeated_topic_send_with_its_key_answers_the_same_campaign(stack: Stack) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 3, topic=topic)
    headers = {**AUTH, "Idempotency-Key": f"k-{uuid.uuid4().hex}"}

    first = await stack.client.post("/v1/notifications", json=to_topic(topic), headers=headers)
    again = await stack.client.post("/v1/notifications", json=to_topic(topic), headers=headers)
    other = await stack.client.post(
        "/v1/notifications", json=to_topic(topic, data={"headline": "B"}), headers=headers
    )

    assert first.status_code == again.status_code == 202
    assert again.json()["campaign_id"] == first.json()["campaign_id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    body = await finished(stack.client, first.json()["campaign_id"])
    assert body["progress"]["recipients"] == 3
    campaigns = (await stack.client.get("/v1/campaigns", headers=AUTH)).json()["campaigns"]
    assert len([c for c in campaigns if c["audience"] == {"topic": topic}]) == 1


async def test_a_topic_send_names_what_is_wrong(stack: Stack) -> None:
    cases = {"to.topic": to_topic("no-such-topic"), "to.id": {**to_topic("x"), "to": {}}}
    for field, body in cases.items():
        answer = await stack.client.post("/v1/notifications", json=body, headers=AUTH)
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["field"] == field, answer.json()
    both = {**to_topic("x"), "to": {"topic": "x", "id": "someone"}}
    assert (await stack.client.post("/v1/notifications", json=both, headers=AUTH)).json()[
        "field"
    ] == "to.topic"
    batch = await stack.client.post(
        "/v1/notifications/batch", json={"notifications": [to_topic("x")]}, headers=AUTH
    )
    assert batch.json()["results"][0]["error"]["field"] == "to.topic"
