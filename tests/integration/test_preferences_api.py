"""Preferences, the consent log and unsubscribes over the REST API, on both stacks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from litestar.testing import AsyncTestClient

from appliance.catalog import Catalog, load_catalog
from appliance.queueing.runtime import WorkerRuntime
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT, Stack
from tests.integration.test_notifications_api import new_id, settled

MAILTO_CONFIG = ROOT / "tests" / "configs" / "unsubscribe-mailto.yaml"


async def new_recipient(client: AsyncTestClient, *, device: bool = False) -> str:
    recipient = new_id()
    profile = {"id": recipient, "email": f"{recipient}@example.com", "phone": "+14155550100"}
    assert (await client.post("/v1/recipients", json=profile, headers=AUTH)).status_code == 201
    if device:
        registered = await client.post(
            f"/v1/recipients/{recipient}/devices",
            json={"platform": "fcm", "token": f"token-{recipient}"},
            headers=AUTH,
        )
        assert registered.status_code == 201, registered.text
    return recipient


async def preferences(client: AsyncTestClient, recipient: str) -> dict[str, Any]:
    """The settings; the signed link is left out, as it carries the second it was signed."""
    response = await client.get(f"/v1/recipients/{recipient}/preferences", headers=AUTH)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body.pop("preferences_url").startswith("http")
    return body


async def change(client: AsyncTestClient, recipient: str, body: dict[str, Any]) -> dict[str, Any]:
    """The settings as the answer gives them (without the signed link, like `preferences`)."""
    response = await client.put(f"/v1/recipients/{recipient}/preferences", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    assert answer.pop("preferences_url").startswith("http")
    return answer


async def consent(client: AsyncTestClient, recipient: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/v1/recipients/{recipient}/consent{query}", headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


def channels(body: dict[str, Any], category: str) -> dict[str, tuple[bool, str]]:
    found = body["categories"][category]["channels"]
    return {name: (setting["enabled"], setting["source"]) for name, setting in found.items()}


async def deliveries(client: AsyncTestClient, request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    response = await client.post("/v1/notifications", json=request, headers=AUTH)
    assert response.status_code == 202, response.text
    body = await settled(client, response.json()["id"])
    return {delivery["channel"]: delivery for delivery in body["deliveries"]}


def newsletter(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient},
        "category": "marketing",
        "template": "newsletter",
        "data": {"headline": "Hi"},
    }


async def internal_id(stack: Stack, recipient: str) -> uuid.UUID:
    """The internal id, read back from the signed preferences link the API returns."""
    body = (await stack.client.get(f"/v1/recipients/{recipient}/preferences", headers=AUTH)).json()
    assert body["preferences_url"].startswith("http://127.0.0.1:8000/preferences/")
    return stack.catalog.links.read_preferences(body["preferences_url"].rsplit("/", 1)[1])


# -- reading -------------------------------------------------------------------------------------


async def test_a_new_recipient_gets_the_defaults_of_the_example_config(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)

    body = await preferences(stack.client, recipient)

    assert body["recipient"] == recipient
    assert body["unsubscribed_all"] is False
    assert list(body["categories"]) == ["security", "orders", "reminders", "marketing"]
    security = body["categories"]["security"]
    assert (security["title"], security["opt_out"], security["default"]) == ("Security", False, "opted_in")
    assert channels(body, "security") == {"sms": (True, "default"), "email": (True, "default")}
    marketing = body["categories"]["marketing"]
    assert (marketing["title"], marketing["description"]) == ("News and offers", "Newsletters and offers.")
    assert marketing["opt_out"] is True
    assert channels(body, "marketing") == {
        "email": (True, "default"),
        "push": (True, "default"),
        "in_app": (True, "default"),
    }
    assert await internal_id(stack, recipient)  # its link is one the preference center accepts


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/preferences"),
        ("PUT", "/preferences"),
        ("GET", "/consent"),
    ],
)
async def test_an_unknown_recipient_is_a_404_problem(stack: Stack, method: str, path: str) -> None:
    response = await stack.client.request(
        method, f"/v1/recipients/nobody-{uuid.uuid4().hex[:8]}{path}", json={}, headers=AUTH
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "recipient" in response.json()["detail"]


# -- changing ------------------------------------------------------------------------------------


async def test_a_change_is_answered_and_read_back_the_same(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)

    answer = await change(stack.client, recipient, {"categories": {"marketing": {"email": False}}})

    assert answer == await preferences(stack.client, recipient)
    assert channels(answer, "marketing") == {
        "email": (False, "recipient"),
        "push": (True, "default"),
        "in_app": (True, "default"),
    }


async def test_a_change_merges_into_what_was_chosen_before(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    await change(stack.client, recipient, {"categories": {"marketing": {"email": False}}})

    await change(stack.client, recipient, {"categories": {"marketing": {"push": False}}})
    await change(stack.client, recipient, {"categories": {"orders": {"webhook": True}}})
    body = await change(stack.client, recipient, {"unsubscribed_all": True})

    assert body["unsubscribed_all"] is True
    assert channels(body, "marketing") == {
        "email": (False, "recipient"),
        "push": (False, "recipient"),
        "in_app": (True, "default"),
    }
    assert channels(body, "orders")["webhook"] == (True, "recipient")
    assert channels(body, "orders")["email"] == (True, "default")
    unchanged = await change(stack.client, recipient, {})
    assert unchanged == body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"categories": {"marketting": {"email": False}}}, "categories.marketting"),
        ({"categories": {"marketting": {}}}, "categories.marketting"),
        ({"categories": {"marketing": {"sms": False}}}, "categories.marketing.sms"),
        ({"categories": {"security": {"email": False}}}, "categories.security"),
        (
            {
                "unsubscribed_all": True,
                "categories": {"marketing": {"email": False}, "orders": {"fax": True}},
            },
            "categories.orders.fax",
        ),
        ({"unsubscribed_all": "yes"}, "unsubscribed_all"),
        ({"categories": {"marketing": {"email": "off"}}}, "categories"),
    ],
)
async def test_an_invalid_change_names_the_field_and_writes_nothing(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    recipient = await new_recipient(stack.client)
    before = await preferences(stack.client, recipient)

    response = await stack.client.put(f"/v1/recipients/{recipient}/preferences", json=body, headers=AUTH)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"].startswith(field)
    assert await preferences(stack.client, recipient) == before
    assert (await consent(stack.client, recipient))["events"] == []


async def test_every_invalid_entry_is_listed_at_once(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    body = {"categories": {"nope": {"email": False, "push": False}, "security": {"sms": False}}}

    response = await stack.client.put(f"/v1/recipients/{recipient}/preferences", json=body, headers=AUTH)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["categories.nope", "categories.security"]
    assert "cannot be turned off" in errors[1]["message"]


# -- the consent log -----------------------------------------------------------------------------


async def test_each_change_is_logged_with_old_new_and_the_api_key(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    await change(stack.client, recipient, {"categories": {"marketing": {"email": False}}})
    await change(stack.client, recipient, {"unsubscribed_all": True})
    await change(stack.client, recipient, {"categories": {"marketing": {"email": True}}})

    events = (await consent(stack.client, recipient))["events"]

    assert [(e["subject"], e["old"], e["new"]) for e in events] == [
        ("marketing.email", "opted_out", "opted_in"),
        ("all", "subscribed", "unsubscribed"),
        ("marketing.email", "default", "opted_out"),
    ]
    assert {e["source"] for e in events} == {"api:demo"}
    assert all(e["at"] and e["detail"] is None for e in events)


async def test_setting_what_is_already_set_logs_nothing(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    await change(stack.client, recipient, {"categories": {"marketing": {"email": False}}})

    await change(
        stack.client, recipient, {"unsubscribed_all": False, "categories": {"marketing": {"email": False}}}
    )

    assert len((await consent(stack.client, recipient))["events"]) == 1


async def test_concurrent_identical_changes_all_succeed_and_log_once(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    body = {"categories": {"marketing": {"email": False}}}

    answers = await asyncio.gather(*(change(stack.client, recipient, body) for _ in range(5)))

    assert all(channels(answer, "marketing")["email"] == (False, "recipient") for answer in answers)
    assert len((await consent(stack.client, recipient))["events"]) == 1


async def test_the_consent_log_pages_newest_first(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    for channel in ("email", "push", "in_app"):
        await change(stack.client, recipient, {"categories": {"marketing": {channel: False}}})

    first = await consent(stack.client, recipient, "?limit=2")
    second = await consent(stack.client, recipient, f"?limit=2&before={first['next']}")

    assert [e["subject"] for e in first["events"]] == ["marketing.in_app", "marketing.push"]
    assert [e["subject"] for e in second["events"]] == ["marketing.email"]
    assert second["next"] is None
    assert (await consent(stack.client, recipient, "?limit=3"))["next"] is None


# -- what the choices do to deliveries -----------------------------------------------------------


async def test_an_opted_out_channel_is_skipped_and_the_others_still_sent(stack: Stack) -> None:
    recipient = await new_recipient(stack.client, device=True)
    await change(stack.client, recipient, {"categories": {"marketing": {"email": False}}})

    sent = await deliveries(stack.client, newsletter(recipient))

    assert sent["email"]["status"] == "skipped"
    assert "opted out" in sent["email"]["error"]
    assert (sent["push"]["status"], sent["in_app"]["status"]) == ("sent", "sent")


async def test_unsubscribed_from_everything_still_gets_what_cannot_be_turned_off(stack: Stack) -> None:
    recipient = await new_recipient(stack.client, device=True)
    await change(stack.client, recipient, {"unsubscribed_all": True})

    marketing = await deliveries(stack.client, newsletter(recipient))
    security = await deliveries(
        stack.client,
        {
            "to": {"id": recipient},
            "category": "security",
            "template": "login_code",
            "data": {"code": "123456"},
        },
    )

    for delivery in marketing.values():
        assert delivery["status"] == "skipped"
        assert "unsubscribed from everything optional" in delivery["error"]
    assert {channel: d["status"] for channel, d in security.items()} == {"sms": "sent", "email": "sent"}


# -- unsubscribes by token -----------------------------------------------------------------------


async def test_a_token_unsubscribes_from_its_category_once(stack: Stack) -> None:
    recipient = await new_recipient(stack.client)
    internal = await internal_id(stack, recipient)
    token = stack.catalog.links.unsubscribe_url(internal, "marketing").rsplit("/", 1)[1]

    first = await stack.client.post("/v1/unsubscribes", json={"token": token}, headers=AUTH)
    again = await stack.client.post("/v1/unsubscribes", json={"token": token}, headers=AUTH)

    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json() == {"recipient": recipient, "category": "marketing"}
    body = await preferences(stack.client, recipient)
    assert set(channels(body, "marketing").values()) == {(False, "recipient")}
    assert channels(body, "orders")["email"] == (True, "default")
    events = (await consent(stack.client, recipient))["events"]
    assert sorted(e["subject"] for e in events) == ["marketing.email", "marketing.in_app", "marketing.push"]
    assert {(e["old"], e["new"], e["source"]) for e in events} == {("default", "opted_out", "mailto")}


def backdated_token(catalog: Catalog, recipient: uuid.UUID, category: str) -> str:
    """A token signed with the server's secret more than a year ago (links live 365 days)."""

    class YearsAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 365 * 86400

    secret = catalog.config.server.secret_key.get_secret_value()
    serializer = URLSafeTimedSerializer(secret, salt="clarion.unsubscribe", signer=YearsAgo)
    return str(serializer.dumps([recipient.hex, category]))


