"""Values, confidence intervals and comparisons, vectorized over the long table (scipy for distributions)."""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats as st

from ..define.spec import Catalog

Z95 = float(st.norm.ppf(0.975))


def wilson(x, n, z=Z95):
    x, n = np.asarray(x, float), np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exactly 0 (or 1) at x = 0 (or n): in floating point centre - half is ~1e-18 there, not 0, which would put
    # a published 0% outside its own interval
    low = np.where(x == 0, 0.0, np.clip(centre - half, 0, 1))
    high = np.where(x == n, 1.0, np.clip(centre + half, 0, 1))
    return low[()], high[()]  # [()]: a scalar for scalar input, as np.clip gives


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


def ratio_mover(p1, l1, u1, p0, l0, u0) -> tuple[float, float, float]:
    """Ratio p1 / p0 with a 95% interval from the two groups' own intervals (MOVER-R, Donner and Zou 2012).
    Undefined (nan) when the reference value or its lower limit is 0."""
    p1, l1, u1, p0, l0, u0 = (np.asarray(v, float) for v in (p1, l1, u1, p0, l0, u0))
    with np.errstate(divide="ignore", invalid="ignore"):
        prod = p1 * p0
        low = (prod - np.sqrt(np.maximum(prod ** 2 - l1 * u0 * (2 * p1 - l1) * (2 * p0 - u0), 0))) / (u0 * (2 * p0 - u0))
        high = (prod + np.sqrt(np.maximum(prod ** 2 - u1 * l0 * (2 * p1 - u1) * (2 * p0 - l0), 0))) / (l0 * (2 * p0 - l0))
        bad = (p0 <= 0) | (l0 <= 0)
        return (np.where(bad, np.nan, low), np.where(bad, np.nan, p1 / p0), np.where(bad | (high < 0), np.nan, high))


def funnel_sd(kind: str, target: float, exposure) -> np.ndarray:
    """The sd of a unit's value under the target alone, given its denominator (or expected count for O/E)."""
    exposure = np.asarray(exposure, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "proportion":
            return np.sqrt(target * (1 - target) / exposure)
        if kind == "o_e":  # exposure = expected count; the ratio's Poisson sd is 1/sqrt(E)
            return 1 / np.sqrt(exposure)
        return np.sqrt(target / exposure)  # rates: exposure in reporting units


def overdispersion(kind: str, target: float, values, exposure, trim: float = 0.1) -> tuple[float, float]:
    """(phi, tau2): how much more units vary than chance alone predicts (Spiegelhalter 2005, Stat Med 24:1185).

    z-scores against the target are winsorized at `trim` and 1 - `trim`; phi is their mean square (1 = no
    overdispersion). tau2 is the between-unit variance of the additive random-effects model (DerSimonian-Laird
    form on the winsorized z), 0 when phi <= 1."""
    values, exposure = np.asarray(values, float), np.asarray(exposure, float)
    sd = funnel_sd(kind, target, exposure)
    ok = np.isfinite(values) & np.isfinite(sd) & (sd > 0)
    if ok.sum() < 3:
        return 1.0, 0.0
    z = (values[ok] - target) / sd[ok]
    lo, hi = np.quantile(z, [trim, 1 - trim])
    z = np.clip(z, lo, hi)
    n, phi = len(z), float(np.mean(z ** 2))
    w = 1 / sd[ok] ** 2
    tau2 = max(0.0, (n * phi - (n - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))
    return phi, float(tau2)


def funnel_limits(kind: str, target: float, exposure, z=Z95, tau2: float = 0.0):
    """Spiegelhalter funnel limits around `target` for a unit with the given denominator (or expected count);
    `tau2` > 0 widens them for overdispersion (additive random effects, see `overdispersion`)."""
    sd = funnel_sd(kind, target, exposure)
    half = z * np.sqrt(sd ** 2 + tau2)
    if kind == "proportion":
        return np.clip(target - half, 0, 1), np.clip(target + half, 0, 1)
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
