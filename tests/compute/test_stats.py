"""Published worked examples for the statistics the pages show."""

import numpy as np
import pytest

from carescore.compute import stats


def test_newcombe_difference_of_proportions():
    # Newcombe (1998), Stat Med 17:873, Table II example (56/70 vs 48/80): hybrid score interval 0.0524 to 0.3339
    l1, u1 = stats.wilson(56, 70)
    l0, u0 = stats.wilson(48, 80)
    low, diff, high = stats.difference_ci(56 / 70, float(l1), float(u1), 48 / 80, float(l0), float(u0))
    assert diff == pytest.approx(0.2)
    assert (round(float(low), 4), round(float(high), 4)) == (0.0524, 0.3339)


def test_wilson_textbook_example():
    # Newcombe (1998) Table I: 81/263 → 0.2553 to 0.3662 (Wilson score interval)
    low, high = stats.wilson(81, 263)
    assert (round(float(low), 4), round(float(high), 4)) == (0.2553, 0.3662)


def test_funnel_limits_narrow_with_volume():
    low_small, high_small = stats.funnel_limits("proportion", 0.5, [20])
    low_big, high_big = stats.funnel_limits("proportion", 0.5, [2000])
    assert low_small[0] < low_big[0] < 0.5 < high_big[0] < high_small[0]


def test_wilson_interval_contains_its_own_estimate_at_the_edges():
    x = np.array([0, 0, 3, 7, 7])
    n = np.array([7, 41, 41, 7, 130])
    low, high = stats.wilson(x, n)
    p = x / n
    assert ((low <= p) & (p <= high)).all()
    assert low[0] == 0.0 and low[1] == 0.0 and high[3] == 1.0