@pytest.mark.parametrize(
    ("kind", "field", "words"),
    [
        ("expired", "token", "expired"),
        ("forged", "token", "not a valid"),
        ("subject without token", "subject", "unsubscribe <token>"),
        ("neither", "token", "either"),
    ],
)
async def test_a_bad_unsubscribe_names_the_field_and_changes_nothing(
    stack: Stack, kind: str, field: str, words: str
) -> None:
    recipient = await new_recipient(stack.client)
    internal = await internal_id(stack, recipient)
    bodies: dict[str, dict[str, Any]] = {
        "expired": {"token": backdated_token(stack.catalog, internal, "marketing")},
        "forged": {"token": backdated_token(stack.catalog, internal, "marketing")[:-4] + "AAAA"},
        "subject without token": {"subject": "please stop"},
        "neither": {},
    }

    response = await stack.client.post("/v1/unsubscribes", json=bodies[kind], headers=AUTH)

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert (await consent(stack.client, recipient))["events"] == []


@pytest.fixture
async def mailto_client(stack_settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """A stack whose optional emails offer a mailto: unsubscribe beside the one-click link."""
    catalog = load_catalog(MAILTO_CONFIG)
    settings = replace(stack_settings, config_path=str(MAILTO_CONFIG))
    async with AsyncTestClient(app=create_app(settings, catalog)) as client:
        worker = None if settings.embedded else WorkerRuntime(settings, catalog).worker(threads=2)
        if worker:
            worker.start()
        yield client
        if worker:
            worker.stop()


async def test_the_subject_of_the_list_unsubscribe_mailto_unsubscribes(
    mailto_client: AsyncTestClient,
) -> None:
    client, recipient = mailto_client, new_id()
    weekly = {
        "to": {"id": recipient, "email": "reader@example.com"},
        "category": "digest",
        "template": "weekly",
    }
    first = await deliveries(client, weekly)
    captured = (await client.get("/v1/sandbox/messages?channel=email", headers=AUTH)).json()["messages"]
    email = next(m for m in captured if m["delivery_id"] == first["email"]["id"])
    targets = [part.strip(" <>") for part in email["payload"]["headers"]["List-Unsubscribe"].split(",")]
    mailto = urlsplit(next(target for target in targets if target.startswith("mailto:")))
    assert mailto.path == "unsubscribe@example.com"
    [subject] = parse_qs(mailto.query)["subject"]  # what the mail client puts in the mail it sends

    response = await client.post("/v1/unsubscribes", json={"subject": subject}, headers=AUTH)

    assert response.status_code == 200, response.text
    assert response.json() == {"recipient": recipient, "category": "digest"}
    [event] = (await consent(client, recipient))["events"]
    assert (event["subject"], event["new"], event["source"]) == ("digest.email", "opted_out", "mailto")
    later = await deliveries(client, weekly)
    assert later["email"]["status"] == "skipped"
