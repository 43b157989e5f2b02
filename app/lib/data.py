"""What the Streamlit pages share: cached reads of the published run and wording for people.

Everything comes through `carescore.publish.store`; there is no SQL here. Reads are cached per (store folder, run
id), so publishing a new run is picked up on the next rerun without restarting the app. The cache holds
the frames themselves (`cache_resource`, no copy per call): Polars frames are immutable, so sharing them
between sessions is safe and keeps every rerun well under the 300 ms budget.
"""

from __future__ import annotations

import gc
import importlib
import json
import re
import threading
import types

import polars as pl
import streamlit as st

from carescore.publish import numbers, store

PROVIDER_TYPES = {"hospital": "Hospital", "primary_care": "Primary care", "home_health": "Home health",
                  "community": "Community partner", "network": "Care network"}
# Words people type when they look for a kind of care, so "doctor" or "home nursing" finds the right places.
SERVICES = {
    "hospital": "hospital inpatient emergency surgery stay admission maternity imaging scan x-ray",
    "primary_care": "primary care family doctor gp clinic practice checkup physician nurse practitioner",
    "home_health": "home health home care visiting nurse nursing therapy",
    "community": "community social services food housing transport rides help",
}
DOMAINS = {"quality": "Quality of care", "safety": "Safety", "experience": "Patients' experience",
           "cost": "Cost", "equity": "Fair care for everyone"}
STRATA = {"all": "Everyone", "race_ethnicity": "Race and ethnicity", "sex": "Sex", "age_band": "Age group",
          "dual_eligible": "Both Medicare and Medicaid (dual eligible)", "rurality": "Urban or rural",
          "language": "Preferred language"}
COMPARISON = {"better": "Better than the network average", "worse": "Worse than the network average",
              "no_different": "No different from the network average",
              "higher": "Higher than the network average", "lower": "Lower than the network average"}
# Short labels for table cells; the full footnote is shown once under the table.
STATUS = {"too_few": "Too few to report", "suppressed": "Hidden to protect privacy",
          "data_quality_hold": "On hold: data being checked", "not_applicable": "Not available"}
LEVELS = {"all": "Whole network", "network": "Care network", "provider": "Provider", "practice": "Practice"}


# Large modules that only later pages need: SciPy (through carescore.compute.stats, ~0.6 s) for Scorecard and Equity,
# Altair (~0.2 s) for every chart, pandas' Styler for the scorecard's shading.
_IMPORT_LATER = ("carescore.compute.stats", "altair", "pandas.io.formats.style")
_importing: threading.Thread | None = None


def import_in_background() -> None:
    """Import `_IMPORT_LATER` off the script thread, once per server process: the first visitor of Scorecard or
    Equity then does not wait for SciPy to load. A rerun that runs meanwhile shares the interpreter with the
    import (~1 s of work), so Home.py starts it only on the pages on the way to a staff page."""
    global _importing
    if _importing is None:
        _importing = threading.Thread(target=lambda: [importlib.import_module(m) for m in _IMPORT_LATER],
                                      name="carescore-imports", daemon=True)
        _importing.start()


# ------------------------------------------------------------------------------------------------
# Reading the published run


def current_run() -> str | None:
    """The published run id, or None before the first publish. Read every rerun: it is one small file."""
    try:
        return store.current_run_id()
    except store.NoPublishedRun:
        return None


def require_run() -> str:
    """The run id, or an explanation and a stop: every page needs a published run."""
    run = current_run()
    if run is None:
        st.info("**No results have been published yet.** When the network publishes its first set of results "
                "they will appear here. (For the team running this site: `make run`, or `carescore run`, "
                "publishes a run.)")
        st.stop()
    return run


def _root() -> str:
    return str(store.root_dir())


def _long_lived(value):
    """Take everything alive now out of the garbage collector's sight, and return `value`.

    Streamlit collects garbage after every rerun (`runner.postScriptGC`), walking every object the process
    holds: with the libraries, Altair's schema and a run's tables that is ~200k objects and 70-160 ms, and the
    server sends nothing to the browser until it is done. Called when something that lives as long as the
    process has just been loaded (a run's tables, a compiled chart), so later collections walk only what one
    rerun made. Freezing is cheap and happens a few times per published run; frozen objects are still freed by
    reference counting, only cycles among them (a little garbage of the rerun that froze them) stay."""
    gc.freeze()
    return value


