"""AppTest of the payer levers on the Incentives page (per-measure bonuses, shared savings, bundled payments) on
the published demo run. Expected dollars are worked out here by hand from the run's results file, not by the
incentive engine the page calls."""

import math
import re

import polars as pl
import pytest
from test_pages import no_errors, open_page, sign_in, texts

from carescore.publish import store

SETTLED = "Year-end settlement ($)"
STATUS_WORDS = {"too_few": "Too few to report", "suppressed": "Hidden to protect privacy"}


@pytest.fixture
def payer(app):
    sign_in(app, "payer")
    open_page(app, "incentives")
    no_errors(app)
    return app


def open_lever(at, tab: str):
    """Open one lever's tab (only the open tab computes and shows its results)."""
    at.session_state["inc_lever"] = tab
    at.run()
    no_errors(at)
    return at


def results() -> pl.DataFrame:
    root = store.root_dir()
    return pl.read_parquet(root / "runs" / store.current_run_id(root) / "results.parquet")


def names(kind: str) -> dict[str, str]:
    units = store.read_units(store.root_dir()).filter(pl.col("provider_type") == kind)
    return dict(zip(units["unit_id"], units["name"]))


def this_year(metric: str, kind: str) -> pl.DataFrame:
    """The performance year's overall row of `metric` for each provider of `kind`, with its name."""
    r = results()
    year = max(r["period"])
    ids = names(kind)
    return (r.filter(pl.col("metric_id") == metric, pl.col("period") == year, pl.col("stratum") == "all",
                     pl.col("unit_id").is_in(list(ids)))
            .with_columns(name=pl.col("unit_id").replace_strict(ids)))


def metric_value(at, label: str) -> float:
    """A dollar figure of an st.metric ("$12,345" or "-$1,234") as a number."""
    text = next(m.value for m in at.metric if m.label == label)
    return float(re.sub(r"[$,]", "", text))


def grid(at, *columns: str):
    """The first table on the page that has all these columns."""
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def by_name(frame, name_column: str, column: str) -> dict:
    return dict(zip(frame[name_column], frame[column]))


def assert_not_scored_says_why(at, name_column: str, money: str, rows: pl.DataFrame, *also: str):
    """A provider whose input is too few or hidden is listed as not scored, with those words, and has no dollars
    in the paid table: not scored, not $0."""
    hidden = rows.filter(pl.col("status") != "ok")
    assert hidden.height > 0  # the demo run has such providers, or this check would prove nothing
    paid = set(grid(at, name_column, money)[name_column])
    why = by_name(grid(at, name_column, "Not scored because", *also), name_column, "Not scored because")
    for name, status in hidden.select("name", "status").iter_rows():
        assert name not in paid, name
        assert why[name] == STATUS_WORDS[status], (name, why.get(name))


# ---- withhold and earn back


def test_every_hospital_is_either_scored_or_listed_as_not_scored(payer):
    """The opening design's measures (two needed); a hospital with fewer reported this year is listed, not
    dropped, and never both paid and listed."""
    design = ["readmission_30d", "followup_7d", "would_recommend", "falls_with_injury"]
    r = results()
    count = dict(r.filter(pl.col("metric_id").is_in(design), pl.col("period") == max(r["period"]),
                          pl.col("stratum") == "all", pl.col("status") == "ok").group_by("unit_id").len().iter_rows())
    hospitals = names("hospital")
    scored = set(grid(payer, "Provider", "Payment factor")["Provider"])
    listed = set(grid(payer, "Provider", "Care network", "Not scored because")["Provider"])
    assert scored == {n for u, n in hospitals.items() if count.get(u, 0) >= 2}
    assert listed == {n for u, n in hospitals.items() if count.get(u, 0) < 2} != set()


