"""Every case of the bad-input corpus gives its exact located messages and holds exactly what it should;
a representative subset also runs the whole pipeline against a store with a previous publication."""

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest

from carescore import pipeline
from carescore.define.contracts import load_contracts
from carescore.define.loader import load_catalog
from carescore.dq import validate
from carescore.extracts.canonical import load_extracts
from carescore.issues import CarescoreError
from carescore.publish import store

from .cases import CASES, Case

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 1, 15)


@pytest.fixture(scope="session")
def clean_cut(tmp_path_factory) -> Path:
    from carescore.extracts.demo import write_demo

    out = tmp_path_factory.mktemp("clean") / "cut"
    write_demo(out, patients=1500, seed=7, fmt="csv")
    return out


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(REPO / "metrics")


@pytest.fixture(scope="session")
def contracts():
    return load_contracts()


@pytest.fixture(scope="session")
def published(clean_cut, catalog, tmp_path_factory) -> Path:
    """A store whose live publication is a clean run of the same network (the last accepted cut)."""
    root = tmp_path_factory.mktemp("store")
    bundle = pipeline.build(clean_cut, catalog=catalog, as_of=AS_OF)
    assert bundle.manifest["data_quality"]["blocking_failures"] == 0
    store.publish(bundle, root)
    return root


def _cut(case: Case, clean_cut: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "cut"
    shutil.copytree(clean_cut, folder)
    case.mutate(folder)
    return folder


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _expected(case: Case) -> set:
    return {(m, () if p == "network" else tuple(p)) for m, p in case.held.items()}


def test_corpus_is_big_enough():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case, clean_cut, published, catalog, contracts, tmp_path):
    folder = _cut(case, clean_cut, tmp_path)
    extracts = load_extracts(folder, contracts, strict=False)
    report = validate.run(extracts, contracts, AS_OF, store.volume_baseline(published), rejected=extracts.rejected,
                          warnings=extracts.warnings, only={case.table})
    messages = [str(d).replace(f"{folder}/", "") for d in report.diagnostics()]
    for wanted in case.messages:
        assert any(wanted in m for m in messages), f"{wanted!r} not in {messages}"
    if not case.messages:
        assert messages == []
    hold_list = validate.holds(report, catalog, contracts)
    assert {(h.metric_id, h.providers) for h in hold_list} == _expected(case)
    assert validate.holds_everything(hold_list, catalog, set(extracts.missing)) == (not case.publish)


FULL = [c for c in CASES if c.full]


@pytest.mark.parametrize("case", FULL, ids=[c.name for c in FULL])
def test_case_end_to_end(case, clean_cut, published, catalog, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(published, root)
    previous = store.current_run_id(root)
    before = _digest(store.run_dir(root, previous))
    folder = _cut(case, clean_cut, tmp_path)
    if not case.publish:
        with pytest.raises(CarescoreError) as err:
            pipeline.build(folder, catalog=catalog, as_of=AS_OF, baseline=store.volume_baseline(root))
        assert "error[Q100] every metric would be on data-quality hold" in str(err.value)
        assert store.current_run_id(root) == previous
    else:
        bundle = pipeline.build(folder, catalog=catalog, as_of=AS_OF, baseline=store.volume_baseline(root))
        store.publish(bundle, root)
        results = store.read_results(root)
        held = results.filter(pl.col("status") == "data_quality_hold")
        assert set(held["metric_id"]) == set(case.held)
        for metric, providers in case.held.items():
            rows = results.filter(pl.col("metric_id") == metric)
            on_hold = rows.filter(pl.col("status") == "data_quality_hold")
            if providers == "network":
                assert on_hold.height == rows.height
            else:
                assert set(on_hold.filter(pl.col("level").is_in(["provider", "practice"]))["unit_id"]) <= set(providers)
                assert on_hold.filter(pl.col("level") == "all").height == rows.filter(pl.col("level") == "all").height
                others = rows.filter(pl.col("level").is_in(["provider", "practice"])
                                     & ~pl.col("unit_id").is_in(list(providers)))
                assert "data_quality_hold" not in set(others["status"])
            assert all("On hold: the data behind this result failed a data-quality check" in f
                       for f in on_hold["footnote"])
        public = store.read_public(root).filter(pl.col("status") == "data_quality_hold")
        assert public["value"].is_null().all() and public["numerator"].is_null().all()
        dq = store.read_dq(root)
        assert dq.height and (~dq["success"]).sum() == len([o for o in dq.iter_rows(named=True) if not o["success"]])
    assert _digest(store.run_dir(root, previous)) == before  # the previous publication is never touched
    assert store.read_manifest(root, previous)["run_id"] == previous


def test_formula_injection_never_reaches_exports_unescaped(clean_cut, catalog, tmp_path):
    from carescore.publish.exports import safe_csv

    case = next(c for c in CASES if c.name == "formula_injection_warns")
    bundle = pipeline.build(_cut(case, clean_cut, tmp_path), catalog=catalog, as_of=AS_OF)
    text = safe_csv(bundle.units)
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    assert "=HYPERLINK" not in bundle.files["dq_report.html"].replace("=HYPERLINK(&quot;", "")


def test_sql_looking_and_multiline_names_are_plain_data(clean_cut, catalog, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(clean_cut, folder)
    next(c for c in CASES if c.name == "sql_looking_names").mutate(folder)
    next(c for c in CASES if c.name == "embedded_newlines_and_quotes").mutate(folder)
    bundle = pipeline.build(folder, catalog=catalog, as_of=AS_OF)
    names = set(bundle.units["name"])
    assert "North'); DROP TABLE patients;--" in names and 'St. "Anne"\nRegional, Hospital' in names
    assert bundle.results.filter(pl.col("status") == "data_quality_hold").height == 0
