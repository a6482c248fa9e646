"""A/B assignment: which variant a recipient gets. Pure.

The choice is a hash of (salt, recipient key), not a random draw, because a hash
- gives the same answer in every process and after every restart (Python's `hash()` and
  `random` do not), so a fan-out batch repeated after a crash assigns exactly as before;
- needs no storage to stay consistent: anyone holding the salt can recompute it;
- is independent per campaign when the salt is the campaign id: being in B of one test says
  nothing about the next.
SHA-256 spreads keys evenly, so over many recipients each variant's share tends to its
weight's share of the total.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def assign(salt: str, recipient_key: str, weights: Mapping[str, int]) -> str:
    """The variant for this recipient; weight-0 variants are never chosen.

    Raises ValueError when a weight is negative or none is positive.
    """
    if any(weight < 0 for weight in weights.values()):
        raise ValueError(f"variant weights must not be negative: {dict(weights)}")
    total = sum(weights.values())
    if total == 0:
        raise ValueError("no variant has a positive weight; give at least one a weight above 0")
    point = _point(salt, recipient_key) % total  # 256 bits mod a small total: bias ~ total / 2**256
    # Sorted, not insertion order: the same weights read back from YAML or from a JSONB column
    # (which reorders keys) must walk the same way.
    for name in sorted(weights):
        if point < weights[name]:
            return name
        point -= weights[name]
    raise AssertionError("unreachable: point < total")


def _point(salt: str, recipient_key: str) -> int:
    # A NUL between the two keeps ("ab", "c") and ("a", "bc") apart.
    digest = hashlib.sha256(f"{salt}\0{recipient_key}".encode()).digest()
    return int.from_bytes(digest, "big")


def in_share(salt: str, recipient_key: str, percent: int) -> bool:
    """Whether this recipient falls in the first `percent` of 100 equal slices (a test group).

    Salted apart from `assign` by the caller, so the test group and the variant are independent.
    """
    return _point(salt, recipient_key) % 100 < percent
