"""`slack`: post a message to a Slack channel through an incoming webhook.

The webhook URL is the credential (anyone holding it can post), so it is a secret and never
appears in an error. Slack answers `200 ok`, or a status with a short plain-text code; some
codes mean the webhook itself is dead (revoked, channel deleted or archived) and will not
come back: https://api.slack.com/messaging/webhooks#handling_errors.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from .base import Message, Outcome, ProviderOptions, WebhookMessage
from .http import HttpProvider, body_excerpt, common_outcome, redact

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

_URL = r"^https?://[^/\s]+"
# The webhook is gone: retrying or failing over to it will never work until it is replaced.
_DEAD_WEBHOOK = {
    "no_service": "the webhook was revoked or its app removed",
    "no_team": "the Slack workspace no longer exists",
    "channel_not_found": "the channel was deleted",
    "channel_is_archived": "the channel is archived",
    "action_prohibited": "a workspace admin restricted posting to the channel",
    "invalid_token": "the webhook's token is invalid",
    "team_disabled": "the Slack workspace is disabled",
}


class SlackOptions(ProviderOptions):
    webhook_url: SecretStr
    # None: post to webhook_url itself. Set: post the webhook's path to this host instead (a test
    # fake, an egress proxy); Slack's real host is https://hooks.slack.com.
    base_url: str | None = Field(default=None, pattern=_URL)

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, url: SecretStr) -> SecretStr:
        parts = urlsplit(url.get_secret_value())
        if parts.scheme != "https" or not parts.hostname or len(parts.path) < 2:
            raise ValueError(
                "must be the https:// URL Slack shows for the webhook, e.g. https://hooks.slack.com/services/…"
            )
        return url


class SlackProvider(HttpProvider):
    type_name: ClassVar[str] = "slack"
    channels: ClassVar[frozenset[str]] = frozenset({"webhook"})
    Options: ClassVar[type[ProviderOptions]] = SlackOptions

    options: SlackOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, WebhookMessage):
            return Outcome.permanent(f"slack cannot send {message.channel} messages, only webhook")
        url = self.url()

        async def post(session: aiohttp.ClientSession) -> Outcome:
            async with session.post(url, json={"text": message.text}, allow_redirects=False) as response:
                return await classify(response, message.envelope.delivery_id)

        outcome = await self.exchange(post, what="Slack")
        path = urlsplit(url).path
        return dataclasses.replace(outcome, error=redact(outcome.error or "", url, path) or None)

    def url(self) -> str:
        url = self.options.webhook_url.get_secret_value()
        if self.options.base_url is None:
            return url
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return self.options.base_url.rstrip("/") + parts.path + query


async def classify(response: aiohttp.ClientResponse, delivery_id: str) -> Outcome:
    """Sort Slack's answer by what the delivery engine should do next."""
    if response.status == 200:
        return Outcome.sent(delivery_id)
    code = (await body_excerpt(response)).strip()
    error = f"HTTP {response.status}: {code}"
    if code in _DEAD_WEBHOOK:
        return Outcome.permanent(
            f"the Slack webhook is dead: {_DEAD_WEBHOOK[code]}; "
            f"create a new one and update webhook_url. {error}"
        )
    if response.status in (403, 404, 410):
        return Outcome.permanent(
            f"the Slack webhook is dead; create a new one and update webhook_url. {error}"
        )
    return common_outcome(response, error) or Outcome.permanent(f"Slack refused the message; {error}")
