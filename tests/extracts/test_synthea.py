"""The Synthea adapter: a small v3.2-shaped fixture, the older layouts, and the real unmodified export."""

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from carescore import pipeline
from carescore.define.contracts import load_contracts
from carescore.dq import validate
from carescore.extracts.synthea import load_synthea
from carescore.issues import CarescoreError
from carescore.publish import store

FIXTURE = Path(__file__).parent / "synthea_fixture"
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "synthea-v3.2-11p" / "csv"
AS_OF = dt.date(2024, 6, 1)


def test_fixture_maps_to_canonical_tables():
    ex = load_synthea(FIXTURE)
    assert set(ex.missing) == {"surveys", "safety_events", "unit_days", "sdoh_screenings"}
    enc = ex.tables["encounters"]
    assert dict(enc.group_by("encounter_class").len().iter_rows()) == {
        "primary_care": 3, "inpatient": 3, "outpatient": 3, "ed": 1, "home_health": 1}
    stays = enc.filter(pl.col("encounter_class") == "inpatient").sort("admit_date")
    assert stays["primary_dx"].to_list() == ["I50.9", "I50.9", "J44.1"]  # SNOMED translated
    assert stays["discharge_disposition"].to_list() == ["home", "home", "expired"]  # died on discharge day
    pats = ex.tables["patients"].sort("patient_id")
    assert pats["sex"].to_list() == ["female", "male", "male", "female"]
    assert pats["race_ethnicity"].to_list() == ["white", "black", "hispanic", "asian"]
    assert pats["payer"].to_list() == ["medicare", "medicare", "medicare", "uninsured"]
    assert pats["dual_eligible"].to_list() == [False, True, False, False]
    assert pats["zip"].to_list() == ["02108", "01608", "00000", "02115"]
    provs = dict(ex.tables["providers"].select("name", "provider_type").iter_rows())
    assert provs == {"Fixture General Hospital": "hospital", "Fixture Family Practice": "primary_care",
                     "Fixture Home Health Services": "home_health"}
    assert ex.tables["medication_reconciliations"].height == 1
    proc = ex.tables["procedures"]
    assert sorted(proc.filter(pl.col("category") == "imaging")["modality"].to_list()) == ["mri", "xray"]


def test_fixture_passes_every_blocking_check():
    ex = load_synthea(FIXTURE)
    report = validate.run(ex, load_contracts(), AS_OF)
    assert report.blocking == [], [str(d) for d in report.diagnostics()]


def _older_layout(tmp_path: Path) -> Path:
    """Synthea before v3.2: payer_transitions with START_YEAR/END_YEAR; patients without INCOME/FIPS."""
    out = tmp_path / "old"
    shutil.copytree(FIXTURE, out)
    t = pl.read_csv(out / "payer_transitions.csv", infer_schema=False)
    t = t.with_columns(START_YEAR=pl.col("START_DATE").str.slice(0, 4), END_YEAR=pl.col("END_DATE").str.slice(0, 4))
    t.select("PATIENT", "START_YEAR", "END_YEAR", "PAYER", "SECONDARY_PAYER", "PLAN_OWNERSHIP",
             "OWNER_NAME").write_csv(out / "payer_transitions.csv")
    pl.read_csv(out / "patients.csv", infer_schema=False).drop("INCOME", "FIPS").write_csv(out / "patients.csv")
    return out


def test_older_layout_reads_alike(tmp_path):
    ex = load_synthea(_older_layout(tmp_path))
    enrol = ex.tables["enrollment"].sort("patient_id", "start_date")
    assert enrol["start_date"][0] == dt.date(2015, 1, 1) and enrol["end_date"][0] == dt.date(2019, 12, 31)
    assert ex.tables["patients"].height == 4


def test_not_a_synthea_export_is_one_clear_error(tmp_path):
    with pytest.raises(CarescoreError) as err:
        load_synthea(tmp_path)
    assert str(err.value).startswith(f"{tmp_path}:1:1: error[S001] not a Synthea CSV export: missing patients.csv")


def test_missing_synthea_column_is_located(tmp_path):
    out = tmp_path / "cut"
    shutil.copytree(FIXTURE, out)
    pl.read_csv(out / "encounters.csv", infer_schema=False).drop("TOTAL_CLAIM_COST").write_csv(out / "encounters.csv")
    with pytest.raises(CarescoreError) as err:
        load_synthea(out)
    assert f"{out / 'encounters.csv'}:1:1: error[S003] Synthea encounters: missing column 'TOTAL_CLAIM_COST'" \
        in str(err.value)


def test_run_publishes_lacking_inputs_as_not_applicable_never_zero(tmp_path):
    bundle = pipeline.build(FIXTURE, extracts=load_synthea(FIXTURE), as_of=AS_OF)
    store.publish(bundle, tmp_path)
    res = store.read_results(tmp_path)
    experience = res.filter(pl.col("metric_id").is_in(["overall_rating", "would_recommend"]))
    assert experience.height and set(experience["status"]) == {"not_applicable"}
    assert experience["value"].is_null().all()
    assert all("surveys" in f for f in experience["footnote"])
    assert "data_quality_hold" not in set(res["status"])
    assert store.read_dq(tmp_path).height > 50


def test_cli_run_with_format_synthea(tmp_path):
    from typer.testing import CliRunner

    from carescore.cli import app

    out = CliRunner().invoke(app, ["run", "--data", str(FIXTURE), "--format", "synthea", "--store",
                                   str(tmp_path), "--as-of", "2024-06-01"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("published run ")


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/synthea-v3.2-11p is absent (a user's clone); "
                    "the real-export acceptance test needs it")
def test_real_unmodified_synthea_export(tmp_path):
    ex = load_synthea(REAL)
    assert ex.tables["patients"].height == 11
    assert ex.tables["encounters"].height == 388
    bundle = pipeline.build(REAL, extracts=ex, as_of=AS_OF)
    assert bundle.manifest["data_quality"]["blocking_failures"] == 0
    store.publish(bundle, tmp_path)
    res = store.read_results(tmp_path)
    assert set(res.filter(pl.col("metric_id") == "cauti_rate")["status"]) == {"not_applicable"}
    assert res["metric_id"].n_unique() == len(bundle.manifest["metrics"])
