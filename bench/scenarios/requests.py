"""The bodies the scenarios send: notifications to the seeded recipients u1..u<RECIPIENTS>."""

from __future__ import annotations

from typing import Any

RECIPIENTS = 10_000


def notification(n: int, *, tag: str, category: str = "updates") -> dict[str, Any]:
    return {
        "to": {"id": f"u{n % RECIPIENTS + 1}"},
        "category": category,
        "template": "ping",
        "data": {"n": n},
        "idempotency_key": f"{tag}-{n}",
    }


def batch(n: int, *, size: int, tag: str, category: str = "updates") -> dict[str, Any]:
    return {"notifications": [notification(n * size + i, tag=tag, category=category) for i in range(size)]}
