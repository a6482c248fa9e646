"""The ids a log line belongs to, carried by contextvars so no function has to pass them along.

Each HTTP request and each worker message runs in its own asyncio task, and a task works on a
copy of the context: ids bound in one never leak into another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

#: The ids a JSON log line may carry, in the order it shows them.
FIELDS = ("request_id", "notification_id", "delivery_id", "campaign_id")

_IDS: dict[str, ContextVar[str | None]] = {name: ContextVar(name, default=None) for name in FIELDS}


@contextlib.contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Bind ids (None values are left out) for the duration of the block."""
    tokens = [(_IDS[name], _IDS[name].set(str(value))) for name, value in ids.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, str]:
    """The ids bound here, by name."""
    return {name: value for name, var in _IDS.items() if (value := var.get()) is not None}
