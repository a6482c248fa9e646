"""The end-user inbox API over both stacks: in-app messages land in the recipient's inbox, which
only a token signed for that recipient opens; paging, counts, read, seen and archive; and reads
show among the notification's events."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import load_catalog
from appliance.db.engine import Database
from appliance.db.types import utcnow
from appliance.inbox import store
from appliance.settings import Settings
from tests.conftest import AUTH, ROOT, serving
from tests.integration.test_notifications_api import settled

CONFIG = ROOT / "tests" / "configs" / "inbox.yaml"
SECRET = b"inbox-recipient-token-secret"  # tests/configs/inbox.yaml


@pytest.fixture
async def database(stack_settings: Settings) -> AsyncIterator[Database]:
    database = Database(stack_settings.database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def client(stack_settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with serving(stack_settings, load_catalog(CONFIG, environ={}), CONFIG, threads=4) as client:
        yield client


def token(recipient: str) -> dict[str, str]:
    """What the operator's backend does: HMAC-SHA256 of the recipient id with the inbox secret."""
    signature = hmac.new(SECRET, recipient.encode(), hashlib.sha256).hexdigest()
    return {"Authorization": f"Bearer {signature}"}


def new_recipient() -> str:
    return f"reader-{uuid.uuid4().hex[:10]}"


async def comment(client: AsyncTestClient, recipient: str, n: int = 1) -> dict[str, Any]:
    body = {
        "to": {"id": recipient, "attributes": {"plan": "pro"}},
        "category": "activity",
        "template": "comment",
        "data": {"who": "Ada", "text": f"Comment {n}", "n": n},
    }
    sent = await client.post("/v1/notifications", json=body, headers=AUTH)
    assert sent.status_code == 202, sent.text
    return await settled(client, sent.json()["id"])


async def inbox(client: AsyncTestClient, recipient: str, **params: Any) -> dict[str, Any]:
    answer = await client.get(f"/v1/inbox/{recipient}/messages", params=params, headers=token(recipient))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_an_in_app_message_lands_in_the_inbox_unread_and_unseen(client: AsyncTestClient) -> None:
    recipient = new_recipient()
    notification = await comment(client, recipient)
    [delivery] = notification["deliveries"]
    assert (delivery["status"], delivery["provider"]) == ("sent", "inbox")

    page = await inbox(client, recipient)
    [message] = page["messages"]
    assert delivery["provider_message_id"] == f"inbox-{message['id']}"
    assert {key: message[key] for key in ("category", "title", "body", "action_url")} == {
        "category": "activity",
        "title": "Ada commented",
        "body": "Comment 1",
        "action_url": "https://app.example.com/comments/1",
    }
    assert (message["read"], message["seen"], message["archived"]) == (False, False, False)
    assert message["expires_at"] > message["created_at"]
    assert page["counts"] == {"unread": 1, "unseen": 1}
    assert page["next"] is None


async def test_an_expired_message_leaves_the_inbox_and_its_counts(
    client: AsyncTestClient, database: Database
) -> None:
    recipient = new_recipient()
    await comment(client, recipient)
    later = utcnow() + timedelta(days=31)  # the config's expire_after is 30d
    async with database.sessions() as session:
        for now, listed in ((utcnow(), 1), (later, 0)):
            page = await store.page(session, recipient, store.Box.INBOX, before=None, limit=5, now=now)
            assert len(page) == listed
        assert await store.counts(session, recipient, later) == store.Counts(unread=0, unseen=0)
        assert await store.since(session, recipient, 0, limit=5, now=later) == []


async def test_a_token_for_another_recipient_opens_nothing(client: AsyncTestClient) -> None:
    alice, mallory = new_recipient(), new_recipient()
    await comment(client, alice)
    [message] = (await inbox(client, alice))["messages"]
    path = f"/v1/inbox/{alice}"

    refused = [
        await client.get(f"{path}/messages", headers=token(mallory)),
        await client.get(f"{path}/counts", headers=token(mallory)),
        await client.get(f"{path}/messages"),
        await client.get(f"{path}/messages", params={"token": token(mallory)["Authorization"][7:]}),
        await client.patch(f"{path}/messages/{message['id']}", json={"read": True}, headers=token(mallory)),
        await client.post(f"{path}/read-all", headers=token(mallory)),
        await client.get(f"{path}/messages", headers=AUTH),  # an API key is not a recipient token
    ]
    for answer in refused:
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "inbox-recipient-token-secret" not in answer.text
    # Her own valid token does not reach Alice's message by its id either.
    theirs = await client.patch(
        f"/v1/inbox/{mallory}/messages/{message['id']}", json={"read": True}, headers=token(mallory)
    )
    assert theirs.status_code == 404 and theirs.json()["title"] == "Not found"
    assert (await inbox(client, alice))["counts"] == {"unread": 1, "unseen": 1}