def test_a_provider_is_scored_only_with_the_minimum_number_of_measures(payer):
    """Opening design: four measures, at least two needed. A hospital with one reportable measure is listed apart
    with the reason (not in the paid table, not as $0); allowing one measure scores it."""
    design = ["readmission_30d", "followup_7d", "would_recommend", "falls_with_injury"]
    r = results()
    count = (r.filter(pl.col("metric_id").is_in(design), pl.col("period") == max(r["period"]), pl.col("stratum") == "all",
                      pl.col("status") == "ok").group_by("unit_id").len())
    hospitals = names("hospital")
    have = {hospitals[u]: n for u, n in count.iter_rows() if u in hospitals}
    single = {name for name, n in have.items() if n == 1}
    assert single  # the demo has such hospitals, or this check would prove nothing
    paid = pl.from_pandas(grid(payer, "Provider", "Score (0-100)"))
    assert paid["Score (0-100)"].null_count() == 0
    assert set(paid["Provider"]) == {name for name, n in have.items() if n >= 2}
    why = by_name(grid(payer, "Provider", "Care network", "Not scored because"), "Provider", "Not scored because")
    assert {why[name] for name in single} == {"only 1 of the 2 measures required can be reported"}
    # the key counts the design's measures that the run can report (all four, or fewer where hidden)
    least = next(w for w in payer.number_input if w.key.startswith("inc_min_hospital_"))
    least.set_value(1).run()
    no_errors(payer)
    assert set(grid(payer, "Provider", "Score (0-100)")["Provider"]) == set(have)


# ---- per-measure bonuses


def test_raising_a_bonus_raises_the_total_by_the_amount_times_providers_at_target(payer):
    at = open_lever(payer, "Per-measure bonuses")
    at.segmented_control(key="inc_bonus_kind").set_value("hospital").run()
    at.multiselect(key="inc_bonus_measures_hospital").set_value(["followup_7d"]).run()
    at.number_input(key="inc_bonus_target_followup_7d").set_value(50.0).run()
    at.number_input(key="inc_bonus_amount_followup_7d").set_value(10_000.0).run()
    no_errors(at)
    rows = this_year("followup_7d", "hospital")
    reached = rows.filter(pl.col("status") == "ok", pl.col("value") >= 0.5).height
    assert 0 < reached < rows.filter(pl.col("status") == "ok").height  # the target separates providers
    before = metric_value(at, "Paid in bonuses")
    assert before == 10_000 * reached
    at.number_input(key="inc_bonus_amount_followup_7d").set_value(15_000.0).run()
    assert metric_value(at, "Paid in bonuses") - before == 5_000 * reached
    assert_not_scored_says_why(at, "Provider", "Bonus ($)", rows, "Measure")


def test_partial_credit_pays_the_share_of_the_way_to_the_target(payer):
    at = open_lever(payer, "Per-measure bonuses")
    at.segmented_control(key="inc_bonus_kind").set_value("hospital").run()
    at.multiselect(key="inc_bonus_measures_hospital").set_value(["followup_7d"]).run()
    at.number_input(key="inc_bonus_target_followup_7d").set_value(55.0).run()
    at.number_input(key="inc_bonus_partial_followup_7d").set_value(40.0).run()
    at.number_input(key="inc_bonus_amount_followup_7d").set_value(20_000.0).run()
    no_errors(at)
    paid = by_name(grid(at, "Provider", "Bonus ($)"), "Provider", "Bonus ($)")
    ok = this_year("followup_7d", "hospital").filter(pl.col("status") == "ok")
    shares = [min(max((v - 0.40) / 0.15, 0.0), 1.0) for v in ok["value"]]
    assert any(0 < s < 1 for s in shares)
    for name, share in zip(ok["name"], shares):
        assert paid[name] == pytest.approx(round(20_000 * share, 2), abs=0.011), name


# ---- shared savings


def expected_shared_savings(msr: float, share: float, cap: float) -> pl.DataFrame:
    """By hand: each practice's member months by age group at the whole network's spending per member month for
    that age group, this year; savings shared when (benchmark - spending) / benchmark reaches the minimum."""
    r = results()
    year = max(r["period"])
    cost = r.filter(pl.col("metric_id") == "cost_pmpm", pl.col("period") == year)
    rates = cost.filter(pl.col("level") == "all", pl.col("stratum") == "age_band").select("stratum_value", rate="value")
    mix = (cost.filter(pl.col("level") == "practice", pl.col("stratum") == "age_band").join(rates, on="stratum_value")
           .group_by("unit_id").agg(benchmark=(pl.col("denominator") * pl.col("rate")).sum() / pl.col("denominator")
                                    .sum()))
    practices = this_year("cost_pmpm", "primary_care").filter(pl.col("status") == "ok").join(mix, on="unit_id")
    return practices.with_columns(saved=(pl.col("benchmark") - pl.col("value")) / pl.col("benchmark")).with_columns(
        expected=pl.when(pl.col("saved") >= msr).then(pl.min_horizontal(
            share * (pl.col("benchmark") - pl.col("value")) * pl.col("denominator"),
            cap * pl.col("benchmark") * pl.col("denominator"))).otherwise(0.0))


