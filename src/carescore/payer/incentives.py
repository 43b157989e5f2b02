"""Value-based incentives: HVBP-style scoring and budget-neutral payment, simpler payer levers, what-if.

A scenario is a YAML file (format in ``scenarios/README.md``)::

    id: hvbp_fy2026_like
    title: HVBP-style program
    periods: {baseline: "2019", performance: "2022"}   # period values in the measures table
    measures:
      MORT_30_AMI: {domain: clinical_outcomes, direction: higher_is_better,
                    threshold: baseline_median, benchmark: baseline_top_decile_mean}
      H_COMM_NURSE: {domain: engagement, direction: higher_is_better, threshold: 0.79, benchmark: 0.87,
                     floor: baseline_worst}
    domains:
      clinical_outcomes: {weight: 0.25, min_measures: 2}
      engagement: {weight: 0.25, min_measures: 1, consistency: true}
    min_domains: 3
    payment:
      base_payment: {measure: base_payment}        # or {amount: 1000000}
      withhold: 0.02
      exchange: linear                              # slope solved so incentives equal the withheld pool
    metric_bonuses: [{measure: followup_7d, direction: higher_is_better, target: 0.6, amount: 20000}]
    shared_savings: {benchmark: benchmark_pmpm, actual: cost_pmpm, members: member_months,
                     min_savings_rate: 0.02, sharing_rate: 0.5, cap_rate: 0.1, min_total_score: 30}
    bundles: [{id: hip_knee, spend: episode_spend_hip_knee, episodes: episodes_hip_knee,
               target_price: 25000, discount: 0.03, stop_gain: 0.2, stop_loss: 0.2}]
    noise: {z: 1.96, max_score_swing: 5.0, shrink: false}

Scoring follows CMS Hospital Value-Based Purchasing. Values are turned "higher is better" (lower-is-better
measures are negated), then per measure:

* achievement 0-10: 0 below the threshold, 10 at or above the benchmark, otherwise
  9 x (P - threshold) / (benchmark - threshold) + 0.5, rounded half up to a whole number (so exactly at the
  threshold earns 1, as CMS rounds 0.5 up);
* improvement 0-9: 10 x (P - baseline) / (benchmark - baseline) - 0.5, rounded half up, 0 when P is not
  above the provider's own baseline, 9 at most;
* the measure score is the higher of the two.

A domain score is 100 x points / (10 x measures scored); in a ``consistency`` domain (HCAHPS) the provider
also earns 0-20 consistency points, 20 x (lowest dimension score) - 0.5 rounded, where a dimension score is
(P - floor) / (threshold - floor) clipped to 0..1, and the domain is out of 10 x measures + 20. The total
performance score (TPS) is the weighted mean of the scored domains (weights re-normalized over the domains a
provider has), for providers with at least ``min_domains``.

Payment: ``withhold`` x base payment is withheld from every scored provider; the linear exchange function pays
slope x TPS x base back, with the slope solved so that incentive payments equal the pool. Dollars are kept
in whole cents and the pool is shared by largest remainder, so budget neutrality holds to the cent.

Simpler levers, each paid in whole cents on top of (or instead of) the program above:

* **per-measure bonus**: ``amount`` to a provider at or better than ``target``; with a ``threshold``, a share
  of it in proportion to the distance from the threshold to the target (halfway: half the bonus);
* **shared savings**: the provider keeps ``sharing_rate`` x (benchmark - actual) x member months when its
  savings rate (benchmark - actual) / benchmark reaches ``min_savings_rate`` and its total performance score
  reaches ``min_total_score`` (the quality gate), capped at ``cap_rate`` x benchmark x member months. The
  benchmark can be risk adjusted by indirect standardization (``risk_adjusted_benchmark``): the provider's own
  mix of members priced at reference spending per member month for each group;
* **bundle**: per episode, the target price less ``discount`` minus actual spending, times episodes; gains are
  limited to ``stop_gain`` and losses to ``stop_loss`` x the discounted target x episodes (negative: paid back).

A provider without a value for a lever's measure is not scored on it: it earns nothing and is reported as not
scored, never as zero performance.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .. import yamldoc
from ..issues import Diagnostic, PayerError, did_you_mean
from ..yamldoc import FLAG, NUMBER, SINGLE, TEXT, AnyOf, Field, Keys, ListOf, MapOf, OneOf, number, whole
from .stars import DIRECTIONS, normalize_long

STATISTICS = ("median", "top_decile_mean", "worst", "best")
PERIOD_ROLES = ("baseline", "performance")


@dataclass(frozen=True)
class Reference:
    """A threshold, benchmark or floor: a number, or a statistic of the providers in a period."""
    value: float | None = None
    period: str = "baseline"
    statistic: str = "median"

    @staticmethod
    def parse(text) -> Reference | None:
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return Reference(value=float(text))
        role, _, stat = str(text).partition("_")
        return Reference(period=role, statistic=stat) if role in PERIOD_ROLES and stat in STATISTICS else None


@dataclass(frozen=True)
class ScenarioMeasure:
    id: str
    domain: str
    direction: str
    threshold: Reference
    benchmark: Reference
    floor: Reference
    unit_sd: float | None = None  # per-observation SD for non-proportions, for the noise check


@dataclass(frozen=True)
class Domain:
    id: str
    weight: float
    min_measures: int = 1
    consistency: bool = False


@dataclass(frozen=True)
class Payment:
    base_measure: str | None = None
    base_amount: float | None = None
    withhold: float = 0.0
    slope: float | None = None  # None: solved for budget neutrality


@dataclass(frozen=True)
class MetricBonus:
    measure: str
    direction: str
    target: float
    amount: float
    threshold: float | None = None  # partial credit, linear between threshold and target


@dataclass(frozen=True)
class SharedSavings:
    benchmark: str
    actual: str
    members: str
    min_savings_rate: float = 0.02
    sharing_rate: float = 0.5
    cap_rate: float | None = None
    min_total_score: float | None = None


@dataclass(frozen=True)
class BundledPayment:
    id: str
    spend: str
    episodes: str
    target_price: float
    discount: float = 0.0
    stop_gain: float | None = None
    stop_loss: float | None = None


@dataclass(frozen=True)
class NoiseOptions:
    z: float = 1.96
    max_score_swing: float = 10.0
    shrink: bool = False


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    measures: tuple[ScenarioMeasure, ...]
    domains: tuple[Domain, ...]
    min_domains: int = 1
    baseline_period: str | None = None
    performance_period: str | None = None
    payment: Payment = field(default_factory=Payment)
    metric_bonuses: tuple[MetricBonus, ...] = ()
    shared_savings: SharedSavings | None = None
    bundles: tuple[BundledPayment, ...] = ()
    noise: NoiseOptions = field(default_factory=NoiseOptions)
    measures_file: str | None = None
    source: str = ""


# --------------------------------------------------------------------------------------------------
# Loading


REFERENCES = tuple(f"{p}_{s}" for p in PERIOD_ROLES for s in STATISTICS)
REFERENCE = Field(AnyOf((NUMBER, OneOf(REFERENCES))), code="I004")
NAME = Field(TEXT, True)  # a measure_id of the measures table
SCENARIO = Keys({
    "id": NAME, "title": TEXT, "description": TEXT, "measures_file": TEXT,
    "periods": Keys({role: SINGLE for role in PERIOD_ROLES}),
    "domains": MapOf(Keys({"title": TEXT, "weight": Field(number(low=0), True), "min_measures": whole(1),
                           "consistency": FLAG})),
    "measures": Field(MapOf(Keys({
        "domain": NAME, "direction": Field(OneOf(DIRECTIONS), True), "threshold": REFERENCE, "benchmark": REFERENCE,
        "floor": REFERENCE, "unit_sd": number(above=0), "title": TEXT})), True),
    "min_domains": whole(1),
    "payment": Keys({"base_payment": Keys({"measure": TEXT, "amount": number(low=0)}),
                     "withhold": number(low=0, below=1), "exchange": OneOf(("linear",)), "slope": NUMBER}),
    "metric_bonuses": Field(ListOf(Keys({
        "measure": NAME, "direction": Field(OneOf(DIRECTIONS), True), "target": Field(NUMBER, True),
        "threshold": NUMBER, "amount": Field(NUMBER, True)})),
        words="a list of mappings such as {measure: followup_7d, direction: higher_is_better, target: 0.6, "
              "amount: 20000}"),
    "shared_savings": Keys({"benchmark": NAME, "actual": NAME, "members": NAME, "min_savings_rate": NUMBER,
                            "sharing_rate": NUMBER, "cap_rate": NUMBER, "min_total_score": NUMBER}),
    "bundles": Field(ListOf(Keys({
        "id": NAME, "spend": NAME, "episodes": NAME, "target_price": Field(NUMBER, True), "discount": NUMBER,
        "stop_gain": NUMBER, "stop_loss": NUMBER})),
        words="a list of mappings such as {id: hip_knee, spend: ..., episodes: ..., target_price: 25000}"),
    "noise": Keys({"z": number(above=0), "max_score_swing": NUMBER, "shrink": FLAG}),
})


def _floats(d: dict, *keys: str) -> dict:
    return {k: float(d[k]) for k in keys if k in d}


def load_scenario(path: Path) -> Scenario:
    """Read a scenario YAML; raises PayerError listing every problem with file:line:col."""
    problems: list[Diagnostic] = []
    doc = yamldoc.load(path, SCENARIO, problems, "a scenario")
    if doc is None:
        raise PayerError(problems)
    domains = tuple(Domain(did, float(d["weight"]), d.get("min_measures", 1), d.get("consistency", False))
                    for did, d in doc.get("domains", {}).items())
    domain_ids = [d.id for d in domains]
    measures = []
    for mid, m in doc.get("measures").items():
        if m["domain"] not in domain_ids:
            problems.append(Diagnostic(doc["measures"][mid].value_loc("domain"), "I003", f"measure '{mid}' names "
                                       f"unknown domain '{m['domain']}'" + did_you_mean(m["domain"], domain_ids)))
        ref = {key: Reference.parse(m.get(key, default)) for key, default in (
            ("threshold", "baseline_median"), ("benchmark", "baseline_top_decile_mean"), ("floor", "baseline_worst"))}
        measures.append(ScenarioMeasure(mid, m["domain"], m["direction"], ref["threshold"], ref["benchmark"],
                                        ref["floor"], _floats(m, "unit_sd").get("unit_sd")))
    pay = doc.get("payment", {})
    base = pay.get("base_payment", {})
    payment = Payment(base.get("measure"), _floats(base, "amount").get("amount"), float(pay.get("withhold", 0.0)),
                      _floats(pay, "slope").get("slope"))
    if payment.withhold and payment.base_measure is None and payment.base_amount is None:
        problems.append(Diagnostic(doc["payment"].key_loc("withhold"), "I002", "a withhold needs "
                                   "payment.base_payment ({measure: <id>} or {amount: <dollars>})"))
    if measures and not domains:
        problems.append(Diagnostic(doc.key_loc("measures"), "I002", "scored measures need domains"))
    if problems:
        raise PayerError(problems)
    bonuses = tuple(MetricBonus(b["measure"], b["direction"], **_floats(b, "target", "amount", "threshold"))
                    for b in doc.get("metric_bonuses", []))
    savings = doc.get("shared_savings")
    if savings is not None:
        savings = SharedSavings(savings["benchmark"], savings["actual"], savings["members"], **_floats(
            savings, "min_savings_rate", "sharing_rate", "cap_rate", "min_total_score"))
    bundles = tuple(BundledPayment(b["id"], b["spend"], b["episodes"], **_floats(
        b, "target_price", "discount", "stop_gain", "stop_loss")) for b in doc.get("bundles", []))
    noise = doc.get("noise", {})
    periods = {role: str(p) for role, p in doc.get("periods", {}).items()}
    return Scenario(
        id=doc.get("id"), title=doc.get("title", ""), measures=tuple(measures), domains=domains,
        min_domains=doc.get("min_domains", 1), baseline_period=periods.get("baseline"),
        performance_period=periods.get("performance"), payment=payment, metric_bonuses=bonuses,
        shared_savings=savings, bundles=bundles,
        noise=NoiseOptions(**_floats(noise, "z", "max_score_swing"), shrink=noise.get("shrink", False)),
        measures_file=doc.get("measures_file"), source=str(path))


# --------------------------------------------------------------------------------------------------
# Scoring primitives (numpy, vectorized over providers; values already "higher is better")


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Round to whole numbers with halves going up, as CMS (SAS ROUND) does; the small fuzz keeps
    9 x 0.5 + 0.5 = 5.0 from landing on 4.999... after division."""
    return np.floor(np.asarray(x, float) + 0.5 + 1e-9)


