"""Equity (network leadership): any metric by patient group, with the gap to a reference group and its CI."""

import altair as alt
import polars as pl
import streamlit as st

from carescore.compute import equity
from lib import auth
from lib import data as ad

st.title("Equity")
auth.require("leadership")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)
results = ad.results(run)
units = ad.units(run)

st.write("How results differ between groups of patients. The gap is each group's result minus the reference "
         "group's, with a 95% interval; a gap whose interval excludes 0 is unlikely to be chance alone.")
stratified = [mid for mid, m in catalog.items() if m["stratify_by"]]
c1, c2, c3, c4 = st.columns([3, 2, 2, 1])
mid = c1.selectbox("Measure", stratified, format_func=lambda k: catalog[k]["title"], key="eq_metric")
m = catalog[mid]
dimension = c2.selectbox("Patient groups", m["stratify_by"], format_func=ad.STRATA.get, key="eq_dimension")
rows = results.filter(pl.col("metric_id") == mid, pl.col("stratum") == dimension)
names = {"ALL": "Whole network", **dict(zip(units["unit_id"], units["name"]))}
where = c3.selectbox("Where", [u for u in names if u in set(rows["unit_id"])], format_func=names.get,
                     key="eq_unit")
period = c4.selectbox("Year", periods[::-1], key="eq_period")

groups = rows.filter(pl.col("unit_id") == where, pl.col("period") == period)
usable = groups.filter(pl.col("value").is_not_null(), pl.col("ci_low").is_not_null(),
                       pl.col("status").is_in(["ok", "suppressed"])).sort("denominator", descending=True)
if usable.height < 2:
    st.info(f"Fewer than two groups have a reliable result for {m['title']} by {ad.STRATA[dimension].lower()} "
            f"in {names[where]} in {period}, so there is no gap to show. Try the whole network or another year.")
    st.stop()

# The largest group is the default reference: its interval is the narrowest, so gaps are measured against
# the steadiest baseline.
reference = st.selectbox("Reference group", usable["stratum_value"].to_list(), key="eq_reference",
                         format_func=lambda v: ad.group_label(dimension, v))
ref = usable.filter(pl.col("stratum_value") == reference).row(0, named=True)
scale, unit_words = ad.chart_scale(m)
gap_words = "percentage points" if m["unit"] == "percent" else unit_words
table = []
for r in equity.against_reference(usable, reference).iter_rows(named=True):
    low, gap, high = r["gap_low"], r["gap"], r["gap_high"]
    clear = not r["is_reference"] and (low > 0 or high < 0)
    better = (gap > 0) == (m["direction"] == "higher_is_better")
    ratio = ("reference" if r["is_reference"] else "–" if r["ratio"] is None else
             f"{r['ratio']:.2f}×" + ("" if r["ratio_high"] is None else
                                     f" ({r['ratio_low']:.2f} to {r['ratio_high']:.2f})"))
    table.append({"Group": ad.group_label(dimension, r["stratum_value"]), "Result": ad.fmt_value(m, r["value"]),
                  "95% interval": ad.fmt_range(m, r["ci_low"], r["ci_high"], words=False),
                  "Patients or cases": r["cases"],
                  "Gap to reference": "reference" if r["is_reference"] else
                  f"{gap * scale:+,.1f} ({low * scale:+,.1f} to {high * scale:+,.1f}) {gap_words}",
                  "Ratio to reference": ratio,
                  "Reading": "reference group" if r["is_reference"] else
                  (("better" if better else "worse") + " than reference" if clear else "no clear gap"),
                  "Value": r["value"] * scale, "Low": r["ci_low"] * scale, "High": r["ci_high"] * scale,
                  "Gap": gap * scale, "GapLow": low * scale, "GapHigh": high * scale})
frame = pl.DataFrame(table)
hidden = groups.filter(~pl.col("stratum_value").is_in(usable["stratum_value"].to_list()))


def equity_chart(left_title: str, right_title: str, y_title: str, x_title: str, gap_title: str) -> alt.HConcatChart:
    groups = alt.Chart(alt.NamedData("groups"))
    y = alt.Y("Group:N", sort=None, title=y_title)
    tooltip = ["Group:N", "Result:N", "95% interval:N", "Gap to reference:N", "Reading:N"]
    left = alt.layer(
        groups.mark_rule(strokeWidth=2).encode(x="Low:Q", x2="High:Q", y=y, tooltip=tooltip),
        groups.mark_point(filled=True, size=90).encode(
            x=alt.X("Value:Q", title=x_title, scale=alt.Scale(zero=False)), y=y,
            shape=alt.Shape("Reading:N", title=None, legend=alt.Legend(orient="bottom")), tooltip=tooltip),
    ).properties(title=left_title, width=330)
    right = alt.layer(
        groups.mark_rule(strokeWidth=2).encode(x="GapLow:Q", x2="GapHigh:Q", y=y, tooltip=tooltip),
        groups.mark_point(filled=True, size=90).encode(x=alt.X("Gap:Q", title=gap_title), y=y, shape="Reading:N",
                                                       tooltip=tooltip),
        alt.Chart(alt.NamedData("zero")).mark_rule(strokeDash=[4, 3]).encode(x="x:Q"),
    ).properties(title=right_title, width=330)
    return alt.hconcat(left, right)


ref_label = ad.group_label(dimension, reference)
spec = ad.chart(equity_chart, (f"Result by group, {names[where]}, {period}",
                               f"Gap to the reference group ({ref_label})",
                               ad.STRATA[dimension], unit_words.capitalize(), f"Gap to {ref_label} ({gap_words})"),
                {"groups": frame.drop("Patients or cases"), "zero": pl.DataFrame({"x": [0.0]})}, key="eq_chart",
                alt_text=f"Two dot charts of {m['title']} by {ad.STRATA[dimension].lower()}: each group's result "
                f"with its interval, and its gap to {ref_label} with the gap's interval; the dashed line is no gap.")
st.dataframe(frame.drop("Value", "Low", "High", "Gap", "GapLow", "GapHigh"), hide_index=True, key="eq_table")
st.download_button("Download this chart (PNG)", lambda: ad.chart_png(spec), file_name=f"equity_{mid}.png",
                   mime="image/png", key="eq_png")
if hidden.height:
    st.caption("Not shown (too few to be reliable or not measured): "
               + ", ".join(f"{ad.group_label(dimension, r['stratum_value'])} — "
                           f"{ad.STATUS.get(r['status'], r['status']).lower()}"
                           for r in hidden.iter_rows(named=True)))
spread = equity.spread(usable, reference)
if spread["groups"] > 2:
    st.caption(f"Spread across the {spread['groups']} groups: index of disparity {spread['index_of_disparity']:.1f}% "
               "(the average distance of the other groups from the reference, as a share of the reference's result); "
               f"between-group variance {spread['between_group_variance'] * scale ** 2:,.2f} ({unit_words} squared, "
               "groups weighted by size).")
st.caption(f"{m['plain_language']} {ad.direction_words(m)}. Gaps and ratios use each group's own 95% interval "
           "(method of variance estimates recovery: Newcombe's method for gaps of proportions, Donner and Zou's for "
           "ratios).")
