"""Composite scores and star ratings from long measure tables.

The method is declared in YAML (see ``methods/cms_overall_star_2024.yaml``) and can express the CMS
Overall Hospital Quality Star Rating (2023+ methodology) exactly:

1. measures reported by at most ``drop_if_reported_by_at_most`` providers are dropped;
2. each measure is standardized across providers, ``(value - mean) / sd`` with the sample sd, and its sign
   flipped when lower is better (no winsorizing);
3. a group score is the mean of a provider's measure z-scores in the group (any number of measures), then
   standardized across the providers that have one;
4. the summary score is the weighted mean of the group scores, weights re-normalized over the groups a
   provider has;
5. a provider is rated when it has ``min_groups`` groups with ``min_measures_per_group`` measures, one of them
   in ``require_one_of``; its peer group is the number of such groups;
6. within each peer group, stars come from one-dimensional k-means run like SAS PROC FASTCLUS: seeds are the
   medians of the summary-score quantile bins (SAS percentile definition 5), run to convergence
   (CONVERGE=0), then a second pass seeded from the first pass's cluster means with STRICT=s (observations
   farther than s from every seed are still given the nearest cluster but do not move its mean); stars are
   the clusters ordered by mean.

Input: a long table ``provider_id, measure_id, value`` (``period`` and ``denominator`` optional);
:func:`read_measures` also reads carescore published results and wide CMS-style CSVs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl

from .. import yamldoc
from ..issues import Diagnostic, PayerError, did_you_mean
from ..yamldoc import FLAG, NULL, TEXT, AnyOf, Field, Keys, ListOf, MapOf, OneOf, number, whole

DIRECTIONS = ("higher_is_better", "lower_is_better")


# --------------------------------------------------------------------------------------------------
# The method


@dataclass(frozen=True)
class StarMeasure:
    id: str
    direction: str


@dataclass(frozen=True)
class MeasureGroup:
    id: str
    title: str
    weight: float
    measures: tuple[StarMeasure, ...]


@dataclass(frozen=True)
class Clustering:
    stars: int = 5
    seeds: str = "quantile_medians"
    max_iter: int = 1000
    strict: float | None = 1.0
    second_pass: bool = True


@dataclass(frozen=True)
class StarMethod:
    id: str
    title: str
    groups: tuple[MeasureGroup, ...]
    drop_if_reported_by_at_most: int = 100
    sd: str = "sample"
    min_measures_per_group: int = 3
    min_groups: int = 3
    require_one_of: tuple[str, ...] = ()
    clustering: Clustering = field(default_factory=Clustering)
    source: str = ""

    @property
    def measures(self) -> dict[str, tuple[MeasureGroup, StarMeasure]]:
        return {m.id: (g, m) for g in self.groups for m in g.measures}


METHOD = Keys({
    "id": Field(TEXT, True), "title": TEXT, "description": TEXT, "source": TEXT,
    "measure_selection": Keys({"drop_if_reported_by_at_most": whole(0)}),
    "standardize": Keys({"sd": OneOf(("sample", "population"))}),
    "groups": Field(MapOf(Keys({
        "title": TEXT, "weight": Field(number(above=0), True),
        "measures": Field(MapOf(OneOf(DIRECTIONS)), True,
                          words="a mapping of measure id to higher_is_better or lower_is_better")})), True),
    "eligibility": Keys({"min_measures_per_group": whole(1), "min_groups": whole(1), "require_one_of": ListOf(TEXT)}),
    "peer_groups": OneOf(("groups_with_min_measures",)),
    "clustering": Keys({"stars": whole(2), "seeds": OneOf(("quantile_medians",)), "max_iter": whole(1),
                        "strict": AnyOf((number(low=0), NULL)), "second_pass": FLAG}),
})


def load_method(path: Path) -> StarMethod:
    """Read a star-rating method YAML; raises PayerError listing every problem with file:line:col."""
    problems: list[Diagnostic] = []
    doc = yamldoc.load(path, METHOD, problems, "a star method")
    if doc is None:
        raise PayerError(problems)
    groups, seen = [], {}
    for gid, g in doc["groups"].items():
        measures = []
        for mid, direction in g.get("measures").items():
            if mid in seen:
                problems.append(Diagnostic(g["measures"].key_loc(mid), "S005", f"measure '{mid}' is already in group "
                                           f"'{seen[mid]}'; a measure belongs to one group"))
            seen[mid] = gid
            measures.append(StarMeasure(mid, direction))
        groups.append(MeasureGroup(gid, g.get("title", gid), float(g.get("weight")), tuple(measures)))
    eligibility = doc.get("eligibility", {})
    for i, gid in enumerate(eligibility.get("require_one_of", ())):
        if gid not in {g.id for g in groups}:
            problems.append(Diagnostic(doc["eligibility"]["require_one_of"].value_loc(i), "S006",
                                       f"require_one_of names unknown group '{gid}'"
                                       + did_you_mean(gid, [g.id for g in groups])))
    if problems:
        raise PayerError(problems)
    c = doc.get("clustering", {})
    clustering = Clustering(stars=c.get("stars", 5), seeds=c.get("seeds", "quantile_medians"),
                            max_iter=c.get("max_iter", 1000),
                            strict=None if c.get("strict", 1.0) is None else float(c.get("strict", 1.0)),
                            second_pass=c.get("second_pass", True))
    return StarMethod(id=doc.get("id"), title=doc.get("title", ""), groups=tuple(groups),
                      drop_if_reported_by_at_most=doc.get("measure_selection", {}).get("drop_if_reported_by_at_most", 0),
                      sd=doc.get("standardize", {}).get("sd", "sample"),
                      min_measures_per_group=eligibility.get("min_measures_per_group", 1),
                      min_groups=eligibility.get("min_groups", 1),
                      require_one_of=tuple(eligibility.get("require_one_of", ())), clustering=clustering,
                      source=str(path))


# --------------------------------------------------------------------------------------------------
# Inputs


def wide_to_long(wide: pl.DataFrame, id_column: str = "PROVIDER_ID", denominator_suffix: str = "_DEN",
                 measures: list[str] | None = None) -> pl.DataFrame:
    """A wide CMS-style table (one row per provider, one column per measure, ``<M>_DEN`` denominators)
    to the long layout. Text such as 'Not Available' becomes a missing value."""
    candidates = measures or [c for c in wide.columns
                              if c != id_column and not c.endswith(denominator_suffix)]
    frames = []
    for m in candidates:
        den = f"{m}{denominator_suffix}"
        frames.append(wide.select(
            pl.col(id_column).cast(pl.String).alias("provider_id"),
            pl.lit(m).alias("measure_id"),
            pl.col(m).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False).alias("value"),
            (pl.col(den).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
             if den in wide.columns else pl.lit(None, pl.Float64)).alias("denominator"),
        ))
    return pl.concat(frames).filter(pl.col("value").is_not_null()).with_columns(pl.lit(None, pl.String)
                                                                                 .alias("period"))


def normalize_long(df: pl.DataFrame) -> pl.DataFrame:
    """Any supported layout to ``provider_id, measure_id, period, value, denominator`` (typed).

    carescore published results (``metric_id, level, unit_id, ...``) keep provider-level rows whose
    status is 'ok'; a table without ``measure_id`` is taken as wide, one column per measure."""
    cols = set(df.columns)
    if {"metric_id", "unit_id", "level"} <= cols:
        keep = pl.col("level") == "provider"
        if "status" in cols:
            keep &= pl.col("status") == "ok"
        if "stratum" in cols:
            # Only the overall value: stratified rows would be counted as extra providers.
            keep &= pl.col("stratum").is_null() | pl.col("stratum").is_in(["all", "overall", ""])
        df = df.filter(keep).rename({"unit_id": "provider_id", "metric_id": "measure_id"})
    elif "measure_id" not in cols:
        id_col = next((c for c in df.columns if c.lower() == "provider_id"), None)
        if id_col is None:
            raise PayerError("a measures table needs columns provider_id, measure_id, value (long), "
                             "metric_id/unit_id/level (carescore results) or PROVIDER_ID (wide)")
        return normalize_long(wide_to_long(df, id_col))
    missing = {"provider_id", "measure_id", "value"} - set(df.columns)
    if missing:
        raise PayerError(f"measures table is missing column(s) {', '.join(sorted(missing))}")
    return df.select(
        pl.col("provider_id").cast(pl.String),
        pl.col("measure_id").cast(pl.String),
        (pl.col("period").cast(pl.String) if "period" in df.columns else pl.lit(None, pl.String)).alias("period"),
        pl.col("value").cast(pl.Float64, strict=False),
        (pl.col("denominator").cast(pl.Float64, strict=False) if "denominator" in df.columns
         else pl.lit(None, pl.Float64)).alias("denominator"),
    ).filter(pl.col("value").is_not_null() & pl.col("value").is_finite())


def read_measures(path: Path) -> pl.DataFrame:
    """Read a CSV or Parquet measures file in any supported layout (see :func:`normalize_long`).
    CSV columns are read as text first so provider ids keep their leading zeros."""
    path = Path(path)
    if not path.is_file():  # polars would say it in a paragraph
        raise PayerError(f"{path}: no such measures file")
    try:
        frame = (pl.read_parquet(path) if path.suffix.lower() == ".parquet"
                 else pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy"))
        return normalize_long(frame)
    except pl.exceptions.PolarsError as err:
        raise PayerError(f"{path}: cannot read the measures table: {' '.join(str(err).split())[:200]}") from None
    except PayerError as err:
        raise PayerError(f"{path}: {err}") from None


# --------------------------------------------------------------------------------------------------
# Clustering like SAS PROC FASTCLUS (one variable)


def sas_percentile(x: np.ndarray, p: Fraction) -> float:
    """Percentile by SAS definition 5 (PROC UNIVARIATE / MEANS default): the mean of the two order
    statistics when n·p is whole, otherwise the next one up. Exact fractions decide 'whole'."""
    x = np.sort(x)
    np_ = len(x) * Fraction(p)
    j = int(np_)
    if np_ == j:
        return float((x[max(j, 1) - 1] + x[min(j, len(x) - 1)]) / 2)
    return float(x[j])


def quantile_median_seeds(x: np.ndarray, k: int) -> np.ndarray:
    """Median of each of k quantile bins, bins closed on the right as in the CMS SAS pack."""
    cuts = np.array([sas_percentile(x, Fraction(i, k)) for i in range(1, k)])
    bins = np.searchsorted(cuts, x, side="left")
    return np.array([sas_percentile(x[bins == b], Fraction(1, 2)) if np.any(bins == b) else np.nan
                     for b in range(k)])


def _nearest(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dist = np.abs(x[:, None] - centers[None, :])
    # argmin takes the first of equal distances: ties go to the lower-numbered cluster, as FASTCLUS does.
    nearest = dist.argmin(axis=1)
    return nearest, dist[np.arange(len(x)), nearest]


def fastclus(x: np.ndarray, seeds: np.ndarray, max_iter: int = 1000, strict: float | None = None
             ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Nearest-centroid sorting from the given seeds until no seed moves (CONVERGE=0).

    The given seeds are used as they are (no seed replacement from the data: that is what reproduces
    CMS's published stars). With ``strict``, observations farther than it from their nearest seed keep
    that cluster but do not count toward its mean. Returns (cluster per observation, cluster means,
    converged). An empty cluster keeps its seed."""
    centers = seeds.astype(float).copy()
    k = len(centers)
    converged = False
    for _ in range(max_iter):
        nearest, dist = _nearest(x, centers)
        counted = np.ones(len(x), bool) if strict is None else dist <= strict
        sums = np.bincount(nearest[counted], weights=x[counted], minlength=k)
        counts = np.bincount(nearest[counted], minlength=k)
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centers)
        if np.array_equal(new, centers):
            converged = True
            break
        centers = new
    nearest, _ = _nearest(x, centers)
    return nearest, centers, converged


