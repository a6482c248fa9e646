"""Recipient tokens: the operator's backend signs a recipient's id, the widget presents it.

A token is `hex(HMAC-SHA256(inbox.secret, recipient id))`. It is computed, never stored, and
only the holder of the secret can make one, so a user cannot read another user's inbox.
"""

from __future__ import annotations

import hashlib
import hmac


class RecipientTokens:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def sign(self, recipient_id: str) -> str:
        return hmac.new(self._secret, recipient_id.encode(), hashlib.sha256).hexdigest()

    def signed_for(self, recipient_id: str, token: str) -> bool:
        return hmac.compare_digest(self.sign(recipient_id).encode(), token.strip().lower().encode())
