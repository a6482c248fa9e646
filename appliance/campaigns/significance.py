"""Is one variant's rate really different from another's, or is it chance? Pure.

A two-proportion z-test on the pooled proportion: the textbook test for "did more of group A
than of group B open?", valid when each group has at least a handful of successes and failures
(the usual rule: n·p and n·(1-p) both ≥ 5). Below that the answer is "too few to tell", never a
p-value that would mislead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_EXPECTED = 5  # successes and failures each group needs for the normal approximation
ALPHA = 0.05  # "significant" means p < 0.05: a 1 in 20 chance of a difference this large by luck


@dataclass(frozen=True)
class Comparison:
    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def rate(successes: int, trials: int) -> float:
    return successes / trials if trials else 0.0


def compare(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> Comparison | None:
    """The two-sided test of rate A against rate B; None when the groups are too small to test."""
    if not _enough(successes_a, trials_a) or not _enough(successes_b, trials_b):
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if spread == 0:
        return None
    z = (rate(successes_a, trials_a) - rate(successes_b, trials_b)) / spread
    # Two-sided p-value of a standard normal: P(|Z| >= |z|) = erfc(|z| / sqrt 2).
    return Comparison(z=z, p_value=math.erfc(abs(z) / math.sqrt(2)))


def _enough(successes: int, trials: int) -> bool:
    return successes >= MIN_EXPECTED and trials - successes >= MIN_EXPECTED
