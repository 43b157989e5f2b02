"""Hand-worked HVBP formulas, edge cases, budget neutrality and monotonicity properties, payer levers."""

import textwrap
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incentive_synthetic import SCENARIOS, hvbp_table, network_results

from carescore.issues import PayerError
from carescore.payer.incentives import (
    BundledPayment,
    Domain,
    MetricBonus,
    Payment,
    Reference,
    Scenario,
    ScenarioMeasure,
    SharedSavings,
    achievement_points,
    allocate_cents,
    compare_scenarios,
    consistency_points,
    improvement_points,
    load_scenario,
    run_scenario,
)


def test_achievement_points_hand_worked():
    t, b = 0.5, 0.9
    p = np.array([0.49, 0.5, 0.7, 0.5 + 0.4 * 5 / 9, 0.8999, 0.9, 0.95])
    # below threshold 0; exactly at it 9*0+0.5 = 0.5 rounds up to 1; halfway 5; 5.5 rounds up to 6;
    # just under the benchmark 9.49 -> 9; at or above the benchmark 10.
    assert achievement_points(p, t, b).tolist() == [0, 1, 5, 6, 9, 10, 10]


def test_improvement_points_hand_worked():
    base, b = 0.4, 0.9
    p = np.array([0.3, 0.4, 0.65, 0.89, 0.9])
    # 10 x 0.5 - 0.5 = 4.5 rounds up to 5; never above 9; nothing for no improvement.
    assert improvement_points(p, base, b).tolist() == [0, 0, 5, 9, 9]
    assert improvement_points(0.95, 0.92, 0.9) == 0  # baseline already past the benchmark


def test_consistency_points_hand_worked():
    floor, threshold = np.array([0.2, 0.2]), np.array([0.6, 0.6])
    p = np.array([[0.7, 0.4], [0.7, 0.65], [0.7, 0.2], [np.nan, np.nan], [0.7, np.nan]])
    # lowest dimension (0.4-0.2)/0.4 = 0.5 -> 20 x 0.5 - 0.5 = 9.5 -> 10; all at/above threshold 20;
    # one at the floor 0; no dimensions reported: no consistency points.
    assert consistency_points(p, floor, threshold)[:3].tolist() == [10, 20, 0]
    assert np.isnan(consistency_points(p, floor, threshold)[3])
    assert consistency_points(p, floor, threshold)[4] == 20


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0.01, 0.5), st.floats(0, 0.5))
def test_better_performance_never_lowers_points(p, q, t, gap):
    lo, hi = min(p, q), max(p, q)
    b = t + gap + 0.01
    assert achievement_points(hi, t, b) >= achievement_points(lo, t, b)
    assert improvement_points(hi, t / 2, b) >= improvement_points(lo, t / 2, b)


def _scenario(**kw) -> Scenario:
    measures = (ScenarioMeasure("mort", "outcomes", "lower_is_better", Reference(0.12), Reference(0.08), Reference(0.3)),
                ScenarioMeasure("surv", "outcomes", "higher_is_better", Reference(0.5), Reference(0.9), Reference(0.1)),
                ScenarioMeasure("exp", "experience", "higher_is_better", Reference(0.7), Reference(0.9), Reference(0.5)),
                ScenarioMeasure("cost", "efficiency", "lower_is_better", Reference(1.0), Reference(0.8), Reference(1.5)))
    domains = (Domain("outcomes", 0.5, 2), Domain("experience", 0.25, 1, consistency=True), Domain("efficiency", 0.25))
    base = Scenario(id="s", title="s", measures=measures, domains=domains, min_domains=2,
                    payment=Payment(base_amount=1_000_000, withhold=0.02))
    return replace(base, **kw)


def _table(rows):
    return pl.DataFrame(rows, schema=["provider_id", "measure_id", "value"], orient="row")


def test_lower_is_better_and_domain_reweighting():
    rows = [("a", "mort", 0.10), ("a", "surv", 0.7), ("a", "cost", 0.8),           # no experience domain
            ("b", "mort", 0.12), ("b", "surv", 0.5), ("b", "exp", 0.8), ("b", "cost", 1.2),
            ("c", "mort", 0.05)]                                                    # one measure: too few
    res = run_scenario(_table(rows), _scenario()).providers.sort("provider_id")
    a, b, c = res.rows(named=True)
    # a: mort 9*(0.02/0.04)+0.5 = 5, surv 9*0.5+0.5 = 5 -> outcomes 50; cost at benchmark 10 -> 100.
    assert a["domain_outcomes"] == 50 and a["domain_experience"] is None and a["domain_efficiency"] == 100
    assert a["total_score"] == pytest.approx((0.5 * 50 + 0.25 * 100) / 0.75)
    # b: exactly at both thresholds earns 1 point each; exp 5 points + 20 consistency of 30; cost 0.
    assert b["domain_outcomes"] == pytest.approx(100 * 2 / 20)
    assert b["domain_experience"] == pytest.approx(100 * 25 / 30)
    assert c["total_score"] is None and c["not_scored_reason"] == "0 of 2 required domains scored"
    assert c["withheld"] == 0 and c["incentive"] == 0


