"""Scorecard funnel plot: the overdispersion option widens the limits when units vary more than chance explains
(so no more units stand out) and changes nothing when they do not."""

import re

import pytest
from test_pages import no_errors, open_page, sign_in, texts


def _outside(at) -> int:
    alt_text = at.get("vega_lite_chart")[0].proto.alt
    return int(re.search(r"(\d+) units fall outside the 99.8% limits", alt_text)[1])


@pytest.mark.parametrize("metric", ["readmission_30d", "followup_7d", "would_recommend"])
def test_allowing_for_overdispersion_never_flags_more_units(app, metric):
    sign_in(app, "cmo")
    open_page(app, "scorecard")
    app.segmented_control(key="sc_view").set_value("Hospitals").run()
    app.selectbox(key="sc_metric").set_value(metric).run()
    no_errors(app)
    plain = _outside(app)
    overdispersed = "no more than chance" not in texts(app)
    if overdispersed:
        assert "times as much as chance alone would explain; switch on" in texts(app)
    app.toggle(key="sc_overdispersion").set_value(True).run()
    no_errors(app)
    widened = _outside(app)
    if overdispersed:  # wider limits: no unit can newly stand out
        assert widened <= plain and "the limits allow for a real spread between units" in texts(app)
    else:  # nothing to allow for: the same limits, the same units outside them
        assert widened == plain and "no more than chance" in texts(app)
