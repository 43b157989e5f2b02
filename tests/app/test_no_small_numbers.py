"""Walk every public page, for every provider, measure and comparison, and prove that no count of 1-10 people
or events (a numerator, denominator, case or exclusion count) is displayed anywhere: in text, tables or the data
behind charts."""

import json
import re

import polars as pl
import pyarrow as pa
from app_fixtures import copy_run
from streamlit.testing.v1 import AppTest
from test_pages import open_page

from carescore.publish import store
from lib import data as ad

COUNT_WORDS = r"(people|persons|patients|cases|events|records|visits|discharges|stays|members|deaths|infections)"
# "1 to 10 people" in a footnote explains the rule; it is not a count.
SMALL_COUNT = re.compile(rf"(?<![\d.,$])(?<!to )(10|[1-9])\s+(out of\s+|of\s+)?([\d,]+\s+)?{COUNT_WORDS}\b",
                         re.IGNORECASE)
COUNT_COLUMN = re.compile(r"numerator|denominator|cases|count|people|patients|left out|records affected|excluded",
                          re.IGNORECASE)
COUNT_FIELDS = {"numerator", "denominator", "cases", "expected", "excluded", "unexpected_count", "sxx", "syy"}


def shown(at: AppTest) -> tuple[list[str], list, list[dict]]:
    """Everything a reader can see: text, tables, chart data (tooltips come from it)."""
    text = [str(e.value) for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                      "error", "success", "code") for e in getattr(at, kind)]
    text += [f"{m.label} {m.value}" for m in at.metric]
    tables = [d.value for d in at.dataframe]
    data = []  # the columns of every dataset behind a chart (inline or sent as Arrow)
    for chart in at.get("vega_lite_chart"):
        data += [set(rows[0]) for rows in json.loads(chart.proto.spec).get("datasets", {}).values() if rows]
        data += [set(pa.ipc.open_stream(d.data.data).schema.names) for d in chart.proto.datasets]
    assert at.get("vega_lite_chart") == [] or data, "charts without data: the check would prove nothing"
    return text, tables, data


def assert_no_small_counts(at: AppTest, where: str):
    assert not at.exception, (where, [e.value for e in at.exception])
    text, tables, data = shown(at)
    for t in text:
        assert not SMALL_COUNT.search(t), (where, SMALL_COUNT.search(t).group(0), t[:200])
    for table in tables:
        for column in table.columns:
            if COUNT_COLUMN.search(str(column)):
                for v in table[column]:
                    number = v if isinstance(v, (int, float)) else None
                    assert number is None or not 1 <= number <= 10, (where, column, v)
                    assert not re.fullmatch(r"(10|[1-9])", str(v).strip()), (where, column, v)
    for columns in data:
        assert not COUNT_FIELDS & columns, (where, sorted(COUNT_FIELDS & columns))


def test_counts_of_one_to_ten_are_never_formatted():
    assert [ad.fmt_count(n) for n in (0, 1, 10, 11, 2500)] == ["0", "fewer than 11", "fewer than 11", "11",
                                                                     "2,500"]


def test_public_pages_never_show_small_counts(app, published_with_dq, monkeypatch):
    units = store.read_units(store.root_dir()).filter(pl.col("provider_type") != "network")
    catalog = store.read_catalog(store.root_dir())["metrics"]
    periods = store.read_manifest(store.root_dir())["periods"]

    assert_no_small_counts(app, "find")
    for kind in ("hospital", "primary_care", "home_health"):
        ids = units.filter(pl.col("provider_type") == kind)["unit_id"].to_list()
        app.multiselect(key="find_types").set_value([kind]).run()
        for i in range(0, len(ids), 3):
            app.multiselect(key="find_compare").set_value(ids[i:i + 3]).run()
            for period in periods:
                app.selectbox(key="find_period").set_value(period).run()
                assert_no_small_counts(app, f"compare {ids[i:i + 3]} {period}")

    open_page(app, "profile")
    for uid in units["unit_id"]:
        app.selectbox(key="profile_pick").set_value(uid).run()
        assert_no_small_counts(app, f"profile {uid}")

    open_page(app, "methodology")
    for mid in catalog:
        app.selectbox(key="meth_metric").set_value(mid).run()
        assert_no_small_counts(app, f"methodology {mid}")

    monkeypatch.setenv("CARESCORE_STORE", str(published_with_dq))
    open_page(app, "data_quality")
    assert_no_small_counts(app, "data quality")


def test_small_exclusion_counts_are_masked(app, published, tmp_path, monkeypatch):
    """The one count a public page shows (people left out of a measure) reads 'fewer than 11' when small."""
    run = copy_run(published, tmp_path)
    frame = pl.read_parquet(run / "exclusions.parquet")
    frame.with_columns(excluded=pl.when(pl.col("level") == "all").then(7).otherwise(pl.col("excluded"))) \
        .write_parquet(run / "exclusions.parquet")
    monkeypatch.setenv("CARESCORE_STORE", str(tmp_path))
    open_page(app, "methodology")
    app.selectbox(key="meth_metric").set_value("readmission_30d").run()
    left_out = next(d.value for d in app.dataframe if "Left out" in d.value.columns)["Left out"]
    assert set(left_out) == {"fewer than 11"}
    assert_no_small_counts(app, "methodology with small exclusions")
