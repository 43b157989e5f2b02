"""Equity summary (network leadership): one patient group across every stratified measure, and which units serve
that group best, as a Health Equity Summary Score style roll-up."""

import math

import altair as alt
import polars as pl
import streamlit as st

from carescore.compute import equity
from lib import auth
from lib import data as ad

st.title("Equity summary")
auth.require("leadership")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)
results = ad.results(run)
units = ad.units(run)

st.write("One group of patients across all measures that are reported by patient group: how far its results "
         "are from a reference group's in the whole network, and which providers serve the group best.")
dimensions = sorted({d for m in catalog.values() for d in m["stratify_by"]}, key=list(ad.STRATA).index)
c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
dimension = c1.selectbox("Patient groups", dimensions, format_func=ad.STRATA.get, key="es_dimension")
whole = results.filter(pl.col("stratum") == dimension, pl.col("level") == "all")
values = sorted(whole["stratum_value"].unique())
sizes = whole.group_by("stratum_value").agg(pl.col("cases").sum()).sort("cases", descending=True)
# Default focus: the smallest group (the one equity work usually asks about); reference: the largest.
group = c2.selectbox("Group", values, index=values.index(sizes["stratum_value"][-1]),
                     format_func=lambda v: ad.group_label(dimension, v), key="es_group")
others = [v for v in values if v != group]
if not others:
    st.info("This patient grouping has only one group in this run, so there is nothing to compare.")
    st.stop()
reference = c3.selectbox("Compared with", others, index=others.index(next(v for v in sizes["stratum_value"]
                                                                            if v != group)),
                         format_func=lambda v: ad.group_label(dimension, v), key="es_reference")
period = c4.selectbox("Year", periods[::-1], key="es_period")
group_label, ref_label = ad.group_label(dimension, group), ad.group_label(dimension, reference)

st.header(f"{group_label} compared with {ref_label}, whole network")
rows = []
for mid, m in catalog.items():
    if dimension not in m["stratify_by"]:
        continue
    cells = whole.filter(pl.col("metric_id") == mid, pl.col("period") == period,
                         pl.col("status").is_in(equity.USABLE), pl.col("value").is_not_null())
    if not {group, reference} <= set(cells["stratum_value"]):
        rows.append({"Measure": m["title"], "Group result": "not enough data", "Reference result": "", "Gap": "",
                     "Ratio": "", "Reading": "not compared", "Index of disparity": None, "_sort": 9.0})
        continue
    r = equity.against_reference(cells, reference).filter(pl.col("stratum_value") == group).row(0, named=True)
    scale, _ = ad.chart_scale(m)
    words = "points" if m["unit"] == "percent" else ""
    clear = r["gap_low"] > 0 or r["gap_high"] < 0
    better = (r["gap"] > 0) == (m["direction"] == "higher_is_better")
    ratio = ("–" if r["ratio"] is None else
             f"{r['ratio']:.2f}× ({r['ratio_low']:.2f} to {r['ratio_high']:.2f})" if r["ratio_high"] is not None
             else f"{r['ratio']:.2f}×")
    spread = equity.spread(cells, reference)
    rows.append({
        "Measure": m["title"],
        "Group result": ad.fmt_value(m, r["value"]),
        "Reference result": ad.fmt_value(m, cells.filter(pl.col("stratum_value") == reference)["value"].item()),
        "Gap": f"{r['gap'] * scale:+,.1f} ({r['gap_low'] * scale:+,.1f} to {r['gap_high'] * scale:+,.1f}) {words}".strip(),
        "Ratio": ratio,
        "Reading": (("better" if better else "worse") + " for the group" if clear else "no clear gap")
        if m["direction"] != "neutral" else ("different" if clear else "no clear gap"),
        "Index of disparity": None if math.isnan(spread["index_of_disparity"]) else round(spread["index_of_disparity"], 1),
        "_sort": 0.0 if clear and not better else 1.0 if clear else 2.0,
    })
table = (pl.DataFrame(rows).sort("_sort", "Measure")
         .select("Measure", "Reading", "Group result", "Reference result", "Gap", "Ratio", "Index of disparity"))
