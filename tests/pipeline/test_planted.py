"""The demo network has planted effects (carescore.extracts.demo.PLANTED); the published results must show them."""

import polars as pl
import pytest


def _row(results, metric, unit, period, stratum="all", value="all"):
    rows = results.filter((pl.col("metric_id") == metric) & (pl.col("unit_id") == unit) & (pl.col("period") == period)
                          & (pl.col("stratum") == stratum) & (pl.col("stratum_value") == value))
    assert rows.height == 1, (metric, unit, period, stratum, value, rows)
    return rows.row(0, named=True)


@pytest.fixture(scope="module")
def public(published):
    from carescore.publish import store

    return store.read_public(published[0])


@pytest.mark.parametrize("period", ["2024", "2025"])
def test_high_readmission_hospital_is_worse(public, period):
    row = _row(public, "readmission_30d", "HOSP-003", period)
    assert row["status"] == "ok" and row["comparison"] == "worse" and row["ci_low"] > 1


@pytest.mark.parametrize("period", ["2024", "2025"])
def test_poor_followup_practice_is_worse(public, period):
    row = _row(public, "followup_7d", "PRAC-007", period)
    assert row["status"] == "ok" and row["comparison"] == "worse"


def test_dual_eligible_gap_in_followup(public):
    for period in ("2024", "2025"):
        dual = _row(public, "followup_7d", "ALL", period, "dual_eligible", "true")
        other = _row(public, "followup_7d", "ALL", period, "dual_eligible", "false")
        assert dual["ci_high"] < other["ci_low"], (dual, other)
        assert other["value"] - dual["value"] > 0.08


def test_dual_eligible_readmit_more(published):
    results = published[1].results
    agg = (results.filter((pl.col("metric_id") == "readmission_30d") & (pl.col("level") == "all")
                          & (pl.col("stratum") == "dual_eligible"))
           .group_by("stratum_value").agg(pl.col("numerator").sum() / pl.col("expected").sum()))
    oe = dict(agg.iter_rows())
    assert oe["true"] > 1.1 > oe["false"] * 1.1 or oe["true"] / oe["false"] > 1.15


def test_duplicate_imaging_concentrated_in_one_network(public):
    for period in ("2024", "2025"):
        n2 = _row(public, "duplicate_imaging_30d", "N2", period)
        others = [_row(public, "duplicate_imaging_30d", n, period)["value"] for n in ("N1", "N3")]
        assert n2["comparison"] == "worse" and n2["value"] > 2 * max(others)


def test_small_providers_are_too_few_to_report(public):
    for period in ("2024", "2025"):
        assert _row(public, "readmission_30d", "HOSP-012", period)["status"] == "too_few"
        assert _row(public, "readmission_30d", "HOSP-012", period)["value"] is None
    tiny = public.filter((pl.col("metric_id") == "ed_visits_per_1000") & (pl.col("level") == "practice")
                         & (pl.col("stratum") == "all") & (pl.col("status") == "too_few"))
    assert tiny["unit_id"].n_unique() >= 2


def test_clabsi_outlier_and_experience_leader(public):
    shown = 0
    for period in ("2024", "2025"):
        # where the outlier's count is hidden it protects a neighbour's few infections (the reader's ranges)
        clabsi = _row(public, "clabsi_rate", "HOSP-005", period)
        assert clabsi["status"] in ("ok", "suppressed")
        if clabsi["status"] == "ok":
            assert clabsi["comparison"] == "worse"
            shown += 1
        assert _row(public, "would_recommend", "HOSP-002", period)["comparison"] == "better"
    assert shown >= 1


def test_dual_eligible_gap_found_by_the_equity_statistics(public):
    from carescore.compute import equity

    groups = public.filter(pl.col("metric_id") == "followup_7d", pl.col("level") == "all", pl.col("period") == "2025",
                           pl.col("stratum") == "dual_eligible")
    dual = equity.against_reference(groups, "false").filter(pl.col("stratum_value") == "true").row(0, named=True)
    assert dual["gap_high"] < 0 and dual["ratio_high"] < 1  # both intervals exclude "no difference"
    assert equity.spread(groups, "false")["index_of_disparity"] > 10
