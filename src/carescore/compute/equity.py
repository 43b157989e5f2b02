"""Differences between groups of patients (by race and ethnicity, dual eligibility, language, rurality, sex, age).

**Gap and ratio.** Each group's result is compared with a reference group's (usually the largest): the gap is
the difference, the ratio the quotient. Each comes with a 95% interval built from the two groups' own
intervals (the method of variance estimates recovery: Newcombe's for gaps, Donner and Zou's for ratios). A gap
whose interval excludes 0, or a ratio whose interval excludes 1, is unlikely to be chance alone.

**Spread across all groups.** The *index of disparity* is the average distance of the other groups from the
reference, as a percentage of the reference's result (Pearcy and Keppel, 2002); 0 means no differences. The
*between-group variance* weights each group's squared distance from the overall average by the group's size
(Harper and Lynch), so large groups count for more.

**Equity summary across measures.** After CMS's Health Equity Summary Score (the part that compares units
within one year): for each measure, a unit's result for the chosen group, and its gap to the reference group,
become standard scores across units (0 is the average unit; measures where lower is better are flipped, so
higher is always better). Each is averaged over the unit's measures (at least three on the Equity summary
page), and the summary is the mean of the two. Beside it, the change in the group's results since the year
before is scored the same way (HESS's improvement idea; shown, not added in). Only results reliable enough to
report are used.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..issues import ComputeError
from . import stats

USABLE = ["ok", "suppressed"]  # too_few, holds and not-applicable cells have no reliable value


def against_reference(groups: pl.DataFrame, reference: str) -> pl.DataFrame:
    """Each group (one row per stratum_value) with its gap to the reference group and the ratio to it, each with
    a 95% interval built from the two groups' own intervals (MOVER: Newcombe for gaps, Donner-Zou for ratios)."""
    ref = groups.filter(pl.col("stratum_value") == reference)
    if ref.height != 1:
        raise ComputeError(f"reference group {reference!r} is not among the groups")
    p0, l0, u0 = (ref[c].item() for c in ("value", "ci_low", "ci_high"))
    p1, l1, u1 = (groups[c].to_numpy().astype(float) for c in ("value", "ci_low", "ci_high"))
    gap_low, gap, gap_high = stats.difference_ci(p1, l1, u1, p0, l0, u0)
    ratio_low, ratio, ratio_high = stats.ratio_mover(p1, l1, u1, p0, l0, u0)
    return groups.with_columns(
        is_reference=pl.col("stratum_value") == reference,
        gap=gap, gap_low=gap_low, gap_high=gap_high, ratio=ratio, ratio_low=ratio_low, ratio_high=ratio_high,
    ).with_columns(pl.col(c).fill_nan(None) for c in ("ratio", "ratio_low", "ratio_high"))


def index_of_disparity(values, reference: float) -> float:
    """Mean absolute difference of the other groups from the reference, as a percentage of the reference
    (Pearcy and Keppel 2002). `values` are the other groups' values."""
    values = np.asarray(values, float)
    if reference == 0 or len(values) == 0:
        return float("nan")
    return float(np.mean(np.abs(values - reference)) / abs(reference) * 100)


def between_group_variance(values, sizes) -> float:
    """Population-weighted variance of the group values around their weighted mean (Harper and Lynch): 0 when
    every group has the same result; in the value's units squared."""
    values, sizes = np.asarray(values, float), np.asarray(sizes, float)
    share = sizes / sizes.sum()
    mean = float(np.sum(share * values))
    return float(np.sum(share * (values - mean) ** 2))


