"""Acceptance: the July 2024 method on CMS's official star input reproduces CMS's own outputs.

The reference files are public CMS data kept outside the repository (../shared/data/cms-star-2024jul)."""

from pathlib import Path

import polars as pl
import pytest

from carescore.payer.stars import load_method, read_measures, star_ratings

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "cms-star-2024jul"
GROUP_COLUMNS = {"mortality": "Std_Outcomes_Mortality_score", "safety": "Std_Outcomes_Safety_score",
                 "readmission": "Std_Outcomes_Readmission_score", "patient_experience": "Std_PatientExp_score",
                 "timely_effective": "Std_Process_score"}

pytestmark = pytest.mark.skipif(not (DATA / "input.csv").exists(),
                                reason=f"CMS July 2024 star reference data not found at {DATA}")


@pytest.fixture(scope="module")
def result():
    return star_ratings(read_measures(DATA / "input.csv"), load_method(REPO / "methods" / "cms_overall_star_2024.yaml"))


@pytest.fixture(scope="module")
def sas():
    df = pl.read_csv(DATA / "sas_pack_output.csv", infer_schema_length=0, encoding="utf8-lossy")
    return df.rename({df.columns[0]: "provider_id"})  # the first header carries a byte-order mark


def test_stars_identical_to_sas_pack(result, sas):
    joined = result.providers.join(sas.select("provider_id", pl.col("star").cast(pl.Int8).alias("sas_star")),
                                   on="provider_id", how="full", coalesce=True)
    rated = joined.filter(pl.col("sas_star").is_not_null())
    agree = rated.filter(pl.col("star") == pl.col("sas_star")).height
    print(f"\nstars agreeing with the CMS SAS pack: {agree} of {rated.height}")
    assert rated.height == 2847
    assert agree == rated.height
    assert joined.filter(pl.col("star").is_not_null() & pl.col("sas_star").is_null()).height == 0


def test_stars_identical_to_published(result):
    pub = pl.read_csv(DATA / "published_stars.csv", infer_schema_length=0)
    joined = result.providers.join(pub.select("provider_id", pl.col("published_star").cast(pl.Int8, strict=False)),
                                   on="provider_id")
    both = joined.filter(pl.col("published_star").is_not_null())
    agree = both.filter(pl.col("star") == pl.col("published_star")).height
    print(f"\nstars agreeing with Care Compare: {agree} of {both.height} published")
    assert agree == both.height
    # Care Compare shows no star for a rated hospital only when it is no longer listed or footnoted.
    assert joined.filter(pl.col("star").is_not_null() & pl.col("published_star").is_null()).height <= 15


def test_scores_match_sas_pack(result, sas):
    cols = [pl.col(c).cast(pl.Float64) for c in [*GROUP_COLUMNS.values(), "summary_score"]]
    joined = result.providers.join(sas.select("provider_id", *cols), on="provider_id", suffix="_sas")
    assert joined.height == sas.height
    for group, column in GROUP_COLUMNS.items():
        diff = (joined[f"score_{group}"] - joined[column]).abs()
        assert diff.max() < 1e-8, group
        assert (joined[f"score_{group}"].is_null() == joined[column].is_null()).all(), group
    assert (joined["summary_score"] - joined["summary_score_sas"]).abs().max() < 1e-8


def test_peer_groups_and_measure_counts_match(result, sas):
    joined = result.providers.join(sas.select("provider_id", pl.col("Total_measure_group_cnt").cast(pl.Int64),
                                              pl.col("report_indicator").cast(pl.Int64),
                                              pl.col("Outcomes_Mortality_cnt").cast(pl.Int64)), on="provider_id")
    assert (joined["groups_with_min_measures"] == joined["Total_measure_group_cnt"]).all()
    assert (joined["star"].is_not_null() == (joined["report_indicator"] == 1)).all()
    assert (joined["measures_mortality"] == joined["Outcomes_Mortality_cnt"]).all()
    dropped = result.measures.filter(~pl.col("used"))["measure_id"].to_list()
    assert dropped == ["OP_2"]