@st.cache_resource(show_spinner=False, max_entries=8)
def _read(kind: str, root: str, run: str):
    readers = {"public": store.read_public, "results": store.read_results, "units": store.read_units,
               "catalog": store.read_catalog, "manifest": store.read_manifest,
               "exclusions": store.read_exclusions, "dq": lambda root, run_id: store.read_frame("dq", root, run_id)}
    return _long_lived(readers[kind](root=root, run_id=run))


def public(run: str) -> pl.DataFrame:
    """The suppressed long table: the only results a public page may show."""
    return _read("public", _root(), run)


def results(run: str) -> pl.DataFrame:
    """Unsuppressed results: call only after `auth.require` has let a staff member in."""
    return _read("results", _root(), run)


def units(run: str) -> pl.DataFrame:
    return _read("units", _root(), run)


def catalog(run: str) -> dict:
    return _read("catalog", _root(), run)["metrics"]


def manifest(run: str) -> dict:
    return _read("manifest", _root(), run)


def exclusions(run: str) -> pl.DataFrame:
    return _read("exclusions", _root(), run)


def data_quality(run: str) -> pl.DataFrame:
    """The run's data-quality results; an empty frame when this run has none."""
    return _read("dq", _root(), run)


def periods(run: str) -> list[str]:
    return sorted(manifest(run).get("periods") or public(run)["period"].unique().to_list())


