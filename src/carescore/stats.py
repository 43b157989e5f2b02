"""Values, confidence intervals and comparisons, vectorized over the long table (scipy for distributions)."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats as st

from .spec import Catalog

Z95 = float(st.norm.ppf(0.975))


def wilson(x, n, z=Z95):
    x, n = np.asarray(x, float), np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def poisson_exact(x, alpha=0.05):
    """Exact (Garwood) interval for a Poisson count."""
    x = np.asarray(x, float)
    low = np.where(x > 0, st.chi2.ppf(alpha / 2, 2 * x) / 2, 0.0)
    high = st.chi2.ppf(1 - alpha / 2, 2 * x + 2) / 2
    return low, high


def byar(observed, expected, z=Z95):
    """Byar's approximation to the exact interval of an observed/expected ratio."""
    o, e = np.asarray(observed, float), np.asarray(expected, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0) / e
        o1 = o + 1
        high = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3 / e
    return low, high


def mean_ci(total, sumsq, n):
    total, sumsq, n = (np.asarray(a, float) for a in (total, sumsq, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.maximum(sumsq - total * total / n, 0) / (n - 1)
        half = st.t.ppf(0.975, np.maximum(n - 1, 1)) * np.sqrt(var / n)
    half = np.where(n > 1, half, np.nan)
    return mean - half, mean + half


def ratio_ci(x, y, sxx, syy, sxy, n, z=Z95):
    """Delta-method (linearization) interval of a ratio of sums over n units."""
    x, y, sxx, syy, sxy, n = (np.asarray(a, float) for a in (x, y, sxx, syy, sxy, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = x / y
        resid = np.maximum(sxx - 2 * r * sxy + r * r * syy, 0)
        se = np.sqrt(n / (n - 1) * resid) / y
    se = np.where(n > 1, se, np.nan)
    return r - z * se, r + z * se


def difference_ci(p1, l1, u1, p0, l0, u0) -> tuple[float, float, float]:
    """Difference p1 - p0 with a 95% interval from the two groups' own intervals (MOVER; Newcombe's method for
    proportions keeps the Wilson/exact intervals' asymmetry near 0 and 1)."""
    d = p1 - p0
    return d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d, d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def funnel_limits(kind: str, target: float, exposure, z=Z95):
    """Spiegelhalter funnel limits around `target` for a unit with the given denominator (or expected)."""
    exposure = np.asarray(exposure, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "proportion":
            half = z * np.sqrt(target * (1 - target) / exposure)
            return np.clip(target - half, 0, 1), np.clip(target + half, 0, 1)
        if kind == "o_e":  # exposure = expected count; the ratio's Poisson sd is 1/sqrt(E)
            half = z / np.sqrt(exposure)
            return np.maximum(target - half, 0), target + half
        half = z * np.sqrt(target / exposure)  # rates: exposure in reporting units
        return np.maximum(target - half, 0), target + half


def add_statistics(raw: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """value, ci_low, ci_high for every row; reference value and comparison for units below 'all'."""
    if raw.height == 0:
        return raw.with_columns(value=pl.lit(None, pl.Float64), ci_low=pl.lit(None, pl.Float64),
                                ci_high=pl.lit(None, pl.Float64), reference_value=pl.lit(None, pl.Float64),
                                comparison=pl.lit(None, pl.Utf8))
    frames = []
    for metric_id, part in raw.partition_by("metric_id", as_dict=True).items():
        m = catalog.metrics[metric_id[0]]
        num, den, n = part["numerator"].to_numpy(), part["denominator"].to_numpy(), part["cases"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            if m.kind == "proportion":
                value = num / den
                low, high = wilson(num, den)
            elif m.kind == "rate":
                value = num / den * m.per
                lo_c, hi_c = poisson_exact(num)
                low, high = lo_c / den * m.per, hi_c / den * m.per
            elif m.kind == "mean":
                value = num / n
                low, high = mean_ci(num, part["sxx"].to_numpy(), n)
            elif m.kind in ("ratio", "per_member_per_month"):
                value = num / den * m.per
                low, high = ratio_ci(num, den, part["sxx"].to_numpy(), part["syy"].to_numpy(),
                                     part["sxy"].to_numpy(), n)
                low, high = low * m.per, high * m.per
            else:  # o_e
                expected = part["expected"].to_numpy()
                value = num / expected
                low, high = byar(num, expected)
        frames.append(part.with_columns(value=pl.Series(value, dtype=pl.Float64).fill_nan(None),
                                        ci_low=pl.Series(low, dtype=pl.Float64).fill_nan(None),
                                        ci_high=pl.Series(high, dtype=pl.Float64).fill_nan(None)))
    out = pl.concat(frames)
    reference = (out.filter(pl.col("level") == "all")
                 .select("metric_id", "period", "stratum", "stratum_value", pl.col("value").alias("reference_value")))
    out = out.join(reference, on=["metric_id", "period", "stratum", "stratum_value"], how="left")
    direction = pl.col("metric_id").replace_strict({m.id: m.direction for m in catalog.metrics.values()},
                                                   default="neutral")
    above = pl.col("ci_low") > pl.col("reference_value")
    below = pl.col("ci_high") < pl.col("reference_value")
    comparison = (
        pl.when(pl.col("level") == "all").then(None)
        .when(pl.col("ci_low").is_null() | pl.col("reference_value").is_null()).then(None)
        .when(above & (direction == "higher_is_better")).then(pl.lit("better"))
        .when(above & (direction == "lower_is_better")).then(pl.lit("worse"))
        .when(below & (direction == "higher_is_better")).then(pl.lit("worse"))
        .when(below & (direction == "lower_is_better")).then(pl.lit("better"))
        .when(above).then(pl.lit("higher"))
        .when(below).then(pl.lit("lower"))
        .otherwise(pl.lit("no_different"))
    )
    return out.with_columns(comparison=comparison)
