"""Find and compare care (public): search, filter by type, compare up to three places side by side."""

import polars as pl
import streamlit as st

from lib import data as ad

MAX_COMPARE = 3
PUBLIC_TYPES = ["hospital", "primary_care", "home_health"]

st.title("Find and compare care")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)

st.write("Search for a hospital, a family doctor's practice or a home health agency, then pick up to three "
         "to compare. Each result is compared with the average for our whole network.")
left, right = st.columns([3, 2])
text = left.text_input("Search by name, town, zip code or kind of care",
                       placeholder="for example: Riverside, 04103, family doctor", key="find_text")
types = right.multiselect("Type of care", PUBLIC_TYPES, default=PUBLIC_TYPES,
                          format_func=ad.PROVIDER_TYPES.get, key="find_types")

found = ad.search_units(run, text, types)
if found.height == 0:
    st.info("Nothing matches that search. Try a town name, a zip code, or a word like *hospital* or *doctor*.")
    st.stop()

st.caption(f"{found.height} {'place matches' if found.height == 1 else 'places match'} your search.")
st.dataframe(found.select(pl.col("name").alias("Name"), pl.col("type_label").alias("Type"),
                          pl.col("town").alias("Town"), pl.col("zip").alias("Zip code"),
                          pl.col("reported").alias("Results reported")),
             hide_index=True, height=min(35 * found.height + 38, 300), key="find_table")


def compare_chart(title: str):
    import altair as alt  # here, not at the top: the page a visitor opens first has no chart yet (~0.2 s import)

    base = alt.Chart()  # the data comes from the facet, so each row gets only its own measure
    tooltip = ["Place:N", "Measure:N", "Shown:N", "Range:N"]
    dots = base.mark_point(filled=True, size=90).encode(
        x=alt.X("Value:Q", title="Result (in each measure's own units)", scale=alt.Scale(zero=False)),
        y=alt.Y("Place:N", title=None, axis=alt.Axis(labelLimit=220)),
        color=alt.Color("Place:N", legend=None, scale=alt.Scale(range=["#0072b2", "#cc79a7", "#009e73"])),
        shape=alt.Shape("Place:N", legend=None),
        tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2).encode(x="Low:Q", x2="High:Q", y="Place:N", color="Place:N",
                                                tooltip=tooltip)
    average = base.mark_rule(strokeDash=[4, 3], color="#555").encode(x="Average:Q")
    header = alt.Header(labelAngle=0, labelAlign="left", labelLimit=240)
    return (alt.layer(bars, dots, average).properties(width=380, height=alt.Step(28))
            .facet(row=alt.Row("Measure:N", title=None, header=header), data=alt.NamedData("rows"))
            .resolve_scale(x="independent").properties(title=title))


def small(text: str) -> str:
    """Caption-style text inside a markdown block: one element per cell instead of three keeps a rerun quick."""
    return f":small[:gray[{text}]]" if text else ""


def open_profile(uid: str):
    st.session_state["profile_unit"] = uid


# Picking places, the year or the area reruns only this part: the search and its table above stay as they are.
@st.fragment
def compare(names: dict[str, str]):
    if "profile_unit" in st.session_state:  # "See the full profile" was pressed: go before drawing anything
        st.switch_page("pages_/profile.py")
    chosen = st.multiselect(f"Pick up to {MAX_COMPARE} places to compare", list(names), max_selections=MAX_COMPARE,
                            format_func=names.get, key="find_compare",
                            default=[u for u in st.session_state.get("find_compare", []) if u in names])
    period = st.selectbox("Year", periods[::-1], key="find_period")
    if not chosen:
        return

    rows = (ad.public_by_unit(run)
            .filter(pl.col("unit_id").is_in(chosen), pl.col("stratum") == "all", pl.col("period") == period))
    if rows.height == 0:
        st.info("The network does not yet track measures for the places you picked, so there is nothing to "
                "compare. That says nothing about whether their care is good or bad.")
        return
    if rows.filter(pl.col("status") == "ok").height == 0:
        st.info("None of the places you picked has a result to report for this year. Usually that means they "
                "cared for too few patients for a fair comparison — it does not mean care was good or bad.")
    averages = ad.network_averages(run)
    by_key = {(r["metric_id"], r["unit_id"]): r for r in rows.iter_rows(named=True)}
    measured = set(rows["metric_id"])

    domains = [d for d in ad.DOMAINS if any(m["domain"] == d and mid in measured for mid, m in catalog.items())]
    # One area at a time: a patient reads one area, and the page stays quick with three places side by side.
    domain = st.segmented_control("Area of care", domains, format_func=ad.DOMAINS.get, default=domains[0],
                                  key="find_domain") or domains[0]
    notes: dict[str, str] = {}
    chart_rows = []
    for mid in [mid for mid, m in catalog.items() if m["domain"] == domain and mid in measured]:
        m = catalog[mid]
        scale, unit_words = ad.chart_scale(m)
        cols = st.columns([2] + [1] * len(chosen))
        avg = averages.get((mid, period))
        cols[0].markdown(f"**{m['title']}**  \n{m['plain_language']}  \n"
                         + small(f"{ad.direction_words(m)}. Network average: {ad.fmt_value(m, avg)}. {ad.unit_note(m)}"))
        for col, uid in zip(cols[1:], chosen):
            row = by_key.get((mid, uid))
            if row is None:
                col.markdown(f"{small(names[uid])}  \nNot measured here")
            elif row["status"] != "ok":
                status = ad.STATUS.get(row["status"], "Not available")
                col.markdown(f"{small(names[uid])}  \n**{status}**")
                notes[status] = row["footnote"]
            else:
                badge = {"better": "green", "worse": "orange"}.get(row["comparison"], "gray")
                words = ad.COMPARISON.get(row["comparison"], "Compared with no network average").replace(
                    "the network average", "average")
                col.markdown(f"{small(names[uid])}\n### {ad.fmt_value(m, row['value'])}\n:{badge}-badge[{words}]  \n"
                             + small(ad.fmt_range(m, row["ci_low"], row["ci_high"]).capitalize()))
                chart_rows.append({"Measure": f"{m['title']} ({unit_words})", "Place": names[uid],
                                   "Value": row["value"] * scale, "Low": row["ci_low"] * scale,
                                   "High": row["ci_high"] * scale, "Shown": ad.fmt_value(m, row["value"]),
                                   "Range": ad.fmt_range(m, row["ci_low"], row["ci_high"]),
                                   "Average": None if avg is None else avg * scale})
        st.divider()

    if chart_rows:
        ad.chart(compare_chart, (f"{ad.DOMAINS[domain]}: results with their likely range, {period}",),
                 {"rows": pl.DataFrame(chart_rows)}, key="find_chart",
                 alt_text=f"Chart of {ad.DOMAINS[domain].lower()} results for "
                 f"{', '.join(names[u] for u in chosen)}: a dot for each result, a line for its likely range and a "
                 "dashed line for the network average.")
    if notes:
        st.markdown("**What the notes mean**")
        st.markdown("\n".join(ad.footnote_markdown(f) for f in notes.values()))
    st.caption("“Likely between” shows the range the true result is likely to be in (a 95% confidence interval): "
               "small places have wider ranges. A place is only called better or worse than average when its "
               "whole range is above or below the network average.")
    for uid in chosen:
        st.button(f"See the full profile of {names[uid]}", key=f"profile_{uid}", on_click=open_profile, args=(uid,))


compare(dict(zip(found["unit_id"], found["name"])))
