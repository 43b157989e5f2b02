"""Status of every value and small-number protection.

Primary: a count of 1-10 (people, events) is never published; a denominator below the metric's minimum is
"too few to report". Complementary: published cells add up (strata to their unit, units to the whole
population, providers to their network), so a hidden cell must never be the only hidden member of such
a sum, or subtraction would reveal it. We hide the smallest other member until no sum has exactly one.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl

from .compile import NO_UNIT
from .spec import Catalog

SMALL = (1, 10)
FOOTNOTES = {
    "too_few": "Too few to report: fewer than {min} {what} in this group, so the result would not be reliable.",
    "suppressed": "Hidden to protect privacy: this result involves 1 to 10 people or events.",
    "complementary": "Hidden so that a small number in a related result cannot be worked out by subtraction.",
    "not_applicable": "Not available: the data for this measure ({tables}) is not in this data cut.",
    "data_quality_hold": "On hold: the data behind this result failed a data-quality check ({reason}).",
}
PUBLIC_HIDDEN = ["numerator", "denominator", "cases", "value", "ci_low", "ci_high", "expected", "comparison"]


def _small(col: str) -> pl.Expr:
    return pl.col(col).is_between(*SMALL)


def primary_status(results: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    ms = catalog.metrics.values()
    min_den = pl.col("metric_id").replace_strict({m.id: m.min_denominator for m in ms}, return_dtype=pl.Int64)
    kind = pl.col("metric_id").replace_strict({m.id: m.kind for m in ms})
    counts_num = pl.col("metric_id").replace_strict({m.id: m.counts_numerator for m in ms}, return_dtype=pl.Boolean)
    what = pl.when(kind == "rate").then(pl.lit("units of exposure")).otherwise(pl.lit("patients or cases"))
    volume = pl.when(kind == "rate").then(pl.col("denominator")).otherwise(pl.col("cases"))
    too_few = volume < min_den
    small = (counts_num & _small("numerator")) | ((kind != "rate") & _small("cases"))
    status = (pl.when(pl.col("unit_id") == NO_UNIT).then(pl.lit("not_applicable"))
              .when(too_few).then(pl.lit("too_few"))
              .when(small).then(pl.lit("suppressed"))
              .otherwise(pl.lit("ok")))
    footnote = (pl.when(status == "too_few")
                .then(pl.format(FOOTNOTES["too_few"].replace("{min}", "{}").replace("{what}", "{}"), min_den, what))
                .when(status == "suppressed").then(pl.lit(FOOTNOTES["suppressed"]))
                .when(status == "not_applicable").then(pl.lit("Not attributed to any unit at this level."))
                .otherwise(pl.lit("")))
    return results.with_columns(status=status, footnote=footnote)


def equations(results: pl.DataFrame, nesting: dict[tuple[str, str], dict[str, str]]) -> list[np.ndarray]:
    """Every additive relation as an array of row indices, the parent (sum) first."""
    idx = results.with_row_index("i").select(
        "i", "metric_id", "period", "level", "unit_id", "stratum", "stratum_value")
    key = {}
    for i, metric, period, level, unit, stratum, value in idx.iter_rows():
        key[(metric, period, level, unit, stratum, value)] = i
    groups: dict[tuple, list[int]] = defaultdict(list)
    for (metric, period, level, unit, stratum, value), i in key.items():
        if stratum != "all":  # strata add up to their unit
            groups[("s", metric, period, level, unit, stratum)].append(i)
        if level != "all":  # units of a level add up to the whole population
            groups[("u", metric, period, level, stratum, value)].append(i)
    out = []
    for g, members in groups.items():
        if g[0] == "s":
            _, metric, period, level, unit, stratum = g
            parent = key.get((metric, period, level, unit, "all", "all"))
        else:
            _, metric, period, level, stratum, value = g
            parent = key.get((metric, period, "all", "ALL", stratum, value))
        if parent is not None:
            out.append(np.array([parent, *members]))
    for metric, links in nesting.items():  # providers add up to their network
        for (child_level, parent_level), parent_of in links.items():
            kids: dict[tuple, list[int]] = defaultdict(list)
            for (m, period, level, unit, stratum, value), i in key.items():
                if m == metric and level == child_level and unit in parent_of:
                    kids[(period, parent_of[unit], stratum, value)].append(i)
            for (period, punit, stratum, value), members in kids.items():
                parent = key.get((metric, period, parent_level, punit, stratum, value))
                if parent is not None:
                    out.append(np.array([parent, *members]))
    return out


def complementary(results: pl.DataFrame, eqs: list[np.ndarray]) -> np.ndarray:
    """Boolean mask of rows to hide in addition to the primary ones."""
    hidden = (results["status"] != "ok").to_numpy().copy()
    size = results["cases"].fill_null(0).to_numpy()
    extra = np.zeros(len(hidden), bool)
    changed = True
    while changed:
        changed = False
        for eq in eqs:
            h = hidden[eq]
            if h.sum() != 1:
                continue
            candidates = eq[1:][~hidden[eq[1:]]]
            if len(candidates) == 0:
                candidates = eq[:1]  # the lone hidden child equals its parent: hide the parent
            pick = candidates[np.argmin(size[candidates])]
            hidden[pick] = extra[pick] = True
            changed = True
    return extra


def apply(results: pl.DataFrame, catalog: Catalog, nesting: dict) -> pl.DataFrame:
    results = primary_status(results, catalog)
    extra = complementary(results, equations(results, nesting))
    return results.with_columns(
        status=pl.when(pl.Series(extra)).then(pl.lit("suppressed")).otherwise(pl.col("status")),
        footnote=pl.when(pl.Series(extra)).then(pl.lit(FOOTNOTES["complementary"])).otherwise(pl.col("footnote")),
    )


def public_view(results: pl.DataFrame) -> pl.DataFrame:
    """What anyone may see: hidden values blanked, internal rows and variance sums removed."""
    hidden = pl.col("status") != "ok"
    return (results.filter(pl.col("unit_id") != NO_UNIT)
            .with_columns([pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in PUBLIC_HIDDEN])
            .drop([c for c in ("sxx", "syy", "sxy") if c in results.columns]))


def public_exclusions(exclusions: pl.DataFrame) -> pl.DataFrame:
    """Exclusion counts are published for the whole population only (per-unit counts would add up to it and
    let small ones be subtracted out), and a count of 1-10 is blanked."""
    return (exclusions.filter(pl.col("level") == "all")
            .with_columns(excluded=pl.when(pl.col("excluded").is_between(*SMALL)).then(None)
                          .otherwise(pl.col("excluded"))))
