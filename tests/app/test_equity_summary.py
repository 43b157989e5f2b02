"""The Equity summary page (leadership): one patient group across measures, and units ranked for that group."""

import re

import polars as pl
from test_pages import frame, no_errors, open_page, sign_in, texts

from carescore.publish import store


def _choose(at, key, value):
    at.selectbox(key=key).set_value(value)
    return at.run()


def test_equity_summary_needs_leadership_sign_in(app):
    open_page(app, "equity_summary")
    no_errors(app)
    assert "Please sign in with your staff account" in texts(app)
    assert not app.dataframe


def test_dual_eligible_follow_up_gap_is_flagged_and_units_ranked(app):
    sign_in(app, "cmo")
    open_page(app, "equity_summary")
    _choose(app, "es_dimension", "dual_eligible")
    _choose(app, "es_group", "true")
    _choose(app, "es_reference", "false")
    no_errors(app)
    measures = pl.from_pandas(frame(app, "Measure"))
    follow_up = measures.filter(pl.col("Measure").str.starts_with("Follow-up visit within 7 days")).row(0, named=True)
    assert follow_up["Reading"] == "worse for the group"  # the demo plants lower follow-up for dual-eligible patients
    gap = float(follow_up["Gap"].split(" ")[0])
    assert gap < 0
    # the gap is the difference of the two results shown, in percentage points (those are rounded to whole percents)
    assert abs(float(follow_up["Group result"].rstrip("%")) - float(follow_up["Reference result"].rstrip("%")) - gap) <= 1
    ranked = pl.from_pandas(frame(app, "Summary"))
    assert ranked.height >= 3 and (ranked["Measures"] >= 3).all()
    assert "Change since last year" in ranked.columns  # the demo has two years
    assert ranked["Summary"].to_list() == sorted(ranked["Summary"].to_list(), reverse=True)
    public_names = set(store.read_units(store.root_dir())["name"])
    assert set(ranked["Unit"]) <= public_names


def test_switching_to_practices_ranks_only_practices(app):
    sign_in(app, "cmo")
    open_page(app, "equity_summary")
    _choose(app, "es_dimension", "dual_eligible")
    app.segmented_control(key="es_level").set_value("practice").run()
    no_errors(app)
    units = store.read_units(store.root_dir())
    practices = set(units.filter(pl.col("provider_type") == "primary_care")["name"])
    ranked = pl.from_pandas(frame(app, "Summary"))
    assert ranked.height >= 3 and set(ranked["Unit"]) <= practices


def test_equity_page_ratio_to_reference_matches_the_results_shown(app):
    sign_in(app, "cmo")
    open_page(app, "equity")
    app.selectbox(key="eq_metric").set_value("followup_7d").run()
    _choose(app, "eq_dimension", "dual_eligible")
    _choose(app, "eq_reference", "false")
    no_errors(app)
    table = pl.from_pandas(frame(app, "Ratio to reference"))
    dual = table.filter(pl.col("Ratio to reference") != "reference").row(0, named=True)
    ref = table.filter(pl.col("Ratio to reference") == "reference").row(0, named=True)
    ratio, low, high = (float(x) for x in re.match(r"([\d.]+)× \(([\d.]+) to ([\d.]+)\)",
                                                    dual["Ratio to reference"]).groups())
    shown = float(dual["Result"].rstrip("%")) / float(ref["Result"].rstrip("%"))
    assert abs(ratio - shown) < 0.03 and low < ratio < high < 1  # the planted gap: dual-eligible clearly lower


def test_methodology_explains_small_number_protection_and_equity_methods(app):
    from carescore.compute import equity, suppress

    open_page(app, "methodology")
    no_errors(app)
    shown = texts(app)
    assert suppress.__doc__.strip() in shown and equity.__doc__.strip() in shown
    assert "Audit." in shown and "index of disparity" in shown