def achievement_points(p, threshold, benchmark) -> np.ndarray:
    p, t, b = np.broadcast_arrays(*(np.asarray(v, float) for v in (p, threshold, benchmark)))
    with np.errstate(invalid="ignore", divide="ignore"):
        between = round_half_up(9 * (p - t) / (b - t) + 0.5)
    pts = np.where(p >= b, 10.0, np.where(p < t, 0.0, between))
    return np.where(np.isnan(p), np.nan, np.clip(pts, 0, 10))


def improvement_points(p, baseline, benchmark) -> np.ndarray:
    p, base, b = np.broadcast_arrays(*(np.asarray(v, float) for v in (p, baseline, benchmark)))
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = round_half_up(10 * (p - base) / (b - base) - 0.5)
    pts = np.where(p <= base, 0.0, np.where(p >= b, 9.0, raw))
    pts = np.where(base >= b, 0.0, pts)  # a provider already at the benchmark can only score on achievement
    return np.where(np.isnan(p) | np.isnan(base), np.nan, np.clip(pts, 0, 9))


def consistency_points(p: np.ndarray, floor, threshold) -> np.ndarray:
    """0-20 from the lowest dimension (columns of ``p``) between floor and threshold; NaN = not reported."""
    p = np.asarray(p, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        dim = np.clip((p - floor) / (np.asarray(threshold, float) - floor), 0, 1)
    lowest = np.nanmin(np.where(np.isnan(p), np.inf, dim), axis=1)
    pts = np.clip(round_half_up(20 * lowest - 0.5), 0, 20)
    return np.where(np.isinf(lowest), np.nan, pts)


def statistic(values: np.ndarray, stat: str) -> float:
    """Provider-level reference statistics on "higher is better" values. The top decile is the best
    ceil(n/10) providers (no percentile interpolation)."""
    v = np.sort(values[~np.isnan(values)])
    if len(v) == 0:
        return math.nan
    return {"median": lambda: float(np.median(v)), "worst": lambda: float(v[0]), "best": lambda: float(v[-1]),
            "top_decile_mean": lambda: float(v[-math.ceil(len(v) / 10):].mean())}[stat]()


def allocate_cents(pool_cents: int, shares: np.ndarray) -> np.ndarray:
    """Split a whole number of cents in proportion to ``shares`` so the parts add up exactly
    (largest remainder; ties to the earlier provider)."""
    shares = np.asarray(shares, float)
    total = shares.sum()
    if pool_cents == 0 or total <= 0:
        return np.zeros(len(shares), np.int64)
    exact = pool_cents * shares / total
    floor = np.floor(exact).astype(np.int64)
    left = int(pool_cents - floor.sum())
    order = np.argsort(-(exact - floor), kind="stable")
    floor[order[:left]] += 1
    return floor


def risk_adjusted_benchmark(exposure: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
    """A spending benchmark per provider by indirect standardization: what its own mix of patients would cost
    at a reference rate for each group (e.g. the network's spending per member month by age group).

    ``exposure``: provider_id, group, exposure (member months in each group); ``rates``: group, rate.
    Returns provider_id, exposure, benchmark = sum(exposure x rate) / sum(exposure), the ``benchmark`` a
    `SharedSavings` reads; null when a group of the provider has no reference rate (never a partial sum)."""
    return (exposure.join(rates, on="group", how="left")
            .group_by("provider_id")
            .agg(pl.col("exposure").sum(),
                 benchmark=pl.when(pl.col("rate").is_null().any()).then(None)
                 .otherwise((pl.col("exposure") * pl.col("rate")).sum() / pl.col("exposure").sum()))
            .sort("provider_id"))


# --------------------------------------------------------------------------------------------------
# Running a scenario


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    providers: pl.DataFrame  # one row per provider: domain scores, TPS, dollars, noise flag
    measures: pl.DataFrame  # one row per provider x measure: values, points, reliability, swing
    references: pl.DataFrame  # one row per measure: threshold, benchmark, floor (original scale)
    slope: float
    pool: float


def _matrix(long: pl.DataFrame, period: str | None, ids: list[str], measures: list[str], column: str = "value"
            ) -> np.ndarray:
    rows = long if period is None else long.filter(pl.col("period") == period)
    rows = rows.filter(pl.col("measure_id").is_in(measures) & pl.col("provider_id").is_in(ids))
    out = np.full((len(ids), len(measures)), np.nan)
    if rows.height:
        pi = {p: i for i, p in enumerate(ids)}
        mi = {m: j for j, m in enumerate(measures)}
        vals = rows[column].cast(pl.Float64).to_numpy()
        out[[pi[p] for p in rows["provider_id"]], [mi[m] for m in rows["measure_id"]]] = vals
    return out


def _standard_errors(perf: np.ndarray, den: np.ndarray, unit_sd: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Sampling SE of each value from its denominator: binomial for proportions, unit_sd / sqrt(n)
    otherwise; NaN when it cannot be known."""
    raw = perf * sign
    filled = np.where(np.isnan(raw), 0.5, raw)
    proportion = (np.min(filled, axis=0, initial=0.5) >= 0) & (np.max(filled, axis=0, initial=0.5) <= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        binom = np.sqrt(raw * (1 - raw) / den)
        other = unit_sd / np.sqrt(den)
    return np.where(proportion, binom, other)


def _shrink(values: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes shrinkage toward the provider mean: reliability = tau^2 / (tau^2 + se^2), with
    tau^2 by the method of moments (floored at 0). Values without a known SE are left as they are."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a measure nobody reports has no mean
        mean = np.nanmean(values, axis=0)
        tau2 = np.maximum(np.nanvar(values, axis=0) - np.nanmean(se ** 2, axis=0), 0)
        rel = tau2 / (tau2 + se ** 2)
    rel = np.where(np.isnan(se), 1.0, rel)
    return np.where(np.isnan(values), np.nan, rel * values + (1 - rel) * mean), rel


def _score(perf, base, refs, scenario: Scenario) -> dict[str, np.ndarray]:
    """Points per measure, domain scores and TPS, all vectorized over providers."""
    at, bm, fl = refs
    ach = achievement_points(perf, at, bm)
    imp = improvement_points(perf, base, bm)
    pts = np.where(np.isnan(imp), ach, np.fmax(ach, imp))
    n_prov = perf.shape[0]
    dom_scores = np.full((n_prov, len(scenario.domains)), np.nan)
    for k, d in enumerate(scenario.domains):
        cols = [j for j, m in enumerate(scenario.measures) if m.domain == d.id]
        if not cols:
            continue
        n = np.sum(~np.isnan(pts[:, cols]), axis=1)
        earned = np.nansum(pts[:, cols], axis=1)
        possible = 10.0 * n
        if d.consistency:
            earned = earned + np.nan_to_num(consistency_points(perf[:, cols], fl[cols], at[cols]))
            possible = possible + 20.0
        with np.errstate(invalid="ignore", divide="ignore"):
            dom_scores[:, k] = np.where(n >= max(d.min_measures, 1), 100.0 * earned / possible, np.nan)
    weights = np.array([d.weight for d in scenario.domains])
    have = ~np.isnan(dom_scores)
    wsum = have @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        tps = np.nansum(np.where(have, dom_scores, 0) * weights, axis=1) / wsum
    eligible = (have.sum(axis=1) >= scenario.min_domains) & (wsum > 0)
    return {"achievement": ach, "improvement": imp, "points": pts, "domains": dom_scores,
            "tps": np.where(eligible, tps, np.nan), "eligible": eligible}


def _one_per_provider(long: pl.DataFrame, measure: str, ids: list[str], period: str | None) -> np.ndarray:
    col = _matrix(long, period, ids, [measure])[:, 0]
    if period is not None and np.all(np.isnan(col)):
        col = _matrix(long, None, ids, [measure])[:, 0]
    return col


def run_scenario(measures: pl.DataFrame, scenario: Scenario) -> ScenarioResult:
    """Score every provider of the performance period and compute its dollars under the scenario."""
    long = normalize_long(measures)
    periods = sorted(long["period"].drop_nulls().unique().to_list())
    perf_period = scenario.performance_period or (periods[-1] if periods else None)
    base_period = scenario.baseline_period
    for role, p in (("performance", scenario.performance_period), ("baseline", base_period)):
        if p is not None and p not in periods:
            raise PayerError(f"{role} period '{p}' is not in the measures table (periods: "
                             f"{', '.join(periods) or 'none'})")
    in_perf = long if perf_period is None else long.filter(pl.col("period") == perf_period)
    mids = [m.id for m in scenario.measures]
    used_ids = set(mids) | {b.measure for b in scenario.metric_bonuses}
    if scenario.shared_savings:
        used_ids |= {scenario.shared_savings.actual, scenario.shared_savings.benchmark}
    used_ids |= {b.spend for b in scenario.bundles}
    ids = sorted(in_perf.filter(pl.col("measure_id").is_in(list(used_ids)))["provider_id"].unique().to_list())
    referenced = used_ids | {b.episodes for b in scenario.bundles} | (
        {scenario.shared_savings.members} if scenario.shared_savings else set()) | (
        {scenario.payment.base_measure} if scenario.payment.base_measure else set())
    # A measure absent for every provider is a typo or a missing extract, never "nobody earned it".
    missing = sorted(referenced - set(long["measure_id"].unique().to_list()))
    if missing:
        raise PayerError(f"scenario measure(s) not in the measures table: {', '.join(missing)}")

    sign = np.array([1.0 if m.direction == "higher_is_better" else -1.0 for m in scenario.measures])
    perf = _matrix(long, perf_period, ids, mids) * sign
    base = _matrix(long, base_period, ids, mids) * sign if base_period else np.full_like(perf, np.nan)
    den = _matrix(long, perf_period, ids, mids, "denominator")
    unit_sd = np.array([m.unit_sd if m.unit_sd is not None else np.nan for m in scenario.measures])
    se = _standard_errors(perf, den, unit_sd, sign)
    perf_raw = perf
    shrunk, reliability = _shrink(perf_raw, se)
    perf = shrunk if scenario.noise.shrink else perf_raw
    if scenario.noise.shrink and base_period:
        base_den = _matrix(long, base_period, ids, mids, "denominator")
        base, _ = _shrink(base, _standard_errors(base, base_den, unit_sd, sign))

    def resolve(r: Reference, j: int) -> float:
        if r.value is not None:
            return r.value * sign[j]
        return statistic((base if r.period == "baseline" else perf)[:, j], r.statistic)

    at, bm, fl = (np.array([resolve(getattr(m, role), j) for j, m in enumerate(scenario.measures)])
                  for role in ("threshold", "benchmark", "floor"))
    refs = (at, bm, fl)
    scored = _score(perf, base, refs, scenario)
    tps, eligible = scored["tps"], scored["eligible"]

    # Payment: withhold and budget-neutral linear exchange, in whole cents.
    pay = scenario.payment
    base_pay = (_one_per_provider(long, pay.base_measure, ids, perf_period) if pay.base_measure
                else np.full(len(ids), pay.base_amount if pay.base_amount is not None else np.nan))
    in_program = eligible & ~np.isnan(base_pay) & (pay.withhold > 0)
    withheld = np.where(in_program, round_half_up(np.nan_to_num(base_pay) * pay.withhold * 100), 0).astype(np.int64)
    pool_cents = int(withheld.sum())
    weight = np.where(in_program, np.nan_to_num(tps) * np.nan_to_num(base_pay), 0.0)
    if pay.slope is not None:
        slope = pay.slope
        incentive = np.where(in_program, round_half_up(slope * weight * 100), 0).astype(np.int64)
    else:
        slope = pool_cents / 100 / weight.sum() if weight.sum() > 0 else 0.0
        incentive = allocate_cents(pool_cents, weight)
    net_vbp = incentive - withheld
    with np.errstate(invalid="ignore"):
        factor = np.where(in_program, 1 + slope * tps - pay.withhold, np.nan)

    # Simpler levers, each in cents.
    bonus_cents = np.zeros(len(ids), np.int64)
    for b in scenario.metric_bonuses:
        v = _one_per_provider(long, b.measure, ids, perf_period) * (1 if b.direction == "higher_is_better" else -1)
        target = b.target * (1 if b.direction == "higher_is_better" else -1)
        if b.threshold is None:
            share = (v >= target).astype(float)
        else:
            lo = b.threshold * (1 if b.direction == "higher_is_better" else -1)
            with np.errstate(invalid="ignore", divide="ignore"):
                share = np.clip((v - lo) / (target - lo), 0, 1)
        bonus_cents += np.where(np.isnan(v), 0, round_half_up(np.nan_to_num(share) * b.amount * 100)).astype(np.int64)

    savings_cents = np.zeros(len(ids), np.int64)
    if (ss := scenario.shared_savings) is not None:
        bench = _one_per_provider(long, ss.benchmark, ids, perf_period)
        actual = _one_per_provider(long, ss.actual, ids, perf_period)
        members = _one_per_provider(long, ss.members, ids, perf_period)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (bench - actual) / bench
        gate = np.ones(len(ids), bool) if ss.min_total_score is None else np.nan_to_num(tps, nan=-1) >= ss.min_total_score
        shared = ss.sharing_rate * (bench - actual) * members
        if ss.cap_rate is not None:
            shared = np.minimum(shared, ss.cap_rate * bench * members)
        ok = (rate >= ss.min_savings_rate) & gate & ~np.isnan(shared)
        savings_cents = np.where(ok, round_half_up(np.nan_to_num(shared) * 100), 0).astype(np.int64)

    bundle_cents = np.zeros(len(ids), np.int64)
    for b in scenario.bundles:
        spend = _one_per_provider(long, b.spend, ids, perf_period)
        episodes = _one_per_provider(long, b.episodes, ids, perf_period)
        target = b.target_price * (1 - b.discount)
        recon = (target - spend) * episodes
        if b.stop_gain is not None:
            recon = np.minimum(recon, b.stop_gain * target * episodes)
        if b.stop_loss is not None:
            recon = np.maximum(recon, -b.stop_loss * target * episodes)
        bundle_cents += np.where(np.isnan(recon), 0, round_half_up(np.nan_to_num(recon) * 100)).astype(np.int64)

    # Noise: move one measure at a time to either end of its interval and see how far the TPS swings.
    swing = np.zeros_like(perf)
    z = scenario.noise.z
    for j in range(len(mids)):
        for direction in (-1, 1):
            moved = perf.copy()
            moved[:, j] = perf[:, j] + direction * z * se[:, j]
            other = _score(moved, base, refs, scenario)["tps"]
            swing[:, j] = np.fmax(swing[:, j], np.abs(np.nan_to_num(other - tps)))
    max_swing = swing.max(axis=1) if len(mids) else np.zeros(len(ids))
    driver = np.array([mids[j] for j in swing.argmax(axis=1)]) if len(mids) else np.full(len(ids), None)

    # Noise-driven: one measure's sampling noise moves the score a lot, or could turn a gain into a loss.
    with np.errstate(invalid="ignore", divide="ignore"):
        break_even = pay.withhold / slope if slope > 0 else np.nan
    flips = in_program & (np.abs(np.nan_to_num(tps) - break_even) < max_swing)
    noise_driven = eligible & ((max_swing > scenario.noise.max_score_swing) | flips)

    reason = np.full(len(ids), None, dtype=object)
    n_domains = (~np.isnan(scored["domains"])).sum(axis=1)
    reason[~eligible] = [f"{n} of {scenario.min_domains} required domains scored" for n in n_domains[~eligible]]
    reason[eligible & np.isnan(base_pay) & (pay.withhold > 0)] = "no base payment"

    providers = pl.DataFrame({
        "provider_id": ids,
        **{f"domain_{d.id}": scored["domains"][:, k] for k, d in enumerate(scenario.domains)},
        "total_score": tps,
        "not_scored_reason": reason.tolist(),
        "base_payment": base_pay,
        "adjustment_factor": factor,
        "withheld": withheld / 100,
        "incentive": incentive / 100,
        "net_value_based": net_vbp / 100,
        "metric_bonuses": bonus_cents / 100,
        "shared_savings": savings_cents / 100,
        "bundles": bundle_cents / 100,
        "total_dollars": (net_vbp + bonus_cents + savings_cents + bundle_cents) / 100,
        "max_score_swing": max_swing,
        "swing_driver": driver.tolist(),
        "noise_driven": noise_driven,
    }, strict=False).with_columns(pl.col("^domain_.*$", "total_score", "base_payment", "adjustment_factor")
                                  .fill_nan(None), pl.col("not_scored_reason", "swing_driver").cast(pl.String))
    has = ~np.isnan(perf_raw)
    pi, mj = np.nonzero(has)
    measure_rows = pl.DataFrame({
        "provider_id": np.array(ids, dtype=object)[pi].tolist() if len(ids) else [],
        "measure_id": np.array(mids, dtype=object)[mj].tolist() if len(mids) else [],
        "performance": (perf_raw * sign)[pi, mj],
        "scored_value": (perf * sign)[pi, mj],
        "baseline": (base * sign)[pi, mj],
        "denominator": den[pi, mj],
        "reliability": reliability[pi, mj],
        "achievement": scored["achievement"][pi, mj],
        "improvement": scored["improvement"][pi, mj],
        "points": scored["points"][pi, mj],
        "score_swing": swing[pi, mj],
    }, strict=False).with_columns(pl.all().exclude("provider_id", "measure_id").fill_nan(None))
    references = pl.DataFrame({"measure_id": mids, "domain": [m.domain for m in scenario.measures],
                               "direction": [m.direction for m in scenario.measures],
                               "threshold": at * sign, "benchmark": bm * sign, "floor": fl * sign},
                              strict=False).with_columns(pl.col("threshold", "benchmark", "floor").fill_nan(None))
    return ScenarioResult(scenario, providers, measure_rows, references, float(slope), pool_cents / 100)


# --------------------------------------------------------------------------------------------------
# What-if


def compare_scenarios(results: dict[str, ScenarioResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Side by side, against the first scenario: per provider the score and dollars under each scenario,
    the change, and whether it wins or loses; and per scenario the totals."""
    names = list(results)
    first = names[0]
    table = None
    for name in names:
        part = results[name].providers.select(
            "provider_id", pl.col("total_score").alias(f"score_{name}"),
            pl.col("total_dollars").alias(f"dollars_{name}"), pl.col("noise_driven").alias(f"noisy_{name}"))
        table = part if table is None else table.join(part, on="provider_id", how="full", coalesce=True)
    deltas = []
    for name in names[1:]:
        deltas += [(pl.col(f"score_{name}") - pl.col(f"score_{first}")).alias(f"score_change_{name}"),
                   (pl.col(f"dollars_{name}").fill_null(0) - pl.col(f"dollars_{first}").fill_null(0))
                   .round(2).alias(f"dollars_change_{name}")]
    table = table.with_columns(deltas).with_columns(
        [pl.when(pl.col(f"dollars_change_{n}") > 0).then(pl.lit("wins"))
         .when(pl.col(f"dollars_change_{n}") < 0).then(pl.lit("loses")).otherwise(pl.lit("same"))
         .alias(f"outcome_{n}") for n in names[1:]]).sort("provider_id")
    totals = pl.DataFrame([{
        "scenario": n, "providers_scored": int(r.providers["total_score"].is_not_null().sum()),
        "withheld_pool": r.pool, "incentives_paid": round(float(r.providers["incentive"].sum()), 2) + 0.0,
        "slope": r.slope, "total_dollars": round(float(r.providers["total_dollars"].sum()), 2) + 0.0,
        "noise_driven": int(r.providers["noise_driven"].sum()),
        "winners": int((table[f"outcome_{n}"] == "wins").sum()) if n != first else 0,
        "losers": int((table[f"outcome_{n}"] == "loses").sum()) if n != first else 0,
    } for n, r in results.items()])
    return table, totals
