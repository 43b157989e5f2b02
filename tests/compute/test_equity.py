"""Equity statistics: hand-worked examples and properties that hold whatever the data."""

import math

import numpy as np
import polars as pl
import pytest

from carescore.compute import equity, stats
from carescore.issues import ComputeError


def test_index_of_disparity_hand_worked():
    # reference 10 per 100; others 20 and 30: mean absolute difference 15, i.e. 150% of the reference
    assert equity.index_of_disparity([20, 30], 10) == pytest.approx(150.0)
    assert equity.index_of_disparity([10, 10], 10) == 0.0
    assert math.isnan(equity.index_of_disparity([5], 0))


def test_between_group_variance_hand_worked():
    # shares 0.75 / 0.25, values 0.2 / 0.6: weighted mean 0.3; 0.75 * 0.01 + 0.25 * 0.09 = 0.03
    assert equity.between_group_variance([0.2, 0.6], [300, 100]) == pytest.approx(0.03)
    assert equity.between_group_variance([0.4, 0.4, 0.4], [1, 2, 3]) == pytest.approx(0.0)


def test_ratio_interval_swaps_to_the_reciprocal_and_contains_the_ratio():
    l1, u1 = stats.wilson(30, 100)
    l0, u0 = stats.wilson(20, 120)
    low, r, high = (float(v) for v in stats.ratio_mover(0.3, l1, u1, 20 / 120, l0, u0))
    assert r == pytest.approx(1.8) and low < r < high
    low2, r2, high2 = stats.ratio_mover(20 / 120, l0, u0, 0.3, l1, u1)
    assert (1 / high2, 1 / r2, 1 / low2) == pytest.approx((low, r, high))


def test_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    n1, n0, p1, p0 = 80, 150, 0.25, 0.15
    x1, x0 = rng.binomial(n1, p1, 4000), rng.binomial(n0, p0, 4000)
    l1, u1 = stats.wilson(x1, n1)
    l0, u0 = stats.wilson(x0, n0)
    low, _, high = stats.ratio_mover(x1 / n1, l1, u1, x0 / n0, l0, u0)
    covered = np.nanmean((low <= p1 / p0) & (p1 / p0 <= high))
    assert 0.935 <= covered <= 0.965


def test_against_reference_gap_and_ratio_per_group():
    groups = pl.DataFrame({"stratum_value": ["a", "b"], "value": [0.3, 0.2], "cases": [100, 100],
                           "status": ["ok", "ok"]})
    (la, ua), (lb, ub) = stats.wilson(30, 100), stats.wilson(20, 100)
    groups = groups.with_columns(ci_low=pl.Series([la, lb]), ci_high=pl.Series([ua, ub]))
    out = equity.against_reference(groups, "b").row(0, named=True)
    assert out["gap"] == pytest.approx(0.1) and out["ratio"] == pytest.approx(1.5)
    assert out["gap_low"] < 0.1 < out["gap_high"] and out["ratio_low"] < 1.5 < out["ratio_high"]
    with pytest.raises(ComputeError, match="reference group 'c'"):
        equity.against_reference(groups, "c")


def test_overdispersion_is_near_one_without_extra_variation_and_found_with_it():
    rng = np.random.default_rng(3)
    n = rng.integers(200, 2000, 300)
    plain = rng.binomial(n, 0.3) / n
    phi, tau2 = stats.overdispersion("proportion", 0.3, plain, n)
    # winsorized z-scores of pure chance have a mean square of about 0.68 (10% each side): no widening
    assert 0.55 < phi < 1 and tau2 == 0
    true = np.clip(rng.normal(0.3, 0.05, 300), 0.01, 0.99)  # units really differ: sd 0.05 between them
    spread = rng.binomial(n, true) / n
    assert stats.overdispersion("proportion", 0.3, spread, n, trim=0)[1] == pytest.approx(0.05 ** 2, rel=0.3)
    phi, tau2 = stats.overdispersion("proportion", 0.3, spread, n)  # winsorizing shrinks it, as published
    assert phi > 2 and 0.4 * 0.05 ** 2 < tau2 < 0.05 ** 2
    low1, high1 = stats.funnel_limits("proportion", 0.3, [500])
    low2, high2 = stats.funnel_limits("proportion", 0.3, [500], tau2=tau2)
    assert high2 - low2 > high1 - low1
    assert (high2 - 0.3) == pytest.approx(stats.Z95 * math.sqrt(0.3 * 0.7 / 500 + tau2))


