"""Hand-worked examples of each step of the star method, its edge cases, and a golden national run."""

import textwrap
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stars_synthetic import national_method, national_table

from carescore.issues import PayerError
from carescore.payer.stars import (
    Clustering,
    MeasureGroup,
    StarMeasure,
    StarMethod,
    cluster_stars,
    fastclus,
    load_method,
    normalize_long,
    quantile_median_seeds,
    sas_percentile,
    star_ratings,
    wide_to_long,
)

GOLDEN = Path(__file__).parent / "golden" / "national_stars.csv"


def test_sas_percentile_definition_5():
    x = np.array([5.0, 1, 4, 2, 3])
    assert sas_percentile(x, Fraction(1, 5)) == 1.5      # n*p = 1 is whole: mean of x(1), x(2)
    assert sas_percentile(x, Fraction(1, 2)) == 3.0      # n*p = 2.5: the next order statistic, x(3)
    assert sas_percentile(np.arange(1.0, 5), Fraction(1, 2)) == 2.5


def test_quantile_median_seeds_bins_closed_on_the_right():
    assert quantile_median_seeds(np.arange(1.0, 11), 5).tolist() == [1.5, 3.5, 5.5, 7.5, 9.5]
    # P20 = 1 here, and the three 1s (equal to the cut) fall in the first bin.
    x = np.array([1.0, 1, 1, 2, 3, 4, 5, 6, 7, 8])
    assert quantile_median_seeds(x, 5)[0] == 1.0


def test_fastclus_strict_keeps_outliers_out_of_the_means_but_gives_them_a_cluster():
    x = np.array([0.0, 0.1, 0.2, 5.0, 5.1, 10.0])
    cluster, means, converged = fastclus(x, np.array([0.0, 5.0]), strict=1.0)
    assert converged and cluster.tolist() == [0, 0, 0, 1, 1, 1]
    assert means == pytest.approx([0.1, 5.05])
    _, loose, _ = fastclus(x, np.array([0.0, 5.0]))
    assert loose[1] == pytest.approx((5 + 5.1 + 10) / 3)


def test_fastclus_ties_go_to_the_lower_cluster():
    cluster, _, _ = fastclus(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0]), max_iter=1)
    assert cluster.tolist() == [0, 0, 1]


def test_stars_are_ordered_by_cluster_mean():
    x = np.concatenate([np.full(4, v) + np.linspace(0, 0.01, 4) for v in (-2.0, -1, 0, 1, 2)])
    stars, means, converged = cluster_stars(x[::-1].copy(), Clustering())
    assert converged and list(means) == sorted(means)
    assert stars.tolist() == sorted(stars.tolist(), reverse=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False), min_size=5, max_size=200))
def test_stars_never_decrease_with_the_summary_score(values):
    x = np.array(values)
    stars, _, _ = cluster_stars(x, Clustering())
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(stars[order]) >= 0)
    assert stars.min() >= 1 and stars.max() <= 5


def _method(**overrides) -> StarMethod:
    groups = (MeasureGroup("mortality", "M", 0.5, (StarMeasure("m1", "lower_is_better"),
                                                   StarMeasure("m2", "lower_is_better"))),
              MeasureGroup("experience", "E", 0.25, (StarMeasure("e1", "higher_is_better"),)),
              MeasureGroup("process", "P", 0.25, (StarMeasure("p1", "higher_is_better"),)))
    base = StarMethod(id="t", title="t", groups=groups, drop_if_reported_by_at_most=0, min_measures_per_group=1,
                      min_groups=1, require_one_of=("mortality",), clustering=Clustering(stars=2))
    return replace(base, **overrides)


def _long(rows):
    return pl.DataFrame(rows, schema=["provider_id", "measure_id", "value"], orient="row")


def test_measure_z_scores_use_the_sample_sd_and_flip_lower_is_better():
    rows = [(f"p{i}", "m1", float(i)) for i in range(1, 5)] + [(f"p{i}", "e1", float(i)) for i in range(1, 5)]
    res = star_ratings(_long(rows), _method()).providers.sort("provider_id")
    z = (np.arange(1, 5) - 2.5) / np.sqrt(5 / 3)
    # One measure per group: the group score is the measure's z-score, re-standardized (unchanged).
    assert res["score_mortality"].to_numpy() == pytest.approx(-z)
    assert res["score_experience"].to_numpy() == pytest.approx(z)


