"""Incentives (payers), first version: design a value-based program and see who gains or loses.

Every number comes from the incentive engine (carescore.incentives): the page only turns choices into a
`Scenario` and shows `run_scenario` / `compare_scenarios`. The engine already knows metric bonuses, shared
savings and bundles; they become new sections of the form here, not new arithmetic in the page."""

import altair as alt
import polars as pl
import streamlit as st

from carescore import app_data as ad
from carescore import auth
from carescore import incentives as inc

st.title("Incentives")
auth.require("payer")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)
units = ad.units(run)

PROGRAMS = {"hospital": "Hospitals", "primary_care": "Primary-care practices"}
# A program's opening design: measures a payer would recognize for each kind of provider.
STARTERS = {"hospital": ["readmission_30d", "followup_7d", "would_recommend", "falls_with_injury"],
            "primary_care": ["pcp_continuity", "ed_visits_per_1000", "sdoh_screening", "cost_pmpm"]}
THRESHOLDS = {"baseline_median": "Last year's median provider", "baseline_worst": "Last year's lowest provider"}
BENCHMARKS = {"baseline_top_decile_mean": "Average of last year's top 10%", "baseline_best": "Last year's best"}

st.write("Design a pay-for-performance program on the published results: choose measures and weights, how "
         "points are earned, and how much of each provider's payment is withheld and earned back. Each provider's "
         "score and payment adjustment is computed by the network's incentive engine (HVBP-style scoring, "
         "budget-neutral exchange) and compared with the current program.")

program = st.segmented_control("Program for", list(PROGRAMS), format_func=PROGRAMS.get, default="hospital",
                               key="inc_program") or "hospital"
members = units.filter(pl.col("provider_type") == program)["unit_id"].to_list()
names = dict(zip(units["unit_id"], units["name"]))
# Published results, provider level, status ok: the engine reads practices as providers too.
long = (ad.unit_rows(ad.results(run))
        .filter(pl.col("status") == "ok", pl.col("stratum") == "all", pl.col("unit_id").is_in(members))
        .with_columns(level=pl.lit("provider")))
available = [mid for mid in catalog if mid in set(long["metric_id"])]
if len(periods) < 2 or not available:
    st.info("Incentives need results for two years (last year sets the thresholds) and at least one measure "
            "reported for these providers. This run does not have them.")
    st.stop()
baseline, performance = periods[-2], periods[-1]


def scenario(sid: str, weights: dict[str, float], threshold: str, benchmark: str, withhold: float, base: float,
             fixed: dict[str, tuple[float | None, float | None]] | None = None) -> inc.Scenario:
    """Each chosen measure is its own domain, so its weight is exactly the weight the payer typed."""
    fixed = fixed or {}

    def ref(mid: str, which: int, rule: str) -> inc.Reference:
        value = fixed.get(mid, (None, None))[which]
        return inc.Reference(value=value) if value is not None else inc.Reference.parse(rule)

    measures = tuple(inc.ScenarioMeasure(id=mid, domain=mid, direction=catalog[mid]["direction"],
                                         threshold=ref(mid, 0, threshold), benchmark=ref(mid, 1, benchmark),
                                         floor=inc.Reference.parse("baseline_worst")) for mid in weights)
    return inc.Scenario(id=sid, title=sid, measures=measures,
                        domains=tuple(inc.Domain(id=mid, weight=w) for mid, w in weights.items()),
                        baseline_period=baseline, performance_period=performance,
                        payment=inc.Payment(base_amount=base, withhold=withhold))


@st.cache_data(show_spinner="Scoring providers…", max_entries=64)
def score(run_id: str, program: str, design: inc.Scenario) -> inc.ScenarioResult:
    return inc.run_scenario(long, design)


starters = [m for m in STARTERS[program] if m in available] or available[:3]
current_key = f"inc_current_{program}"
if current_key not in st.session_state:
    st.session_state[current_key] = scenario("current", {m: 1.0 for m in starters}, "baseline_median",
                                             "baseline_top_decile_mean", 0.02, 1_000_000.0)
current: inc.Scenario = st.session_state[current_key]

st.header("1. Design the program")
chosen = st.multiselect("Measures", available, default=[m.id for m in current.measures if m.id in available],
                        format_func=lambda k: catalog[k]["title"], key=f"inc_measures_{program}")
if not chosen:
    st.info("Pick at least one measure to score providers on.")
    st.stop()
weights = {}
cols = st.columns(min(len(chosen), 4))
for i, mid in enumerate(chosen):
    weights[mid] = cols[i % len(cols)].number_input(f"Weight: {catalog[mid]['title']}", 0.0, 10.0, 1.0, 0.5,
                                                    key=f"inc_w_{program}_{mid}")
