"""Signed links to the preference center and to one-click unsubscribe.

A token names the recipient (and, to unsubscribe, the category) and is signed with the
server's secret, each purpose with its own salt: it cannot be forged, altered to name another
recipient, or used for another purpose. It carries its own age, so old links expire.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, unquote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

_PREFERENCES = "clarion.preferences"
_UNSUBSCRIBE = "clarion.unsubscribe"
_MAIL_SUBJECT = re.compile(r"^\s*unsubscribe\s+(\S+)\s*$", re.IGNORECASE)


class LinkProblem(Exception):
    """A token that cannot be honoured; `expired` tells an old link from a broken one."""

    def __init__(self, expired: bool) -> None:
        self.expired = expired
        super().__init__("expired" if expired else "invalid")


@dataclass(frozen=True)
class Unsubscribe:
    recipient_id: uuid.UUID
    category: str


class Links:
    def __init__(self, secret: str, public_url: str, ttl: timedelta) -> None:
        self._preferences = URLSafeTimedSerializer(secret, salt=_PREFERENCES)
        self._unsubscribe = URLSafeTimedSerializer(secret, salt=_UNSUBSCRIBE)
        self.base = public_url.rstrip("/")
        self.ttl = ttl

    def preferences_url(self, recipient_id: uuid.UUID) -> str:
        return f"{self.base}/preferences/{self._preferences.dumps(recipient_id.hex)}"

    def unsubscribe_url(self, recipient_id: uuid.UUID, category: str) -> str:
        return f"{self.base}/unsubscribe/{self._unsubscribe_token(recipient_id, category)}"

    def unsubscribe_mailto(self, mailbox: str, recipient_id: uuid.UUID, category: str) -> str:
        """Mail clients send `unsubscribe <token>` as the subject; see `token_in_subject`."""
        subject = quote(f"unsubscribe {self._unsubscribe_token(recipient_id, category)}")
        return f"mailto:{mailbox}?subject={subject}"

    def read_preferences(self, token: str) -> uuid.UUID:
        return _recipient(self._load(self._preferences, token))

    def read_unsubscribe(self, token: str) -> Unsubscribe:
        payload = self._load(self._unsubscribe, token)
        if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[1], str):
            raise LinkProblem(expired=False)
        return Unsubscribe(_recipient(payload[0]), payload[1])

    def _unsubscribe_token(self, recipient_id: uuid.UUID, category: str) -> str:
        return self._unsubscribe.dumps([recipient_id.hex, category])

    def _load(self, serializer: URLSafeTimedSerializer, token: str) -> object:
        try:
            return serializer.loads(token, max_age=int(self.ttl.total_seconds()))
        except SignatureExpired:
            raise LinkProblem(expired=True) from None
        except BadSignature:
            raise LinkProblem(expired=False) from None


def token_in_subject(subject: str) -> str | None:
    """The token of an unsubscribe mail's subject; inbound-mail hooks may pass it still URL-encoded."""
    found = _MAIL_SUBJECT.match(unquote(subject))
    return found.group(1) if found else None


def _recipient(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(hex=str(value))
    except ValueError:
        raise LinkProblem(expired=False) from None
