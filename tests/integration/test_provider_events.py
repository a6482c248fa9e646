"""Provider event webhooks end to end: a real send through each provider's fake, then signed events.

For every provider: a forged event gets 401 and changes nothing; a signed `delivered` moves the
delivery; a repeat is a no-op; a hard bounce (a dead number, for Twilio) moves it and suppresses
the address; a late `delivered` after it does not move it back. Over SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import Catalog, load_catalog
from appliance.settings import Settings
from tests.conftest import AUTH, ROOT, serving
from tests.contract.fake_email_apis import MailgunApi, PostmarkApi, SendGridApi, SesApi
from tests.contract.fake_messaging_apis import FakeTwilio, serve_http
from tests.event_signing import (
    SnsEndpoint,
    ecdsa_key,
    mailgun_signed,
    postmark_signed,
    sendgrid_public_key,
    sendgrid_signed,
    sns_endpoint,
    twilio_signed,
)
from tests.integration.test_notifications_api import settled

CONFIG = ROOT / "tests" / "configs" / "provider-events.yaml"
PUBLIC_URL = "https://clarion.example.com"
TOPIC = "arn:aws:sns:us-east-1:123456789012:clarion-events"
ACCOUNT_SID = "AC" + "0" * 32
PROVIDERS = ["sendgrid", "mailgun", "postmark", "ses", "twilio"]
Signed = tuple[bytes, dict[str, str]]


@dataclass
class Peers:
    urls: dict[str, str]
    sendgrid_key: Any
    sns: SnsEndpoint


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[Peers]:
    async with AsyncExitStack() as stack:
        sendgrid = await stack.enter_async_context(
            SendGridApi(api_key="sg-api-key", verified_senders={"noreply@example.com"})
        )
        mailgun = await stack.enter_async_context(MailgunApi(api_key="mg-api-key", domain="mg.example.com"))
        postmark = await stack.enter_async_context(
            PostmarkApi(
                server_token="pm-server-token",
                sender_signatures={"noreply@example.com"},
                inactive=set(),
                streams={"outbound"},
            )
        )
        ses = await stack.enter_async_context(
            SesApi(
                region="us-east-1",
                access_key_id="AKIDEXAMPLE",
                secret_access_key="ses-secret-key",
                verified_identities={"example.com"},
            )
        )
        twilio = FakeTwilio(
            account_sid=ACCOUNT_SID, auth_token="tw-auth-token", api_key=("SK" + "1" * 32, "x")
        )
        twilio_url = await stack.enter_async_context(serve_http(twilio))
        sns = await stack.enter_async_context(sns_endpoint(tmp_path))
        urls = {
            "sendgrid": sendgrid.base_url,
            "mailgun": mailgun.base_url,
            "postmark": postmark.base_url,
            "ses": ses.base_url,
            "twilio": twilio_url,
        }
        yield Peers(urls=urls, sendgrid_key=ecdsa_key(), sns=sns)


def catalog_for(peers: Peers, email_provider: str) -> Catalog:
    return load_catalog(
        CONFIG,
        environ={
            "EMAIL_PROVIDER": email_provider,
            "SENDGRID_URL": peers.urls["sendgrid"],
            "SENDGRID_EVENT_KEY": sendgrid_public_key(peers.sendgrid_key),
            "MAILGUN_URL": peers.urls["mailgun"],
            "POSTMARK_URL": peers.urls["postmark"],
            "SES_URL": peers.urls["ses"],
            "SNS_CA_FILE": peers.sns.ca_file,
            "TWILIO_URL": peers.urls["twilio"],
        },
    )


@pytest.fixture(params=PROVIDERS)
def provider_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(
    stack_settings: Settings, peers: Peers, provider_name: str
) -> AsyncIterator[AsyncTestClient]:
    catalog = catalog_for(peers, "sendgrid" if provider_name == "twilio" else provider_name)
    async with serving(stack_settings, catalog, CONFIG, threads=2) as client:
        yield client


# --- What each provider sends: (kind, delivery, address, genuine) -> signed request ----------------


def sendgrid_event(peers: Peers, kind: str, delivery: dict[str, Any], address: str, genuine: bool) -> Signed:
    event: dict[str, Any] = {
        "email": address,
        "timestamp": int(time.time()),
        "sg_message_id": f"{delivery['provider_message_id']}.filterdrecv-5645d9c87f-abcde-1-0",
        "sg_event_id": uuid.uuid4().hex,
    }
    if kind == "delivered":
        event.update(event="delivered", response="250 OK", clarion_delivery_id=delivery["id"])
    else:  # no custom args: found by its message id
        event.update(event="bounce", type="bounce", reason="550 5.1.1 The email account does not exist")
    processed = {**event, "event": "processed"}
    return sendgrid_signed(peers.sendgrid_key if genuine else ecdsa_key(), [processed, event])


def mailgun_event(peers: Peers, kind: str, delivery: dict[str, Any], address: str, genuine: bool) -> Signed:
    data: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "timestamp": time.time(),
        "recipient": address,
        "message": {"headers": {"message-id": delivery["provider_message_id"].strip("<>")}},
        "user-variables": {"clarion_delivery_id": delivery["id"]},
    }
    if kind == "delivered":
        data.update(event="delivered", **{"delivery-status": {"code": 250, "message": "OK"}})
    else:
        data.update(
            event="failed",
            severity="permanent",
            reason="bounce",
            **{"delivery-status": {"code": 550, "description": "550 5.1.1 No such user"}},
        )
    return mailgun_signed("mg-signing-key" if genuine else "guessed-key", data)


def postmark_event(peers: Peers, kind: str, delivery: dict[str, Any], address: str, genuine: bool) -> Signed:
    now = datetime.now(UTC).isoformat()
    record: dict[str, Any] = {
        "MessageID": delivery["provider_message_id"],
        "Metadata": {"clarion_delivery_id": delivery["id"]},
        "MessageStream": "outbound",
    }
    if kind == "delivered":
        record.update(RecordType="Delivery", Recipient=address, DeliveredAt=now, Details="250 OK")
    else:
        description = "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
        record.update(
            RecordType="Bounce",
            Type="HardBounce",
            TypeCode=1,
            Email=address,
            BouncedAt=now,
            Description=description,
        )
    return postmark_signed("clarion", "pm-hook-password" if genuine else "guess", record)


def ses_event(peers: Peers, kind: str, delivery: dict[str, Any], address: str, genuine: bool) -> Signed:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    mail = {
        "timestamp": now,
        "messageId": delivery["provider_message_id"],
        "destination": [address],
        "tags": {"clarion_delivery_id": [delivery["id"]], "ses:configuration-set": ["clarion"]},
    }
    if kind == "delivered":
        event = {
            "eventType": "Delivery",
            "mail": mail,
            "delivery": {"timestamp": now, "recipients": [address], "smtpResponse": "250 ok"},
        }
    else:
        event = {
            "eventType": "Bounce",
            "mail": mail,
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "timestamp": now,
                "bouncedRecipients": [{"emailAddress": address, "diagnosticCode": "smtp; 550 5.1.1"}],
            },
        }
    body, headers = peers.sns.notification(TOPIC, event)
    if not genuine:  # same signature, different story
        message = json.loads(body)
        message["Message"] = message["Message"].replace(address, "someone@example.com")
        body = json.dumps(message).encode()
    return body, headers


def twilio_event(peers: Peers, kind: str, delivery: dict[str, Any], address: str, genuine: bool) -> Signed:
    form = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": delivery["provider_message_id"],
        "SmsSid": delivery["provider_message_id"],
        "MessageStatus": "delivered" if kind == "delivered" else "undelivered",
        "To": address,
    }
    if kind != "delivered":
        form["ErrorCode"] = "30005"
    url = f"{PUBLIC_URL}/v1/webhooks/twilio"
    return twilio_signed("tw-auth-token" if genuine else "guessed-token", url, form)


EVENTS: dict[str, Callable[[Peers, str, dict[str, Any], str, bool], Signed]] = {
    "sendgrid": sendgrid_event,
    "mailgun": mailgun_event,
    "postmark": postmark_event,
    "ses": ses_event,
    "twilio": twilio_event,
}


# --- Helpers -------------------------------------------------------------------------------------


def address_for(provider_name: str, n: int) -> str:
    return f"+1555123000{n}" if provider_name == "twilio" else f"user{n}@example.net"


async def send(client: AsyncTestClient, provider_name: str, address: str) -> dict[str, Any]:
    sms = provider_name == "twilio"
    request = {
        "to": {"id": f"r-{uuid.uuid4().hex[:8]}", ("phone" if sms else "email"): address},
        "category": "texts" if sms else "mail",
        "template": "receipt",
        "data": {"n": 7},
    }
    response = await client.post("/v1/notifications", json=request, headers=AUTH)
    assert response.status_code == 202, response.text
    [delivery] = (await settled(client, response.json()["id"]))["deliveries"]
    assert (delivery["status"], delivery["provider"]) == ("sent", provider_name), delivery
    assert delivery["provider_message_id"]
    return delivery


async def status_of(
    client: AsyncTestClient, delivery: dict[str, Any], notification_id: str
) -> dict[str, Any]:
    body = (await client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
    [current] = [d for d in body["deliveries"] if d["id"] == delivery["id"]]
    return current


async def suppressed(client: AsyncTestClient) -> list[tuple[str, str, str]]:
    listed = (await client.get("/v1/suppressions", headers=AUTH)).json()
    return [(s["address"], s["reason"], s["source"]) for s in listed]


# --- Tests ---------------------------------------------------------------------------------------


async def test_signed_events_move_deliveries_and_forged_ones_change_nothing(
    client: AsyncTestClient, peers: Peers, provider_name: str
) -> None:
    sign = EVENTS[provider_name]
    url = f"/v1/webhooks/{provider_name}"

    async def post(signed: Signed) -> Any:
        body, headers = signed
        return await client.post(url, content=body, headers=headers)

    # Given a message the provider accepted
    first_address = address_for(provider_name, 1)
    response = await client.post(
        "/v1/notifications",
        json={
            "to": {"id": "r-1", ("phone" if provider_name == "twilio" else "email"): first_address},
            "category": "texts" if provider_name == "twilio" else "mail",
            "template": "receipt",
            "data": {"n": 1},
        },
        headers=AUTH,
    )
    notification_id = response.json()["id"]
    [first] = (await settled(client, notification_id))["deliveries"]
    assert (first["status"], first["provider"]) == ("sent", provider_name), first

    # a forged hard bounce is refused, and nothing changes
    forged = await post(sign(peers, "bounce", first, first_address, False))
    assert forged.status_code == 401, forged.text
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert (await status_of(client, first, notification_id))["status"] == "sent"
    assert await suppressed(client) == []

    # a signed `delivered` moves it, and a repeat is a no-op
    delivered = await post(sign(peers, "delivered", first, first_address, True))
    assert delivered.status_code == 200, delivered.text
    assert delivered.json() == {"events": 1, "matched": 1, "moved": 1, "ignored": 0, "unknown": 0}
    assert (await status_of(client, first, notification_id))["status"] == "delivered"
    again = await post(sign(peers, "delivered", first, first_address, True))
    assert again.json() == {"events": 1, "matched": 1, "moved": 0, "ignored": 1, "unknown": 0}
    assert (await status_of(client, first, notification_id))["status"] == "delivered"

    # Given a second message that hard-bounces
    second_address = address_for(provider_name, 2)
    response = await client.post(
        "/v1/notifications",
        json={
            "to": {"id": "r-2", ("phone" if provider_name == "twilio" else "email"): second_address},
            "category": "texts" if provider_name == "twilio" else "mail",
            "template": "receipt",
            "data": {"n": 2},
        },
        headers=AUTH,
    )
    second_notification = response.json()["id"]
    [second] = (await settled(client, second_notification))["deliveries"]
    bounced = await post(sign(peers, "bounce", second, second_address, True))
    assert bounced.status_code == 200, bounced.text
    assert bounced.json()["moved"] == 1
    after_bounce = await status_of(client, second, second_notification)
    expected = "failed" if provider_name == "twilio" else "bounced"
    assert after_bounce["status"] == expected
    assert after_bounce["error"].startswith(expected)
    assert await suppressed(client) == [(second_address, "hard_bounce", f"provider:{provider_name}")]

    # a late `delivered` does not move it back
    late = await post(sign(peers, "delivered", second, second_address, True))
    assert late.json() == {"events": 1, "matched": 1, "moved": 0, "ignored": 1, "unknown": 0}
    assert (await status_of(client, second, second_notification))["status"] == expected


async def test_events_for_messages_clarion_did_not_send_are_counted_as_unknown(
    client: AsyncTestClient, peers: Peers, provider_name: str
) -> None:
    stranger = {"id": str(uuid.uuid4()), "provider_message_id": f"<{uuid.uuid4().hex}@mg.example.com>"}
    if provider_name == "twilio":
        stranger["provider_message_id"] = "SM" + uuid.uuid4().hex
    body, headers = EVENTS[provider_name](peers, "bounce", stranger, address_for(provider_name, 3), True)
    response = await client.post(f"/v1/webhooks/{provider_name}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"events": 1, "matched": 0, "moved": 0, "ignored": 0, "unknown": 1}
    assert await suppressed(client) == []


@pytest.mark.parametrize("provider_name", ["ses"])
async def test_an_sns_subscription_is_confirmed_when_signed_and_refused_when_not(
    client: AsyncTestClient, peers: Peers
) -> None:
    body, headers = peers.sns.confirmation(TOPIC, "token-1")
    response = await client.post("/v1/webhooks/ses", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert peers.sns.confirmed_tokens == ["token-1"]

    message = json.loads(body)
    message["SubscribeURL"] = message["SubscribeURL"].replace("token-1", "token-2")
    response = await client.post("/v1/webhooks/ses", content=json.dumps(message).encode(), headers=headers)
    assert response.status_code == 401
    assert peers.sns.confirmed_tokens == ["token-1"]


@pytest.mark.parametrize("provider_name", ["sendgrid"])
async def test_unknown_providers_and_providers_without_events_are_not_found(
    client: AsyncTestClient,
) -> None:
    for name in ("nobody", "captured"):
        response = await client.post(f"/v1/webhooks/{name}", content=b"[]")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("provider_name", ["sendgrid"])
async def test_a_body_over_one_mebibyte_is_refused(client: AsyncTestClient, peers: Peers) -> None:
    body, headers = sendgrid_signed(peers.sendgrid_key, [{"event": "open", "pad": "x" * (1024 * 1024)}])
    response = await client.post("/v1/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == 413