def cluster_stars(summary: np.ndarray, clustering: Clustering) -> tuple[np.ndarray, np.ndarray, bool]:
    """Stars 1..k for one peer group: (star per provider, cluster means ordered by star, converged)."""
    seeds = quantile_median_seeds(summary, clustering.stars)
    cluster, means, ok1 = fastclus(summary, seeds, clustering.max_iter)
    ok2 = True
    if clustering.second_pass:
        cluster, means, ok2 = fastclus(summary, means, clustering.max_iter, clustering.strict)
    order = np.argsort(means, kind="stable")
    rank = np.empty(len(means), int)
    rank[order] = np.arange(1, len(means) + 1)
    return rank[cluster], means[order], ok1 and ok2


# --------------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class StarResult:
    method: StarMethod
    providers: pl.DataFrame  # one row per provider: group scores, summary, peer group, star, reason
    measures: pl.DataFrame  # one row per method measure: providers reporting, mean, sd, used
    clusters: pl.DataFrame  # one row per peer group x star: providers, mean, min, max summary score


def _zscore(m: np.ndarray, ddof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise (z, mean, sd) over the non-missing values, like PROC STANDARD MEAN=0 STD=1."""
    n = np.sum(~np.isnan(m), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(m, axis=0) / n
        sd = np.sqrt(np.nansum((m - mean) ** 2, axis=0) / (n - ddof))
        return (m - mean) / sd, mean, sd


def star_ratings(measures: pl.DataFrame, method: StarMethod, period: str | None = None) -> StarResult:
    """Apply a star method to a long measures table (one period: pass ``period`` when there are several)."""
    long = normalize_long(measures)
    if period is not None:
        long = long.filter(pl.col("period") == period)
    elif long["period"].drop_nulls().n_unique() > 1:
        raise PayerError(f"measures cover several periods ({', '.join(sorted(long['period'].drop_nulls().unique()))})"
                         "; choose one with period=")
    known = method.measures
    long = long.filter(pl.col("measure_id").is_in(list(known)))
    dupes = long.group_by("provider_id", "measure_id").len().filter(pl.col("len") > 1)
    if dupes.height:
        row = dupes.row(0, named=True)
        raise PayerError(f"{dupes.height} provider/measure pairs appear more than once, e.g. "
                         f"{row['provider_id']}/{row['measure_id']}")
    all_providers = normalize_long(measures)["provider_id"].unique().sort()
    ids = all_providers.to_list()
    order = [m for g in method.groups for m in (x.id for x in g.measures)]
    pos_p = {p: i for i, p in enumerate(ids)}
    pos_m = {m: j for j, m in enumerate(order)}
    values = np.full((len(ids), len(order)), np.nan)
    values[[pos_p[p] for p in long["provider_id"]], [pos_m[m] for m in long["measure_id"]]] = \
        long["value"].to_numpy()

    reported = np.sum(~np.isnan(values), axis=0)
    ddof = 1 if method.sd == "sample" else 0
    z, mean, sd = _zscore(values, ddof)
    sd_zero = ~(sd > 0)
    used = (reported > method.drop_if_reported_by_at_most) & ~sd_zero
    sign = np.array([1.0 if known[m][1].direction == "higher_is_better" else -1.0 for m in order])
    z = np.where(used, z * sign, np.nan)

    has_any = np.any(~np.isnan(z), axis=1)
    scores, counts = {}, {}
    for g in method.groups:
        cols = [pos_m[m.id] for m in g.measures]
        zg = z[:, cols]
        n = np.sum(~np.isnan(zg), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            avg = np.where(n > 0, np.nansum(zg, axis=1) / n, np.nan)
        scores[g.id] = _zscore(avg[:, None], ddof)[0][:, 0]
        counts[g.id] = n

    score_m = np.column_stack([scores[g.id] for g in method.groups])
    weights = np.array([g.weight for g in method.groups])
    present = ~np.isnan(score_m)
    wsum = present @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        summary = np.where(wsum > 0, np.nansum(np.where(present, score_m, 0.0) * weights, axis=1) / wsum, np.nan)

    full_groups = np.column_stack([counts[g.id] >= method.min_measures_per_group for g in method.groups])
    n_full = full_groups.sum(axis=1)
    gidx = [i for i, g in enumerate(method.groups) if g.id in method.require_one_of]
    has_required = full_groups[:, gidx].any(axis=1) if gidx else np.ones(len(ids), bool)
    rated = has_any & (n_full >= method.min_groups) & has_required

    reason = np.full(len(ids), None, dtype=object)
    reason[rated] = None
    reason[~has_required] = (f"no {' or '.join(method.require_one_of)} group with at least "
                             f"{method.min_measures_per_group} measures")
    reason[n_full < method.min_groups] = (f"fewer than {method.min_groups} groups with at least "
                                          f"{method.min_measures_per_group} measures")
    reason[~has_any] = "no measures used by the method"

    star = np.zeros(len(ids), int)
    cluster_rows = []
    for peer in np.unique(n_full[rated]):
        members = np.flatnonzero(rated & (n_full == peer))
        if len(members) < method.clustering.stars:
            reason[members] = f"peer group of {peer} groups has too few providers to cluster"
            rated[members] = False
            continue
        s, means, converged = cluster_stars(summary[members], method.clustering)
        star[members] = s
        for k in range(1, method.clustering.stars + 1):
            x = summary[members][s == k]
            cluster_rows.append({"peer_group": int(peer), "star": k, "providers": len(x),
                                 "cluster_mean": float(means[k - 1]),
                                 "min_summary": float(x.min()) if len(x) else None,
                                 "max_summary": float(x.max()) if len(x) else None,
                                 "converged": converged})

    providers = pl.DataFrame({
        "provider_id": ids,
        **{f"score_{g.id}": scores[g.id] for g in method.groups},
        **{f"measures_{g.id}": counts[g.id] for g in method.groups},
        "summary_score": summary,
        "groups_with_min_measures": n_full,
        "peer_group": np.where(rated, n_full, 0),
        "star": star,
        "not_rated_reason": reason.tolist(),
    }, strict=False).with_columns(
        pl.col("^score_.*$", "summary_score").fill_nan(None),
        pl.when(pl.col("star") > 0).then(pl.col("peer_group")).cast(pl.Int8).alias("peer_group"),
        pl.when(pl.col("star") > 0).then(pl.col("star")).cast(pl.Int8).alias("star"),
        pl.col("not_rated_reason").cast(pl.String),
    )
    measure_table = pl.DataFrame({
        "measure_id": order,
        "group": [known[m][0].id for m in order],
        "direction": [known[m][1].direction for m in order],
        "providers": reported,
        "mean": mean,
        "sd": sd,
        "used": used,
        "why_not_used": [None if u else ("zero spread" if zs and r > method.drop_if_reported_by_at_most
                                          else f"reported by {r} providers (needs more than "
                                               f"{method.drop_if_reported_by_at_most})")
                         for u, zs, r in zip(used, sd_zero, reported)],
    }, strict=False).with_columns(pl.col("mean", "sd").fill_nan(None))
    clusters = pl.DataFrame(cluster_rows, schema={"peer_group": pl.Int8, "star": pl.Int8, "providers": pl.Int64,
                                                  "cluster_mean": pl.Float64, "min_summary": pl.Float64,
                                                  "max_summary": pl.Float64, "converged": pl.Boolean})
    return StarResult(method, providers, measure_table, clusters)
