"""The example `pager` plugin against a local fake pager API, and loaded end to end from a config."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from appliance.catalog import load_catalog
from appliance.errors import ConfigError
from appliance.providers.base import Envelope, OutcomeKind, ProviderContext, WebhookMessage
from appliance.providers.factory import build_providers
from appliance.providers.plugins import discover

HERE = Path(__file__).resolve().parent
API_KEY = "pgr_live_4f9c2b7e1d"


@dataclass
class FakePager:
    """A local pager API: records incidents, answers as told."""

    base_url: str = ""
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    status: int = 201
    body: dict[str, Any] | str = field(default_factory=lambda: {"id": "INC-1042"})

    def reply(self, status: int, body: dict[str, Any] | str) -> None:
        self.status, self.body = status, body

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), await request.json()))
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body)
        return web.json_response(self.body, status=self.status)


@pytest.fixture
async def pager() -> AsyncIterator[FakePager]:
    app = web.Application()
    fake = FakePager()
    app.router.add_post("/v1/incidents", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def pager_provider() -> Any:
    """The plugin as Clarion loads it: by file path, through the plugin loader."""
    [plugin] = [found for found in discover(HERE, entry_points=()) if found.cls.type_name == "pager"]
    return plugin.cls


def context() -> ProviderContext:
    return ProviderContext(
        name="oncall", timeout=timedelta(seconds=2), database=None, public_url="https://clarion.example"
    )


def alert(
    category: str = "outage", text: str = "Checkout is down\nError rate 37% for 5 minutes"
) -> WebhookMessage:
    envelope = Envelope(
        delivery_id=str(uuid4()),
        notification_id=str(uuid4()),
        recipient_id="ops",
        category=category,
        template="alert",
    )
    return WebhookMessage(envelope=envelope, text=text)


async def send(provider_cls: Any, base_url: str, message: WebhookMessage, **options: Any) -> Any:
    raw = {"base_url": base_url, "api_key": API_KEY, "service": "PSVC42", **options}
    provider = provider_cls(context(), provider_cls.Options.model_validate(raw))
    try:
        return await provider.send(message)
    finally:
        await provider.close()


# --- What is posted ----------------------------------------------------------------------


async def test_an_incident_is_opened_with_the_category_severity(
    pager: FakePager, pager_provider: Any
) -> None:
    message = alert()

    outcome = await send(pager_provider, pager.base_url, message, severity_by_category={"outage": "critical"})

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.provider_message_id == "INC-1042"
    [(path, headers, incident)] = pager.requests
    assert path == "/v1/incidents"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert incident == {
        "service": "PSVC42",
        "title": "Checkout is down",
        "body": "Checkout is down\nError rate 37% for 5 minutes",
        "severity": "critical",
        "dedup_key": message.envelope.delivery_id,
        "links": [
            {
                "label": "In Clarion",
                "href": f"https://clarion.example/ui/messages/{message.envelope.notification_id}",
            }
        ],
    }


async def test_an_unmapped_category_gets_the_default_severity(pager: FakePager, pager_provider: Any) -> None:
    await send(pager_provider, pager.base_url, alert(category="digest"), default_severity="info")

    assert pager.requests[0][2]["severity"] == "info"


# --- How answers are classified ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (409, {"error": "duplicate dedup_key"}, OutcomeKind.SENT),
        (404, {"error": "unknown service"}, OutcomeKind.PERMANENT),
        (422, {"error": "title is required"}, OutcomeKind.PERMANENT),
        (401, {"error": "bad token"}, OutcomeKind.PERMANENT),
        (429, {"error": "slow down"}, OutcomeKind.RATE_LIMITED),
        (503, "<html>maintenance</html>", OutcomeKind.RETRYABLE),
    ],
)
async def test_answers_are_classified_by_what_to_do_next(
    pager: FakePager, pager_provider: Any, status: int, body: Any, kind: OutcomeKind
) -> None:
    pager.reply(status, body)

    outcome = await send(pager_provider, pager.base_url, alert())

    assert outcome.kind is kind


async def test_an_api_key_echoed_in_an_error_is_masked(pager: FakePager, pager_provider: Any) -> None:
    pager.reply(401, {"error": f"token {API_KEY} is revoked"})

    outcome = await send(pager_provider, pager.base_url, alert())

    assert outcome.kind is OutcomeKind.PERMANENT
    assert API_KEY not in (outcome.error or "")
    assert "check the API key" in (outcome.error or "")


async def test_an_unreachable_pager_is_retryable(pager_provider: Any, unused_tcp_port: int) -> None:
    outcome = await send(pager_provider, f"http://127.0.0.1:{unused_tcp_port}", alert())

    assert outcome.kind is OutcomeKind.RETRYABLE


def test_a_base_url_with_a_query_is_refused(pager_provider: Any) -> None:
    with pytest.raises(ValueError, match="no query"):
        pager_provider.Options.model_validate(
            {"base_url": "https://p.example?x=1", "api_key": "k", "service": "S"}
        )


# --- End to end: a config names `type: pager` --------------------------------------------

CONFIG = """
server: {{secret_key: plugin-test-secret-key}}
api_keys: [{{name: test, key: clarion-demo-key}}]
channels:
  webhook: {{providers: [oncall]}}
providers:
  oncall:
    type: pager
    base_url: {base_url}
    api_key: ${{PAGER_API_KEY}}
    service: PSVC42
    severity_by_category: {{outage: critical}}
    timeout: 3s
categories:
  outage: {{priority: high, channels: [webhook]}}
templates:
  alert:
    webhook: {{text: "{{{{ service }}}} is down"}}
"""


async def test_a_config_naming_the_plugin_type_loads_and_sends(pager: FakePager, tmp_path: Path) -> None:
    plugins_dir = tmp_path / "plugins"
    plugins_dir.mkdir()
    shutil.copy(HERE / "example_pager.py", plugins_dir)
    config = tmp_path / "clarion.yaml"
    config.write_text(CONFIG.format(base_url=pager.base_url))

    catalog = load_catalog(
        config, environ={"CLARION_PLUGINS_DIR": str(plugins_dir), "PAGER_API_KEY": API_KEY}
    )
    provider = build_providers(catalog, database=None, feed=None)["oncall"]  # type: ignore[arg-type]
    try:
        outcome = await provider.send(alert())
    finally:
        await provider.close()

    assert catalog.config.providers["oncall"].type == "pager"
    assert type(provider).__name__ == "PagerProvider"
    assert outcome.kind is OutcomeKind.SENT
    assert pager.requests[0][2]["severity"] == "critical"
    assert pager.requests[0][1]["Authorization"] == f"Bearer {API_KEY}"


def test_a_plugin_option_mistake_is_located_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "clarion.yaml"
    config.write_text(CONFIG.format(base_url="ftp://pager.example").replace("    service: PSVC42\n", ""))

    with pytest.raises(ConfigError) as raised:
        load_catalog(config, environ={"CLARION_PLUGINS_DIR": str(HERE), "PAGER_API_KEY": API_KEY})

    messages = [str(problem) for problem in raised.value.problems]
    assert any("providers.oncall.base_url: must be an http://" in message for message in messages), messages
    assert any("providers.oncall.service: required key is missing" in message for message in messages), (
        messages
    )
