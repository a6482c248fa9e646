"""The A/B significance test: a two-proportion z-test, checked against worked values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.campaigns.significance import compare


def test_ten_against_thirteen_percent_of_a_thousand_each_is_significant() -> None:
    # Pooled p = 0.115, standard error = sqrt(0.115 * 0.885 * 2 / 1000) = 0.014267.
    result = compare(130, 1000, 100, 1000)
    assert result is not None
    assert result.z == pytest.approx(2.1027, abs=1e-3)
    assert result.p_value == pytest.approx(0.0355, abs=1e-3)
    assert result.significant


def test_ten_against_eleven_percent_of_a_thousand_each_is_not() -> None:
    result = compare(110, 1000, 100, 1000)
    assert result is not None and not result.significant
    assert result.p_value == pytest.approx(0.4657, abs=1e-3)


def test_groups_too_small_for_the_normal_approximation_give_no_answer() -> None:
    assert compare(3, 10, 1, 10) is None  # fewer than 5 successes
    assert compare(10, 12, 9, 12) is None  # fewer than 5 failures
    assert compare(0, 0, 5, 20) is None


@given(st.integers(5, 5000), st.integers(5, 5000), st.integers(5, 5000), st.integers(5, 5000))
def test_swapping_the_groups_flips_z_and_keeps_the_p_value(sa: int, fa: int, sb: int, fb: int) -> None:
    forward, backward = compare(sa, sa + fa, sb, sb + fb), compare(sb, sb + fb, sa, sa + fa)
    assert forward is not None and backward is not None
    assert forward.z == pytest.approx(-backward.z)
    assert forward.p_value == pytest.approx(backward.p_value)
    assert 0 <= forward.p_value <= 1
    assert math.isclose(forward.p_value, 1.0) == math.isclose(forward.z, 0.0, abs_tol=1e-12)
