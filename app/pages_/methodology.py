"""Methodology (everyone): each measure in plain language and in full, its compiled SQL and version, the data
cut and the data-quality status of the run. Public page: exclusion counts of 1-10 are not shown."""

import polars as pl
import streamlit as st

from lib import data as ad

st.title("How we measure")
run = ad.require_run()
catalog = ad.catalog(run)
manifest = ad.manifest(run)

st.write("Every result on this site is computed the same way for every provider, from one dated copy of the "
         "network's records (the *data cut*). Here is what each measure means, exactly how it is computed, and "
         "which data it used.")

st.header("Measures")
st.dataframe(pl.DataFrame([{"Area": ad.DOMAINS.get(m["domain"], m["domain"]), "Measure": m["title"],
                            "What it means": m["plain_language"], "Better is": ad.direction_words(m).split(" is")[0],
                            "Version": m["version"]} for m in catalog.values()]),
             hide_index=True, key="meth_overview", height=ad.table_height(len(catalog)))

mid = st.selectbox("Read one measure in full", list(catalog), format_func=lambda k: catalog[k]["title"],
                   key="meth_metric")
m = catalog[mid]
st.subheader(m["title"])
st.markdown(f"**In plain language:** {m['plain_language']} {ad.direction_words(m)}. {ad.unit_note(m)}")
st.markdown(f"**In full:** {m['description']}")
who = [f"- **Who is counted:** {m.get('fact_description') or m['fact']}"]
if m.get("population"):
    who.append(f"- **Only when:** `{m['population']['sql']}`")
for name, rule in m.get("exclusions") or []:
    who.append(f"- **Left out ({name.replace('_', ' ')}):** `{rule['sql']}`")
who.append(f"- **Counted as the result (numerator):** `{m['numerator']['sql']}`")
if m.get("denominator"):
    who.append(f"- **Out of (denominator):** `{m['denominator']['sql']}`")
if m.get("risk_adjustment"):
    ra = m["risk_adjustment"]
    who.append(f"- **Risk adjustment:** {ra['method']} standardization by {', '.join(ra['by'])} — each place is "
               "compared with what the whole network's rates would predict for its own patients.")
who.append(f"- **Reported for:** {', '.join(ad.LEVELS.get(v, v) for v in m['levels'])}; by "
           f"{', '.join(ad.STRATA.get(s, s).lower() for s in m['stratify_by']) or 'no patient groups'}.")
who.append(f"- **Too few to report below:** {m['min_denominator']} "
           f"{'units of exposure' if m['kind'] == 'rate' else 'patients or cases'}; counts of 1 to 10 are never "
           "shown.")
if m.get("target") is not None:
    who.append(f"- **Network target:** {ad.fmt_value(m, m['target'])}")
who.append(f"- **Version {m['version']}** from `{m['path']}` (fingerprint `{m['source_hash']}`)")
st.markdown("\n".join(who))

excluded = ad.exclusions(run)
if excluded.height:
    shown = (excluded.filter(pl.col("metric_id") == mid, pl.col("level") == "all")
             .select(pl.col("period").alias("Year"), pl.col("exclusion").str.replace_all("_", " ").alias("Reason"),
                     pl.col("excluded").map_elements(ad.fmt_count, return_dtype=pl.String).alias("Left out")))
    if shown.height:
        st.markdown("**How many were left out, whole network**")
        st.dataframe(shown, hide_index=True, key="meth_exclusions")
with st.expander("The definition file (YAML)"):
    st.code(m.get("source") or "(not recorded in this run)", language="yaml")
with st.expander("The compiled SQL that computed it"):
    st.caption("One query computes every measure over the same facts, for every level and patient group at once.")
    st.code(m.get("sql") or "(not recorded in this run)", language="sql")

st.header("This run")
st.markdown(f"- **Run:** `{manifest.get('run_id', run)}`, published {manifest.get('created_at', 'unknown')}\n"
            f"- **Years covered:** {', '.join(ad.periods(run))}\n"
            f"- **Software version:** `{manifest.get('code_version', 'unknown')}`")
cut = manifest.get("data_cut") or {}
if cut.get("files"):
    st.markdown("**Data cut**: the files this run read, with a fingerprint that changes if a single byte does.")
    st.dataframe(pl.DataFrame([{"Table": f["table"], "Rows": f"{f['rows']:,}", "Fingerprint (SHA-256)":
                                f["sha256"][:16]} for f in cut["files"]]), hide_index=True, key="meth_cut",
                 height=ad.table_height(len(cut["files"])))
if cut.get("missing_tables"):
    st.warning(f"Not in this data cut: {', '.join(cut['missing_tables'])}. Measures that need them are marked "
               "“Not available”.")
st.markdown("**Data quality**")
dq = ad.data_quality(run)
if dq.height == 0:
    st.info("Data-quality results are not available for this run.")
else:
    failed = dq.filter(~pl.col("success"))
    st.write(f"{dq.height} checks on {dq['table'].n_unique()} tables; {failed.height} did not pass. "
             + ("Measures that depend on failed data are shown as “On hold”." if failed.height else ""))
    st.page_link("pages_/data_quality.py", label="See the data-quality summary", icon=":material/fact_check:")

st.header("Star ratings and payment methods")
st.write("Composite scores, star ratings and the payment designs on the Incentives page use published methods, "
         "declared in files anyone can read and run again (`carescore stars`, `carescore incentives`).")
with st.expander("Composite scores and star ratings"):
    st.markdown(ad.method_doc("carescore.payer.stars"))
with st.expander("Value-based payment: scores, withholds and budget-neutral exchange"):
    st.markdown(ad.method_doc("carescore.payer.incentives"))

st.header("How results are protected and compared")
with st.expander("Small numbers: what is hidden and why"):
    st.markdown(ad.method_doc("carescore.compute.suppress"))
with st.expander("Differences between groups of patients (equity)"):
    st.markdown(ad.method_doc("carescore.compute.equity"))