def test_summary_reweights_over_the_groups_a_provider_has():
    rows = [("a", "m1", 1.0), ("b", "m1", 2.0), ("c", "m1", 3.0),
            ("a", "p1", 5.0), ("b", "p1", 1.0), ("c", "p1", 3.0), ("a", "e1", 1.0), ("b", "e1", 2.0)]
    res = star_ratings(_long(rows), _method()).providers.sort("provider_id")
    c = res.row(2, named=True)
    assert c["score_experience"] is None
    # c has mortality (0.5) and process (0.25): weights become 2/3 and 1/3.
    assert c["summary_score"] == pytest.approx(2 / 3 * c["score_mortality"] + 1 / 3 * c["score_process"])
    a = res.row(0, named=True)
    assert a["summary_score"] == pytest.approx(0.5 * a["score_mortality"] + 0.25 * a["score_experience"]
                                               + 0.25 * a["score_process"])


def test_group_score_is_mean_of_z_then_restandardized():
    rows = [("a", "m1", 1.0), ("b", "m1", 2.0), ("c", "m1", 4.0), ("a", "m2", 3.0), ("b", "m2", 1.0)]
    res = star_ratings(_long(rows), _method()).providers.sort("provider_id")
    z1 = -(np.array([1, 2, 4]) - 7 / 3) / np.std([1, 2, 4], ddof=1)
    z2 = -(np.array([3, 1]) - 2) / np.std([3, 1], ddof=1)
    avg = np.array([(z1[0] + z2[0]) / 2, (z1[1] + z2[1]) / 2, z1[2]])
    assert res["score_mortality"].to_numpy() == pytest.approx((avg - avg.mean()) / avg.std(ddof=1))
    assert res["measures_mortality"].to_list() == [2, 2, 1]


def test_measures_reported_by_too_few_providers_are_dropped():
    rows = [(f"p{i}", "m1", float(i)) for i in range(6)] + [("p0", "m2", 1.0), ("p1", "m2", 2.0)]
    res = star_ratings(_long(rows), _method(drop_if_reported_by_at_most=2))
    assert res.measures.filter(pl.col("measure_id") == "m2")["used"].item() is False
    assert res.providers["measures_mortality"].to_list() == [1] * 6


def test_eligibility_reasons():
    method = _method(min_measures_per_group=1, min_groups=2, require_one_of=("mortality",),
                     clustering=Clustering(stars=2))
    rows = ([(f"r{i}", m, float(i + k)) for i in range(4) for k, m in enumerate(["m1", "e1"])]
            + [("only_exp", "e1", 1.0), ("only_exp", "p1", 2.0), ("x", "p1", 3.0), ("x", "unknown", 1.0)])
    res = star_ratings(_long(rows), method).providers
    reasons = dict(zip(res["provider_id"], res["not_rated_reason"]))
    assert reasons["only_exp"] == "no mortality group with at least 1 measures"
    assert reasons["x"] == "fewer than 2 groups with at least 1 measures"
    assert all(reasons[f"r{i}"] is None for i in range(4))
    assert res.filter(pl.col("provider_id") == "x")["star"].item() is None


def test_wide_cms_layout_and_carescore_results_layout():
    wide = pl.DataFrame({"PROVIDER_ID": ["010001", "010005"], "OP_2": ["0.5", "Not Available"],
                         "OP_2_DEN": ["40", ""], "HAI_1": ["1.2", "0.8"]})
    long = wide_to_long(wide)
    assert long.sort("measure_id", "provider_id").select("provider_id", "measure_id", "value", "denominator").rows() \
        == [("010001", "HAI_1", 1.2, None), ("010005", "HAI_1", 0.8, None), ("010001", "OP_2", 0.5, 40.0)]
    results = pl.DataFrame({"metric_id": ["readmission_30d"] * 3, "level": ["provider", "provider", "network"],
                            "unit_id": ["p1", "p2", "net"], "period": ["2024"] * 3, "value": [0.1, 0.2, 0.15],
                            "denominator": [100, 5, 105], "status": ["ok", "too_few", "ok"]})
    assert normalize_long(results).select("provider_id", "measure_id", "value").rows() == [("p1", "readmission_30d", 0.1)]