def set_savings(at, msr: float, share: int, cap: int, gate: int):
    open_lever(at, "Shared savings")
    at.selectbox(key="inc_ss_adjust").set_value("age_band")
    at.slider(key="inc_ss_msr").set_value(msr)
    at.slider(key="inc_ss_share").set_value(share)
    at.slider(key="inc_ss_cap").set_value(cap)
    at.slider(key="inc_ss_gate").set_value(gate)
    at.run()
    no_errors(at)
    return grid(at, "Practice", "Shared savings ($)")


def test_shared_savings_against_the_age_adjusted_benchmark(payer):
    frame = set_savings(payer, 2.0, 60, 5, 0)
    paid = by_name(frame, "Practice", "Shared savings ($)")
    expected = expected_shared_savings(0.02, 0.6, 0.05)
    assert (expected["expected"] > 0).sum() >= 2 and (expected["expected"] == 0).sum() >= 2
    assert (expected["expected"] == 0.05 * expected["benchmark"] * expected["denominator"]).any()  # a capped one
    for name, want in expected.select("name", "expected").iter_rows():
        assert paid[name] == pytest.approx(want, abs=0.011), name
    assert metric_value(payer, "Shared with practices") == pytest.approx(round(expected["expected"].sum()), abs=1)
    assert_not_scored_says_why(payer, "Practice", "Shared savings ($)", this_year("cost_pmpm", "primary_care"))


def test_a_quality_gate_that_fails_zeroes_that_practices_shared_savings(payer):
    frame = set_savings(payer, 2.0, 50, 10, 0)
    paid = by_name(frame, "Practice", "Shared savings ($)")
    score = {n: float(s) for n, s in by_name(frame, "Practice", "Quality score").items() if s != "none"}
    earners = sorted((n for n in paid if paid[n] and n in score and score[n] < 95), key=lambda n: -paid[n])
    name = earners[0]
    gate = 5 * math.floor(score[name] / 5) + 5  # the next step of the slider above its score
    gated = set_savings(payer, 2.0, 50, 10, gate)
    after, result = by_name(gated, "Practice", "Shared savings ($)"), by_name(gated, "Practice", "Result")
    assert paid[name] > 0 and after[name] == 0 and result[name] == "Quality gate not met"
    for other in earners:  # practices at or above the gate keep every dollar
        if score[other] >= gate:
            assert after[other] == paid[other]
    assert all(after[n] == 0 for n in earners if score[n] < gate)


# ---- bundled payments


def set_bundle(at, price: float, discount: float, gain: int, loss: int):
    open_lever(at, "Bundled payments")
    at.selectbox(key="inc_bundle_episode").set_value("episode_cost_30d").run()
    at.number_input(key="inc_bundle_price_episode_cost_30d").set_value(price)
    at.slider(key="inc_bundle_discount").set_value(discount)
    at.slider(key="inc_bundle_stop_gain").set_value(gain)
    at.slider(key="inc_bundle_stop_loss").set_value(loss)
    at.run()
    no_errors(at)
    return grid(at, "Hospital", SETTLED)


