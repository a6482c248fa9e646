"""google-auth's requests transport with our timeout, for fcm.py's access tokens.

A module of its own because it subclasses google-auth's class: fcm.py imports it when its first
provider is built, so processes that only check the config (the API) load neither google-auth
nor requests.
"""

from __future__ import annotations

from typing import Any

import google.auth.transport.requests


class TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport, with our timeout instead of its 120 s default."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def __call__(
        self, url: str, method: str = "GET", body: Any = None, headers: Any = None, **kwargs: Any
    ) -> Any:
        kwargs["timeout"] = self.timeout_s
        return super().__call__(url, method=method, body=body, headers=headers, **kwargs)