def spread(groups: pl.DataFrame, reference: str) -> dict:
    """Index of disparity against `reference`, between-group variance, and the largest over smallest value,
    over the usable groups."""
    usable = groups.filter(pl.col("status").is_in(USABLE), pl.col("value").is_not_null())
    others = usable.filter(pl.col("stratum_value") != reference)["value"].to_numpy()
    ref = usable.filter(pl.col("stratum_value") == reference)["value"]
    values = usable["value"].to_numpy()
    return {
        "groups": usable.height,
        "index_of_disparity": index_of_disparity(others, ref.item()) if ref.len() == 1 else float("nan"),
        "between_group_variance": between_group_variance(values, usable["cases"].to_numpy()) if len(values) else
        float("nan"),
        "max_to_min": float(values.max() / values.min()) if len(values) and values.min() > 0 else float("nan"),
    }


def summary_score(results: pl.DataFrame, directions: dict[str, str], dimension: str, group: str, reference: str,
                  level: str, period: str, min_measures: int = 2, previous: str | None = None) -> pl.DataFrame:
    """A Health Equity Summary Score style roll-up per unit of `level` (after Agniel et al. 2019, cross-sectional
    part only): for each measure stratified by `dimension`,

    - *group result*: the unit's result for `group`, as a z-score across units (sign flipped where lower is
      better, so higher is always better);
    - *gap*: the unit's result for `group` minus its result for `reference`, direction-signed, as a z-score
      across units (higher: the group fares better relative to the reference than elsewhere).

    Each is averaged over the measures a unit has (at least `min_measures`); the summary is the mean of the two.
    A unit below the minimum is listed with the number of measures it has and no score. With `previous` (a
    period), *improvement* is the change in the unit's result for `group` since then, direction-signed and
    z-scored the same way; it is shown beside the summary, not part of it."""
    usable = results.filter(pl.col("level") == level, pl.col("stratum") == dimension, pl.col("status").is_in(USABLE),
                            pl.col("value").is_not_null(), pl.col("metric_id").is_in(list(directions)))
    base = usable.filter(pl.col("period") == period, pl.col("stratum_value").is_in([group, reference]))
    before = (usable.filter(pl.col("period") == (previous or ""), pl.col("stratum_value") == group)
              .select("metric_id", "unit_id", pl.col("value").alias("_before")))
    wide = (base.pivot(on="stratum_value", index=["metric_id", "unit_id"], values="value")
            if base.height else pl.DataFrame(schema={"metric_id": pl.Utf8, "unit_id": pl.Utf8}))
    for col in (group, reference):
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    sign = pl.col("metric_id").replace_strict({k: -1.0 if v == "lower_is_better" else 1.0
                                               for k, v in directions.items()}, return_dtype=pl.Float64)

    def z(expr: pl.Expr) -> pl.Expr:
        sd = expr.std().over("metric_id")
        return pl.when(sd > 0).then((expr - expr.mean().over("metric_id")) / sd)

    scored = (wide.filter(pl.col(group).is_not_null())
              .join(before, on=["metric_id", "unit_id"], how="left")
              .with_columns(result_z=z(sign * pl.col(group)), gap_z=z(sign * (pl.col(group) - pl.col(reference))),
                            improvement_z=z(sign * (pl.col(group) - pl.col("_before")))))
    per_unit = (scored.group_by("unit_id")
                .agg(measures=pl.col("result_z").is_not_null().sum(), group_result=pl.col("result_z").mean(),
                     gap=pl.col("gap_z").mean(), gap_measures=pl.col("gap_z").is_not_null().sum(),
                     improvement=pl.col("improvement_z").mean(),
                     improvement_measures=pl.col("improvement_z").is_not_null().sum()))
    enough = pl.col("measures") >= min_measures
    return (per_unit.with_columns(
        group_result=pl.when(enough).then(pl.col("group_result")),
        gap=pl.when(enough & (pl.col("gap_measures") >= min_measures)).then(pl.col("gap")),
        improvement=pl.when(pl.col("improvement_measures") >= min_measures).then(pl.col("improvement")))
            .with_columns(summary=(pl.col("group_result") + pl.col("gap")) / 2)
            .sort(pl.col("summary").is_null(), pl.col("summary"), "unit_id", descending=[False, True, False]))