def test_budget_neutral_exchange_hand_worked():
    rows = [(p, m, v) for p, vals in {"a": (0.08, 0.9, 0.9, 0.8), "b": (0.12, 0.5, 0.7, 1.0)}.items()
            for m, v in zip(("mort", "surv", "exp", "cost"), vals)]
    r = run_scenario(_table(rows), _scenario())
    p = r.providers.sort("provider_id")
    # b sits exactly at every threshold: 1 point each, and 20 consistency points (at the threshold).
    assert p["total_score"].to_list() == pytest.approx([100.0, 0.5 * 10 + 0.25 * 100 * 21 / 30 + 0.25 * 10])
    assert r.pool == 40_000.0 and p["incentive"].sum() == pytest.approx(40_000.0)
    slope = 0.04 / sum(p["total_score"])
    assert r.slope == pytest.approx(slope * 1_000_000 / 1_000_000)
    assert p["adjustment_factor"].to_list() == pytest.approx([1 + slope * s - 0.02 for s in p["total_score"]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.3), st.floats(0, 1), st.floats(0.4, 1), st.floats(0.5, 1.6),
                          st.floats(1_000, 5e7)), min_size=1, max_size=40))
def test_budget_neutral_to_the_cent(providers):
    rows, base = [], []
    for i, (mort, surv, exp, cost, dollars) in enumerate(providers):
        rows += [(f"p{i}", "mort", mort), (f"p{i}", "surv", surv), (f"p{i}", "exp", exp), (f"p{i}", "cost", cost),
                 (f"p{i}", "base", round(dollars, 2))]
        base.append(dollars)
    scenario = _scenario(payment=Payment(base_measure="base", withhold=0.02))
    p = run_scenario(_table(rows), scenario).providers
    withheld = (p["withheld"] * 100).round().cast(pl.Int64).sum()
    paid = (p["incentive"] * 100).round().cast(pl.Int64).sum()
    if (p["total_score"].fill_null(0) > 0).any():
        assert paid == withheld
    assert ((p["net_value_based"] * 100).round().cast(pl.Int64).sum() == 0) or paid == 0


def test_allocate_cents_exact_and_ties_even():
    parts = allocate_cents(100, np.array([1.0, 1.0, 1.0]))
    assert parts.sum() == 100 and parts.max() - parts.min() <= 1
    assert allocate_cents(0, np.array([1.0])).tolist() == [0]


def test_better_value_never_lowers_total_score():
    rows = [("a", "mort", 0.11), ("a", "surv", 0.6), ("a", "exp", 0.75), ("a", "cost", 1.1),
            ("b", "mort", 0.10), ("b", "surv", 0.7), ("b", "exp", 0.80), ("b", "cost", 0.9)]
    before = run_scenario(_table(rows), _scenario()).providers.sort("provider_id")["total_score"][0]
    for k, better in ((0, 0.09), (1, 0.8), (2, 0.85), (3, 0.85)):
        changed = list(rows)
        changed[k] = (*rows[k][:2], better)
        after = run_scenario(_table(changed), _scenario()).providers.sort("provider_id")["total_score"][0]
        assert after >= before


