"""`pager`: open an incident on an on-call pager for each notification (a worked example plugin).

Serves the `webhook` channel. Each message becomes
`POST {base_url}/v1/incidents` with `Authorization: Bearer <api_key>` and the JSON body
`{"service", "title", "body", "severity", "dedup_key", "links"}`:

- `title` is the text's first line (at most 120 characters), `body` the whole text;
- `severity` comes from the notification's category (`severity_by_category`, else `default_severity`);
- `dedup_key` is the delivery id, the same on every retry, so a retried send cannot open a second
  incident: the pager answers 409 for a key it already has, which counts as sent.

The API answers `201 {"id": "INC-…"}`. Classification: 2xx and 409 *sent*; 404 (unknown
`service`) and other 4xx *permanent*; 401/403 *permanent* (check `api_key`); 429 *rate-limited*;
408, 5xx, timeouts and connection errors *retryable* (the shared `HttpProvider` rules).

A plugin imports only the provider interface: `appliance.providers.base` and `appliance.providers.http`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from appliance.providers.base import Message, Outcome, ProviderOptions, WebhookMessage
from appliance.providers.http import HttpProvider, body_excerpt, common_outcome, join_url, redact

if TYPE_CHECKING:  # for annotations only: a scaled API replica loads plugins too, and never sends
    import aiohttp

Severity = Literal["critical", "error", "warning", "info"]
TITLE_CHARS = 120


class PagerOptions(ProviderOptions):
    base_url: str
    api_key: SecretStr
    service: str = Field(min_length=1)  # the pager's service (escalation policy) to open incidents on
    default_severity: Severity = "warning"
    severity_by_category: dict[str, Severity] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError(
                "must be an http:// or https:// URL with a host and no query, e.g. https://pager.example.com"
            )
        return url.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _not_empty(cls, api_key: SecretStr) -> SecretStr:
        if not api_key.get_secret_value():
            raise ValueError("must not be empty")
        return api_key


class PagerProvider(HttpProvider):
    type_name: ClassVar[str] = "pager"
    channels: ClassVar[frozenset[str]] = frozenset({"webhook"})
    Options: ClassVar[type[ProviderOptions]] = PagerOptions

    options: PagerOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, WebhookMessage):
            return Outcome.permanent(f"pager cannot send {message.channel} messages, only webhook")
        incident = self.incident(message)
        headers = {"Authorization": f"Bearer {self.options.api_key.get_secret_value()}"}
        url = join_url(self.options.base_url, "/v1/incidents")

        async def post(session: aiohttp.ClientSession) -> Outcome:
            async with session.post(url, json=incident, headers=headers, allow_redirects=False) as response:
                return await self.classify(response, message.envelope.delivery_id)

        return await self.exchange(post, what="the pager")

    def incident(self, message: WebhookMessage) -> dict[str, object]:
        envelope = message.envelope
        first_line = message.text.strip().partition("\n")[0]
        return {
            "service": self.options.service,
            "title": first_line[: TITLE_CHARS - 1] + "…" if len(first_line) > TITLE_CHARS else first_line,
            "body": message.text,
            "severity": self.options.severity_by_category.get(
                envelope.category, self.options.default_severity
            ),
            "dedup_key": envelope.delivery_id,
            "links": [
                {
                    "label": "In Clarion",
                    "href": f"{self.context.public_url}/ui/messages/{envelope.notification_id}",
                }
            ],
        }

    async def classify(self, response: aiohttp.ClientResponse, delivery_id: str) -> Outcome:
        """Sort the pager's answer by what the delivery engine should do next."""
        status = response.status
        if 200 <= status < 300:
            return Outcome.sent(await _incident_id(response) or delivery_id)
        if status == 409:  # this dedup_key already opened an incident: an earlier try got through
            return Outcome.sent(delivery_id)
        error = redact(f"HTTP {status}: {await body_excerpt(response)}", self.options.api_key)
        if status == 404:
            return Outcome.permanent(
                f"the pager has no service {self.options.service!r}; check `service`. {error}"
            )
        if 300 <= status < 400:
            return Outcome.permanent(
                f"the pager redirects to {response.headers.get('Location', '?')}; fix base_url. {error}"
            )
        return common_outcome(response, error) or Outcome.permanent(error)


async def _incident_id(response: aiohttp.ClientResponse) -> str | None:
    try:
        answer = json.loads(await response.read())
    except ValueError:
        return None
    incident_id = answer.get("id") if isinstance(answer, dict) else None
    return str(incident_id) if incident_id else None


PROVIDERS = [PagerProvider]
