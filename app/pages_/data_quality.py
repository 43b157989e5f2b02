"""Data quality (everyone): what the run's checks found, per table and check, as counts. Check messages, observed
values and sample record keys are never shown to the public (they can name records), and counts of 1-10 are not
either, as on every public page; signed-in leadership staff can open the messages."""

import polars as pl
import streamlit as st

from lib import auth
from lib import data as ad

st.title("Data quality")
run = ad.require_run()
dq = ad.data_quality(run)
st.write("Before any result is computed, every table in the data cut is checked: required values present, "
         "codes valid, dates in order, volumes in line with earlier runs. A result that depends on data that "
         "failed a serious check is put **on hold** instead of being published.")

if dq.height == 0:
    st.info("**Data-quality results are not available for this run.** The run was published without a "
            "data-quality report, so this page has nothing to summarize. The results themselves are unaffected.")
    st.stop()

holds = (ad.manifest(run).get("data_quality") or {}).get("holds") or []
failed = dq.filter(~pl.col("success"))
c1, c2, c3 = st.columns(3)
c1.metric("Checks run", f"{dq.height:,}")
c2.metric("Checks passed", f"{dq.height - failed.height:,}")
c3.metric("Measures on hold", len({h.get("metric_id") for h in holds}))

summary = (dq.group_by("table").agg(
    checks=pl.len(), passed=pl.col("success").sum(),
    errors=(~pl.col("success") & (pl.col("severity") == "error")).sum(),
    warnings=(~pl.col("success") & (pl.col("severity") != "error")).sum())
    .with_columns(status=pl.when(pl.col("errors") > 0).then(pl.lit("✖ failed"))
                  .when(pl.col("warnings") > 0).then(pl.lit("! warnings")).otherwise(pl.lit("✔ passed")))
    .sort("table"))
st.subheader("By table")
st.dataframe(summary.select(pl.col("table").alias("Table"), pl.col("status").alias("Status"),
                            pl.col("checks").alias("Checks"), pl.col("passed").alias("Passed"),
                            pl.col("errors").alias("Failed (serious)"), pl.col("warnings").alias("Warnings")),
             hide_index=True, key="dq_summary", height=ad.table_height(summary.height))

if failed.height:
    # Only what was checked and how many records failed: a check's message, observed values and sample keys
    # can hold record identifiers (patient or encounter ids), which a public page never shows.
    st.subheader("What did not pass")
    by_check = (failed.group_by("table", "column", "expectation", "severity")
                .agg(records=pl.col("unexpected_count").sum()).sort("severity", "table", "column", "expectation"))
    st.dataframe(by_check.select(
        pl.col("table").alias("Table"), pl.col("column").alias("Column"),
        pl.col("expectation").str.replace_all("_", " ").alias("Check"), pl.col("severity").alias("Severity"),
        pl.col("records").map_elements(ad.fmt_count, return_dtype=pl.String).alias("Records affected")),
        hide_index=True, key="dq_failed")
    staff = auth.current_staff()
    if staff is not None and "leadership" in staff.roles:
        with st.expander("Details for staff (may name records)"):
            st.dataframe(failed.select(pl.col("table").alias("Table"), pl.col("column").alias("Column"),
                                       pl.col("message").alias("What was found")),
                         hide_index=True, key="dq_detail")
if holds:
    catalog = ad.catalog(run)
    st.subheader("Measures on hold")
    for h in holds:
        title = catalog.get(h.get("metric_id"), {}).get("title", h.get("metric_id"))
        where = "for some providers" if h.get("providers") else "for the whole network"
        st.markdown(f"- **{title}** {where}: {h.get('reason', 'a data-quality check failed')}")
