"""The app in a real Chromium: `streamlit run` on localhost, driven with playwright like a person would.

Screenshots of every page go to build/browser/screenshots/, timings (seconds, as the person waits for them) to
build/browser/timings-*.json."""

import json
import re
import time

import polars as pl
import pytest
from app_fixtures import PASSWORD, REPO
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from carescore.publish import store
from lib import data as ad

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BUILD = REPO / "build" / "browser"


def settle(page):
    """Wait until Streamlit has finished the rerun and every chart in view has drawn (a chart in a tab or
    expander that is closed draws only when it is opened)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"], "
                           "[data-testid=\"stSkeleton\"]')")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]')]"
                           ".every(c => !c.checkVisibility() || c.querySelector('svg, canvas'))")


def shot(page, name: str):
    """The whole page (Streamlit scrolls inside its main block, so the viewport grows to fit it first)."""
    settle(page)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(height, 900), 9000)})
    page.wait_for_timeout(400)  # charts re-layout to the new size
    (BUILD / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(BUILD / "screenshots" / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 900})


class Clock:
    """Times what a person waits for: from an action until the rerun it started has finished on the server, a
    text is visible and the page has settled.

    The text alone is not enough: it is often on screen from the previous run, and Streamlit shows its
    "running" widget only after a delay, so a clock that stops at the text can stop before the page changed.
    Each time is also taken from the click (or key) that asked for the rerun, without the time Playwright
    spends opening a list and typing into it: timings-*-after-click.json."""

    def __init__(self, page, name: str):
        self.page, self.name, self.times, self.after_click, self.finished, self.requests = page, name, {}, {}, 0, []
        page.on("websocket", self._socket)

    def _socket(self, ws):
        ws.on("framereceived", self._received)
        ws.on("framesent", self._sent)

    def _received(self, payload):
        if isinstance(payload, bytes):
            msg = ForwardMsg()
            msg.ParseFromString(payload)
            # a run cut short by a newer rerun (switch_page, a second click) is not the page the person waits for
            self.finished += (msg.WhichOneof("type") == "script_finished"
                              and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN)

    def _sent(self, payload):
        if isinstance(payload, bytes):
            msg = BackMsg()
            msg.ParseFromString(payload)
            if msg.WhichOneof("type") == "rerun_script":
                self.requests.append(time.perf_counter())

    def __call__(self, label: str, action, until: str):
        start, before = time.perf_counter(), self.finished
        action()
        while self.finished == before:
            self.page.wait_for_timeout(5)
            assert time.perf_counter() - start < 30, f"{label}: the app never finished a rerun"
        self.page.get_by_text(until, exact=False).first.wait_for(state="visible")
        settle(self.page)
        end = time.perf_counter()
        self.times[label] = round(end - start, 3)
        self.after_click[label] = round(end - next(t for t in self.requests if t >= start), 3)

    def save(self):
        BUILD.mkdir(parents=True, exist_ok=True)
        (BUILD / f"timings-{self.name}.json").write_text(json.dumps(self.times, indent=2) + "\n")
        (BUILD / f"timings-{self.name}-after-click.json").write_text(json.dumps(self.after_click, indent=2) + "\n")


def nav(page, title: str):
    return lambda: page.get_by_role("link", name=title, exact=True).click()


def pick(page, label: str, option: str):
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(option[:12])
    page.get_by_role("option", name=option, exact=True).click()


def segment(page, option: str):
    """Click an option of a segmented control."""
    return lambda: page.locator('[data-testid="stButtonGroup"]').get_by_text(option, exact=True).click()


def best_hospitals(root, n: int) -> pl.DataFrame:
    public = store.read_public(root)
    latest = max(public["period"])
    ok = (public.filter(pl.col("level") == "provider", pl.col("stratum") == "all", pl.col("period") == latest,
                        pl.col("status") == "ok").group_by("unit_id").len())
    units = store.read_units(root).filter(pl.col("provider_type") == "hospital")
    return units.join(ok, on="unit_id").sort("len", "unit_id", descending=[True, False]).head(n)


PUBLIC_PAGES = [("Find and compare care", "places match your search"), ("Provider profile", "Trend over the years"),
                ("Methodology", "Read one measure in full"), ("Data quality", "Before any result is computed")]


def test_public_pages(server, page):
    url, root = server["url"], server["store"]
    clock = Clock(page, "public")
    catalog = store.read_catalog(root)["metrics"]
    public = store.read_public(root)
    latest = max(public["period"])
    hospitals = best_hospitals(root, 2)
    n_hospitals = store.read_units(root).filter(pl.col("provider_type") == "hospital").height

    clock("open the app (first page, cold)", lambda: page.goto(url), "places match your search")
    shot(page, "01_find")
    search = page.get_by_label("Search by name, town, zip code or kind of care")
    search.fill("hospital")
    clock("search", lambda: search.press("Enter"), f"{n_hospitals} places match your search")

    first, second = hospitals["name"].to_list()
    # The first chart of a visit also loads the browser's chart library; the second place shows a re-render alone.
    clock("add a first place to compare (first chart of the visit)",
          lambda: pick(page, "Pick up to 3 places to compare", first), f"See the full profile of {first}")
    clock("add a place to compare", lambda: pick(page, "Pick up to 3 places to compare", second),
          f"See the full profile of {second}")
    page.keyboard.press("Escape")
    settle(page)
    # The values on screen are the published values, formatted for people.
    quality = [mid for mid, m in catalog.items() if m["domain"] == "quality"]
    row = public.filter(pl.col("unit_id") == hospitals["unit_id"][0], pl.col("metric_id").is_in(quality),
                        pl.col("stratum") == "all", pl.col("period") == latest, pl.col("status") == "ok").row(
        0, named=True)
    expected = ad.fmt_value(catalog[row["metric_id"]], row["value"])
    assert page.get_by_role("heading", name=expected).count() >= 1, expected
    assert page.get_by_text(re.compile(r"(Better than|No different from|Worse than) average")).count() >= 2
    assert page.get_by_text("Likely between").count() >= 2
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    assert chart.locator("svg, canvas").count() >= 1
    assert "likely range" in (page.locator('[data-testid="stVegaLiteChart"] [aria-label]').first
                              .get_attribute("aria-label") or "").lower() or chart.is_visible()
    shot(page, "02_find_compare")
    clock("switch area (Safety)", segment(page, "Safety"),
          "Safety: results with their likely range")

    clock("open a profile from compare", lambda: page.get_by_role("button", name=f"See the full profile of {first}")
          .click(), "Trend over the years")
    assert page.get_by_role("heading", name=first).count() == 1
    ok_now = public.filter(pl.col("unit_id") == hospitals["unit_id"][0], pl.col("stratum") == "all",
                           pl.col("period") == latest)
    better = ok_now.filter(pl.col("comparison") == "better").height
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Better than average")
    assert metric.locator('[data-testid="stMetricValue"]').inner_text().strip() == str(better)
    shot(page, "03_profile")

    clock("page: Methodology (first visit)", nav(page, "Methodology"), "Read one measure in full")
    shot(page, "04_methodology")
    clock("page: Data quality (first visit)", nav(page, "Data quality"), "Before any result is computed")
    shot(page, "05_data_quality")
    for title, until in PUBLIC_PAGES:  # warm: what every later visitor gets
        clock(f"page: {title}", nav(page, title), until)
    clock.save()


def test_sign_in_gate_and_staff_pages(server, page):
    url = server["url"]
    clock = Clock(page, "staff")
    page.goto(f"{url}/scorecard")
    page.get_by_text("This page is for network leadership").wait_for()
    settle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0
    shot(page, "06_gate")

    page.get_by_role("link", name="Go to staff sign-in").click()
    page.get_by_label("User name").fill("cmo")
    page.get_by_role("textbox", name="Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("do not match an account").wait_for()
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    # signing in goes back to the page that asked for it
    clock("sign in (back to Scorecard, first visit)", lambda: page.get_by_role("button", name="Sign in").click(),
          "Drill down")
    assert page.url.endswith("/scorecard")
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.get_by_role("button", name="Download this scorecard (CSV)").is_visible()
    shot(page, "07_scorecard")
    clock("scorecard: view hospitals", segment(page, "Hospitals"),
          "Drill down")
    clock("scorecard: drill to a measure (funnel plot)",
          lambda: pick(page, "Measure", "Unplanned readmission within 30 days (risk-adjusted)"),
          "Funnel plot: Unplanned readmission")
    assert page.get_by_role("button", name="Download this chart (PNG)").is_visible()
    shot(page, "08_scorecard_funnel")

    clock("page: Equity (first visit)", nav(page, "Equity"), "Gap to the reference group")
    clock("equity: another measure", lambda: pick(page, "Measure", "Follow-up visit within 7 days of leaving the "
                                                   "hospital"), "clinic within a week")
    shot(page, "09_equity")
    clock("page: Scorecard", nav(page, "Scorecard"), "Drill down")
    clock("page: Equity", nav(page, "Equity"), "Gap to the reference group")

    page.get_by_role("link", name="Incentives", exact=True).click()
    page.get_by_text("does not include access for payers").wait_for()
    page.get_by_role("button", name="Sign out").click()
    # the sign-out rerun must finish before navigating, or the click lands on a page being replaced
    page.get_by_text("Signed in as").wait_for(state="hidden")
    settle(page)
    page.get_by_role("link", name="Staff sign-in", exact=True).click()
    page.get_by_label("User name").fill("payer")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    clock("sign in (back to Incentives, first visit)", lambda: page.get_by_role("button", name="Sign in").click(),
          "Who gains and who loses")
    slider = page.get_by_role("slider", name="Withhold (% of base payment)")
    slider.focus()
    clock("incentives: raise the withhold", lambda: slider.press("ArrowRight"), "Who gains and who loses")
    shot(page, "10_incentives")
    page.get_by_role("link", name="Methodology", exact=True).click()
    page.get_by_text("Read one measure in full").wait_for()
    clock("page: Incentives", nav(page, "Incentives"), "Who gains and who loses")
    clock.save()