if sum(weights.values()) <= 0:
    st.warning("At least one weight must be above zero.")
    st.stop()
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
proposed = scenario("proposed", weights, threshold, benchmark, withhold, base, fixed)

try:
    now, new = score(run, program, current), score(run, program, proposed)
except ValueError as err:  # the engine names what is missing in one sentence
    st.error(f"The engine could not score this design: {err}")
    st.stop()
table, totals = inc.compare_scenarios({"current": now, "proposed": new})

st.header("2. Each provider's score and payment adjustment")
t = totals.filter(pl.col("scenario") == "proposed").row(0, named=True)
k1, k2, k3, k4 = st.columns(4)
k1.metric("Providers scored", f"{t['providers_scored']} of {len(members)}")
k2.metric("Withheld and paid back", f"${t['withheld_pool']:,.0f}")
k3.metric("Gain versus current", t["winners"])
k4.metric("Lose versus current", t["losers"])
out = (new.providers.join(table.select("provider_id", "dollars_current", "dollars_change_proposed",
                                       "outcome_proposed"), on="provider_id", how="left")
       .with_columns(name=pl.col("provider_id").replace_strict(names, default=pl.col("provider_id")))
       .sort("total_dollars", descending=True, nulls_last=True))
st.dataframe(out.select(
    pl.col("name").alias("Provider"), pl.col("total_score").round(1).alias("Score (0-100)"),
    pl.col("adjustment_factor").round(4).alias("Payment factor"),
    pl.col("total_dollars").alias("Adjustment, proposed ($)"),
    pl.col("dollars_current").alias("Adjustment, current ($)"),
    pl.col("dollars_change_proposed").alias("Change ($)"),
    pl.col("outcome_proposed").replace({"wins": "gains", "loses": "loses", "same": "same"}).alias("Versus current"),
    pl.when(pl.col("noise_driven")).then(pl.lit("yes: ") + pl.col("swing_driver").replace_strict(
        {k: v["title"] for k, v in catalog.items()}, default=pl.col("swing_driver"))).otherwise(pl.lit(""))
    .alias("Could flip by chance"), pl.col("not_scored_reason").alias("Not scored because")),
    hide_index=True, key="inc_table", column_config={
        c: st.column_config.NumberColumn(format="dollar") for c in
        ("Adjustment, proposed ($)", "Adjustment, current ($)", "Change ($)")})

chart_data = out.filter(pl.col("total_score").is_not_null()).select(
    pl.col("name").alias("Provider"), pl.col("dollars_change_proposed").alias("Change"),
    pl.col("total_dollars").alias("Adjustment"),
    pl.col("outcome_proposed").replace({"wins": "gains", "loses": "loses"}).alias("Versus current"))


def gains_chart() -> alt.Chart:
    return alt.Chart(alt.NamedData("providers")).mark_bar().encode(
        x=alt.X("Change:Q", title="Change in payment adjustment versus the current program ($)"),
        y=alt.Y("Provider:N", sort="-x", title=None, axis=alt.Axis(labelLimit=240)),
        color=alt.Color("Versus current:N", scale=alt.Scale(domain=["gains", "same", "loses"],
                                                           range=["#1f5f8b", "#aaaaaa", "#d95f02"])),
        tooltip=["Provider:N", alt.Tooltip("Change:Q", format="$,.0f"), alt.Tooltip("Adjustment:Q", format="$,.0f"),
                 "Versus current:N"],
    ).properties(title="Who gains and who loses versus the current program", height=alt.Step(24))


st.header("3. Versus the current program")
ad.chart(gains_chart, (), {"providers": chart_data.to_dicts()}, key="inc_chart",
         alt_text="Bar chart of each provider's change in payment adjustment versus the current program: bars to "
         "the right gain, bars to the left lose.")
st.caption(f"Current program: {', '.join(catalog[m.id]['title'] for m in current.measures)}; withhold "
           f"{current.payment.withhold:.1%}. Scores use {performance} results; thresholds and benchmarks come "
           f"from {baseline}. “Could flip by chance” marks providers whose score could cross break-even if one "
           "measure moved within its 95% interval.")
with st.expander("Thresholds and benchmarks used"):
    st.dataframe(pl.DataFrame([{"Measure": catalog[r["measure_id"]]["title"],
                                "Points start at": ad.fmt_value(catalog[r["measure_id"]], r["threshold"]),
                                "Full points at": ad.fmt_value(catalog[r["measure_id"]], r["benchmark"])}
                               for r in new.references.iter_rows(named=True)]), hide_index=True)
if st.button("Make this design the current program", key="inc_adopt"):
    st.session_state[current_key] = proposed
    st.rerun()
