"""Scorecard (network leadership): metrics × units with targets and trends, drill-down to strata, funnel plots.

Staff see the unsuppressed results (small cells included), so the page opens only after sign-in."""

import altair as alt
import numpy as np
import polars as pl
import streamlit as st

from carescore.compute import stats
from carescore.publish import exports
from lib import auth
from lib import data as ad

st.title("Scorecard")
auth.require("leadership")
run = ad.require_run()
catalog = ad.catalog(run)
periods = ad.periods(run)
units = ad.units(run)
results = ad.results(run)

VIEWS = {"Care networks": ("network", None), "Hospitals": ("unit", "hospital"),
         "Primary-care practices": ("unit", "primary_care")}
# Shape and colour both carry the comparison, so the table reads the same in greyscale.
MARK = {"better": "✔ better", "worse": "✖ worse", "no_different": "• same", "higher": "▲ higher",
        "lower": "▼ lower"}
SHADE = {"better": "background-color: #d4e9f7", "worse": "background-color: #fcdcc0"}

view = st.segmented_control("Show", list(VIEWS), default="Care networks", key="sc_view") or "Care networks"
networks = units.filter(pl.col("provider_type") == "network")
net_names = dict(zip(networks["unit_id"], networks["name"]))
c2, c3, c4 = st.columns([2, 1, 3])
network = c2.selectbox("Network", ["ALL", *net_names], format_func=lambda k: net_names.get(k, "All networks"),
                       key="sc_network", disabled=VIEWS[view][0] == "network")
period = c3.selectbox("Year", periods[::-1], key="sc_period")
domains = c4.multiselect("Areas", list(ad.DOMAINS), default=list(ad.DOMAINS), format_func=ad.DOMAINS.get,
                         key="sc_domains")
previous = periods[periods.index(period) - 1] if periods.index(period) > 0 else None

kind, ptype = VIEWS[view]
if kind == "network":
    pool = results.filter(pl.col("level") == "network")
    shown = networks
else:
    shown = units.filter(pl.col("provider_type") == ptype)
    if network != "ALL":
        shown = shown.filter(pl.col("network_id") == network)
    pool = ad.results_by_unit(run).filter(pl.col("unit_id").is_in(shown["unit_id"].to_list()))
metric_ids = [mid for mid, m in catalog.items() if m["domain"] in domains]
overall = results.filter(pl.col("level") == "all", pl.col("stratum") == "all", pl.col("metric_id").is_in(metric_ids))
rows = pl.concat([overall, pool.filter(pl.col("stratum") == "all", pl.col("metric_id").is_in(metric_ids))])
now = rows.filter(pl.col("period") == period)
before = {(r["metric_id"], r["unit_id"]): r["value"] for r in rows.filter(pl.col("period") == previous)
          .iter_rows(named=True)} if previous else {}


def cell(r: dict) -> tuple[str, str]:
    """Text (value, comparison mark, trend arrow) and its CSS shade for one metric × unit."""
    m = catalog[r["metric_id"]]
    if r["status"] in ("not_applicable", "data_quality_hold") or r["value"] is None:
        return ad.STATUS.get(r["status"], "–"), ""
    text = ad.fmt_value(m, r["value"])
    if r["status"] == "too_few":
        return f"{text} (too few)", "color: #666"
    text += f" {MARK.get(r['comparison'], '')}".rstrip()
    old = before.get((r["metric_id"], r["unit_id"]))
    if old is not None:
        change = r["value"] - old
        text += " →" if abs(change) <= 0.02 * max(abs(old), 1e-9) else (" ↑" if change > 0 else " ↓")
    return text, SHADE.get(r["comparison"], "")


names = {"ALL": "Whole network", **dict(zip(shown["unit_id"], shown["name"]))}
columns = [u for u in names if u in set(now["unit_id"])]
grid = {mid: {u: ("–", "") for u in columns} for mid in metric_ids if mid in set(now["metric_id"])}
for r in now.iter_rows(named=True):
    if r["metric_id"] in grid and r["unit_id"] in names:
        grid[r["metric_id"]][r["unit_id"]] = cell(r)
if not grid:
    st.info("No results for this choice. Pick more areas, or another year or network.")
    st.stop()

table = pl.DataFrame([{"Measure": catalog[mid]["title"],
                       "Target": ad.fmt_value(catalog[mid], catalog[mid]["target"]) if catalog[mid]["target"]
                       is not None else "–",
                       **{names[u]: v[0] for u, v in cells.items()}} for mid, cells in grid.items()])
shades = pl.DataFrame([{"Measure": "", "Target": "", **{names[u]: v[1] for u, v in cells.items()}}
                       for mid, cells in grid.items()])
styled = table.to_pandas().style.apply(lambda _: shades.to_pandas().values, axis=None)
st.dataframe(styled, hide_index=True, key="sc_table", height=ad.table_height(table.height),
             column_config={"Measure": st.column_config.TextColumn(pinned=True, width="large")})
