"""Sending notifications through the REST API, over SQLite + in-process and PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import AUTH, Stack


def login_code(recipient: str, **extra: Any) -> dict[str, Any]:
    return {
        "to": {
            "id": recipient,
            "email": f"{recipient}@example.com",
            "phone": "+14155550100",
            "attributes": {"name": "Ada"},
        },
        "category": "security",
        "template": "login_code",
        "data": {"code": "493817"},
        **extra,
    }


async def settled(client: AsyncTestClient, notification_id: str, timeout_s: float = 10) -> dict[str, Any]:
    """Poll until no delivery is queued or sending."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
        if all(d["status"] not in ("queued", "sending", "held") for d in body["deliveries"]):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"not settled in {timeout_s}s: {body}"
        await asyncio.sleep(0.05)


def new_id() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


async def test_a_notification_is_accepted_delivered_and_captured(stack: Stack) -> None:
    response = await stack.client.post("/v1/notifications", json=login_code(new_id()), headers=AUTH)
    assert response.status_code == 202, response.text
    notification_id = response.json()["id"]

    body = await settled(stack.client, notification_id)

    assert body["status"] == "sent"
    by_channel = {d["channel"]: d for d in body["deliveries"]}
    assert set(by_channel) == {"sms", "email"}
    assert by_channel["sms"]["attempts"][0]["provider"] == "sandbox_sms"
    assert by_channel["sms"]["attempts"][0]["outcome"] == "sent"
    captured = (await stack.client.get("/v1/sandbox/messages?limit=20", headers=AUTH)).json()["messages"]
    mine = [m for m in captured if m["notification_id"] == notification_id]
    assert {m["channel"] for m in mine} == {"sms", "email"}
    sms = next(m for m in mine if m["channel"] == "sms")
    assert sms["text"] == "Your code is 493817. It expires in 10 minutes."
    assert sms["to"] == "+14155550100"


