"""Contracts → rules → GX suites; lineage-based holds; the data-quality results in the store and the CLI."""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from carescore import pipeline
from carescore.cli import app
from carescore.define.contracts import load_contracts
from carescore.define.loader import load_catalog
from carescore.dq import validate
from carescore.extracts.canonical import load_extracts
from carescore.publish import store

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def small_cut(tmp_path_factory) -> Path:
    from carescore.extracts.demo import write_demo

    out = tmp_path_factory.mktemp("cut") / "demo"
    write_demo(out, patients=1000, seed=11)
    return out


def test_contract_keys_compile_to_rules():
    contracts = load_contracts()
    kinds = {(r.kind, r.columns, r.severity) for r in validate.rules_for(contracts["encounters"], AS_OF)}
    assert ("unique", ("encounter_id",), "blocking") in kinds
    assert ("not_before", ("discharge_date", "admit_date"), "blocking") in kinds
    assert ("not_future", ("admit_date",), "blocking") in kinds
    assert ("references", ("patient_id",), "blocking") in kinds
    assert ("range", ("cost",), "blocking") in kinds
    assert ("pattern", ("primary_dx",), "warning") in kinds  # severity: {pattern: warning}
    assert ("freshness", ("discharge_date",), "warning") in kinds
    patients = {r.kind: r for r in validate.rules_for(contracts["patients"], AS_OF)}
    assert patients["max_age"].param["min"] == dt.date(1906, 1, 15)
    baseline = pl.DataFrame({"table": ["surveys", "surveys", "surveys"], "provider_id": [None, "H1", "H2"],
                             "rows": [100, 60, 5]})
    surveys = {r.kind: r for r in validate.rules_for(contracts["surveys"], AS_OF, baseline)}
    assert surveys["volume"].param == {"min": 50, "max": 151}
    assert surveys["provider_volume"].param["floor"] == (("H1", 30),)  # H2 is under min_rows: 20


def test_rule_sql_quotes_contract_values():
    rule = validate.Rule("t", "allowed", ("c",), "blocking", "", (("values", ("a'b", "c")),))
    assert validate.bad_rows(rule, "t").sql("duckdb") == "NOT \"c\" IN ('a''b', 'c')"


def test_holds_follow_column_lineage():
    reads = validate.metric_reads(load_catalog(REPO / "metrics"), load_contracts())
    assert ("encounters", "cost") in reads["cost_pmpm"]
    assert ("encounters", "cost") in reads["episode_cost_30d"]
    assert ("encounters", "cost") not in reads["readmission_30d"]
    assert ("surveys", "overall_rating") in reads["overall_rating"]
    assert ("surveys", "overall_rating") not in reads["would_recommend"]
    assert ("encounters", "discharge_date") in reads["readmission_30d"]


def test_provider_hold_covers_the_provider_its_network_and_all_rows():
    results = pl.DataFrame({
        "metric_id": ["m"] * 5 + ["other"],
        "level": ["provider", "provider", "network", "network", "all", "provider"],
        "unit_id": ["H1", "H2", "N1", "N2", "ALL", "H1"],
        "status": ["ok"] * 6, "footnote": [""] * 6})
    units = pl.DataFrame({"unit_id": ["H1", "H2", "N1", "N2"], "network_id": ["N1", "N2", "N1", "N2"]})
    out = validate.apply_holds(results, [validate.Hold("m", ("H1",), "surveys")], units, "held ({reason})")
    assert out["status"].to_list() == ["data_quality_hold", "ok", "data_quality_hold", "ok", "data_quality_hold", "ok"]
    assert out["footnote"][0] == "held (surveys)"


def test_validation_never_copies_tables_to_pandas(small_cut, monkeypatch):
    contracts = load_contracts()
    extracts = load_extracts(small_cut, contracts)

    def refuse(*args, **kwargs):
        raise AssertionError("validation made a pandas copy")

    monkeypatch.setattr(pl.DataFrame, "to_pandas", refuse)
    report = validate.run(extracts, contracts, AS_OF)
    assert len(report.outcomes) > 100 and report.blocking == []


def test_dq_results_and_report_are_in_the_bundle(small_cut, tmp_path):
    bundle = pipeline.build(small_cut, as_of=AS_OF)
    store.publish(bundle, tmp_path)
    dq = store.read_dq(tmp_path)
    assert dq.columns == ["table", "column", "expectation", "rule", "severity", "success", "observed",
                          "unexpected_count", "sample_keys", "providers", "message"]
    assert set(dq["table"]) == set(load_contracts())
    assert "expect_column_pair_values_a_to_be_greater_than_b" in set(dq["expectation"])
    report = store.dq_report_path(tmp_path)
    assert report is not None and "<h2>Tables</h2>" in report.read_text()
    assert store.read_frame("dq_volume", tmp_path).filter(pl.col("table") == "surveys").height > 1
    assert bundle.manifest["data_quality"]["blocking_failures"] == 0


def test_next_baseline_keeps_the_last_accepted_counts_of_failed_tables():
    now = pl.DataFrame({"table": ["a", "b"], "provider_id": [None, None], "rows": [10, 1]})
    before = pl.DataFrame({"table": ["a", "b"], "provider_id": [None, None], "rows": [9, 100]})
    out = pipeline.next_baseline(now, before, {"b"}).sort("table")
    assert out["rows"].to_list() == [10, 100]


def test_cli_validate_prints_a_summary_and_exits_1_on_a_blocking_failure(small_cut, tmp_path):
    runner = CliRunner()
    report = tmp_path / "dq.html"
    ok = runner.invoke(app, ["validate", "--data", str(small_cut), "--as-of", "2026-01-15", "--report", str(report),
                             "--store", str(tmp_path / "none")])
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[0].split() == ["table", "rows", "checks", "blocking", "warnings"]
    assert "encounters" in ok.output and report.exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in small_cut.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    enc = pl.read_parquet(bad / "encounters.parquet")
    enc.with_columns(cost=pl.when(pl.int_range(pl.len()) == 3).then(-5.0).otherwise("cost")).write_parquet(
        bad / "encounters.parquet")
    out = runner.invoke(app, ["validate", "--data", str(bad), "--as-of", "2026-01-15", "--report", str(report),
                              "--store", str(tmp_path / "none")])
    assert out.exit_code == 1
    assert f"{bad / 'encounters.parquet'}:4:10: error[Q013] encounters.cost: 1 row(s) break the rule '>= 0'" in out.output