st.caption("✔ better / ✖ worse / • no different from the whole network (95% interval); ▲▼ higher or lower where "
           "neither direction is better. Arrows show the change since the year before (↑ up, ↓ down, → within 2%). "
           "“Too few” values are shown to staff for context but are not reliable and are never published.")
# A unit's id and name are data an operator typed, so the CSV goes through the one formula-safe writer.
download = now.drop("sxx", "syy", "sxy", strict=False).with_columns(
    unit_name=pl.col("unit_id").replace_strict(names, default=None, return_dtype=pl.Utf8))
st.download_button("Download this scorecard (CSV)", exports.safe_csv(download),
                   file_name=f"scorecard_{period}.csv", mime="text/csv", key="sc_csv")

def funnel_chart(title: str, x_title: str, y_title: str) -> alt.LayerChart:
    limits = alt.Chart(alt.NamedData("limits"))
    x = alt.X("exposure:Q", title=x_title, scale=alt.Scale(type="log", nice=False))
    return alt.layer(
        limits.mark_line(color="#777").encode(x=x, y="Low:Q", strokeDash=alt.StrokeDash("Limits:N", title=None)),
        limits.mark_line(color="#777").encode(x=x, y="High:Q", strokeDash="Limits:N"),
        alt.Chart(alt.NamedData("reference")).mark_rule(color="#1f5f8b").encode(y="y:Q"),
        alt.Chart(alt.NamedData("units")).mark_point(size=80, filled=True).encode(
            x=x, y=alt.Y("Value:Q", title=y_title, scale=alt.Scale(zero=False)),
            shape=alt.Shape("Outlier:N", title=None), color=alt.Color("Outlier:N", title=None, scale=alt.Scale(
                domain=["within limits", "outside 99.8% limits"], range=["#1f5f8b", "#d95f02"])),
            tooltip=["Unit:N", "Shown:N", alt.Tooltip("exposure:Q", title="Exposure", format=",.1f"), "status:N"]),
    ).properties(title=title, height=380)


def interval_chart(title: str, x_title: str) -> alt.LayerChart:
    base = alt.Chart(alt.NamedData("units"))
    y = alt.Y("Unit:N", sort="x", title=None)
    return alt.layer(
        base.mark_rule().encode(x="Low:Q", x2="High:Q", y=y),
        base.mark_point(filled=True, size=70).encode(
            x=alt.X("Value:Q", title=x_title, scale=alt.Scale(zero=False)), y=y,
            tooltip=["Unit:N", alt.Tooltip("Value:Q", format=",.2f"), "status:N"]),
    ).properties(title=title, height=alt.Step(22))