def unit_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of individual providers and practices (not networks or the whole network), one per unit.

    A primary-care site reports some measures as a 'provider' and others as a 'practice'; to a reader it is
    one place, so both levels are kept under its unit id."""
    return (frame.filter(pl.col("level").is_in(["provider", "practice"]))
            .unique(["metric_id", "unit_id", "stratum", "stratum_value", "period"], keep="first",
                    maintain_order=True))


@st.cache_resource(show_spinner=False, max_entries=8)
def _by_unit(kind: str, root: str, run: str) -> pl.DataFrame:
    return unit_rows(_read(kind, root, run))


def public_by_unit(run: str) -> pl.DataFrame:
    """`unit_rows` of the public table, worked out once per run (a unique over every row costs ~25 ms)."""
    return _by_unit("public", _root(), run)


def results_by_unit(run: str) -> pl.DataFrame:
    """`unit_rows` of the unsuppressed results, once per run: call only after `auth.require`."""
    return _by_unit("results", _root(), run)


@st.cache_resource(show_spinner=False, max_entries=8)
def _unit_index(root: str, run: str) -> pl.DataFrame:
    """Units that can be searched, with the words a search matches and how many results each reports."""
    reported = (_by_unit("public", root, run).filter(pl.col("stratum") == "all")
                .group_by("unit_id").agg(reported=(pl.col("status") == "ok").sum(), measures=pl.len()))
    u = _read("units", root, run).filter(pl.col("provider_type") != "network")
    return (u.join(reported, on="unit_id", how="left")
            .with_columns(pl.col("reported", "measures").fill_null(0),
                          type_label=pl.col("provider_type").replace_strict(PROVIDER_TYPES, default="Other"),
                          haystack=pl.concat_str([pl.col("name"), pl.col("town"), pl.col("zip"), pl.col("unit_id"),
                                                  pl.col("provider_type").replace_strict(SERVICES, default="")],
                                                 separator=" ", ignore_nulls=True).str.to_lowercase())
            .sort("name"))


def search_units(run: str, text: str = "", types: list[str] | None = None) -> pl.DataFrame:
    """Units whose name, town, zip code or kind of service contains every word typed."""
    found = _unit_index(_root(), run)
    if types:
        found = found.filter(pl.col("provider_type").is_in(types))
    for word in text.lower().split():
        found = found.filter(pl.col("haystack").str.contains(word, literal=True))
    return found


def unit_label(run: str, unit_id: str) -> str:
    u = units(run).filter(pl.col("unit_id") == unit_id)
    if u.height == 0:
        return "the whole network" if unit_id == "ALL" else unit_id
    row = u.row(0, named=True)
    return f"{row['name']} ({row['town']})" if row.get("town") else row["name"]


# ------------------------------------------------------------------------------------------------
# Numbers for people


def fmt_value(metric: dict, v) -> str:
    """A value the way a person reads it (`carescore.publish.numbers`, the one formatter)."""
    return numbers.value(v, metric["unit"])


def fmt_range(metric: dict, low, high, words: bool = True) -> str:
    """The 95% interval in words ("likely between 61% and 70%"), or as "61% to 70%" under a column header."""
    if numbers.missing(low) or numbers.missing(high):
        return ""
    a, b = fmt_value(metric, low), fmt_value(metric, high)
    return f"likely between {a} and {b}" if words else f"{a} to {b}"


def unit_note(metric: dict) -> str:
    """One line that says how to read the number, for measures whose unit is not obvious."""
    if metric["unit"] == "ratio":
        return ("Compared with what is expected for patients like these: 1.00× is as expected, below 1 is fewer "
                "than expected.")
    return ""


fmt_count = numbers.count


def direction_words(metric: dict) -> str:
    return {"higher_is_better": "Higher is better", "lower_is_better": "Lower is better"}.get(
        metric["direction"], "Neither higher nor lower is better")


# A chart builder is the same chart shape for as long as its source file is unchanged.
@st.cache_resource(show_spinner=False, max_entries=256,
                   hash_funcs={types.FunctionType: lambda f: (f.__code__.co_filename, f.__qualname__,
                                                              f.__code__.co_code)})
def _compiled(build, shape: tuple) -> str:
    return _long_lived(json.dumps(build(*shape).to_dict()))


def _slot(i: int) -> str:
    return f"__chart_text_{i}__"


_SLOT = re.compile(r"__chart_text_(\d+)__")


def chart(build, args: tuple, data: dict[str, pl.DataFrame | list[dict]], alt_text: str,
          key: str | None = None) -> dict:
    """Show an Altair chart whose data are named datasets (`alt.NamedData`).

    Altair validates a spec against the Vega-Lite schema every time it is built, which costs 50-250 ms a chart.
    So `build(*args)` runs once per chart shape: each text argument (a title, an axis title, a place's name) is
    built as a placeholder and filled into the compiled spec, so another measure, year or place does not build
    the chart again; other arguments (colours, say) are part of the shape. Datasets are Polars frames (sent to
    the browser as Arrow, with no copy through pandas) or lists of rows. Returns the full spec (for a PNG
    download)."""
    shape = tuple(_slot(i) if isinstance(a, str) else a for i, a in enumerate(args))
    # one pass, so a title is never searched for another argument's placeholder
    filled = _SLOT.sub(lambda slot: json.dumps(args[int(slot.group(1))])[1:-1], _compiled(build, shape))
    spec = {**json.loads(filled), "datasets": data}
    st.vega_lite_chart(spec=dict(spec), alt=alt_text, key=key, width="stretch")
    return spec


def chart_png(spec: dict) -> bytes:
    """A chart as PNG for a download button; called only when the button is pressed."""
    import vl_convert as vlc  # here, not at the top: it is large and most page views never need it

    datasets = {name: rows.to_dicts() if isinstance(rows, pl.DataFrame) else rows
                for name, rows in spec.get("datasets", {}).items()}
    return vlc.vegalite_to_png(json.dumps({**spec, "datasets": datasets}, default=str), scale=2)


def network_averages(run: str) -> dict[tuple[str, str], float]:
    """(metric, period) → the whole-network value, from the network row itself (status ok).

    Public pages take the average from here, never from a unit row's reference_value: when the network row
    is hidden, its value must stay hidden too."""
    rows = public(run).filter(pl.col("level") == "all", pl.col("stratum") == "all", pl.col("status") == "ok")
    return {(r["metric_id"], r["period"]): r["value"] for r in rows.iter_rows(named=True)}


def chart_scale(metric: dict) -> tuple[float, str]:
    """Multiplier and axis wording to chart a value in the units people read (72, not 0.72)."""
    return {"percent": (100.0, "percent"), "per_1000": (1.0, "per 1,000"), "dollars": (1.0, "dollars"),
            "ratio": (1.0, "times the expected number")}.get(metric["unit"], (1.0, metric["unit"]))


def group_label(stratum: str, value: str) -> str:
    """A patient group as people say it: 'Dual eligible', 'Hispanic', '45-64'."""
    if stratum == "dual_eligible":
        return {"true": "Dual eligible", "false": "Not dual eligible"}.get(value, value)
    # proper nouns keep their capitals: 'Native American', 'Spanish'
    return " ".join(w.capitalize() for w in value.split("_")) if value else "Unknown"


def table_height(rows: int, limit: int = 40) -> int:
    """Pixel height that shows a table whole (no inner scrolling) up to `limit` rows."""
    return 35 * (min(rows, limit) + 1) + 3


def footnote_markdown(footnote: str) -> str:
    """A footnote as a list item with its lead words ('Too few to report:') in bold."""
    lead, sep, rest = footnote.partition(":")
    return f"- **{lead}:**{rest}" if sep else f"- {footnote}"


@st.cache_data(show_spinner=False)
def method_doc(module: str) -> str:
    """The written method of a carescore module (e.g. carescore.payer.stars): its documentation, the one source."""
    return importlib.import_module(module).__doc__ or ""