st.dataframe(table, hide_index=True, key="es_measures")
worse = table.filter(pl.col("Reading") == "worse for the group").height
st.caption(f"{worse} of {table.height} measures are clearly worse for {group_label} patients than for "
           f"{ref_label} patients in {period} (the gap's 95% interval excludes no gap). The ratio is the group's "
           "result divided by the reference's, with a 95% interval (Donner and Zou's method). The index of disparity "
           f"is the average distance of every other {ad.STRATA[dimension].lower()} group from the reference group, as a "
           "percentage of the reference's result (0 = no differences).")

st.header(f"Which providers serve {group_label} patients best")
levels = [lv for lv in ("provider", "practice", "network") if results.filter(pl.col("level") == lv).height]
LEVELS = {"provider": "Hospitals and agencies", "practice": "Primary care practices", "network": "Networks"}
level = st.segmented_control("Compare", levels, default=levels[0], key="es_level", format_func=LEVELS.get) or levels[0]
directions = {mid: m["direction"] for mid, m in catalog.items() if dimension in m["stratify_by"]
              and m["direction"] != "neutral"}
earlier = [p for p in periods if p < period]
scores = equity.summary_score(results, directions, dimension, group, reference, level, period, min_measures=3,
                              previous=earlier[-1] if earlier else None)
names = dict(zip(units["unit_id"], units["name"]))
scored = scores.filter(pl.col("summary").is_not_null())
if scored.height < 3:
    st.info(f"Fewer than three {LEVELS[level].lower()} have results for {group_label} patients on at least three "
            "measures this year, so there is no fair ranking to show.")
    st.stop()
shown = scored.with_columns(Unit=pl.col("unit_id").replace_strict(names, default=pl.col("unit_id")),
                            Measures=pl.col("measures"),
                            **{"Group's results": pl.col("group_result").round(2), "Gap": pl.col("gap").round(2),
                               "Summary": pl.col("summary").round(2),
                               "Change since last year": pl.col("improvement").round(2)})


def score_chart(title: str, x_title: str, y_title: str) -> alt.Chart:
    points = alt.Chart(alt.NamedData("units")).mark_circle(size=80, opacity=0.8).encode(
        x=alt.X("group_result:Q", title=x_title), y=alt.Y("gap:Q", title=y_title),
        tooltip=[alt.Tooltip("Unit:N"), alt.Tooltip("Summary:Q", format=".2f"), alt.Tooltip("Measures:Q")])
    rules = alt.Chart(alt.NamedData("zero")).mark_rule(strokeDash=[4, 3], color="gray")
    return alt.layer(points, rules.encode(x="x:Q"), rules.encode(y="x:Q")).properties(title=title, height=380)


ad.chart(score_chart, (f"{group_label} patients' results and gaps: {LEVELS[level].lower()}, {period}",
                       f"{group_label} patients' results (standard score; right is better)",
                       f"Gap to {ref_label} (standard score; up is better)"),
         {"units": shown.select("Unit", "group_result", "gap", "Summary", "Measures").to_dicts(),
          "zero": [{"x": 0.0}]}, key="es_chart",
         alt_text=f"A scatter plot of {LEVELS[level].lower()}: across, how good their results for {group_label} "
         f"patients are; up, how small their gap to {ref_label} patients is. Dashed lines mark the average.")
st.dataframe(shown.select("Unit", "Summary", "Group's results", "Gap", "Measures",
                          *(["Change since last year"] if earlier else [])), hide_index=True, key="es_units")
unscored = scores.filter(pl.col("summary").is_null())
if unscored.height:
    st.caption(f"Not ranked ({unscored.height}): fewer than three measures with a reliable result for both groups.")
st.caption("How this is worked out (after CMS's Health Equity Summary Score, the part that compares units in one "
           "year): for each measure, each unit's result for the group and its gap to the reference group become "
           "standard scores across units (0 is the average unit; lower-is-better measures are flipped so higher is "
           "always better). A unit's two scores are averaged over its measures, and the summary is their mean. "
           + (f"“Change since last year” scores the change in the group's results since {earlier[-1]} the same way "
              "(shown beside the summary, not part of it). " if earlier else "")
           + "Differences under about half a standard score are within what chance alone often produces.")
