"""Every download of the app is formula-safe (CSV injection), through the one writer in carescore.publish.exports."""

import csv
import io
import re

import polars as pl
import pytest
from app_fixtures import REPO, copy_run
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from test_pages import no_errors, open_page, sign_in

from carescore.publish.exports import safe_csv

EVIL_ID, EVIL_NAME = '=HYPERLINK("http://x","y")', "@SUM(1)"


@pytest.fixture(scope="session")
def published_with_formulas(tmp_path_factory, published):
    """Network N1 with a formula as its id and name, and a hospital named like a formula."""
    root = tmp_path_factory.mktemp("formulas")
    run = copy_run(published, root)
    rename = {"N1": EVIL_ID}
    units = pl.read_parquet(run / "units.parquet").with_columns(
        pl.col("unit_id", "network_id").replace(rename),
        name=pl.when(pl.col("unit_id") == "N1").then(pl.lit(EVIL_NAME))
        .when(pl.col("unit_id") == "HOSP-001").then(pl.lit(EVIL_ID)).otherwise(pl.col("name")))
    units.write_parquet(run / "units.parquet")
    for name in ("results", "public", "exclusions"):
        frame = pl.read_parquet(run / f"{name}.parquet")
        frame.with_columns(pl.col("unit_id").replace(rename)).write_parquet(run / f"{name}.parquet")
    return root


@pytest.fixture
def downloads(monkeypatch):
    """(mimetype, bytes) of every file the app hands to Streamlit's media storage: the real storage, watched."""
    seen = []
    real = MemoryMediaFileStorage.load_and_get_id

    def watch(self, path_or_data, mimetype, kind, filename=None):
        seen.append((mimetype, path_or_data))
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", watch)
    return seen


def unsafe_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"-\d+(\.\d+)?", cell)]


def test_safe_csv_neutralizes_formulas_in_every_text_column_and_header():
    frame = pl.DataFrame({"id": [EVIL_ID, "+1", "-2", "-x", "\tcmd", "\rcmd", "plain", None],
                          "name": pl.Series([EVIL_NAME, "a", "b", "c", "d", "e", "f", "g"], dtype=pl.Categorical),
                          "=bad header": list(range(8)), "value": [-1.5] * 8})
    text = safe_csv(frame)
    assert unsafe_cells(text) == []
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text and "'=bad header" in text and "'-x" in text
    assert "\n-2,b," in text and ",-1.5" in text  # numbers stay numbers


def test_every_scorecard_download_is_formula_safe(app, published_with_formulas, monkeypatch, downloads):
    monkeypatch.setenv("CARESCORE_STORE", str(published_with_formulas))
    sign_in(app, "cmo")
    open_page(app, "scorecard")
    no_errors(app)
    app.segmented_control(key="sc_view").set_value("Hospitals").run()
    no_errors(app)
    csvs = [data.decode() if isinstance(data, bytes) else data for mime, data in downloads if "csv" in mime]
    assert len(csvs) >= 2  # networks view, then hospitals
    every = "\n".join(csvs)
    assert "'=HYPERLINK" in every and "'@SUM(1)" in every  # the planted names are there, neutralized
    for text in csvs:
        assert unsafe_cells(text) == []


def test_no_download_in_the_app_bypasses_the_safe_writer():
    """Every download button passes its data through exports.safe_csv, or is a chart image (ad.chart_png)."""
    sources = sorted((REPO / "app").rglob("*.py"))  # the pages and their library, app/lib
    bypass = []
    for path in sources:
        code = path.read_text()
        bypass += [f"{path.name}: {m.group(0)}" for m in re.finditer(r"\.(write_csv|to_csv)\(", code)]
        for call in re.finditer(r"st\.download_button\(([^\n]*)", code):
            if "safe_csv(" not in call.group(1) and "chart_png(" not in call.group(1):
                bypass.append(f"{path.name}: {call.group(0)}")
    assert bypass == []
