"""The reader's ranges: no hidden count of 1 to 10 can be narrowed below 1..11 from what is published.

The reader's program (tests/compute/attacker.py) is built from the public table, the units and the definitions
only, apart from carescore.compute. Two planted tables leak under the sum-by-sum rules alone, one through a
footnote bound and one through a link between metrics; the audit must close both."""

import math

import numpy as np
import polars as pl
import pytest
from attacker import Reader

from carescore.compute import suppress
from carescore.define.loader import load_catalog

KEY = ["metric_id", "period", "level", "unit_id", "stratum", "stratum_value"]


def _wide(lo: float, hi: float) -> bool:
    return math.ceil(lo - 1e-6) <= 1 and (hi == np.inf or math.floor(hi + 1e-6) >= 11)


def _small_cells(results: pl.DataFrame, catalog) -> list[tuple[tuple, str]]:
    out = []
    for r in results.filter(pl.col("status") == "suppressed").iter_rows(named=True):
        m = catalog.metrics[r["metric_id"]]
        if m.counts_numerator and 1 <= (r["numerator"] or 0) <= 10:
            out.append((tuple(r[k] for k in KEY), "numerator"))
        elif m.kind != "rate" and 1 <= (r["cases"] or 0) <= 10:
            out.append((tuple(r[k] for k in KEY), "cases"))
    return out


@pytest.mark.slow
def test_no_hidden_small_count_has_a_narrow_range(published):
    """A seeded sample of every hidden small count in the demo run, each solved exactly over its whole part."""
    from carescore.publish import store

    root, bundle = published
    catalog = load_catalog("metrics")
    reader = Reader(store.read_public(root), store.read_units(root), catalog)
    cells = _small_cells(bundle.results, catalog)
    assert len(cells) > 200
    sample = [cells[i] for i in np.random.default_rng(11).choice(len(cells), 40, replace=False)]
    narrow = [(key, col, reader.range(key, col)) for key, col in sample if not _wide(*reader.range(key, col))]
    assert narrow == []


def _frame(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (metric, level, unit, numerator, cases) for one period, whole groups only."""
    return pl.DataFrame(
        [{"metric_id": m, "period": "2025", "level": lv, "unit_id": u, "stratum": "all", "stratum_value": "all",
          "numerator": float(n), "denominator": float(c), "cases": c, "expected": None, "value": n / c,
          "ci_low": None, "ci_high": None, "reference_value": None, "comparison": None}
         for m, lv, u, n, c in rows],
        schema_overrides={"expected": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                          "reference_value": pl.Float64, "comparison": pl.Utf8})


UNITS = pl.DataFrame({"unit_id": ["P1", "P2", "N1"], "network_id": ["N1", "N1", "N1"]})
NESTING = {"doctor_communication": {("provider", "network"): {"P1": "N1", "P2": "N1"}}}
PLANTED = {
    # P1 is too few (at most 49 answers, so at most 49 yes), so the network's 53 leaves P2 at least 4
    "footnote bound": ([("doctor_communication", "provider", "P1", 45, 48),
                        ("doctor_communication", "provider", "P2", 8, 60),
                        ("doctor_communication", "network", "N1", 53, 108)],
                       ("doctor_communication", "2025", "provider", "P2", "all", "all"), "numerator"),
    # P2's 5 referrals are sdoh_resolution's P2 cases: too few there (at most 24), so at most 10 (= 35 - 25)
    "link between metrics": ([("sdoh_referral", "provider", "P1", 30, 40),
                              ("sdoh_referral", "provider", "P2", 5, 40),
                              ("sdoh_referral", "all", "ALL", 35, 80),
                              ("sdoh_resolution", "provider", "P1", 12, 30),
                              ("sdoh_resolution", "provider", "P2", 2, 5),
                              ("sdoh_resolution", "all", "ALL", 14, 35)],
                             ("sdoh_referral", "2025", "provider", "P2", "all", "all"), "numerator"),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_planted_leak_is_found_under_sum_rules_and_closed_by_the_audit(case):
    rows, target, col = PLANTED[case]
    catalog = load_catalog("metrics")
    results = suppress.primary_status(_frame(rows), catalog)
    eqs = suppress.equations(results, NESTING)
    # the sum-by-sum and exact rules alone (no catalog: no ranges) leave the count narrow for the reader ...
    mask, _ = suppress.complementary(results, eqs, suppress.siblings(catalog))
    before = results.with_columns(status=pl.when(pl.Series(mask)).then(pl.lit("suppressed"))
                                  .otherwise(pl.col("status")))
    assert not _wide(*Reader(suppress.public_view(before.with_columns(hidden_by=None)), UNITS, catalog)
                     .range(target, col))
    # ... and the audit hides more until the reader's range reaches 1 and 11
    account, after = suppress.apply(_frame(rows), catalog, NESTING)
    public = suppress.public_view(after)
    assert public.filter(pl.struct(KEY) == dict(zip(KEY, target)))["status"].item() == "suppressed"
    assert _wide(*Reader(public, UNITS, catalog).range(target, col))
    assert account["ranges"]["targets"] >= 1
