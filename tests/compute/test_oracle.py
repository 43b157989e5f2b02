"""The engine against an independent Polars oracle: demo data, hypothesis-generated tables, and statistics
checked against scipy directly."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import canonical
import numpy as np
import oracle
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from scipy import optimize
from scipy import stats as sp

from carescore.compute import stats, suppress
from carescore.define.loader import load_catalog
from carescore.extracts.canonical import load_extracts

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(REPO / "metrics")
KINDS = {m.id: m.kind for m in CATALOG.metrics.values()}
METRICS = sorted(CATALOG.metrics)
FACTS = sorted(CATALOG.facts)


def fact_columns(fact_id: str) -> list[str]:
    return [c.name for c in CATALOG.facts[fact_id].columns]


# ------------------------------------------------------------------------------------------ (a) demo data
def test_demo_oracle_is_not_vacuous(oracle_expected):
    """Every metric has cells at every level and stratum it asks for, in two periods."""
    cells = oracle_expected[0]
    for m in CATALOG.metrics.values():
        mine = cells.filter(pl.col("metric_id") == m.id)
        assert set(mine["level"]) == {"all", *m.levels}, m.id
        assert set(mine["stratum"]) == {"all", *m.stratify_by}, m.id
        assert mine["period"].n_unique() == 2, m.id
        assert mine.filter(pl.col("level") != "all")["unit_id"].n_unique() >= 3, m.id
        assert (mine["numerator"] > 0).any(), m.id
    excluded = oracle_expected[1]
    assert excluded.filter(pl.col("level") == "all")["excluded"].sum() > 0


@pytest.mark.parametrize("metric_id", METRICS)
def test_demo_pipeline_matches_oracle(metric_id, oracle_demo, oracle_expected):
    """pipeline.build's long table: the same cells (none missing, none extra) with the same numbers."""
    results = oracle_demo[1].filter(pl.col("metric_id") == metric_id)
    expected = oracle_expected[0].filter(pl.col("metric_id") == metric_id)
    problems = oracle.diff_cells(results, expected, KINDS)
    assert not problems, "\n".join(problems)


def test_demo_exclusion_counts_match_oracle(engine_demo, oracle_expected):
    problems = oracle.diff_exclusions(engine_demo[1], oracle_expected[1])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fact_id", FACTS)
def test_demo_fact_matches_oracle(fact_id, engine_demo, oracle_expected):
    problems = oracle.diff_facts(engine_demo[2][fact_id], oracle_expected[2][fact_id],
                                 oracle.FACT_KEYS[fact_id], fact_columns(fact_id))
    assert not problems, "\n".join(problems)


def test_demo_age_bands_in_completed_years(oracle_demo, engine_demo):
    problems = []
    for fact_id in ("index_discharges", "imaging", "survey_returns", "member_years"):
        fixed = oracle.FACTS[fact_id](oracle_demo[0], age_rule="completed")
        cols = [*oracle.FACT_KEYS[fact_id], "age_band"] + (["age"] if fact_id == "index_discharges" else [])
        problems += oracle.diff_facts(engine_demo[2][fact_id], fixed, oracle.FACT_KEYS[fact_id], cols, limit=3)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------ (b) generated tables
# pipeline.build runs the Great Expectations suites first (~4 s a cut), so generated cuts go through the
# stages under test directly: parquet files -> load_extracts -> engine (DuckDB) -> stats. The demo tests above
# cover pipeline.build end to end.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables=canonical.canonical_tables())
def test_generated_tables_match_oracle(tables):
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_extracts(canonical.write(tables, Path(tmp))).tables
    results, excluded, facts = canonical.run_engine(loaded, CATALOG)
    cells, expected_excluded, expected_facts = oracle.results(CATALOG, tables)
    problems = []
    for fact_id, mine in facts.items():
        problems += oracle.diff_facts(mine, expected_facts[fact_id], oracle.FACT_KEYS[fact_id], fact_columns(fact_id))
    if cells.height:
        problems += oracle.diff_cells(results, cells, KINDS)
    else:
        problems += [f"extra in engine: {r}" for r in results.rows()[:5]]
    problems += oracle.diff_exclusions(excluded, expected_excluded)
    assert not problems, "\n".join(problems)


def test_statuses_of_a_cut_with_no_events():
    """People but no encounters, studies, surveys, screenings or exposure: no cells, and no crash."""
    raw = canonical.run_engine(canonical.tables(patients=[{"patient_id": "P1"}]), CATALOG)[0]
    assert suppress.primary_status(raw, CATALOG).height == 0


def test_engine_empty_result_is_typed():
    raw = canonical.run_engine(canonical.tables(patients=[{"patient_id": "P1"}]), CATALOG)[0]
    assert raw.height == 0
    assert raw.schema["numerator"] == pl.Float64 and raw.schema["cases"] == pl.Int64


# ------------------------------------------------------------------------------------------ (c) statistics vs scipy
def exact_poisson(x: int, alpha: float = 0.05) -> tuple[float, float]:
    """Garwood interval by inverting the Poisson distribution (not through chi-square)."""
    top = x + 20 + 20 * math.sqrt(x + 1)
    low = 0.0 if x == 0 else optimize.brentq(lambda mu: sp.poisson.sf(x - 1, mu) - alpha / 2, 1e-12, top,
                                             xtol=1e-14, rtol=1e-14)
    high = optimize.brentq(lambda mu: sp.poisson.cdf(x, mu) - alpha / 2, 1e-12, top, xtol=1e-14, rtol=1e-14)
    return low, high


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 25), (1, 25), (12, 25), (25, 25), (3, 1000), (517, 1000),
                                 (999, 1000), (7, 11), (40000, 41000)])
