"""Signed tracking links: the pixel of one delivery, and each link of it.

A click token carries the delivery and the URL as the message was rendered, signed with the
server's secret: the redirect goes only to a URL that Clarion itself put in that message, never
to one a caller made up (no open redirect), and a token cannot be moved to another delivery.
Tokens do not expire: a newsletter is clicked months later, and its link must still work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

_OPEN = "clarion.track.open"
_CLICK = "clarion.track.click"
OPEN_PATH = "/t/o"
CLICK_PATH = "/t/c"


class TamperedToken(Exception):
    """A tracking token that Clarion did not sign, or that was changed since."""


@dataclass(frozen=True)
class Click:
    delivery_id: uuid.UUID
    url: str


class TrackingLinks:
    def __init__(self, secret: str, public_url: str) -> None:
        self._open = URLSafeSerializer(secret, salt=_OPEN)
        self._click = URLSafeSerializer(secret, salt=_CLICK)
        self.base = public_url.rstrip("/")

    def pixel_url(self, delivery_id: uuid.UUID) -> str:
        return f"{self.base}{OPEN_PATH}/{self._open.dumps(delivery_id.hex)}.gif"

    def click_url(self, delivery_id: uuid.UUID, url: str) -> str:
        return f"{self.base}{CLICK_PATH}/{self._click.dumps([delivery_id.hex, url])}"

    def read_open(self, token: str) -> uuid.UUID:
        return _delivery(_load(self._open, token.removesuffix(".gif")))

    def read_click(self, token: str) -> Click:
        payload = _load(self._click, token)
        if not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[1], str):
            raise TamperedToken()
        return Click(_delivery(payload[0]), payload[1])


def _load(serializer: URLSafeSerializer, token: str) -> object:
    try:
        return serializer.loads(token)
    except BadSignature:
        raise TamperedToken() from None


def _delivery(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(hex=str(value))
    except ValueError:
        raise TamperedToken() from None
