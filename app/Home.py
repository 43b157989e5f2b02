"""carescore public reporting: reads only the published run bundle through carescore.store."""

import polars as pl
import streamlit as st

from carescore import store

st.set_page_config(page_title="carescore", layout="wide")
st.title("How care is going in our network")

try:
    run_id = store.current_run_id()
except store.NoPublishedRun:
    st.info("No results have been published yet. Run `make run` (or `carescore run`) to publish the first run.")
    st.stop()

catalog = store.read_catalog()
manifest = store.read_manifest()
st.caption(f"Results run {run_id} · periods {', '.join(manifest['periods'])}")
rows = [{"Measure": m["title"], "Area": m["domain"], "What it means": m["plain_language"]}
        for m in catalog["metrics"].values()]
st.dataframe(pl.DataFrame(rows), hide_index=True, width="stretch")