def test_wilson_matches_scipy(k, n):
    low, high = stats.wilson(np.array([k]), np.array([n]))
    ci = sp.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert low[0] == pytest.approx(ci.low, rel=1e-9, abs=1e-12)
    assert high[0] == pytest.approx(ci.high, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("x", [0, 1, 2, 5, 10, 37, 100, 1234])
def test_exact_poisson_matches_inversion(x):
    low, high = stats.poisson_exact(np.array([x]))
    want = exact_poisson(x)
    assert low[0] == pytest.approx(want[0], rel=1e-7, abs=1e-12)
    assert high[0] == pytest.approx(want[1], rel=1e-7)


@pytest.mark.parametrize("o", [100, 250, 1000, 5000])
@pytest.mark.parametrize("e", [80.0, 123.4])
def test_byar_is_close_to_exact_for_large_counts(o, e):
    low, high = stats.byar(np.array([o]), np.array([e]))
    want = exact_poisson(o)
    assert low[0] == pytest.approx(want[0] / e, rel=2e-3)
    assert high[0] == pytest.approx(want[1] / e, rel=2e-3)


def test_byar_small_counts_bracket_the_ratio():
    o = np.array([0, 1, 2, 5, 9])
    low, high = stats.byar(o, np.full(5, 4.0))
    assert low[0] == 0
    assert np.all(low <= o / 4.0) and np.all(o / 4.0 <= high)
    exact_high = np.array([exact_poisson(int(v))[1] for v in o]) / 4.0
    assert np.allclose(high, exact_high, rtol=0.05)  # Byar is a good approximation even for small counts


def test_mean_interval_matches_t_distribution():
    rng = np.random.default_rng(3)
    for n in (2, 5, 40):
        x = rng.lognormal(7, 1, n)
        low, high = stats.mean_ci(np.array([x.sum()]), np.array([(x * x).sum()]), np.array([n]))
        want = sp.t.interval(0.95, n - 1, loc=x.mean(), scale=sp.sem(x))
        assert (low[0], high[0]) == pytest.approx(want, rel=1e-8)


def test_ratio_interval_is_the_delta_method():
    rng = np.random.default_rng(5)
    y = rng.integers(1, 13, 60).astype(float)
    x = rng.gamma(2, 300, 60) * y
    r = x.sum() / y.sum()
    se = math.sqrt(60 / 59 * ((x - r * y) ** 2).sum()) / y.sum()
    low, high = stats.ratio_ci(*(np.array([v]) for v in (x.sum(), y.sum(), (x * x).sum(), (y * y).sum(),
                                                       (x * y).sum(), 60)))
    z = sp.norm.ppf(0.975)
    assert (low[0], high[0]) == pytest.approx((r - z * se, r + z * se), rel=1e-8)


def _sample(frame: pl.DataFrame, n: int = 60) -> pl.DataFrame:
    return frame.sample(min(n, frame.height), seed=11) if frame.height else frame


def test_demo_intervals_match_scipy(oracle_demo):
    """Intervals published for the demo cells, recomputed from their counts with scipy."""
    res = oracle_demo[1].with_columns(kind=pl.col("metric_id").replace_strict(KINDS))
    per = {m.id: m.per for m in CATALOG.metrics.values()}
    checked = 0
    for row in _sample(res.filter(pl.col("kind") == "proportion")).iter_rows(named=True):
        ci = sp.binomtest(int(row["numerator"]), int(row["denominator"])).proportion_ci(method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-12), row
        checked += 1
    for row in _sample(res.filter((pl.col("kind") == "rate") & (pl.col("denominator") > 0))).iter_rows(named=True):
        low, high = exact_poisson(int(row["numerator"]))
        scale = per[row["metric_id"]] / row["denominator"]
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low * scale, high * scale), rel=1e-7, abs=1e-12)
        checked += 1
    for row in _sample(res.filter((pl.col("kind") == "o_e") & (pl.col("numerator") >= 100))).iter_rows(named=True):
        low, high = exact_poisson(int(row["numerator"]))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            (low / row["expected"], high / row["expected"]), rel=3e-3), row
        checked += 1
    assert checked > 100


def test_demo_mean_and_pmpm_intervals_from_raw_rows(oracle_demo, oracle_expected):
    """Whole-population intervals of a mean and a per-member-per-month ratio, from the fact rows themselves."""
    res = oracle_demo[1].filter((pl.col("level") == "all") & (pl.col("stratum") == "all"))
    facts = oracle_expected[2]
    z = sp.norm.ppf(0.975)
    for period, rows in facts["index_discharges"].partition_by("period", as_dict=True).items():
        x = rows["stay_cost"].to_numpy()
        want = sp.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sp.sem(x))
        got = res.filter((pl.col("metric_id") == "inpatient_cost_per_admission") & (pl.col("period") == period[0]))
        assert (got["ci_low"].item(), got["ci_high"].item()) == pytest.approx(want, rel=1e-8)
    for period, rows in facts["member_years"].partition_by("period", as_dict=True).items():
        x, y = rows["total_cost"].to_numpy(), rows["member_months"].to_numpy().astype(float)
        r = x.sum() / y.sum()
        se = math.sqrt(len(x) / (len(x) - 1) * ((x - r * y) ** 2).sum()) / y.sum()
        got = res.filter((pl.col("metric_id") == "cost_pmpm") & (pl.col("period") == period[0]))
        assert (got["ci_low"].item(), got["ci_high"].item()) == pytest.approx((r - z * se, r + z * se), rel=1e-8)
