"""Sign-in attempts are limited per username and per client address, against password guessing.

Each attempt takes a slot *before* the password is checked, atomically in the store, so a burst
of parallel guesses cannot all slip in before the first failure is counted. A success frees its
username's slots, but not its address's: one valid account must not wipe an attacker's count.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from ..config.schema import SignInLimits
from ..config.units import Rate
from ..resilience.ratelimit import RateLimiter


class LoginThrottle:
    def __init__(self, limiter: RateLimiter, limits: SignInLimits) -> None:
        self.limiter = limiter
        window_s = int(limits.window.total_seconds())
        self.per_username = Rate(limits.per_username, window_s, f"{limits.per_username}/{window_s}s")
        self.per_address = Rate(limits.per_address, window_s, f"{limits.per_address}/{window_s}s")

    async def attempt(self, username: str, address: str) -> timedelta | None:
        """Count one attempt; None when it may go ahead, else how long until one would be allowed."""
        wait_s = await self.limiter.acquire(_key("address", address), self.per_address)
        if not wait_s:
            wait_s = await self.limiter.acquire(_key("username", username), self.per_username)
        return timedelta(seconds=wait_s) if wait_s else None

    async def succeeded(self, username: str) -> None:
        await self.limiter.forget(_key("username", username))


def _key(kind: str, value: str) -> str:
    # Hashed: bounded keys whatever was typed, and no usernames readable in the store.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"