# ---- Drill down: one metric across units (funnel plot), then one unit by stratum.
# Another measure or unit reruns only this part: the scorecard table above is not sent to the browser again.
@st.fragment
def drill_down(measures: list[str], names: dict[str, str], kind: str, period: str, overall: pl.DataFrame):
    st.header("Drill down")
    mid = st.selectbox("Measure", measures, format_func=lambda k: catalog[k]["title"], key="sc_metric")
    m = catalog[mid]
    scale, unit_words = ad.chart_scale(m)
    st.caption(f"{m['plain_language']} {ad.direction_words(m)}. Target: "
               f"{ad.fmt_value(m, m['target']) if m['target'] is not None else 'none set'}.")
    level_rows = (ad.results_by_unit(run) if kind == "unit" else results.filter(pl.col("level") == "network"))
    units_now = level_rows.filter(pl.col("metric_id") == mid, pl.col("stratum") == "all", pl.col("period") == period,
                                  pl.col("unit_id").is_in(list(names)), pl.col("value").is_not_null())
    reference = overall.filter(pl.col("metric_id") == mid, pl.col("period") == period)["value"].first()

    if units_now.height and reference is not None and m["kind"] in ("proportion", "rate", "o_e"):
        # Exposure per unit as stats.funnel_limits expects it: cases for proportions, expected events for O/E,
        # denominator in the rate's own units (e.g. thousands of patient days) for rates.
        exposure = {"proportion": pl.col("denominator"), "o_e": pl.col("expected"),
                    "rate": pl.col("denominator") / m["per"]}[m["kind"]]
        pts = units_now.with_columns(exposure=exposure).filter(pl.col("exposure") > 0)
        grid_x = np.geomspace(max(pts["exposure"].min() * 0.8, 1e-3), pts["exposure"].max() * 1.2, 80)
        phi, tau2 = stats.overdispersion(m["kind"], reference, pts["value"].to_numpy(), pts["exposure"].to_numpy())
        widen = st.toggle("Allow for overdispersion", key="sc_overdispersion",
                          help="When units differ more than chance alone explains, plain limits flag many units; "
                          "this widens them by the between-unit spread (a random-effects term, after Spiegelhalter).")
        tau2 = tau2 if widen else 0.0
        if phi <= 1:
            spread = "Units vary no more than chance alone would explain, so the limits need no widening."
        elif widen:
            spread = (f"Units vary {phi:.1f} times as much as chance alone would explain; the limits allow for a "
                      f"real spread between units (standard deviation {np.sqrt(tau2) * scale:,.2f} {unit_words}).")
        else:
            spread = (f"Units vary {phi:.1f} times as much as chance alone would explain; switch on “Allow for "
                      "overdispersion” so that only units beyond that spread stand out.")
        st.caption(spread)
        limits = []
        for z, label in ((1.96, "95% limits"), (3.09, "99.8% limits")):
            lo, hi = stats.funnel_limits(m["kind"], reference, grid_x, z=z, tau2=tau2)
            limits += [{"exposure": x, "Low": a * scale, "High": b * scale, "Limits": label}
                       for x, a, b in zip(grid_x, lo, hi)]
        lo998, hi998 = stats.funnel_limits(m["kind"], reference, pts["exposure"].to_numpy(), z=3.09, tau2=tau2)
        pts = pts.with_columns(
            Value=pl.col("value") * scale, Unit=pl.col("unit_id").replace_strict(names, default=pl.col("unit_id")),
            Shown=pl.col("value").map_elements(lambda v: ad.fmt_value(m, v), return_dtype=pl.String),
            Outlier=pl.Series(np.where((pts["value"].to_numpy() < lo998) | (pts["value"].to_numpy() > hi998),
                                       "outside 99.8% limits", "within limits")))
        x_title = {"proportion": "Patients or cases (denominator)", "o_e": "Expected events (from risk adjustment)",
                   "rate": f"Exposure ({m['denominator']['sql'] if m.get('denominator') else 'denominator'} / "
                           f"{m['per']:,})"}[m["kind"]]
        spec = ad.chart(funnel_chart, (f"Funnel plot: {m['title']}, {period}", x_title, unit_words.capitalize()),
                        {"limits": pl.DataFrame(limits), "reference": pl.DataFrame({"y": [reference * scale]}),
                         "units": pts.select("exposure", "Value", "Unit", "Shown", "Outlier", "status")},
                        key="sc_chart",
                        alt_text=f"Funnel plot of {m['title']} for {pts.height} units against their size, with the "
                        "whole-network value as a line and 95% and 99.8% control limits; "
                        f"{(pts['Outlier'] != 'within limits').sum()} units fall outside the 99.8% limits.")
    elif units_now.height:
        # Means and cost ratios have no count-based funnel: show each unit's own interval instead.
        pts = units_now.with_columns(Value=pl.col("value") * scale, Low=pl.col("ci_low") * scale,
                                     High=pl.col("ci_high") * scale,
                                     Unit=pl.col("unit_id").replace_strict(names, default=pl.col("unit_id")))
        spec = ad.chart(interval_chart, (f"{m['title']} by unit with 95% intervals, {period}",
                                         unit_words.capitalize()),
                        {"units": pts.select("Value", "Low", "High", "Unit", "status")}, key="sc_chart",
                        alt_text=f"Dot chart of {m['title']} for {pts.height} units, each with its 95% interval.")
    if units_now.height:
        st.download_button("Download this chart (PNG)", lambda: ad.chart_png(spec), file_name=f"{mid}_{period}.png",
                           mime="image/png", key="sc_png")
    else:
        st.info("No unit has a value for this measure in this view.")

    unit_choices = [u for u in names if u in set(units_now["unit_id"])] or ["ALL"]
    uid = st.selectbox("Look inside a unit, by group of patients", unit_choices, format_func=names.get, key="sc_unit")
    strata = (results.filter(pl.col("level") == "all") if uid == "ALL" else level_rows).filter(
        pl.col("metric_id") == mid, pl.col("unit_id") == uid, pl.col("period") == period, pl.col("stratum") != "all")
    if strata.height == 0:
        st.info(f"{m['title']} is not broken down by patient group for {names[uid]}.")
    else:
        st.dataframe(strata.sort("stratum", "stratum_value").select(
            pl.col("stratum").replace_strict(ad.STRATA, default=pl.col("stratum")).alias("Group"),
            pl.struct("stratum", "stratum_value").map_elements(lambda s: ad.group_label(s["stratum"], s["stratum_value"]),
                                                               return_dtype=pl.String).alias("Patients"),
            pl.col("value").map_elements(lambda v: ad.fmt_value(m, v), return_dtype=pl.String).alias("Result"),
            pl.struct("ci_low", "ci_high").map_elements(lambda s: ad.fmt_range(m, s["ci_low"], s["ci_high"], words=False),
                                                        return_dtype=pl.String).alias("95% interval"),
            pl.col("denominator").alias("Denominator"), pl.col("status").alias("Status"),
            pl.col("comparison").alias("Versus whole network")), hide_index=True, key="sc_strata")


drill_down(list(grid), names, kind, period, overall)
