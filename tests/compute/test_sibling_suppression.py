"""Metrics that count the same people (same fact, population and exclusions) publish the same denominators, so
a denominator hidden in one but shown in the other is public. A small cell must stay hidden when the sums are
read across all of them together, not just one metric at a time."""

import polars as pl

from carescore.compute import suppress
from carescore.define.loader import load_catalog

CATALOG = load_catalog("metrics")


def _frame(numerators: dict[str, dict[str, int]], cases: dict[str, int]) -> pl.DataFrame:
    rows = []
    for metric, nums in numerators.items():
        for unit, n in nums.items():
            rows.append({"metric_id": metric, "period": "2025", "level": "provider", "unit_id": unit,
                         "stratum": "all", "stratum_value": "all", "numerator": float(n),
                         "denominator": float(cases[unit]), "cases": cases[unit]})
        rows.append({"metric_id": metric, "period": "2025", "level": "all", "unit_id": "ALL", "stratum": "all",
                     "stratum_value": "all", "numerator": float(sum(nums.values())),
                     "denominator": float(sum(cases.values())), "cases": sum(cases.values())})
    return pl.DataFrame(rows)


def _derivable_denominators(table: pl.DataFrame, metrics: list[str]) -> list[str]:
    """Providers whose count follows from the whole-population count minus the others' shown in any sibling."""
    shown = table.filter(pl.col("status") == "ok", pl.col("metric_id").is_in(metrics))
    known = set(shown.filter(pl.col("level") == "provider")["unit_id"])
    total_known = shown.filter(pl.col("level") == "all").height > 0
    units = set(table.filter(pl.col("level") == "provider")["unit_id"])
    unknown = units - known
    return sorted(unknown) if total_known and len(unknown) == 1 else []


def test_a_small_count_is_not_revealed_by_combining_two_metrics_that_share_it():
    # A is small (5 people): hidden in both. In the 7-day metric B's numerator is small, so B is hidden and A's
    # sum has two hidden members. In the 30-day metric C is the smallest other member, so C would be hidden.
    # Read together, B's count shows in the 30-day metric and C's in the 7-day one: A = total - B - C - D.
    cases = {"A": 5, "B": 100, "C": 90, "D": 300}
    table = _frame({"followup_7d": {"A": 1, "B": 3, "C": 40, "D": 100},
                    "followup_30d": {"A": 2, "B": 50, "C": 60, "D": 200}}, cases)
    _, out = suppress.apply(table, CATALOG, nesting={})
    status = {(m, u): s for m, u, s in out.filter(pl.col("level") == "provider")
              .select("metric_id", "unit_id", "status").iter_rows()}
    assert status[("followup_7d", "A")] != "ok" and status[("followup_30d", "A")] != "ok"
    assert _derivable_denominators(out, ["followup_7d", "followup_30d"]) == []


def test_metrics_with_different_people_are_not_linked():
    # duplicate imaging counts imaging studies; follow-up counts discharges: nothing is shared, so the 30-day
    # metric hides only what its own sums need.
    cases = {"A": 5, "B": 100, "C": 90, "D": 300}
    alone = _frame({"followup_30d": {"A": 2, "B": 50, "C": 60, "D": 200}}, cases)
    _, out_alone = suppress.apply(alone, CATALOG, nesting={})
    both = pl.concat([alone, _frame({"readmission_30d": {"A": 1, "B": 3, "C": 40, "D": 100}}, cases)])
    _, out_both = suppress.apply(both, CATALOG, nesting={})
    hidden = lambda t: set(t.filter(pl.col("metric_id") == "followup_30d", pl.col("status") != "ok")["unit_id"])
    assert hidden(out_both) == hidden(out_alone) == {"A", "C"}
