"""Provider profile (public): every domain for one place, its trend over the years, and what each measure means."""

import altair as alt
import polars as pl
import streamlit as st

from lib import data as ad

st.title("Provider profile")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)
index = ad.search_units(run)
names = {r["unit_id"]: f"{r['name']} — {r['type_label']}, {r['town']}" for r in index.iter_rows(named=True)}

# The profile to open: from "See the full profile" on the compare page; on a first visit, a shared link
# (?unit=…) or the first place that has something to report; otherwise what the reader picked.
wanted = st.session_state.pop("profile_unit", None)
if wanted is None and "profile_pick" not in st.session_state:
    wanted = st.query_params.get("unit") or index.filter(pl.col("reported") > 0)["unit_id"].first()
if wanted in names:
    st.session_state["profile_pick"] = wanted
uid = st.selectbox("Choose a place", list(names), format_func=names.get, key="profile_pick")
st.query_params["unit"] = uid
unit = index.filter(pl.col("unit_id") == uid).row(0, named=True)

st.header(unit["name"])
st.write(f"{unit['type_label']} in {unit['town']} (zip code {unit['zip']}), part of "
         f"{ad.unit_label(run, unit['network_id'])}.")

rows = ad.public_by_unit(run).filter(pl.col("unit_id") == uid, pl.col("stratum") == "all")
latest = periods[-1]
now = rows.filter(pl.col("period") == latest)
if now.filter(pl.col("status") == "ok").height == 0:
    st.info(f"**Nothing to report for {unit['name']} in {latest}.** This place cared for too few patients in "
            "the measures we track for a fair, private result. That says nothing about whether its care is good "
            "or bad.")
    if now.height == 0:
        st.stop()

counts = now["comparison"].value_counts()
tally = dict(zip(counts["comparison"], counts["count"]))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Results reported", f"{now.filter(pl.col('status') == 'ok').height} of {now.height}")
c2.metric("Better than average", tally.get("better", 0))
c3.metric("No different from average", tally.get("no_different", 0))
c4.metric("Worse than average", tally.get("worse", 0))

averages = ad.network_averages(run)
previous = periods[-2] if len(periods) > 1 else None
by_period = {(r["metric_id"], r["period"]): r for r in rows.iter_rows(named=True)}


def trend(m: dict, mid: str) -> str:
    """Direction of change since last year, in words; only when both years are reported."""
    a, b = by_period.get((mid, previous)), by_period.get((mid, latest))
    if not previous or not a or not b or a["status"] != "ok" or b["status"] != "ok":
        return "–"
    change = b["value"] - a["value"]
    if abs(change) <= 0.02 * max(abs(a["value"]), 1e-9):
        return "→ about the same"
    better = (change > 0) == (m["direction"] == "higher_is_better")
    arrow = "↑" if change > 0 else "↓"
    return f"{arrow} {'improving' if better else 'getting worse'}" if m["direction"] != "neutral" else arrow


notes: dict[str, str] = {}
for domain, label in ad.DOMAINS.items():
    mids = [mid for mid, m in catalog.items() if m["domain"] == domain and (mid, latest) in by_period]
    if not mids:
        continue
    st.subheader(label)
    table = []
    for mid in mids:
        m, row = catalog[mid], by_period[(mid, latest)]
        if row["status"] != "ok":
            notes[ad.STATUS.get(row["status"], "Not available")] = row["footnote"]
        table.append({"Measure": m["title"], latest: ad.fmt_value(m, row["value"]) if row["status"] == "ok"
                      else ad.STATUS.get(row["status"], "Not available"),
                      "Compared with the network average": ad.COMPARISON.get(row["comparison"], "–")
                      .replace(" the network average", ""),
                      "Likely range": ad.fmt_range(m, row["ci_low"], row["ci_high"], words=False) or "–",
                      "Network average": ad.fmt_value(m, averages.get((mid, latest))),
                      "Since last year": trend(m, mid)})
    st.dataframe(pl.DataFrame(table), hide_index=True, key=f"profile_{domain}", height=ad.table_height(len(table)))
    with st.expander(f"What the {label.lower()} measures mean"):
        st.markdown("\n\n".join(f"**{catalog[mid]['title']}** — {catalog[mid]['plain_language']} "
                                  f"{ad.direction_words(catalog[mid])}. {ad.unit_note(catalog[mid])}  \n"
                                  f"*How it is measured:* {catalog[mid]['description']}" for mid in mids))

if notes:
    st.markdown("**What the notes mean**")
    st.markdown("\n".join(ad.footnote_markdown(f) for f in notes.values()))

def trend_chart(title: str, y_title: str, place: str) -> alt.LayerChart:
    base = alt.Chart(alt.NamedData("points")).encode(
        x=alt.X("Year:O", title="Year", axis=alt.Axis(labelAngle=0)),
        color=alt.Color("Who:N", title=None, scale=alt.Scale(domain=[place, "Network average"],
                                                           range=["#1f5f8b", "#888888"])))
    tooltip = ["Who:N", "Year:O", "Shown:N", "Range:N"]
    return alt.layer(
        base.mark_rule(strokeWidth=2, opacity=0.5).encode(y=alt.Y("Low:Q", title=y_title), y2="High:Q",
                                                          tooltip=tooltip),
        base.mark_line(point=alt.OverlayMarkDef(size=80, filled=True)).encode(
            y=alt.Y("Value:Q", title=y_title, scale=alt.Scale(zero=False)),
            strokeDash=alt.StrokeDash("Who:N", title=None), tooltip=tooltip),
    ).properties(title=title, height=280)


# Another measure redraws only the trend: the tables above stay as they are.
@st.fragment
def trend_section(unit: dict, by_period: dict, averages: dict):
    st.subheader("Trend over the years")
    reported = [mid for mid in catalog if any(by_period.get((mid, p), {}).get("status") == "ok" for p in periods)]
    if not reported:
        st.info("No measure has a reported result for this place in any year, so there is no trend to show.")
        return
    mid = st.selectbox("Measure", reported, format_func=lambda k: catalog[k]["title"], key="profile_trend")
    m = catalog[mid]
    scale, unit_words = ad.chart_scale(m)
    points = []
    for p in periods:
        row = by_period.get((mid, p))
        avg = averages.get((mid, p))
        if row and row["status"] == "ok":
            points.append({"Year": p, "Who": unit["name"], "Value": row["value"] * scale,
                           "Low": row["ci_low"] * scale, "High": row["ci_high"] * scale,
                           "Shown": ad.fmt_value(m, row["value"]), "Range": ad.fmt_range(m, row["ci_low"], row["ci_high"])})
        if avg is not None:
            points.append({"Year": p, "Who": "Network average", "Value": avg * scale, "Low": None, "High": None,
                           "Shown": ad.fmt_value(m, avg), "Range": ""})
    # Axis titles stay short: a long vertical title squeezes the plot to nothing in Vega's "fit" layout.
    ad.chart(trend_chart, (f"{m['title']}: {unit['name']} and the network average", unit_words.capitalize(),
                           unit["name"]), {"points": pl.DataFrame(points)}, key="profile_chart",
             alt_text=f"Line chart of {m['title']} by year for {unit['name']} (solid) and the network average "
             "(dashed), with the likely range of each yearly result.")
    st.caption(f"{m['plain_language']} {ad.direction_words(m)}.")


trend_section(unit, by_period, averages)
