"""What every HTTP provider shares: one pooled aiohttp session, a `base_url`, and the
classification of transport failures and common status codes.

A provider subclass builds its request and reads its provider's answer; the plumbing and
the usual meanings (2xx sent, 429 slow down, 5xx/408 retry later) live here once.

aiohttp is imported when the first session opens (and in the provider modules, for annotations
only): a scaled API replica loads every provider module to check the options, and sends nothing
(docs/benchmarks.md, G6).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .base import Outcome, Provider

if TYPE_CHECKING:
    import aiohttp

ERROR_BODY_CHARS = 200
T = TypeVar("T")


class HttpProvider(Provider):
    """A provider that talks HTTP/1.1 through one pooled aiohttp session per provider."""

    _session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.session()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            timeout = aiohttp.ClientTimeout(total=self.context.timeout.total_seconds())
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def exchange(
        self, call: Callable[[aiohttp.ClientSession], Awaitable[Outcome]], *, what: str = "the provider"
    ) -> Outcome:
        """Run `call` with the session; turn transport failures into outcomes."""
        import aiohttp

        try:
            return await call(self.session())
        except aiohttp.ClientConnectorCertificateError as exc:
            return Outcome.permanent(f"{what}'s TLS certificate is not trusted: {exc.certificate_error}")
        except TimeoutError:
            return Outcome.retryable(
                f"{what} did not answer within {self.context.timeout.total_seconds():g}s"
            )
        except aiohttp.ClientError as exc:
            return Outcome.retryable(f"cannot reach {what}: {type(exc).__name__}: {exc}")


async def body_excerpt(response: aiohttp.ClientResponse) -> str:
    # Read a bounded prefix: an error page can be megabytes, and we keep only a glimpse.
    raw = await response.content.read(ERROR_BODY_CHARS * 4)
    return raw.decode("utf-8", "replace")[:ERROR_BODY_CHARS]


def common_outcome(response: aiohttp.ClientResponse, error: str) -> Outcome | None:
    """The meaning every HTTP API shares for a non-2xx status, or None for the provider to decide."""
    status = response.status
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=datetime.now(UTC))
        return Outcome.rate_limited(error, retry_after)
    if status == 408 or status >= 500:
        return Outcome.retryable(error)
    if status in (401, 403):
        return Outcome.permanent(f"the provider refused our credentials; check the API key. {error}")
    return None


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def redact(text: str, *secrets: Any) -> str:
    """Remove secret values a provider might echo back in an error body."""
    for secret in secrets:
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
        if value:
            text = text.replace(str(value), "***")
    return text
