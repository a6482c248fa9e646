"""`apprise`: one provider for every service Apprise knows (Telegram, Discord, Teams, ntfy, ...), by URL.

Apprise is an optional extra. It is imported only when a config uses this type; when it is not
installed, the config fails to load with the command that fixes it.

Apprise URLs carry credentials (`tgram://<bot token>/<chat id>`), so they are secret strings,
never shown in errors, and masked in what Apprise itself logs (its debug lines print request URLs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from .base import Message, Outcome, Provider, ProviderOptions, WebhookMessage

INSTALL_HINT = "pip install 'clarion[apprise]'"
APPRISE_LOGGER = "apprise"
# Fragments of a URL shorter than this are not treated as secrets ("json", "yes", a port).
_MIN_SECRET_CHARS = 6
_ERROR_CHARS = 200
# Apprise stops waiting for a service at our timeout; this is how much longer we wait for it to say so.
_GRACE_S = 1.0


class MissingDependencyError(ImportError):
    """An optional package a configured provider needs is not installed."""


def import_apprise() -> ModuleType:
    try:
        import apprise
    except ImportError as exc:
        raise MissingDependencyError(
            f"the apprise provider needs the apprise package, which is not installed; run: {INSTALL_HINT}"
        ) from exc
    return apprise


class AppriseOptions(ProviderOptions):
    model_config = ConfigDict(hide_input_in_errors=True)  # a rejected URL is a credential: never echo it

    urls: Annotated[list[SecretStr], Field(min_length=1)]
    title: Literal["none", "template", "first_line"] = "none"

    @model_validator(mode="before")
    @classmethod
    def _apprise_is_installed(cls, data: Any) -> Any:
        try:
            import_apprise()
        except MissingDependencyError as exc:
            raise ValueError(str(exc)) from None
        return data

    @field_validator("urls")
    @classmethod
    def _apprise_knows_each_url(cls, urls: list[SecretStr]) -> list[SecretStr]:
        apprise = import_apprise()
        for index, url in enumerate(urls):
            with _masked([url]):  # Apprise logs the URL it could not load
                service = apprise.Apprise.instantiate(url.get_secret_value())
            if service is None:
                # The schema is safe to show; the rest of the URL may be a token.
                schema = url.get_secret_value().partition("://")[0] or "?"
                raise ValueError(
                    f"urls[{index}] (schema {schema!r}) is not a URL Apprise can use: an unknown schema "
                    "or a missing part; see https://github.com/caronc/apprise/wiki for its format"
                )
        return urls


class AppriseProvider(Provider):
    type_name: ClassVar[str] = "apprise"
    channels: ClassVar[frozenset[str]] = frozenset({"webhook"})
    Options: ClassVar[type[ProviderOptions]] = AppriseOptions

    options: AppriseOptions
    _services: list[Any] | None = None
    _mask: _SecretMask | None = None

    async def start(self) -> None:
        self._load()

    async def close(self) -> None:
        if self._mask is not None:
            logging.getLogger(APPRISE_LOGGER).removeFilter(self._mask)
            self._mask = None
        self._services = None

    def _load(self) -> list[Any]:
        """One Apprise object per URL, so each result says which URL it is about."""
        if self._services is None:
            apprise = import_apprise()
            self._mask = _SecretMask(self.options.urls)
            logging.getLogger(APPRISE_LOGGER).addFilter(self._mask)
            # Memory-only storage: Apprise would otherwise cache to the home directory.
            asset = apprise.AppriseAsset(storage_mode="memory")
            services = []
            for url in self.options.urls:
                service = apprise.Apprise(asset=asset)
                service.add(url.get_secret_value())
                services.append(service)
            self._services = services
        return self._services

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, WebhookMessage):
            return Outcome.permanent(f"apprise cannot send {message.channel} messages, only webhook")
        title, body = self._title_and_body(message)
        if not body.strip():
            return Outcome.permanent("the message text is empty; Apprise services refuse an empty body")
        try:
            services = self._load()
        except MissingDependencyError as exc:
            return Outcome.permanent(str(exc))
        seconds = self.context.timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds + _GRACE_S):
                results = await asyncio.gather(
                    *(
                        # notify() blocks (requests, sleeps between retries): keep it off the event loop.
                        asyncio.to_thread(service.notify, body=body, title=title, timeout=seconds)
                        for service in services
                    ),
                    return_exceptions=True,
                )
        except TimeoutError:
            return Outcome.retryable(
                f"Apprise did not finish within {seconds:g}s; the notification may still arrive"
            )
        return self._outcome(results, message.envelope.delivery_id)

    def _title_and_body(self, message: WebhookMessage) -> tuple[str, str]:
        match self.options.title:
            case "template":
                return message.envelope.template, message.text
            case "first_line":
                first, _, rest = message.text.strip().partition("\n")
                return (first.strip(), rest.strip()) if rest.strip() else ("", first)
        return "", message.text

    def _outcome(self, results: list[Any], delivery_id: str) -> Outcome:
        failures = [
            problem
            for index, result in enumerate(results)
            if (problem := self._problem(index, result)) is not None
        ]
        if not failures:
            return Outcome.sent(delivery_id)  # Apprise returns no message id
        error = "; ".join(failures)
        if len(results) > 1:
            error += (
                f" ({len(results) - len(failures)} of {len(results)} URLs were sent; a retry resends to them)"
            )
        # Apprise reports a refused token and a service outage alike (FAILURE, and only a log line
        # to tell them apart), so a failure is retryable: a bad URL ends in dead after the retries.
        return Outcome.retryable(error)

    def _problem(self, index: int, result: Any) -> str | None:
        """Why the URL at `index` failed, or None if it was sent."""
        where = f"urls[{index}]"
        if isinstance(result, BaseException):
            return self._mask_text(f"{where}: unexpected Apprise failure: {type(result).__name__}: {result}")
        if result:  # AppriseResult is true on SUCCESS
            return None
        status = getattr(getattr(result, "status", None), "name", "FAILURE")
        service = next((item.name for item in getattr(result, "results", ())), "")
        where = f"{where} ({service})" if service else where
        if status == "TIMEOUT":
            return f"{where}: no answer within {self.context.timeout.total_seconds():g}s"
        reason = self._reason(result)
        return f"{where}: Apprise could not deliver{reason}; check the URL (its token, its target)"

    def _reason(self, result: Any) -> str:
        """The first warning Apprise captured for this call (e.g. "error=500"), with secrets masked."""
        for service_result in getattr(result, "results", ()):
            for entry in service_result.logs():
                if entry.level in ("WARNING", "ERROR"):
                    return f" ({self._mask_text(entry.message)[:_ERROR_CHARS]})"
        return ""

    def _mask_text(self, text: str) -> str:
        return _SecretMask(self.options.urls).mask(text)


class _SecretMask(logging.Filter):
    """Replaces the secret parts of Apprise URLs in log records and error text."""

    def __init__(self, urls: list[SecretStr]) -> None:
        super().__init__()
        self.secrets = sorted(_url_secrets(urls), key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it itself
            return True
        masked = self.mask(text)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


@contextmanager
def _masked(urls: list[SecretStr]) -> Iterator[None]:
    """Mask these URLs' secrets in Apprise's log records for the duration of a block."""
    mask = _SecretMask(urls)
    logging.getLogger(APPRISE_LOGGER).addFilter(mask)
    try:
        yield
    finally:
        logging.getLogger(APPRISE_LOGGER).removeFilter(mask)


def _url_secrets(urls: list[SecretStr]) -> set[str]:
    """The whole URL and every part of it that may be a credential: user, password, host, path
    segments and query values (a Telegram bot token is the "host", a Discord token a path segment)."""
    secrets: set[str] = set()
    for secret in urls:
        url = secret.get_secret_value()
        secrets.add(url)
        try:
            parts = urlsplit(url)
            candidates = [
                parts.username,
                parts.password,
                parts.hostname,
                *parts.path.split("/"),
                *(value for _key, value in parse_qsl(parts.query)),
            ]
        except ValueError:  # an unparsable port, say: the whole URL is still masked
            continue
        for candidate in candidates:
            if candidate and len(candidate) >= _MIN_SECRET_CHARS:
                secrets.update({candidate, unquote(candidate)})
    return secrets
