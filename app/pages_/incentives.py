"""Incentives (payers): try the levers a payer pulls on the published results and see who gains or loses.

One tab per lever: a withhold earned back through a quality score, per-measure bonuses, shared savings against
a risk-adjusted benchmark, and bundled payments. Every dollar comes from the incentive engine
(carescore.payer.incentives): the page turns choices into a `Scenario` and shows what `run_scenario` /
`compare_scenarios` return. A provider whose input is too few to report or hidden to protect privacy is shown as
not scored, never as $0."""

import altair as alt
import polars as pl
import streamlit as st

from carescore.issues import PayerError
from carescore.payer import incentives as inc
from lib import auth
from lib import data as ad

st.title("Incentives")
auth.require("payer")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)
units = ad.units(run)
names = dict(zip(units["unit_id"], units["name"]))
network_of = dict(zip(units["unit_id"], units["network_id"]))

KINDS = {"hospital": "Hospitals", "primary_care": "Primary-care practices"}
# A program's opening design: measures a payer would recognize for each kind of provider.
STARTERS = {"hospital": ["readmission_30d", "followup_7d", "would_recommend", "falls_with_injury"],
            "primary_care": ["pcp_continuity", "ed_visits_per_1000", "sdoh_screening", "cost_pmpm"]}
THRESHOLDS = {"baseline_median": "Last year's median provider", "baseline_worst": "Last year's lowest provider"}
BENCHMARKS = {"baseline_top_decile_mean": "Average of last year's top 10%", "baseline_best": "Last year's best"}
# What a spending benchmark may be adjusted for. Never race or ethnicity: a benchmark must not expect less
# spending on some people because of who they are.
ADJUST = {"age_band": "Age group", "dual_eligible": "Both Medicare and Medicaid (dual eligible)", "sex": "Sex",
          "all": "Nothing: the network average"}
EPISODES = {"episode_cost_30d": "a hospital stay and the month after", "inpatient_cost_per_admission":
            "a hospital stay alone"}
MONEY = st.column_config.NumberColumn(format="dollar")
LEGEND = alt.Legend(orient="bottom", labelLimit=420, columns=3)

rows = ad.unit_rows(ad.results(run)).filter(pl.col("stratum") == "all")
if len(periods) < 2 or rows.filter(pl.col("status") == "ok").is_empty():
    st.info("Incentives need results for two years (last year sets the thresholds) and at least one measure "
            "reported for these providers. This run does not have them.")
    st.stop()
baseline, performance = periods[-2], periods[-1]
readings = {(r["unit_id"], r["metric_id"]): r for r in rows.filter(pl.col("period") == performance)
            .select("unit_id", "metric_id", "status", "value", "denominator").iter_rows(named=True)}
last_year = {m: v for (m, p), v in ad.network_averages(run).items() if p == baseline}

st.write("Try the levers a payer can pull, one per tab, and see what each provider would be paid. Every dollar is "
         f"computed by the network's incentive engine from {performance} results (last year, {baseline}, sets the "
         "thresholds). A provider whose result is too few to report, or hidden to protect patients' privacy, is "
         "shown as not scored, never as $0.")


def members(kind: str) -> list[str]:
    return units.filter(pl.col("provider_type") == kind)["unit_id"].to_list()


def engine_rows(kind: str) -> pl.DataFrame:
    """One kind of provider's published results with status ok, in the engine's long layout."""
    return (rows.filter(pl.col("status") == "ok", pl.col("unit_id").is_in(members(kind)))
            .select(provider_id="unit_id", measure_id="metric_id", period="period", value="value",
                    denominator="denominator"))


def reading(unit_id: str, mid: str) -> tuple[dict | None, str]:
    """The provider's performance-year result if it can be scored; otherwise None and why not, in words."""
    r = readings.get((unit_id, mid))
    if r is None:
        return None, "Not reported"
    if r["status"] != "ok":
        return None, ad.STATUS.get(r["status"], "Not available")
    return r, ""


def network_name(unit_id: str) -> str:
    return names.get(network_of[unit_id], network_of[unit_id] or "")


def title(mid: str) -> str:
    return catalog[mid]["title"]


def dollars(x: float) -> str:
    return f"-${-x:,.0f}" if x < 0 else f"${x:,.0f}"


@st.cache_data(show_spinner="Computing payments…", max_entries=128)
def pay(run_id: str, kind: str, design: inc.Scenario, _table: pl.DataFrame) -> inc.ScenarioResult:
    """The engine's result. `_table` is not hashed: it follows from the run, the kind and the design."""
    return inc.run_scenario(_table, design)


