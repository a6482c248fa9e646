"""Log output: JSON lines carry the ids of their request and delivery, every response carries an
X-Request-ID, and no secret ever reaches a log line, over both stacks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import load_catalog
from appliance.observability.logs import LogFormat
from appliance.settings import Settings
from tests.conftest import AUTH, ROOT, Stack, free_port, serving
from tests.contract.fake_email_apis import Fault, SendGridApi
from tests.integration.fakes import HookReceiver
from tests.log_capture import captured_logs, json_lines
from tests.web.test_ui_pages import login_code, new_id, settled

SECRETS_CONFIG = ROOT / "tests" / "configs" / "secrets.yaml"
SECRETS = {
    "TEST_SECRET_KEY": "server-secret-4f0e2b9d7c",
    "TEST_API_KEY": "api-key-91c3a7e5d2b8",
    "SENDGRID_KEY": "SG.sendgrid-key-5a8e1f3c",
    "HOOK_SECRET": "hook-secret-0d6b4e2a9f",
}


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every logger's records at DEBUG, as `clarion serve` writes them with CLARION_LOG_FORMAT=json."""
    with captured_logs("DEBUG", LogFormat.JSON) as stream:
        yield stream


async def test_json_lines_carry_the_request_id_and_the_delivery_ids(
    stack: Stack, json_log: io.StringIO
) -> None:
    response = await stack.client.post(
        "/v1/notifications", json=login_code(new_id()), headers={**AUTH, "X-Request-ID": "trace-7f3a.1"}
    )
    assert response.status_code == 202
    assert response.headers["x-request-id"] == "trace-7f3a.1"
    notification_id = response.json()["id"]
    await settled(stack.client, notification_id)

    lines = json_lines(json_log)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    of_request = [line for line in lines if line.get("request_id") == "trace-7f3a.1"]
    accesses = [line for line in of_request if line["logger"] == "appliance.web.access"]
    assert [line["message"].split(" in ")[0] for line in accesses] == ["POST /v1/notifications -> 202"]
    assert accesses[0]["level"] == "DEBUG"
    delivered = [line for line in lines if line["logger"] == "appliance.pipeline.courier"]
    assert {line["notification_id"] for line in delivered} == {notification_id}
    assert len({line["delivery_id"] for line in delivered}) == 2  # sms and email
    assert all(line["message"].startswith(f"delivery {line['delivery_id']} ") for line in delivered)
    assert all("request_id" not in line for line in delivered)  # a worker's line is not the request's


async def test_every_response_has_a_request_id_and_an_unfit_incoming_one_is_replaced(stack: Stack) -> None:
    missing = await stack.client.get("/no-such-page")
    assert missing.status_code == 404
    assert len(missing.headers["x-request-id"]) == 32
    other = await stack.client.get("/healthz")
    assert other.headers["x-request-id"] != missing.headers["x-request-id"]
    for unfit in ("two words", "x" * 129, "<script>", ""):
        response = await stack.client.get("/healthz", headers={"X-Request-ID": unfit})
        assert response.headers["x-request-id"] != unfit
    kept = await stack.client.get("/ui/login", headers={"X-Request-ID": "lb-2b7e/15"})
    assert kept.headers["x-request-id"] == "lb-2b7e/15"


@pytest.fixture
async def secret_client(
    stack_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncTestClient, SendGridApi]]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    hook, hook_port = HookReceiver(), free_port()
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{hook_port}/hook")
    runner = await hook.start(hook_port)
    async with SendGridApi(api_key=SECRETS["SENDGRID_KEY"], verified_senders={"noreply@example.com"}) as api:
        monkeypatch.setenv("SENDGRID_URL", api.base_url)
        async with serving(stack_settings, load_catalog(SECRETS_CONFIG), SECRETS_CONFIG) as client:
            yield client, api
    await runner.cleanup()


async def test_no_secret_reaches_the_logs(
    secret_client: tuple[AsyncTestClient, SendGridApi],
    json_log: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, sendgrid = secret_client
    caplog.set_level(logging.DEBUG)
    statuses = [await _note(client, "mail", 1), await _note(client, "alerts", 2)]
    # A provider that echoes the key in its refusal, as some do.
    sendgrid.inject(Fault(401, json.dumps({"errors": [{"message": f"bad key {SECRETS['SENDGRID_KEY']}"}]})))
    statuses.append(await _note(client, "mail", 3))
    wrong_key = await client.post(
        "/v1/notifications", json={}, headers={"Authorization": "Bearer guess-6e1d"}
    )
    assert (statuses, wrong_key.status_code) == (["sent", "sent", "failed"], 401)

    assert sendgrid.requests[0].headers["Authorization"] == f"Bearer {SECRETS['SENDGRID_KEY']}"  # it was used
    for output in (json_log.getvalue(), caplog.text):
        assert "-> sent" in output  # the delivery lines are there
        for secret in (*SECRETS.values(), "guess-6e1d", AUTH["Authorization"][7:]):
            assert secret not in output


async def _note(client: AsyncTestClient, category: str, n: int) -> str:
    body = {
        "to": {"id": f"r-{n}", "email": f"r{n}@example.com"},
        "category": category,
        "template": "note",
        "data": {"n": n},
    }
    response = await client.post("/v1/notifications", json=body, headers=_auth())
    assert response.status_code == 202, response.text
    return str((await settled(client, response.json()["id"]))["status"])


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS['TEST_API_KEY']}"}
