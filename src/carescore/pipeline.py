"""load → compute → statistics → suppression → bundle. Each step is its own module; this only wires them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import polars as pl

from . import __version__
from .compute import engine, stats, suppress
from .compute.compile import compile_fact
from .define.contracts import load_contracts
from .define.loader import load_catalog
from .define.spec import Catalog, Metric
from .extracts.canonical import Extracts, load_extracts
from .issues import Diagnostic, Loc, QualityError
from .publish import store

REPO = Path(__file__).resolve().parents[2]
DEFAULT_METRICS = REPO / "metrics"

RESULT_COLUMNS = ["run_id", "metric_id", "metric_version", "level", "unit_id", "stratum", "stratum_value", "period",
                  "numerator", "denominator", "cases", "value", "ci_low", "ci_high", "expected", "reference_value",
                  "comparison", "status", "footnote", "hidden_by", "sxx", "syy", "sxy"]


def code_version() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def nesting(con, catalog: Catalog) -> dict[str, dict[tuple[str, str], dict[str, str]]]:
    """Per metric: child unit → parent unit, where the fact says the child level nests in the parent."""
    out: dict[str, dict] = {}
    for fact in catalog.facts.values():
        for child, parent in fact.parents:
            pairs = engine.unit_pairs(con, fact, child, parent)
            mapping = dict(pairs)
            if len(mapping) != len(pairs):
                continue  # a child in two parents does not nest; no sum to protect
            for m in catalog.metrics_for(fact.id):
                if child in m.levels and parent in m.levels:
                    out.setdefault(m.id, {})[(child, parent)] = mapping
    return out


def not_applicable(metrics: list[Metric], missing: set[str], catalog: Catalog, periods: list[str],
                   status: str = "not_applicable", reasons: dict[str, str] | None = None) -> pl.DataFrame:
    """One 'all' row per period for metrics that cannot be computed: their data is missing from the cut
    (not_applicable) or could not be read (data_quality_hold, with the validation reason)."""
    rows = []
    for m in metrics:
        lacking = ", ".join(sorted(set(catalog.facts[m.fact].requires) & missing))
        footnote = (suppress.FOOTNOTES[status].format(tables=lacking) if status == "not_applicable"
                    else suppress.FOOTNOTES[status].format(reason=(reasons or {}).get(m.id, lacking)))
        for period in periods:
            rows.append({"metric_id": m.id, "period": period, "level": "all", "unit_id": "ALL", "stratum": "all",
                         "stratum_value": "all", "status": status, "footnote": footnote})
    return pl.DataFrame(rows)


def next_baseline(profile: pl.DataFrame, baseline: pl.DataFrame | None, failed_tables: set[str]) -> pl.DataFrame:
    """Volume baseline for the next cut: this cut's counts, except tables that failed a blocking check keep
    the counts of the last accepted cut."""
    if baseline is None or not baseline.height:
        return profile.filter(~pl.col("table").is_in(sorted(failed_tables)))
    return pl.concat([profile.filter(~pl.col("table").is_in(sorted(failed_tables))),
                      baseline.filter(pl.col("table").is_in(sorted(failed_tables)))])


def metric_entry(m: Metric, catalog: Catalog, sql: str) -> dict:
    entry = asdict(m)
    entry["source"] = Path(m.loc.path).read_text() if Path(m.loc.path).exists() else ""
    entry["path"] = m.loc.path
    entry["sql"] = sql
    entry["fact_description"] = catalog.facts[m.fact].description
    return entry


def units_frame(extracts: Extracts) -> pl.DataFrame:
    providers = extracts.tables["providers"]
    networks = extracts.tables["networks"]
    prov = providers.select(pl.col("provider_id").alias("unit_id"), "name", "provider_type", "network_id", "town",
                            "zip", "rurality")
    nets = networks.select(pl.col("network_id").alias("unit_id"), "name", pl.lit("network").alias("provider_type"),
                           "network_id", pl.lit(None, pl.Utf8).alias("town"), pl.lit(None, pl.Utf8).alias("zip"),
                           pl.lit(None, pl.Utf8).alias("rurality"))
    return pl.concat([prov, nets])


def build(data_dir: Path, metrics_dir: Path = DEFAULT_METRICS, extracts: Extracts | None = None,
          catalog: Catalog | None = None, threads: int | None = None, as_of: date | None = None,
          baseline: pl.DataFrame | None = None, audit_limit: int | None = None) -> store.Bundle:
    """`as_of` is the day future dates are judged against (today); `baseline` the volume profile of the last
    accepted cut (store.volume_baseline(root)), which volume checks compare with; `audit_limit` caps the
    groups of hidden cells the small-number audit solves together (None or 0: every group, the default)."""
    from .dq import validate

    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        timings[name] = round(clock[-1] - clock[-2], 3)

    catalog = catalog or load_catalog(metrics_dir)
    contracts = load_contracts()
    extracts = extracts or load_extracts(data_dir, contracts, strict=False)
    lap("load")
    as_of = as_of or date.today()
    report = validate.run(extracts, contracts, as_of, baseline, rejected=extracts.rejected, warnings=extracts.warnings)
    hold_list = validate.holds(report, catalog, contracts)
    missing, rejected = set(extracts.missing), set(extracts.rejected)
    network_held = {h.metric_id: h.reason for h in hold_list if not h.providers}
    na_ids = {m.id for m in catalog.metrics.values() if set(catalog.facts[m.fact].requires) & missing}
    if validate.holds_everything(hold_list, catalog, missing):
        raise QualityError([*report.diagnostics(), Diagnostic(Loc(str(data_dir)), "Q100", (
            "every metric would be on data-quality hold: this run is not published and the previous "
            "publication stays live"))])
    lap("validate")
    con = engine.connect(validate.finite_only(extracts), catalog, threads=threads)
    runnable = [m.id for m in catalog.metrics.values()
                if not set(catalog.facts[m.fact].requires) & (missing | rejected)]
    raw, exclusions, fact_sql = engine.compute(con, catalog, runnable)
    # DuckDB returns groups in any order; suppression breaks ties by order, so fix it for reproducibility.
    raw = raw.sort("metric_id", "period", "level", "unit_id", "stratum", "stratum_value")
    lap("compute")
    results = stats.add_statistics(raw, catalog)
    lap("statistics")
    units = units_frame(extracts)
    held = partial(validate.apply_holds, hold_list=hold_list, units=units,
                   footnote=suppress.FOOTNOTES["data_quality_hold"])
    audit, results = suppress.apply(results, catalog, nesting(con, catalog), hold=held, audit_limit=audit_limit)
    lap("suppression")
    periods = sorted(results["period"].unique().to_list()) if results.height else []
    na = [m for m in catalog.metrics.values() if m.id in na_ids]
    if na:
        results = pl.concat([results, not_applicable(na, missing, catalog, periods or ["all"])], how="diagonal_relaxed")
    # a held metric with nothing computed (its table unreadable or emptied) still says why it is missing
    computed = set(results["metric_id"].unique()) if results.height else set()
    held_empty = [m for m in catalog.metrics.values() if m.id in network_held and m.id not in computed | na_ids]
    if held_empty:
        results = pl.concat([results, not_applicable(held_empty, rejected, catalog, periods or ["all"],
                                                     "data_quality_hold", network_held)], how="diagonal_relaxed")
    manifest = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "metrics": {m.id: {"version": m.version, "sha256": m.source_hash, "path": m.loc.path, "fact": m.fact}
                    for m in catalog.metrics.values()},
        "facts": {f.id: {"sha256": f.source_hash, "path": f.loc.path} for f in catalog.facts.values()},
        "data_cut": {"folder": str(data_dir), "missing_tables": sorted(missing),
                     "files": [asdict(s) for s in extracts.sources]},
        "periods": periods,
        "timings_seconds": timings,
        "suppression_audit": audit,
        "data_quality": {"as_of": as_of.isoformat(), "checks": len(report.outcomes),
                         "blocking_failures": len(report.blocking),
                         "warnings": sum(not o.success and not o.blocking for o in report.outcomes),
                         "holds": [asdict(h) for h in hold_list]},
    }
    digest = hashlib.sha256(json.dumps({k: v for k, v in manifest.items() if k != "created_at"},
                                       sort_keys=True, default=str).encode()).hexdigest()[:8]
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + digest
    manifest["run_id"] = run_id
    versions = {m.id: m.version for m in catalog.metrics.values()}
    results = (results.with_columns(run_id=pl.lit(run_id),
                                    metric_version=pl.col("metric_id").replace_strict(versions, return_dtype=pl.Int64))
               .select([c for c in RESULT_COLUMNS if c in results.columns or c in ("run_id", "metric_version")])
               .sort("metric_id", "period", "level", "unit_id", "stratum", "stratum_value"))
    metric_sql = {m.id: compile_fact(catalog.facts[m.fact], [m]) for m in catalog.metrics.values()}
    return store.Bundle(
        run_id=run_id, manifest=manifest, results=results, public=suppress.public_view(results),
        exclusions=suppress.public_exclusions(exclusions).with_columns(run_id=pl.lit(run_id)), units=units,
        catalog={"metrics": {m.id: metric_entry(m, catalog, metric_sql[m.id]) for m in catalog.metrics.values()},
                 "facts": {f.id: {"description": f.description, "grain": f.grain, "sql": f.sql}
                           for f in catalog.facts.values()}},
        sql=fact_sql,
        extra={"dq": report.frame(),
               "dq_volume": next_baseline(validate.volume_profile(extracts, contracts), baseline,
                                          {o.rule.table for o in report.blocking})},
        files={"dq_report.html": validate.html_report(report, f"Data quality — run {run_id}")},
    )