def test_a_target_below_spending_makes_every_hospital_pay_back(payer):
    rows = this_year("episode_cost_30d", "hospital")
    ok = rows.filter(pl.col("status") == "ok")
    price = math.floor(ok["value"].min() / 100) * 100 - 500
    frame = set_bundle(payer, float(price), 0.0, 100, 100)
    paid = by_name(frame, "Hospital", SETTLED)
    for name, spend, episodes in ok.select("name", "value", "denominator").iter_rows():
        assert paid[name] == pytest.approx((price - spend) * episodes, abs=0.011), name
        assert paid[name] < 0
    assert metric_value(payer, "Paid to hospitals") == 0
    assert_not_scored_says_why(payer, "Hospital", SETTLED, rows)
    # Each care network's total is the sum over its own hospitals.
    networks = store.read_units(store.root_dir()).filter(pl.col("provider_type") == "network")
    want = (ok.join(store.read_units(store.root_dir()).select("unit_id", "network_id"), on="unit_id")
            .group_by("network_id").agg(total=((price - pl.col("value")) * pl.col("denominator")).sum())
            .join(networks.select(network_id="unit_id", name="name"), on="network_id"))
    totals = by_name(grid(payer, "Paid or paying back"), "Care network", SETTLED)
    for name, total in want.select("name", "total").iter_rows():
        assert totals[name] == pytest.approx(total, abs=0.05), name

    # A 5% stop-loss limits each loss to 5% of the target spending.
    limited = set_bundle(payer, float(price), 0.0, 100, 5)
    paid, result = by_name(limited, "Hospital", SETTLED), by_name(limited, "Hospital", "Result")
    for name, spend, episodes in ok.select("name", "value", "denominator").iter_rows():
        want = max((price - spend) * episodes, -0.05 * price * episodes)
        assert paid[name] == pytest.approx(want, abs=0.011), name
        assert result[name].endswith("(limited)") == (want > (price - spend) * episodes)


def test_the_discount_lowers_the_target_and_a_generous_target_pays_hospitals(payer):
    ok = this_year("episode_cost_30d", "hospital").filter(pl.col("status") == "ok")
    price = math.ceil(ok["value"].max() / 100) * 100 + 2_000
    frame = set_bundle(payer, float(price), 3.0, 100, 100)
    paid = by_name(frame, "Hospital", SETTLED)
    for name, spend, episodes in ok.select("name", "value", "denominator").iter_rows():
        assert paid[name] == pytest.approx((price * 0.97 - spend) * episodes, abs=0.011), name
    assert metric_value(payer, "Paid back by hospitals") == 0


def test_only_the_open_lever_shows_results_and_choices_survive_a_look_at_another(payer):
    assert {"Providers scored", "Withheld and paid back"} <= {m.label for m in payer.metric}
    assert "Paid in bonuses" not in {m.label for m in payer.metric}
    at = open_lever(payer, "Per-measure bonuses")
    at.multiselect(key="inc_bonus_measures_hospital").set_value(["followup_7d"]).run()
    at.number_input(key="inc_bonus_amount_followup_7d").set_value(12_345.0).run()
    assert "Withheld and paid back" not in {m.label for m in at.metric}
    open_lever(at, "Bundled payments")
    open_lever(at, "Per-measure bonuses")
    assert at.number_input(key="inc_bonus_amount_followup_7d").value == 12_345.0
    assert metric_value(at, "Paid in bonuses") % 12_345 == 0 < metric_value(at, "Paid in bonuses")


# ---- the sign-in gate


def test_levers_reveal_nothing_without_sign_in(app):
    open_page(app, "incentives")
    no_errors(app)
    shown = texts(app)
    assert "Please sign in" in shown and "To get access" in shown
    assert not app.dataframe and not app.metric and not app.tabs and not app.slider
    assert "Shared savings" not in shown and "bundled payment" not in shown


def test_reliability_adjustment_pulls_each_result_toward_the_average(payer):
    payer.toggle(key="inc_shrink").set_value(True).run()
    no_errors(payer)
    table = pl.from_pandas(grid(payer, "Measure", "Result", "Value scored", "Reliability (0-1)"))
    assert table.height > 10
    mean = pl.col("Result").mean().over("Measure")
    checked = table.with_columns(mean=mean).with_columns(
        between=((pl.col("Value scored") - pl.col("mean")).abs() <= (pl.col("Result") - pl.col("mean")).abs() + 1e-9)
        & ((pl.col("Value scored") - pl.col("mean")) * (pl.col("Result") - pl.col("mean")) >= -1e-12))
    assert checked["between"].all()
    moved = table.filter((pl.col("Value scored") - pl.col("Result")).abs() > 1e-9)
    assert moved.height > 0 and (moved["Reliability (0-1)"] < 1).any()  # (shown rounded to 2 places)
    payer.toggle(key="inc_shrink").set_value(False).run()
    plain = pl.from_pandas(grid(payer, "Measure", "Result", "Value scored"))
    assert (plain["Value scored"] - plain["Result"]).abs().max() < 1e-12