def test_levers_shared_savings_bonus_bundle():
    rows = [("a", "mort", 0.1), ("a", "surv", 0.8), ("a", "cost", 0.9), ("a", "bench", 1000.0), ("a", "spend", 900.0),
            ("a", "mm", 100.0), ("a", "exp", 0.8), ("a", "fu", 0.55), ("a", "ep_spend", 30000.0), ("a", "eps", 10.0),
            ("b", "mort", 0.1), ("b", "surv", 0.8), ("b", "cost", 0.9), ("b", "bench", 1000.0), ("b", "spend", 990.0),
            ("b", "mm", 100.0), ("b", "fu", 0.7), ("b", "ep_spend", 20000.0), ("b", "eps", 10.0)]
    s = _scenario(payment=Payment(), metric_bonuses=(MetricBonus("fu", "higher_is_better", 0.6, 1000, 0.5),),
                  shared_savings=SharedSavings("bench", "spend", "mm", 0.02, 0.5, cap_rate=0.04),
                  bundles=(BundledPayment("hk", "ep_spend", "eps", 25000, 0.0, stop_gain=0.1, stop_loss=0.05),))
    p = run_scenario(_table(rows), s).providers.sort("provider_id")
    a, b = p.rows(named=True)
    # a saves 10% >= 2% MSR: half of 100 x 100 = 5,000, capped at 4% of 100,000 = 4,000. b saves 1%: nothing.
    assert a["shared_savings"] == 4000 and b["shared_savings"] == 0
    assert a["metric_bonuses"] == 500 and b["metric_bonuses"] == 1000          # partial credit halfway
    # a overspends 5,000 x 10 episodes, limited to 5% of 250,000; b saves 50,000, limited to 10%.
    assert a["bundles"] == -12_500 and b["bundles"] == 25_000
    gated = run_scenario(_table(rows), _scenario(payment=Payment(), shared_savings=SharedSavings(
        "bench", "spend", "mm", 0.02, 0.5, min_total_score=101))).providers
    assert gated["shared_savings"].sum() == 0


def test_scenario_yaml_errors_point_at_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        id: bad
        domains:
          outcomes: {weight: 0.5}
        measures:
          mort: {domain: outcomes, direction: lower_is_better, threshold: baseline_medain}
        payment:
          withold: 0.02
        """))
    with pytest.raises(PayerError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"{path}:5:67: error[I004] measures.mort.threshold must be a number or one of baseline_median," in text
    assert "got 'baseline_medain'; did you mean 'baseline_median'?" in text
    assert f"{path}:7:3: error[M003] unknown key 'withold' in payment; did you mean 'withhold'?" in text
    # once the file reads as a scenario, what it means is checked: a measure's domain must be one of the domains
    path.write_text(path.read_text().replace("domain: outcomes", "domain: outcome").replace("baseline_medain", "0.5")
                    .replace("withold", "withhold"))
    with pytest.raises(PayerError) as err:
        load_scenario(path)
    assert [str(d) for d in err.value.diagnostics] == [
        f"{path}:5:18: error[I003] measure 'mort' names unknown domain 'outcome'; did you mean 'outcomes'?",
        f"{path}:7:3: error[I002] a withhold needs payment.base_payment ({{measure: <id>}} or {{amount: <dollars>}})"]


def test_hvbp_scenario_on_a_national_table():
    r = run_scenario(hvbp_table(providers=1000), load_scenario(SCENARIOS / "hvbp_fy2026_like.yaml"))
    p = r.providers
    assert p.height == 1000 and p["total_score"].is_not_null().sum() > 900
    assert (p["withheld"] * 100).round().sum() == (p["incentive"] * 100).round().sum()
    assert p["adjustment_factor"].min() >= 0.98 and r.references["threshold"].is_not_null().all()
    assert r.measures["reliability"].drop_nulls().is_between(0, 1).all()


def test_network_scenario_on_carescore_results_and_shrinkage():
    table = network_results()
    s = load_scenario(SCENARIOS / "network_quality_bonus.yaml")
    r = run_scenario(table, s)
    assert r.providers.height == 60
    assert r.measures.filter((pl.col("provider_id") == "clinic_000") & (pl.col("measure_id") == "hcahps_would_recommend")
                             ).height == 0  # status too_few is not used
    shrunk = run_scenario(table, replace(s, noise=replace(s.noise, shrink=True)))
    m = shrunk.measures.filter(pl.col("measure_id") == "readmission_30d")
    mean = m["performance"].mean()
    assert ((m["scored_value"] - mean).abs() <= (m["performance"] - mean).abs() + 1e-12).all()
    side, totals = compare_scenarios({"raw": r, "shrunk": shrunk})
    assert set(totals["scenario"]) == {"raw", "shrunk"}
    assert totals.filter(pl.col("scenario") == "shrunk")["winners"].item() + \
        totals.filter(pl.col("scenario") == "shrunk")["losers"].item() <= 60
    assert "dollars_change_shrunk" in side.columns


def test_cli_functions_write_csv(tmp_path, capsys):
    from carescore.payer.cli import incentives

    network_results().write_csv(tmp_path / "results.csv")
    out = tmp_path / "cmp.csv"
    incentives(SCENARIOS / "network_quality_bonus.yaml", tmp_path / "results.csv",
               [SCENARIOS / "network_quality_bonus.yaml"], out)
    assert "withheld pool $" in capsys.readouterr().out and pl.read_csv(out).height == 60