async def test_the_recipient_locale_picks_the_translation(stack: Stack) -> None:
    request = login_code(new_id())
    request["to"]["locale"] = "fr-CA"
    notification_id = (await stack.client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    await settled(stack.client, notification_id)
    captured = (await stack.client.get("/v1/sandbox/messages?channel=sms", headers=AUTH)).json()["messages"]
    sms = next(m for m in captured if m["notification_id"] == notification_id)
    assert sms["text"].startswith("Votre code est 493817")


async def test_a_channel_without_an_address_is_skipped_with_the_reason(stack: Stack) -> None:
    request = {
        "to": {"id": new_id(), "email": "x@example.com"},
        "category": "orders",
        "template": "order_shipped",
        "data": {"order_id": "A-1"},
    }
    notification_id = (await stack.client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    body = await settled(stack.client, notification_id)
    push = next(d for d in body["deliveries"] if d["channel"] == "push")
    assert push["status"] == "skipped"
    assert push["error"] == "recipient has no registered push device"
    assert body["status"] == "sent"


async def test_a_missing_template_variable_fails_the_delivery_permanently(stack: Stack) -> None:
    request = login_code(new_id())
    request["data"] = {}
    notification_id = (await stack.client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    body = await settled(stack.client, notification_id)
    assert body["status"] == "failed"
    for delivery in body["deliveries"]:
        assert delivery["status"] == "failed"
        assert "'code' is undefined" in delivery["error"]
        assert delivery["tries"] == 1
        assert delivery["attempts"] == []


async def test_the_same_idempotency_key_and_body_returns_the_first_answer(stack: Stack) -> None:
    request, key = login_code(new_id()), {"Idempotency-Key": uuid.uuid4().hex}
    first = await stack.client.post("/v1/notifications", json=request, headers={**AUTH, **key})
    again = await stack.client.post("/v1/notifications", json=request, headers={**AUTH, **key})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_repeat_is_recognised_whatever_its_key_order_and_whitespace(stack: Stack) -> None:
    request, key = login_code(new_id()), {"Idempotency-Key": uuid.uuid4().hex}
    request["data"] = {"code": "120934", "device": "phone"}
    first = await stack.client.post("/v1/notifications", json=request, headers={**AUTH, **key})
    reordered = {name: request[name] for name in reversed(list(request))}
    reordered["data"] = {"device": "phone", "code": "120934"}
    again = await stack.client.post(
        "/v1/notifications",
        content=json.dumps(reordered, indent=4).encode(),
        headers={**AUTH, **key, "Content-Type": "application/json"},
    )
    assert again.status_code == 202, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


async def test_the_same_idempotency_key_with_another_body_is_rejected(stack: Stack) -> None:
    recipient, key = new_id(), {"Idempotency-Key": uuid.uuid4().hex}
    first = await stack.client.post("/v1/notifications", json=login_code(recipient), headers={**AUTH, **key})
    other = login_code(recipient)
    other["data"] = {"code": "000000"}
    second = await stack.client.post("/v1/notifications", json=other, headers={**AUTH, **key})
    assert first.status_code == 202
    assert second.status_code == 422
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["field"] == "Idempotency-Key"


async def test_a_batch_answers_each_item_on_its_own(stack: Stack) -> None:
    good = login_code(new_id())
    unknown_template = {**login_code(new_id()), "template": "nope"}
    malformed = {"to": {"id": new_id()}, "category": "security"}
    response = await stack.client.post(
        "/v1/notifications/batch", json={"notifications": [good, unknown_template, malformed]}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    results = body["results"]
    assert results[0]["status"] == 202
    assert results[1]["status"] == 422 and results[1]["error"]["field"] == "template"
    assert results[2]["status"] == 422 and results[2]["error"]["field"] == "template"
    assert (await settled(stack.client, results[0]["id"]))["status"] == "sent"


async def test_a_batch_item_may_carry_its_own_idempotency_key(stack: Stack) -> None:
    item = {**login_code(new_id()), "idempotency_key": uuid.uuid4().hex}
    response = await stack.client.post(
        "/v1/notifications/batch", json={"notifications": [item, item]}, headers=AUTH
    )
    first, second = response.json()["results"]
    assert first["id"] == second["id"]


async def test_a_batch_applies_each_items_profile_fields_in_order(stack: Stack) -> None:
    recipient = new_id()
    first = {
        "id": recipient,
        "email": f"{recipient}@example.com",
        "attributes": {"name": "Ada", "plan": "free"},
    }
    second = {"id": recipient, "phone": "+14155550100", "attributes": {"plan": "pro"}}
    items = [{**login_code(recipient), "to": to} for to in (first, second, {"id": recipient})]
    response = await stack.client.post("/v1/notifications/batch", json={"notifications": items}, headers=AUTH)
    assert response.json()["accepted"] == 3, response.text

    profile = (await stack.client.get(f"/v1/recipients/{recipient}", headers=AUTH)).json()
    assert (profile["email"], profile["phone"]) == (f"{recipient}@example.com", "+14155550100")
    assert profile["attributes"] == {"name": "Ada", "plan": "pro"}
    last = await settled(stack.client, response.json()["results"][2]["id"])
    assert {d["channel"]: d["status"] for d in last["deliveries"]} == {"sms": "sent", "email": "sent"}


async def test_push_goes_to_every_registered_device(stack: Stack) -> None:
    recipient = new_id()
    await stack.client.post("/v1/recipients", json={"id": recipient, "email": "p@example.com"}, headers=AUTH)
    for token in ("token-aaaaaaaaaaaa", "token-bbbbbbbbbbbb"):
        added = await stack.client.post(
            f"/v1/recipients/{recipient}/devices", json={"platform": "fcm", "token": token}, headers=AUTH
        )
        assert added.status_code == 201, added.text
    request = {
        "to": {"id": recipient},
        "category": "orders",
        "template": "order_shipped",
        "data": {"order_id": "Z9"},
    }
    notification_id = (await stack.client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    body = await settled(stack.client, notification_id)
    assert {d["channel"]: d["status"] for d in body["deliveries"]} == {
        "email": "sent",
        "push": "sent",
        "webhook": "sent",
    }
    captured = (await stack.client.get("/v1/sandbox/messages?channel=push", headers=AUTH)).json()["messages"]
    push = next(m for m in captured if m["notification_id"] == notification_id)
    assert push["subject"] == "Order Z9 shipped"
    assert push["payload"]["tokens"] == ["token-aaaaaaaaaaaa", "token-bbbbbbbbbbbb"]
    data = push["payload"]["data"]
    assert data.pop("preferences_url").startswith("http://127.0.0.1:8000/preferences/")  # orders are optional
    assert data == {"order_id": "Z9"}


async def test_invalid_bodies_get_problem_json_naming_the_nested_field(stack: Stack) -> None:
    cases = [
        ({"to": {"id": "a", "phone": "123"}, "category": "security", "template": "login_code"}, "to.phone"),
        ({"to": {}, "category": "security", "template": "login_code"}, "to.id"),
        ({"to": {"id": "a", "mail": "x"}, "category": "security", "template": "login_code"}, "to.mail"),
        ({"to": {"id": "a"}, "category": "security", "template": "login_code", "data": 5}, "data"),
        (
            {"to": {"id": "a", "email": "a@example.com"}, "category": "nope", "template": "login_code"},
            "category",
        ),
        (
            {"to": {"id": "a", "timezone": "Mars/Base"}, "category": "security", "template": "login_code"},
            "to.timezone",
        ),
    ]
    for body, field in cases:
        response = await stack.client.post("/v1/notifications", json=body, headers=AUTH)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == field, (body, response.json())


async def test_requests_without_a_valid_key_are_refused(stack: Stack) -> None:
    missing = await stack.client.post("/v1/notifications", json=login_code(new_id()))
    wrong = await stack.client.get("/v1/sandbox/messages", headers={"Authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_body_nested_too_deeply_is_a_clear_400(stack: Stack) -> None:
    body = '{"to": ' + "[" * 5000 + "]" * 5000 + "}"
    headers = {**AUTH, "Content-Type": "application/json"}

    response = await stack.client.post("/v1/notifications", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["field"] == "body"