def not_scored(missing: pl.DataFrame) -> None:
    """Providers left out of a lever and why: never shown as $0, which would read as "scored and earned nothing"."""
    if not missing.is_empty():
        st.markdown(f"**Not scored this year ({missing.height})**, for the reason given: neither paid nor charged "
                    "under this lever.")
        st.dataframe(missing, hide_index=True)


def by_network(providers: pl.DataFrame, money: str, paid_words: str) -> None:
    """Each care network's providers: how many, how many were scored and paid, and their dollars.
    `providers` has one row per provider; `money` is null for a provider not scored."""
    st.subheader("By care network")
    st.dataframe(providers.group_by("Care network").agg(
        pl.len().alias("Providers"), pl.col(money).is_not_null().sum().alias("Scored"),
        (pl.col(money).fill_null(0) != 0).sum().alias(paid_words), pl.col(money).sum()).sort("Care network"),
        hide_index=True, column_config={money: MONEY})


def dollars_chart(heading: str, x_title: str, color_title: str, colors: tuple = ()) -> alt.Chart:
    scale = alt.Scale(domain=list(colors[0]), range=list(colors[1])) if colors else alt.Undefined
    return alt.Chart(alt.NamedData("rows")).mark_bar().encode(
        x=alt.X("sum(Dollars):Q", title=x_title),
        y=alt.Y("Provider:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
        color=alt.Color("Group:N", title=color_title, scale=scale, legend=LEGEND),
        tooltip=["Provider:N", "Group:N", alt.Tooltip("Dollars:Q", format="$,.0f")],
    ).properties(title=heading, height=alt.Step(22))


# ------------------------------------------------------------------------------------------------
# Withhold and earn back


def scenario(sid: str, weights: dict[str, float], threshold: str, benchmark: str, withhold: float, base: float,
             fixed: dict[str, tuple[float | None, float | None]] | None = None, min_measures: int = 1,
             shrink: bool = False) -> inc.Scenario:
    """Each chosen measure is its own domain, so its weight is exactly the weight the payer typed; a provider is
    scored only with at least `min_measures` of them (as Medicare requires a minimum number of domains)."""
    fixed = fixed or {}

    def ref(mid: str, which: int, rule: str) -> inc.Reference:
        value = fixed.get(mid, (None, None))[which]
        return inc.Reference(value=value) if value is not None else inc.Reference.parse(rule)

    measures = tuple(inc.ScenarioMeasure(id=mid, domain=mid, direction=catalog[mid]["direction"],
                                         threshold=ref(mid, 0, threshold), benchmark=ref(mid, 1, benchmark),
                                         floor=inc.Reference.parse("baseline_worst")) for mid in weights)
    return inc.Scenario(id=sid, title=sid, measures=measures,
                        domains=tuple(inc.Domain(id=mid, weight=w) for mid, w in weights.items()),
                        min_domains=min(min_measures, len(weights)), baseline_period=baseline,
                        performance_period=performance,
                        payment=inc.Payment(base_amount=base, withhold=withhold),
                        noise=inc.NoiseOptions(shrink=shrink))


def gains_chart() -> alt.Chart:
    return alt.Chart(alt.NamedData("providers")).mark_bar().encode(
        x=alt.X("Change:Q", title="Change in payment adjustment versus the current program ($)",
                axis=alt.Axis(format="$,.0f")),
        y=alt.Y("Provider:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
        color=alt.Color("Versus current:N", scale=alt.Scale(domain=["gains", "same", "loses"],
                                                           range=["#1f5f8b", "#aaaaaa", "#d95f02"])),
        tooltip=["Provider:N", alt.Tooltip("Change:Q", format="$,.0f"), alt.Tooltip("Adjustment:Q", format="$,.0f"),
                 "Versus current:N"],
    ).properties(title="Who gains and who loses versus the current program", height=alt.Step(24))


def withhold_tab(shown: bool) -> None:
    st.write("Design a pay-for-performance program: choose measures and weights, how points are earned, and how "
             "much of each provider's payment is withheld and earned back. Providers are scored the way Medicare's "
             "Hospital Value-Based Purchasing program scores hospitals, and the withheld money is paid back in "
             "proportion to the scores, so the program costs the payer nothing extra. Each design is compared with "
             "the current program.")
    program = st.segmented_control("Program for", list(KINDS), format_func=KINDS.get, default="hospital",
                                   key="inc_program") or "hospital"
    long = engine_rows(program)
    available = [mid for mid in catalog if mid in set(long["measure_id"])]
    if not available:
        st.info("No measure is reported for these providers in this run.")
        return
    starters = [m for m in STARTERS[program] if m in available] or available[:3]
    current_key = f"inc_current_{program}"
    if current_key not in st.session_state:
        st.session_state[current_key] = scenario("current", {m: 1.0 for m in starters}, "baseline_median",
                                                 "baseline_top_decile_mean", 0.02, 1_000_000.0,
                                                 min_measures=min(2, len(starters)))
    current: inc.Scenario = st.session_state[current_key]

    st.header("1. Design the program")
    chosen = st.multiselect("Measures", available, default=[m.id for m in current.measures if m.id in available],
                            format_func=title, key=f"inc_measures_{program}")
    if not chosen:
        st.info("Pick at least one measure to score providers on.")
        return
    weights = {}
    cols = st.columns(min(len(chosen), 4))
    for i, mid in enumerate(chosen):
        weights[mid] = cols[i % len(cols)].number_input(f"Weight: {title(mid)}", 0.0, 10.0, 1.0, 0.5,
                                                        key=f"inc_w_{program}_{mid}")
    if sum(weights.values()) <= 0:
        st.warning("At least one weight must be above zero.")
        return
    weights = {k: v for k, v in weights.items() if v > 0}
    c1, c2, c3, c4 = st.columns(4)
    threshold = c1.selectbox("Points start at (threshold)", list(THRESHOLDS), format_func=THRESHOLDS.get,
                             key="inc_threshold")
    benchmark = c2.selectbox("Full points at (benchmark)", list(BENCHMARKS), format_func=BENCHMARKS.get,
                             key="inc_benchmark")
    withhold = c3.slider("Withhold (% of base payment)", 0.0, 10.0, 2.0, 0.5, key="inc_withhold") / 100
    base = c4.number_input("Base payment per provider ($)", 10_000.0, 100_000_000.0, 1_000_000.0, 50_000.0,
                           format="%.0f", key="inc_base",
                           help="The published run has no payment data, so every provider gets the "
                           "same base; the engine can also read a base payment per provider.")
    least = st.number_input("Score a provider only if at least this many of the chosen measures can be reported "
                            "for it", 1, len(weights), min(2, len(weights)), 1, key=f"inc_min_{program}_{len(weights)}",
                            help="A score from a single measure swings with chance; Medicare's program needs "
                            "results in at least three of its four areas.")
    fixed = {}
    with st.expander("Set a fixed threshold and benchmark for a measure"):
        for mid in weights:
            m = catalog[mid]
            scale, unit_words = ad.chart_scale(m)
            a, b = st.columns(2)
            lo = a.number_input(f"{m['title']}: threshold ({unit_words})", value=None, key=f"inc_t_{mid}")
            hi = b.number_input(f"{m['title']}: benchmark ({unit_words})", value=None, key=f"inc_b_{mid}")
            if lo is not None or hi is not None:
                fixed[mid] = (None if lo is None else lo / scale, None if hi is None else hi / scale)
    shrink = st.toggle("Adjust results for reliability", key="inc_shrink", help=(
        "Pull each provider's result toward the average of all providers in proportion to how uncertain it is "
        "(empirical Bayes): a small provider's result moves most, so a few patients cannot swing its payment."))
    proposed = scenario("proposed", weights, threshold, benchmark, withhold, base, fixed, min_measures=int(least),
                        shrink=shrink)
    if not shown:
        return

    try:
        now, new = pay(run, program, current, long), pay(run, program, proposed, long)
    except PayerError as err:  # the engine names what is missing in one sentence
        st.error(f"The engine could not score this design: {err}")
        return
    table, totals = inc.compare_scenarios({"current": now, "proposed": new})

    st.header("2. Each provider's score and payment adjustment")
    t = totals.filter(pl.col("scenario") == "proposed").row(0, named=True)
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("Providers scored", f"{t['providers_scored']} of {len(members(program))}")
    k2.metric("Withheld and paid back", f"${t['withheld_pool']:,.0f}")
    k3.metric("Gain versus current", t["winners"])
    k4.metric("Lose versus current", t["losers"])
    out = (new.providers.join(table.select("provider_id", "dollars_current", "dollars_change_proposed",
                                           "outcome_proposed"), on="provider_id", how="left")
           .with_columns(name=pl.col("provider_id").replace_strict(names, default=pl.col("provider_id")))
           .sort("total_dollars", descending=True, nulls_last=True))
    scored = out.filter(pl.col("total_score").is_not_null())
    st.dataframe(scored.select(
        pl.col("name").alias("Provider"), pl.col("total_score").round(1).alias("Score (0-100)"),
        pl.col("adjustment_factor").round(4).alias("Payment factor"),
        pl.col("total_dollars").alias("Adjustment, proposed ($)"),
        pl.col("dollars_current").alias("Adjustment, current ($)"),
        pl.col("dollars_change_proposed").alias("Change ($)"),
        pl.col("outcome_proposed").replace({"wins": "gains"}).alias("Versus current"),
        pl.when(pl.col("noise_driven")).then(pl.lit("yes: ") + pl.col("swing_driver").replace_strict(
            {k: v["title"] for k, v in catalog.items()}, default=pl.col("swing_driver"))).otherwise(pl.lit(""))
        .alias("Could flip by chance")),
        hide_index=True, key="inc_table", column_config={
            c: MONEY for c in ("Adjustment, proposed ($)", "Adjustment, current ($)", "Change ($)")})
    # Too few of the design's measures, or none at all: listed with the reason, never as $0.
    too_few = out.filter(pl.col("total_score").is_null()).select(
        pl.col("name").alias("Provider"),
        pl.col("provider_id").map_elements(network_name, return_dtype=pl.String).alias("Care network"),
        pl.col("not_scored_reason").str.replace(r"^(\d+) of (\d+) required domains scored$",
                                                "only ${1} of the ${2} measures required can be reported")
        .fill_null("not scored").alias("Not scored because"))
    absent = [u for u in members(program) if u not in set(out["provider_id"])]
    not_scored(pl.concat([too_few, pl.DataFrame(
        {"Provider": [names[u] for u in absent], "Care network": [network_name(u) for u in absent],
         "Not scored because": ["No measure of this design can be reported: too few patients, or hidden to "
                                "protect privacy"] * len(absent)}, schema=too_few.schema)]))

    with st.expander("Measure by measure: the result, the value scored and its reliability"):
        st.dataframe(new.measures.join(pl.DataFrame({"provider_id": list(names), "Provider": list(names.values())}),
                                       on="provider_id", how="left").select(
            "Provider", pl.col("measure_id").replace_strict({k: v["title"] for k, v in catalog.items()},
                                                            default=pl.col("measure_id")).alias("Measure"),
            pl.col("performance").alias("Result"), pl.col("scored_value").alias("Value scored"),
            pl.col("reliability").round(2).alias("Reliability (0-1)"), pl.col("points").alias("Points")),
            hide_index=True, key="inc_measures_table")
        st.caption("Reliability is the share of the differences between providers that is real rather than "
                   "chance; with “Adjust results for reliability” each result is scored as reliability × result + "
                   "(1 − reliability) × the average provider's result.")

    chart_data = out.filter(pl.col("total_score").is_not_null()).select(
        pl.col("name").alias("Provider"), pl.col("dollars_change_proposed").alias("Change"),
        pl.col("total_dollars").alias("Adjustment"),
        pl.col("outcome_proposed").replace({"wins": "gains"}).alias("Versus current"))
    st.header("3. Versus the current program")
    ad.chart(gains_chart, (), {"providers": chart_data.to_dicts()}, key="inc_chart",
             alt_text="Bar chart of each provider's change in payment adjustment versus the current program: bars "
             "to the right gain, bars to the left lose.")
    st.caption(f"Current program: {', '.join(title(m.id) for m in current.measures)}; withhold "
               f"{current.payment.withhold:.1%}. Scores use {performance} results; thresholds and benchmarks come "
               f"from {baseline}. “Could flip by chance” marks providers whose score could cross break-even if one "
               "measure moved within its 95% interval.")
    with st.expander("Thresholds and benchmarks used"):
        st.dataframe(pl.DataFrame([{"Measure": title(r["measure_id"]),
                                    "Points start at": ad.fmt_value(catalog[r["measure_id"]], r["threshold"]),
                                    "Full points at": ad.fmt_value(catalog[r["measure_id"]], r["benchmark"])}
                                   for r in new.references.iter_rows(named=True)]), hide_index=True)
    if st.button("Make this design the current program", key="inc_adopt"):
        st.session_state[current_key] = proposed
        st.rerun()


# ------------------------------------------------------------------------------------------------
# Per-measure bonuses


def bonus_tab(shown: bool) -> None:
    st.write("A **per-measure bonus** pays a set amount to every provider that reaches a target on one measure, on "
             "top of its usual payment; nobody pays anything in. With a partial-credit start, a provider between "
             "that start and the target earns part of the bonus in proportion to how far along it is (halfway "
             "there: half the bonus). Targets open at last year's whole-network result.")
    kind = st.segmented_control("Bonuses for", list(KINDS), format_func=KINDS.get, default="hospital",
                                key="inc_bonus_kind") or "hospital"
    table = engine_rows(kind)
    available = [m for m in catalog if m in set(table["measure_id"])]
    chosen = st.multiselect("Measures with a bonus", available, format_func=title, key=f"inc_bonus_measures_{kind}",
                            default=[m for m in STARTERS[kind] if m in available][:2])
    bonuses = []
    for mid in chosen:
        m = catalog[mid]
        scale, words = ad.chart_scale(m)
        sign = 1 if m["direction"] == "higher_is_better" else -1
        start = last_year.get(mid)
        st.markdown(f"**{m['title']}** ({ad.direction_words(m).lower()})")
        a, b, c = st.columns(3)
        target = a.number_input(f"Target ({words})", key=f"inc_bonus_target_{mid}",
                                value=None if start is None else round(start * scale, 2 if scale == 1 else 1))
        partial = b.number_input(f"Partial credit from ({words})", value=None, key=f"inc_bonus_partial_{mid}",
                                 help="Optional. Leave empty for all or nothing.")
        amount = c.number_input("Bonus per provider ($)", 0.0, 10_000_000.0, 10_000.0, 1_000.0, format="%.0f",
                                key=f"inc_bonus_amount_{mid}")
        if target is None:
            st.info(f"Set a target for {m['title']} to pay a bonus on it.")
            continue
        if partial is not None and sign * (partial - target) >= 0:
            st.warning(f"Partial credit for {m['title']} must start {'below' if sign > 0 else 'above'} the target; "
                       "it is left out.")
            partial = None
        bonuses.append(inc.MetricBonus(mid, m["direction"], target / scale, amount,
                                       None if partial is None else partial / scale))
    if not shown:
        return
    if not bonuses:
        st.info("Pick at least one measure, with a target, to pay a bonus on.")
        return

    paid = {b.measure: dict(pay(run, kind, inc.Scenario(
        id=f"bonus_{b.measure}", title=title(b.measure), measures=(), domains=(), performance_period=performance,
        metric_bonuses=(b,)), table).providers.select("provider_id", "metric_bonuses").iter_rows()) for b in bonuses}
    out = []
    for u in members(kind):
        for b in bonuses:
            r, why = reading(u, b.measure)
            out.append({"Provider": names[u], "Care network": network_name(u), "Measure": title(b.measure),
                        "Result": ad.fmt_value(catalog[b.measure], r["value"]) if r else None,
                        "Bonus ($)": paid[b.measure][u] if r else None, "Not scored because": why or None})
    out = pl.DataFrame(out)
    scored = out.filter(pl.col("Bonus ($)").is_not_null())
    providers = out.group_by("Provider", "Care network").agg(
        pl.when(pl.col("Bonus ($)").is_not_null().any()).then(pl.col("Bonus ($)").sum()).alias("Bonus ($)"))

    k1, k2, k3 = st.columns(3)
    k1.metric("Paid in bonuses", dollars(scored["Bonus ($)"].sum()))
    k2.metric("Providers earning a bonus", f"{(providers['Bonus ($)'].fill_null(0) > 0).sum()} of {providers.height}")
    k3.metric("Not scored on any of these measures", providers["Bonus ($)"].null_count())
    st.dataframe(scored.drop("Not scored because").sort("Bonus ($)", "Provider", descending=[True, False]),
                 hide_index=True, column_config={"Bonus ($)": MONEY})
    not_scored(out.filter(pl.col("Bonus ($)").is_null()).select("Provider", "Care network", "Measure",
                                                                  "Not scored because"))
    if not scored.is_empty():
        ad.chart(dollars_chart, ("Bonus dollars per provider, by measure", "Bonus ($)", "Measure"),
                 {"rows": scored.select("Provider", Group="Measure", Dollars="Bonus ($)").to_dicts()},
                 key="inc_bonus_chart", alt_text="Bar chart of each provider's bonus dollars, split by measure.")
    by_network(providers, "Bonus ($)", "Earning a bonus")


# ------------------------------------------------------------------------------------------------
# Shared savings

SAVINGS_RESULTS = {"Shares savings": "#1f5f8b", "Saved less than the minimum": "#9ecae1",
                   "Quality gate not met": "#d95f02", "Quality gate not met: no quality score": "#fdae6b",
                   "Spent more than its benchmark": "#aaaaaa"}


@st.cache_data(show_spinner=False, max_entries=16)
def benchmarks(run_id: str, adjust: str) -> pl.DataFrame:
    """Each practice's member months and spending benchmark for the performance year: its own mix of patients
    (by `adjust`) at the whole network's spending per member per month for each group."""
    cost = ad.results(run_id).filter(pl.col("metric_id") == "cost_pmpm", pl.col("period") == performance,
                                     pl.col("stratum") == adjust)
    exposure = cost.filter(pl.col("unit_id").is_in(members("primary_care"))).select(
        provider_id="unit_id", group="stratum_value", exposure="denominator")
    rates = cost.filter(pl.col("level") == "all").select(group="stratum_value", rate="value")
    return inc.risk_adjusted_benchmark(exposure, rates)


def savings_chart() -> alt.LayerChart:
    bars = alt.Chart(alt.NamedData("rows")).mark_bar().encode(
        x=alt.X("Saved:Q", title="Saved, as a share of the benchmark", axis=alt.Axis(format="%")),
        y=alt.Y("Provider:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
        color=alt.Color("Result:N", title="Result", legend=LEGEND, scale=alt.Scale(
            domain=list(SAVINGS_RESULTS), range=list(SAVINGS_RESULTS.values()))),
        tooltip=["Provider:N", alt.Tooltip("Saved:Q", format=".1%"), alt.Tooltip("Dollars:Q", format="$,.0f",
                                                                                 title="Shared savings"), "Result:N"])
    rule = alt.Chart(alt.NamedData("minimum")).mark_rule(strokeDash=[4, 3]).encode(
        x="Minimum:Q", tooltip=[alt.Tooltip("Minimum:Q", format=".1%", title="Minimum savings rate")])
    return alt.layer(bars, rule).properties(title="Savings against each practice's benchmark (dashed line: the "
                                                  "minimum savings rate)", height=alt.Step(22))


def savings_result(saved: float, score: float | None, msr: float, gate: int) -> str:
    if saved < 0:
        return "Spent more than its benchmark"
    if saved < msr:
        return "Saved less than the minimum"
    if gate and score is None:
        return "Quality gate not met: no quality score"
    if gate and score < gate:
        return "Quality gate not met"
    return "Shares savings"


def savings_tab(shown: bool) -> None:
    st.write("**Shared savings** rewards a primary-care practice for spending less on its patients' care than "
             "expected, as long as quality holds. Each practice gets a spending benchmark: what its own patients "
             "would cost per member per month at the whole network's spending for people like them this year, so "
             "a practice with older or poorer patients is not penalized for it. A practice that spends less than "
             "its benchmark by at least the minimum savings rate (smaller differences happen by chance) keeps its "
             "share of the savings, up to the cap, if its quality score reaches the quality gate. Savings are "
             "one-sided here: a practice that spends more than its benchmark owes nothing.")
    a, b, c, d, e = st.columns(5)
    adjust = a.selectbox("Benchmark adjusted for", list(ADJUST), format_func=ADJUST.get, key="inc_ss_adjust")
    msr = b.slider("Minimum savings rate", 0.0, 10.0, 2.0, 0.5, format="%.1f%%", key="inc_ss_msr") / 100
    share = c.slider("Practice's share of the savings", 0, 100, 50, 5, format="%d%%", key="inc_ss_share") / 100
    cap = d.slider("Cap, as a share of benchmark spending", 1, 30, 10, 1, format="%d%%", key="inc_ss_cap") / 100
    gate = e.slider("Quality gate: lowest quality score paid (0 = no gate)", 0, 100, 30, 5, key="inc_ss_gate")
    table = engine_rows("primary_care")
    options = [m for m in catalog if catalog[m]["domain"] != "cost" and m in set(table["measure_id"])]
    quality = st.multiselect("Quality measures behind the gate", options, format_func=title, key="inc_ss_quality",
                             default=[m for m in STARTERS["primary_care"] if m in options])
    st.caption("The quality score (0 to 100) is earned as in the withhold program: each measure earns points from "
               f"last year's median practice up to the average of last year's top 10%. Spending is {performance}'s "
               "total cost of care per member per month.")
    if not shown:
        return
    if gate and not quality:
        st.info("A quality gate needs quality measures: pick at least one, or set the lowest score paid to 0.")
        return
    if "cost_pmpm" not in set(table["measure_id"]):
        st.info("No practice's spending per member is reported in this run, so there are no savings to share.")
        return
    bench = benchmarks(run, adjust)
    bench_id = f"cost_benchmark_{adjust}"  # the adjustment is part of the design, so of the engine's cache key
    extra = pl.concat([bench.select("provider_id", measure_id=pl.lit(m), period=pl.lit(performance),
                                    value=pl.col(col), denominator=pl.lit(None, pl.Float64))
                       for m, col in ((bench_id, "benchmark"), ("member_months", "exposure"))])
    ref = inc.Reference.parse
    design = inc.Scenario(
        id="shared_savings", title="Shared savings", min_domains=1,
        measures=tuple(inc.ScenarioMeasure(mid, mid, catalog[mid]["direction"], ref("baseline_median"),
                                           ref("baseline_top_decile_mean"), ref("baseline_worst")) for mid in quality),
        domains=tuple(inc.Domain(mid, 1.0) for mid in quality), baseline_period=baseline,
        performance_period=performance,
        shared_savings=inc.SharedSavings(bench_id, "cost_pmpm", "member_months", msr, share, cap, gate or None))
    result = {r["provider_id"]: r for r in pay(run, "primary_care", design, pl.concat(
        [table, extra], how="vertical_relaxed")).providers.iter_rows(named=True)}
    benchmark = dict(bench.select("provider_id", "benchmark").iter_rows())

    out = []
    for u in members("primary_care"):
        r, why = reading(u, "cost_pmpm")
        bm, score = benchmark.get(u), result.get(u, {}).get("total_score")
        scored = r is not None and bm is not None
        saved = (bm - r["value"]) / bm if scored else None
        out.append({"Practice": names[u], "Result": savings_result(saved, score, msr, gate) if scored else None,
                    "Shared savings ($)": result[u]["shared_savings"] if scored else None, "Saved": saved,
                    "Spending ($)": r["value"] if scored else None, "Benchmark ($)": bm if scored else None,
                    "Member months": r["denominator"] if scored else None,
                    "Quality score": "none" if score is None else f"{score:.1f}", "Care network": network_name(u),
                    "Not scored because": None if scored else why or "No benchmark"})
    out = pl.DataFrame(out)
    paid = out["Shared savings ($)"]
    k1, k2, k3 = st.columns(3)
    k1.metric("Shared with practices", dollars(paid.sum()))
    k2.metric("Practices sharing savings", f"{(paid.fill_null(0) > 0).sum()} of {out.height}")
    k3.metric("Practices not scored", paid.null_count())
    scored = out.filter(pl.col("Shared savings ($)").is_not_null()).sort("Shared savings ($)", "Saved",
                                                                          descending=True)
    per_month = "per member per month, this year"
    st.dataframe(scored.drop("Not scored because"), hide_index=True, column_config={
        "Member months": st.column_config.NumberColumn(format="localized", help="Months of coverage of the "
                                                       "practice's members this year"),
        "Spending ($)": st.column_config.NumberColumn(format="dollar", help=f"What was spent, {per_month}"),
        "Benchmark ($)": st.column_config.NumberColumn(format="dollar", help=f"What was expected, {per_month}"),
        "Saved": st.column_config.NumberColumn(format="percent", help="(benchmark - spending) / benchmark"),
        "Quality score": st.column_config.TextColumn(help="0 to 100, from the quality measures behind the gate; "
                                                     "none when they are too few to report"),
        "Shared savings ($)": MONEY})
    not_scored(out.filter(pl.col("Shared savings ($)").is_null()).select("Practice", "Care network",
                                                                         "Not scored because"))
    if not scored.is_empty():
        ad.chart(savings_chart, (), {"rows": scored.select(
            Provider="Practice", Saved="Saved", Dollars="Shared savings ($)", Result="Result").to_dicts(),
            "minimum": [{"Minimum": msr}]}, key="inc_ss_chart",
            alt_text="Bar chart of each practice's savings as a share of its benchmark, with a dashed line at the "
            "minimum savings rate.")
    by_network(out, "Shared savings ($)", "Sharing savings")


# ------------------------------------------------------------------------------------------------
# Bundled payments

SETTLED = "Year-end settlement ($)"


def bundle_result(gap: float, paid: float) -> str:
    """`gap` is what the hospital would get or owe without the stop-gain and stop-loss limits."""
    text = "Spent below the target: keeps the difference" if gap >= 0 else "Spent above the target: pays back"
    return text + (" (limited)" if abs(paid) < abs(gap) - 0.01 else "")


def bundle_tab(shown: bool) -> None:
    episodes = [m for m in EPISODES if m in catalog]
    episode = st.selectbox("An episode is", episodes, format_func=EPISODES.get, key="inc_bundle_episode")
    st.write(f"A **bundled payment** sets one target price for a whole episode of care, {EPISODES[episode]}, "
             "instead of paying for each service. At the end of the year each hospital's average spending per "
             "episode is compared with the target price less the payer's discount: a hospital that spent less keeps "
             "the difference on every episode; one that spent more pays the difference back. The stop-gain and "
             "stop-loss limit either side to a share of the target spending, so one unusual year cannot ruin a "
             f"hospital. The target price opens at last year's network average for {EPISODES[episode]}.")
    a, b, c, d = st.columns(4)
    start = last_year.get(episode)
    price = a.number_input("Target price per episode ($)", 0.0, 10_000_000.0, None if start is None else
                           float(round(start, -2)), 500.0, format="%.0f", key=f"inc_bundle_price_{episode}")
    discount = b.slider("Payer's discount", 0.0, 10.0, 3.0, 0.5, format="%.1f%%", key="inc_bundle_discount") / 100
    gain = c.slider("Stop-gain, as a share of target spending", 0, 100, 20, 5, format="%d%%",
                    key="inc_bundle_stop_gain") / 100
    loss = d.slider("Stop-loss, as a share of target spending", 0, 100, 20, 5, format="%d%%",
                    key="inc_bundle_stop_loss") / 100
    if not shown:
        return
    table = engine_rows("hospital")
    if price is None or episode not in set(table["measure_id"]):
        st.info("Set a target price; this lever needs at least one hospital whose episode spending is reported.")
        return
    count_id = f"{episode}_episodes"
    table = pl.concat([table, table.filter(pl.col("measure_id") == episode).with_columns(
        measure_id=pl.lit(count_id), value=pl.col("denominator"))])
    design = inc.Scenario(id="bundle", title="Bundled payment", measures=(), domains=(),
                          performance_period=performance,
                          bundles=(inc.BundledPayment(episode, episode, count_id, price, discount, gain, loss),))
    result = dict(pay(run, "hospital", design, table).providers.select("provider_id", "bundles").iter_rows())
    target = price * (1 - discount)

    out = []
    for u in members("hospital"):
        r, why = reading(u, episode)
        out.append({"Hospital": names[u],
                    "Result": bundle_result((target - r["value"]) * r["denominator"], result[u]) if r else None,
                    SETTLED: result[u] if r else None, "Average spending per episode ($)": r["value"] if r else None,
                    "Episodes": r["denominator"] if r else None, "Care network": network_name(u),
                    "Not scored because": why or None})
    out = pl.DataFrame(out)
    paid = out[SETTLED]
    k1, k2, k3 = st.columns(3)
    k1.metric("Paid to hospitals", dollars(paid.filter(paid > 0).sum()))
    k2.metric("Paid back by hospitals", dollars(-paid.filter(paid < 0).sum()))
    k3.metric("Hospitals not scored", paid.null_count())
    scored = out.filter(pl.col(SETTLED).is_not_null()).sort(SETTLED, descending=True)
    st.caption(f"Target price after the payer's {discount:.1%} discount: ${target:,.2f} per episode.")
    st.dataframe(scored.drop("Not scored because"), hide_index=True, column_config={
        "Episodes": st.column_config.NumberColumn(format="localized"), "Average spending per episode ($)": MONEY,
        SETTLED: st.column_config.NumberColumn(
            format="dollar", help="Positive: the payer pays the hospital. Negative: the hospital pays back.")})
    not_scored(out.filter(pl.col(SETTLED).is_null()).select("Hospital", "Care network", "Not scored because"))
    if not scored.is_empty():
        ad.chart(dollars_chart, ("Year-end bundle settlement per hospital", SETTLED, "Direction",
                                 (("Paid to the hospital", "Paid back by the hospital"), ("#1f5f8b", "#d95f02"))),
                 {"rows": scored.select(Provider="Hospital", Dollars=SETTLED, Group=pl.when(pl.col(SETTLED) >= 0)
                                        .then(pl.lit("Paid to the hospital"))
                                        .otherwise(pl.lit("Paid back by the hospital"))).to_dicts()},
                 key="inc_bundle_chart",
                 alt_text="Bar chart of what each hospital is paid, or pays back, at the end of the year.")
    by_network(out, SETTLED, "Paid or paying back")


# Only the open tab computes and draws its results. Every tab still draws its inputs: Streamlit forgets the value
# of a widget it did not draw, and the analyst's choices must survive a look at another lever.
tabs = st.tabs(["Withhold and earn back", "Per-measure bonuses", "Shared savings", "Bundled payments"],
               key="inc_lever", on_change="rerun")
for tab, show in zip(tabs, (withhold_tab, bonus_tab, savings_tab, bundle_tab)):
    with tab:
        show(bool(tab.open))