def _results(rows):
    cols = ["metric_id", "unit_id", "stratum_value", "value"]
    return (pl.DataFrame([dict(zip(cols, r)) for r in rows])
            .with_columns(level=pl.lit("provider"), period=pl.lit("2025"), stratum=pl.lit("dual_eligible"),
                          status=pl.lit("ok")))


def test_summary_score_ranks_units_by_the_groups_results_and_gaps():
    # Two measures, three providers. On both, P1's dual-eligible patients do best and have no gap;
    # P3's do worst with the widest gap. Lower is better for "readmit", so its sign flips.
    rows = []
    for unit, fu_dual, fu_other, re_dual, re_other in [("P1", 0.6, 0.6, 0.10, 0.10), ("P2", 0.5, 0.55, 0.15, 0.12),
                                                       ("P3", 0.4, 0.6, 0.20, 0.10)]:
        rows += [("followup", unit, "true", fu_dual), ("followup", unit, "false", fu_other),
                 ("readmit", unit, "true", re_dual), ("readmit", unit, "false", re_other)]
    rows.append(("followup", "P4", "true", 0.7))  # one measure only: listed, not scored
    out = equity.summary_score(_results(rows), {"followup": "higher_is_better", "readmit": "lower_is_better"},
                               "dual_eligible", "true", "false", "provider", "2025")
    assert out["unit_id"].to_list()[:3] == ["P1", "P2", "P3"]
    p4 = out.filter(pl.col("unit_id") == "P4").row(0, named=True)
    assert p4["measures"] == 1 and p4["summary"] is None
    # group-result component for P1 by hand: z of 0.6 among (0.6, 0.5, 0.4, 0.7) and of -0.10 among (-0.10, -0.15, -0.20)
    fu = np.array([0.6, 0.5, 0.4, 0.7])
    re = -np.array([0.10, 0.15, 0.20])
    expected = ((0.6 - fu.mean()) / fu.std(ddof=1) + (-0.10 - re.mean()) / re.std(ddof=1)) / 2
    assert out.filter(pl.col("unit_id") == "P1")["group_result"].item() == pytest.approx(expected)


def test_summary_score_improvement_is_the_direction_signed_change_since_the_earlier_period():
    now = [("followup", u, "true", v) for u, v in [("P1", 0.6), ("P2", 0.5), ("P3", 0.4)]]
    now += [("followup", u, "false", 0.6) for u in ("P1", "P2", "P3")]
    now += [("readmit", u, "true", v) for u, v in [("P1", 0.10), ("P2", 0.15), ("P3", 0.20)]]
    now += [("readmit", u, "false", 0.12) for u in ("P1", "P2", "P3")]
    # a year earlier: P3 improved most on both (follow-up up 0.2, readmissions down 0.1); P1 got worse
    before = [("followup", u, "true", v) for u, v in [("P1", 0.7), ("P2", 0.5), ("P3", 0.2)]]
    before += [("readmit", u, "true", v) for u, v in [("P1", 0.05), ("P2", 0.15), ("P3", 0.30)]]
    table = pl.concat([_results(now), _results(before).with_columns(period=pl.lit("2024"))])
    directions = {"followup": "higher_is_better", "readmit": "lower_is_better"}
    out = equity.summary_score(table, directions, "dual_eligible", "true", "false", "provider", "2025",
                               previous="2024")
    improvement = dict(out.select("unit_id", "improvement").iter_rows())
    assert improvement["P3"] > improvement["P2"] > improvement["P1"]
    fu = np.array([-0.1, 0.0, 0.2])  # follow-up changes, higher is better
    re = -np.array([0.05, 0.0, -0.10])  # readmission changes, flipped
    expected = ((fu[2] - fu.mean()) / fu.std(ddof=1) + (re[2] - re.mean()) / re.std(ddof=1)) / 2
    assert improvement["P3"] == pytest.approx(expected)
    without = equity.summary_score(table, directions, "dual_eligible", "true", "false", "provider", "2025")
    assert without["improvement"].null_count() == without.height
    assert without.select("unit_id", "summary").equals(out.select("unit_id", "summary"))  # not part of the summary
