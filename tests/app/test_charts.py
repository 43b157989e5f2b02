"""lib.data.chart: a chart shape is built with Altair once, and each chart's own text is filled in exactly."""

import json

import polars as pl
from streamlit.testing.v1 import AppTest

from lib import data as ad


def chart_page():
    import altair as alt
    import polars as pl
    import streamlit as st

    from lib import data as ad

    def bars(title: str, x_title: str, colours: tuple) -> alt.Chart:
        st.session_state["builds"] = st.session_state.get("builds", 0) + 1
        return alt.Chart(alt.NamedData("rows")).mark_bar(color=colours[0]).encode(
            x=alt.X("Value:Q", title=x_title), y="Place:N").properties(title=title)

    colours = st.session_state.get("colours", ("#1f5f8b",))
    ad.chart(bars, (st.session_state.get("title", "first"), "Result (percent)", colours),
             {"rows": pl.DataFrame({"Place": ["A", "B"], "Value": [1.0, 2.0]})}, alt_text="bars", key="bars")


def spec(at: AppTest) -> dict:
    return json.loads(at.get("vega_lite_chart")[0].proto.spec)


def test_text_is_filled_into_one_build_per_shape():
    at = AppTest.from_function(chart_page, default_timeout=60).run()
    tricky = 'Safety: "falls" \\ harm ✓ in 2025, __chart_text_1__ and {braces}'
    at.session_state["title"] = tricky
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["builds"] == 1  # a new title is not a new Altair build
    shown = spec(at)
    assert shown["title"] == tricky
    assert shown["encoding"]["x"]["title"] == "Result (percent)"
    assert shown["mark"]["color"] == "#1f5f8b"
    at.session_state["colours"] = ("#d95f02",)  # anything but text is part of the shape
    at.run()
    assert at.session_state["builds"] == 2 and spec(at)["mark"]["color"] == "#d95f02"
    assert spec(at)["title"] == tricky


def test_png_of_a_chart_whose_data_are_polars_frames():
    png = ad.chart_png({"$schema": "https://vega.github.io/schema/vega-lite/v6.json",
                              "data": {"name": "rows"}, "mark": "bar",
                              "encoding": {"x": {"field": "Value", "type": "quantitative"},
                                           "y": {"field": "Place", "type": "nominal"}},
                              "datasets": {"rows": pl.DataFrame({"Place": ["A", "B"], "Value": [1.0, 2.0]})}})
    assert png[:4] == b"\x89PNG"