async def test_the_inbox_pages_newest_first_by_cursor(client: AsyncTestClient) -> None:
    recipient = new_recipient()
    for n in range(1, 6):
        await comment(client, recipient, n)
    bodies, before = [], None
    while True:
        page = await inbox(client, recipient, limit=2, **({"before": before} if before else {}))
        bodies.append([m["body"] for m in page["messages"]])
        before = page["next"]
        if before is None:
            break
    assert bodies == [["Comment 5", "Comment 4"], ["Comment 3", "Comment 2"], ["Comment 1"]]


async def test_reading_counts_once_as_an_in_app_read_event(client: AsyncTestClient) -> None:
    recipient = new_recipient()
    notification = await comment(client, recipient)
    [message] = (await inbox(client, recipient))["messages"]
    url = f"/v1/inbox/{recipient}/messages/{message['id']}"

    read = await client.patch(url, json={"read": True}, headers=token(recipient))
    assert (read.json()["read"], read.json()["seen"]) == (True, True)
    await client.patch(url, json={"read": True}, headers=token(recipient))  # already read: no new event
    counts = (await client.get(f"/v1/inbox/{recipient}/counts", headers=token(recipient))).json()
    assert counts == {"unread": 0, "unseen": 0}
    unread = await client.patch(url, json={"read": False}, headers=token(recipient))
    assert (unread.json()["read"], unread.json()["seen"]) == (False, True)

    events = (await client.get(f"/v1/notifications/{notification['id']}", headers=AUTH)).json()
    [delivery] = events["deliveries"]
    assert [(e["kind"], e["provider"]) for e in delivery["events"]] == [("read", "in_app")]


async def test_read_all_seen_all_and_archive(client: AsyncTestClient) -> None:
    recipient = new_recipient()
    for n in range(1, 4):
        await comment(client, recipient, n)
    newest, middle, oldest = (await inbox(client, recipient))["messages"]
    base = f"/v1/inbox/{recipient}"

    seen = await client.post(f"{base}/seen-all", headers=token(recipient))
    assert seen.json() == {"unread": 3, "unseen": 0}
    await client.patch(f"{base}/messages/{middle['id']}", json={"archived": True}, headers=token(recipient))
    assert [m["id"] for m in (await inbox(client, recipient))["messages"]] == [newest["id"], oldest["id"]]
    assert [m["id"] for m in (await inbox(client, recipient, box="archived"))["messages"]] == [middle["id"]]
    unread = await inbox(client, recipient, box="unread")
    assert (len(unread["messages"]), unread["counts"]) == (2, {"unread": 2, "unseen": 0})

    done = await client.post(f"{base}/read-all", headers=token(recipient))
    assert done.json() == {"unread": 0, "unseen": 0}
    assert (await inbox(client, recipient, box="unread"))["messages"] == []
    restored = await client.patch(
        f"{base}/messages/{middle['id']}", json={"archived": False}, headers=token(recipient)
    )
    assert (restored.json()["archived"], restored.json()["read"]) == (False, False)


async def test_changes_are_checked_and_refused_as_problems(client: AsyncTestClient) -> None:
    recipient = new_recipient()
    await comment(client, recipient)
    [message] = (await inbox(client, recipient))["messages"]
    url = f"/v1/inbox/{recipient}/messages/{message['id']}"
    for body, field in (({}, "body"), ({"read": "yes"}, "read"), ({"starred": True}, "starred")):
        answer = await client.patch(url, json=body, headers=token(recipient))
        assert answer.status_code in (400, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"].endswith(field), answer.json()
    bad_box = await client.get(
        f"/v1/inbox/{recipient}/messages", params={"box": "spam"}, headers=token(recipient)
    )
    assert bad_box.status_code in (400, 422)


async def test_the_operators_own_site_may_call_the_inbox_and_others_may_not(client: AsyncTestClient) -> None:
    recipient = new_recipient()
    preflight = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization"}
    for origin, allowed in (("https://app.example.com", True), ("https://elsewhere.example", False)):
        asked = await client.options(
            f"/v1/inbox/{recipient}/messages/1", headers={"Origin": origin, **preflight}
        )
        listed = await client.get(
            f"/v1/inbox/{recipient}/messages", headers={"Origin": origin, **token(recipient)}
        )
        assert (asked.headers.get("access-control-allow-origin") == origin) is allowed
        assert (listed.headers.get("access-control-allow-origin") == origin) is allowed
        assert "access-control-allow-credentials" not in listed.headers  # no cookie of ours goes along


async def test_reads_count_in_the_analytics_as_the_in_app_read_rate(client: AsyncTestClient) -> None:
    reader, other = new_recipient(), new_recipient()
    await comment(client, reader)
    await comment(client, other)
    [message] = (await inbox(client, reader))["messages"]
    await client.patch(
        f"/v1/inbox/{reader}/messages/{message['id']}", json={"read": True}, headers=token(reader)
    )

    for window in ("1h", "24h"):  # counted live, and from the rollup
        total = (await client.get(f"/v1/analytics/overview?range={window}", headers=AUTH)).json()["total"]
        assert (total["in_app_delivered"], total["read"], total["read_rate"]) == (2, 1, 0.5)
        assert total["opened"] == 0  # email's open rate is not touched by inbox reads
