"""API keys are high-entropy tokens: a SHA-256 digest is the right hash to store and compare.

(argon2 would make every API request pay ~50 ms for no gain: nobody brute-forces 32 random bytes.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return "clk_" + secrets.token_urlsafe(32)


def identify(presented: str, digests: Mapping[str, str]) -> str | None:
    """The name of the key whose digest matches, compared in constant time; None if none does."""
    presented_digest = digest(presented)
    found = None
    for known_digest, name in digests.items():
        if hmac.compare_digest(presented_digest, known_digest):
            found = name
    return found
