"""Each provider's webhook signature scheme, with real keys: what verifies, what is refused, what it means."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from appliance.providers.base import Provider, ProviderContext
from appliance.providers.events import (
    EventKind,
    EventsNotConfigured,
    InboundRequest,
    ProviderEvent,
    SignatureInvalid,
)
from appliance.providers.mailgun import MailgunProvider
from appliance.providers.postmark import PostmarkProvider
from appliance.providers.sendgrid import SendGridProvider
from appliance.providers.ses import SesProvider
from appliance.providers.twilio import TwilioProvider
from tests.event_signing import (
    ecdsa_key,
    mailgun_signed,
    postmark_signed,
    sendgrid_public_key,
    sendgrid_signed,
    sns_endpoint,
    twilio_signed,
)

PUBLIC_URL = "https://clarion.example.com"
ACCOUNT_SID = "AC" + "0" * 32
TOPIC = "arn:aws:sns:us-east-1:123456789012:clarion-events"
EMAIL = {"from": "Clarion <noreply@example.com>", "base_url": "http://127.0.0.1:9"}


def provider(cls: type[Provider], name: str, **options: Any) -> Any:
    context = ProviderContext(name=name, timeout=timedelta(seconds=5), database=None, public_url=PUBLIC_URL)
    return cls(context, cls.Options.model_validate(options))


def inbound(name: str, body: bytes, headers: dict[str, str], *, query: str = "") -> InboundRequest:
    path = f"/v1/webhooks/{name}"
    url = PUBLIC_URL + path + (f"?{query}" if query else "")
    return InboundRequest.build(method="POST", url=url, path=path, query=query, headers=headers, body=body)


def tampered(body: bytes) -> bytes:
    return body.replace(b"delivered", b"bounce", 1) if b"delivered" in body else body + b" "


# --- SendGrid ----------------------------------------------------------------------------------


@pytest.fixture
def sendgrid_key() -> Any:
    return ecdsa_key()


@pytest.fixture
def sendgrid(sendgrid_key: Any) -> SendGridProvider:
    return provider(
        SendGridProvider, "sg", api_key="k", event_public_key=sendgrid_public_key(sendgrid_key), **EMAIL
    )


SENDGRID_EVENTS = [
    {"event": "processed", "email": "a@example.com", "timestamp": 1700000000, "sg_message_id": "m1.f"},
    {"event": "delivered", "email": "a@example.com", "timestamp": 1700000001, "sg_message_id": "m1.f",
     "clarion_delivery_id": "d-1", "response": "250 OK"},
    {"event": "bounce", "type": "bounce", "email": "b@example.com", "timestamp": 1700000002,
     "sg_message_id": "m2.filterdrecv", "reason": "550 5.1.1 no such user"},
    {"event": "bounce", "type": "blocked", "email": "c@example.com", "timestamp": 1700000003,
     "sg_message_id": "m3.f"},
    {"event": "spamreport", "email": "d@example.com", "timestamp": 1700000004, "sg_message_id": "m4.f"},
    {"event": "open", "email": "a@example.com", "timestamp": 1700000005, "sg_message_id": "m1.f"},
]  # fmt: skip


async def test_a_signed_sendgrid_batch_yields_the_events_that_move_deliveries(
    sendgrid: SendGridProvider, sendgrid_key: Any
) -> None:
    body, headers = sendgrid_signed(sendgrid_key, SENDGRID_EVENTS)
    events = await sendgrid.parse_events(inbound("sg", body, headers))
    assert [(e.kind, e.hard, e.provider_message_id, e.address) for e in events] == [
        (EventKind.DELIVERED, False, "m1", "a@example.com"),
        (EventKind.BOUNCED, True, "m2", "b@example.com"),
        (EventKind.BOUNCED, False, "m3", "c@example.com"),
        (EventKind.COMPLAINED, False, "m4", "d@example.com"),
    ]
    assert events[0].delivery_id == "d-1"
    assert events[1].detail == "550 5.1.1 no such user"


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda body, headers, key: (tampered(body), headers), id="tampered body"),
        pytest.param(
            lambda body, headers, key: sendgrid_signed(ecdsa_key(), json.loads(body)), id="another key"
        ),
        pytest.param(
            lambda body, headers, key: sendgrid_signed(
                key, json.loads(body), timestamp=int(time.time()) - 3600
            ),
            id="an hour old",
        ),
        pytest.param(
            lambda body, headers, key: (body, {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": "1"}),
            id="timestamp changed",
        ),
        pytest.param(lambda body, headers, key: (body, {"Content-Type": "application/json"}), id="unsigned"),
        pytest.param(
            lambda body, headers, key: (body, {**headers, "X-Twilio-Email-Event-Webhook-Signature": "!!"}),
            id="signature not base64",
        ),
    ],
)
async def test_a_sendgrid_batch_that_does_not_verify_is_refused(
    sendgrid: SendGridProvider, sendgrid_key: Any, spoil: Any
) -> None:
    body, headers = sendgrid_signed(sendgrid_key, SENDGRID_EVENTS[1:2])
    body, headers = spoil(body, headers, sendgrid_key)
    with pytest.raises(SignatureInvalid):
        await sendgrid.parse_events(inbound("sg", body, headers))


async def test_sendgrid_without_a_verification_key_accepts_no_events(sendgrid_key: Any) -> None:
    unsigned = provider(SendGridProvider, "sg", api_key="k", **EMAIL)
    body, headers = sendgrid_signed(sendgrid_key, SENDGRID_EVENTS)
    with pytest.raises(EventsNotConfigured, match="event_public_key"):
        await unsigned.parse_events(inbound("sg", body, headers))


def test_a_sendgrid_verification_key_that_is_not_a_public_key_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="is not a public key"):
        provider(SendGridProvider, "sg", api_key="k", event_public_key="bm90IGEga2V5", **EMAIL)


# --- Mailgun -----------------------------------------------------------------------------------

MAILGUN_KEY = "key-mailgun-signing"


def mailgun_event(event: str, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "timestamp": 1700000000.5,
        "recipient": "a@example.com",
        "message": {"headers": {"message-id": "20240501.1.ABC@mg.example.com"}},
        "user-variables": {"clarion_delivery_id": "d-2"},
        **extra,
    }


@pytest.fixture
def mailgun() -> MailgunProvider:
    return provider(
        MailgunProvider, "mg", api_key="k", domain="mg.example.com", webhook_signing_key=MAILGUN_KEY, **EMAIL
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (mailgun_event("delivered"), (EventKind.DELIVERED, False)),
        (mailgun_event("failed", severity="permanent", reason="bounce"), (EventKind.BOUNCED, True)),
        (mailgun_event("failed", severity="permanent", reason="generic"), (EventKind.FAILED, False)),
        (mailgun_event("failed", severity="temporary", reason="generic"), None),
        (mailgun_event("complained"), (EventKind.COMPLAINED, False)),
        (mailgun_event("opened"), None),
    ],
)
async def test_mailgun_events_mean_what_mailgun_documents(
    mailgun: MailgunProvider, data: dict[str, Any], expected: tuple[EventKind, bool] | None
) -> None:
    events = await mailgun.parse_events(inbound("mg", *mailgun_signed(MAILGUN_KEY, data)))
    assert [(e.kind, e.hard) for e in events] == ([expected] if expected else [])
    for event in events:
        assert (event.delivery_id, event.provider_message_id) == ("d-2", "<20240501.1.ABC@mg.example.com>")


async def test_a_replayed_or_stale_or_forged_mailgun_signature_is_refused(mailgun: MailgunProvider) -> None:
    body, headers = mailgun_signed(MAILGUN_KEY, mailgun_event("delivered"))
    assert await mailgun.parse_events(inbound("mg", body, headers))
    with pytest.raises(SignatureInvalid, match="replay"):
        await mailgun.parse_events(inbound("mg", body, headers))
    stale = mailgun_signed(MAILGUN_KEY, mailgun_event("delivered"), timestamp=int(time.time()) - 3600)
    with pytest.raises(SignatureInvalid, match="too old"):
        await mailgun.parse_events(inbound("mg", *stale))
    with pytest.raises(SignatureInvalid, match="does not match"):
        await mailgun.parse_events(inbound("mg", *mailgun_signed("another-key", mailgun_event("delivered"))))
    with pytest.raises(SignatureInvalid):
        await mailgun.parse_events(inbound("mg", b"not json", {}))


# --- Postmark ----------------------------------------------------------------------------------


@pytest.fixture
def postmark() -> PostmarkProvider:
    return provider(
        PostmarkProvider,
        "pm",
        server_token="t",
        webhook_username="clarion",
        webhook_password="s3cret",
        **EMAIL,
    )


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"RecordType": "Delivery", "DeliveredAt": "2024-05-01T10:00:00Z"}, (EventKind.DELIVERED, False)),
        ({"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1}, (EventKind.BOUNCED, True)),
        ({"RecordType": "Bounce", "Type": "SoftBounce", "TypeCode": 4096}, (EventKind.BOUNCED, False)),
        ({"RecordType": "Bounce", "Type": "Transient", "TypeCode": 2}, None),
        ({"RecordType": "SpamComplaint", "Type": "SpamComplaint"}, (EventKind.COMPLAINED, False)),
        ({"RecordType": "Open"}, None),
    ],
)
async def test_postmark_records_mean_what_postmark_documents(
    postmark: PostmarkProvider, record: dict[str, Any], expected: tuple[EventKind, bool] | None
) -> None:
    record = {
        **record,
        "MessageID": "pm-1",
        "Recipient": "a@example.com",
        "Metadata": {"clarion_delivery_id": "d"},
    }
    events = await postmark.parse_events(inbound("pm", *postmark_signed("clarion", "s3cret", record)))
    assert [(e.kind, e.hard) for e in events] == ([expected] if expected else [])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic Y2xhcmlvbjp3cm9uZw=="}, {"Authorization": "Bearer s3cret"}],
    ids=["no credentials", "wrong password", "not basic"],
)
async def test_postmark_without_the_right_basic_auth_is_refused(
    postmark: PostmarkProvider, headers: dict[str, str]
) -> None:
    with pytest.raises(SignatureInvalid):
        await postmark.parse_events(inbound("pm", b'{"RecordType": "Delivery"}', headers))


# --- Twilio ------------------------------------------------------------------------------------


@pytest.fixture
def twilio() -> TwilioProvider:
    return provider(
        TwilioProvider, "tw", account_sid=ACCOUNT_SID, auth_token="tw-token", **{"from": "+15005550006"}
    )


def twilio_form(status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": "SM1",
        "MessageStatus": status,
        "To": "+15551230000",
        "AccountSid": ACCOUNT_SID,
        **extra,
    }


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (twilio_form("sent"), None),
        (twilio_form("delivered"), (EventKind.DELIVERED, False)),
        (twilio_form("undelivered", ErrorCode="30003"), (EventKind.FAILED, False)),
        (twilio_form("undelivered", ErrorCode="30005"), (EventKind.FAILED, True)),
        (twilio_form("failed", ErrorCode="30006"), (EventKind.FAILED, True)),
    ],
)
async def test_twilio_status_callbacks_mean_what_twilio_documents(
    twilio: TwilioProvider, form: dict[str, str], expected: tuple[EventKind, bool] | None
) -> None:
    body, headers = twilio_signed("tw-token", f"{PUBLIC_URL}/v1/webhooks/tw", form)
    events = await twilio.parse_events(inbound("tw", body, headers))
    assert [(e.kind, e.hard) for e in events] == ([expected] if expected else [])
    assert all(e.provider_message_id == "SM1" and e.address == "+15551230000" for e in events)


async def test_a_twilio_callback_signed_for_another_url_or_token_is_refused(twilio: TwilioProvider) -> None:
    form = twilio_form("delivered")
    for token, url in (
        ("tw-token", "http://127.0.0.1:8000/v1/webhooks/tw"),
        ("other", PUBLIC_URL + "/v1/webhooks/tw"),
    ):
        with pytest.raises(SignatureInvalid):
            await twilio.parse_events(inbound("tw", *twilio_signed(token, url, form)))
    body, headers = twilio_signed("tw-token", f"{PUBLIC_URL}/v1/webhooks/tw", form)
    with pytest.raises(SignatureInvalid):
        await twilio.parse_events(inbound("tw", body.replace(b"delivered", b"failed"), headers))


# --- SES through SNS ---------------------------------------------------------------------------


def ses_bounce(bounce_type: str) -> dict[str, Any]:
    return {
        "eventType": "Bounce",
        "mail": {"messageId": "ses-1", "timestamp": "2024-05-01T10:00:00.000Z",
                 "tags": {"clarion_delivery_id": ["d-3"]}},
        "bounce": {"bounceType": bounce_type, "timestamp": "2024-05-01T10:00:01.000Z",
                   "bouncedRecipients": [{"emailAddress": "a@example.com", "diagnosticCode": "550 5.1.1"}]},
    }  # fmt: skip


@pytest.fixture
async def sns(tmp_path: Path) -> Any:
    async with sns_endpoint(tmp_path) as endpoint:
        yield endpoint


def ses(sns: Any, **overrides: Any) -> SesProvider:
    options = {
        "region": "us-east-1",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "secret",
        "sns_topic_arns": [TOPIC],
        "sns_certificate_host_pattern": r"^127\.0\.0\.1$",
        "sns_ca_file": sns.ca_file,
        **EMAIL,
        **overrides,
    }
    return provider(SesProvider, "ses", **options)


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_sns_notification_yields_the_ses_event_and_the_certificate_is_fetched_once(
    sns: Any, version: str
) -> None:
    source = ses(sns)
    for _ in range(2):
        body, headers = sns.notification(TOPIC, ses_bounce("Permanent"), version=version)
        [event] = await source.parse_events(inbound("ses", body, headers))
        assert event == ProviderEvent(
            kind=EventKind.BOUNCED,
            occurred_at=event.occurred_at,
            delivery_id="d-3",
            provider_message_id="ses-1",
            address="a@example.com",
            hard=True,
            detail="550 5.1.1",
        )
    assert sns.certificate_fetches == 1


async def test_sns_messages_that_do_not_verify_are_refused(sns: Any) -> None:
    source = ses(sns)
    body, headers = sns.notification(TOPIC, ses_bounce("Permanent"))
    message = json.loads(body)
    forged = {**message, "Message": json.dumps(ses_bounce("Transient"))}
    other_topic = sns.notification("arn:aws:sns:us-east-1:999999999999:theirs", ses_bounce("Permanent"))[0]
    http_cert = {**message, "SigningCertURL": sns.cert_url.replace("https://", "http://")}
    elsewhere = {**message, "SigningCertURL": "https://evil.example.com/cert.pem"}
    for spoiled in (forged, json.loads(other_topic), http_cert, elsewhere):
        with pytest.raises(SignatureInvalid):
            await source.parse_events(inbound("ses", json.dumps(spoiled).encode(), headers))


async def test_the_default_certificate_host_pattern_only_trusts_amazon(sns: Any) -> None:
    strict = ses(sns, sns_certificate_host_pattern=SesProvider.Options.model_fields[
        "sns_certificate_host_pattern"].default)  # fmt: skip
    body, headers = sns.notification(TOPIC, ses_bounce("Permanent"))
    with pytest.raises(SignatureInvalid, match="SNS host"):
        await strict.parse_events(inbound("ses", body, headers))
    assert sns.certificate_fetches == 0


async def test_a_signed_subscription_confirmation_is_confirmed_through_its_subscribe_url(sns: Any) -> None:
    source = ses(sns)
    assert await source.parse_events(inbound("ses", *sns.confirmation(TOPIC, "tok-1"))) == []
    assert sns.confirmed_tokens == ["tok-1"]


async def test_ses_events_need_a_topic_to_trust(sns: Any) -> None:
    body, headers = sns.notification(TOPIC, ses_bounce("Permanent"))
    with pytest.raises(EventsNotConfigured, match="sns_topic_arns"):
        await ses(sns, sns_topic_arns=[]).parse_events(inbound("ses", body, headers))
