"""Amazon SNS HTTP(S) messages: prove one came from SNS, and confirm a subscription.

SNS signs a canonical "name\\nvalue\\n" string of the message's fields with the private key of
the certificate at `SigningCertURL` (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA). The
URL is trusted only if it is https on a host matching the configured pattern (by default
`sns.<region>.amazonaws.com`), so a forger cannot point us at a certificate of their own.
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html

cryptography is imported with the first message: the API may never get one (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .events import SignatureInvalid

if TYPE_CHECKING:  # aiohttp itself loads with the first fetch, as cryptography does
    import aiohttp
    from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
CERTIFICATE_TTL_S = 24 * 3600
MAX_CERTIFICATE_BYTES = 16 * 1024
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
#: SignatureVersion -> the hash of its RSA signature, by name in `cryptography.hazmat.primitives.hashes`.
_HASHES = {"1": "SHA1", "2": "SHA256"}


def check_url(url: Any, host_pattern: str, *, what: str) -> str:
    """The URL if it is https on an allowed host; else the message is not trusted."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme != "https" or not re.fullmatch(host_pattern, parts.hostname or ""):
        raise SignatureInvalid(f"{what} is not an https URL on an SNS host; refused")
    return str(url)


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise SignatureInvalid("not an SNS message type Clarion knows")
    lines = [f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None]
    return "".join(lines).encode()


class Certificates:
    """SNS signing keys by URL, fetched over https once a day at most."""

    def __init__(self, *, timeout_s: float, ca_file: str | None = None, limit: int = 16) -> None:
        self._keys: dict[str, tuple[float, rsa.RSAPublicKey]] = {}
        self._timeout_s = timeout_s
        self._ssl = ssl.create_default_context(cafile=ca_file)
        self._limit = limit

    async def public_key(self, url: str) -> rsa.RSAPublicKey:
        cached = self._keys.get(url)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        key = await self._fetch(url)
        if len(self._keys) >= self._limit:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = (time.monotonic() + CERTIFICATE_TTL_S, key)
        return key

    async def get(self, url: str) -> int:
        """GET a URL SNS gave us (SubscribeURL) through the same TLS settings; its status."""
        async with (
            self._session() as session,
            session.get(url, ssl=self._ssl, allow_redirects=False) as answer,
        ):
            return answer.status

    def _session(self) -> aiohttp.ClientSession:
        import aiohttp

        return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))

    async def _fetch(self, url: str) -> rsa.RSAPublicKey:
        import aiohttp
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import rsa

        try:
            async with (
                self._session() as session,
                session.get(url, ssl=self._ssl, allow_redirects=False) as answer,
            ):
                pem = await answer.content.read(MAX_CERTIFICATE_BYTES)
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SignatureInvalid(f"cannot fetch the SNS signing certificate: {type(exc).__name__}") from exc
        if status != 200:
            raise SignatureInvalid(f"the SNS signing certificate URL answered HTTP {status}")
        try:
            key = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as exc:
            raise SignatureInvalid("the SNS signing certificate is not a PEM certificate") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise SignatureInvalid("the SNS signing certificate does not hold an RSA key")
        return key


async def verify(message: dict[str, Any], *, host_pattern: str, certificates: Certificates) -> None:
    """Raise SignatureInvalid unless SNS signed this message."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    version = str(message.get("SignatureVersion"))
    if version not in _HASHES:
        raise SignatureInvalid("SignatureVersion must be 1 or 2")
    url = check_url(message.get("SigningCertURL"), host_pattern, what="SigningCertURL")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid("the SNS signature is not base64") from exc
    key = await certificates.public_key(url)
    algorithm = getattr(hashes, _HASHES[version])()
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature as exc:
        raise SignatureInvalid("the SNS message signature does not match") from exc