def test_method_yaml_errors_point_at_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
        id: bad
        groups:
          mortality:
            weight: 0.22
            measures:
              MORT_30_AMI: lower_is_beter
          safety:
            wieght: 0.22
            measures: {HAI_1: lower_is_better}
        eligibility:
          require_one_of: [mortality, safty]
        """))
    with pytest.raises(PayerError) as err:
        load_method(path)
    text = str(err.value)
    assert f"{path}:6:20: error[M005] groups.mortality.measures.MORT_30_AMI must be one of " \
           "higher_is_better, lower_is_better; got 'lower_is_beter'; did you mean 'lower_is_better'?" in text
    assert f"{path}:8:5: error[M003] unknown key 'wieght' in groups.safety; did you mean 'weight'?" in text
    assert f"{path}:8:5: error[M002] groups.safety is missing required key 'weight'" in text
    # once the file reads as a method, what it means is checked
    path.write_text(path.read_text().replace("lower_is_beter", "lower_is_better").replace("wieght", "weight")
                    .replace("{HAI_1: lower_is_better}", "{HAI_1: lower_is_better, MORT_30_AMI: lower_is_better}"))
    with pytest.raises(PayerError) as err:
        load_method(path)
    assert [str(d) for d in err.value.diagnostics] == [
        f"{path}:9:40: error[S005] measure 'MORT_30_AMI' is already in group 'mortality'; a measure belongs to one "
        "group",
        f"{path}:11:31: error[S006] require_one_of names unknown group 'safty'; did you mean 'safety'?"]


def test_the_shipped_cms_method_loads():
    method = load_method(Path(__file__).resolve().parents[2] / "methods" / "cms_overall_star_2024.yaml")
    assert [g.weight for g in method.groups] == [0.22, 0.22, 0.22, 0.22, 0.12]
    assert len(method.measures) == 47 and method.require_one_of == ("mortality", "safety")


def test_golden_national_star_result(request):
    res = star_ratings(national_table(), national_method())
    got = res.providers.select("provider_id", "peer_group", "star", pl.col("summary_score").round(9))
    if request.config.getoption("--update-golden", default=False) or not GOLDEN.exists():
        GOLDEN.parent.mkdir(exist_ok=True)
        got.write_csv(GOLDEN)
    want = pl.read_csv(GOLDEN, schema=got.schema)
    assert got.height == want.height >= 2900
    assert (got["star"].fill_null(0) == want["star"].fill_null(0)).all()
    assert (got["summary_score"] - want["summary_score"]).abs().max() < 1e-8
    assert res.measures.filter(~pl.col("used"))["measure_id"].to_list() == ["timely_effective_7"]


def test_stars_cli_on_a_long_csv(tmp_path, capsys):
    from carescore.payer.cli import stars

    national_table(providers=400).write_csv(tmp_path / "long.csv")
    method = tmp_path / "method.yaml"
    groups = "\n".join(f"  {g.id}:\n    weight: {g.weight}\n    measures:\n" + "\n".join(
        f"      {m.id}: {m.direction}" for m in g.measures) for g in national_method().groups)
    method.write_text(f"id: n\ntitle: National\nmeasure_selection: {{drop_if_reported_by_at_most: 20}}\n"
                      f"groups:\n{groups}\neligibility: {{min_measures_per_group: 3, min_groups: 3}}\n")
    stars(tmp_path / "long.csv", method, tmp_path / "stars.csv")
    printed = capsys.readouterr().out
    assert printed.startswith("National: ") and "peer group 5" in printed
    assert pl.read_csv(tmp_path / "stars.csv")["star"].drop_nulls().is_between(1, 5).all()
