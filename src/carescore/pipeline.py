"""load → compute → statistics → suppression → bundle. Each step is its own module; this only wires them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from . import __version__, engine, stats, store, suppress
from .compile import compile_fact
from .load import Extracts, load_extracts
from .loader import load_catalog
from .spec import Catalog, Metric

REPO = Path(__file__).resolve().parents[2]
DEFAULT_METRICS = REPO / "metrics"

RESULT_COLUMNS = ["run_id", "metric_id", "metric_version", "level", "unit_id", "stratum", "stratum_value", "period",
                  "numerator", "denominator", "cases", "value", "ci_low", "ci_high", "expected", "reference_value",
                  "comparison", "status", "footnote", "sxx", "syy", "sxy"]


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
        units = fact.unit_columns
        for child, parent in fact.parents:
            pairs = con.sql(f'SELECT DISTINCT "{units[child]}", "{units[parent]}" FROM {fact.view} '
                            f'WHERE "{units[child]}" IS NOT NULL').fetchall()
            mapping = dict(pairs)
            if len(mapping) != len(pairs):
                continue  # a child in two parents does not nest; no sum to protect
            for m in catalog.metrics_for(fact.id):
                if child in m.levels and parent in m.levels:
                    out.setdefault(m.id, {})[(child, parent)] = mapping
    return out


def not_applicable(metrics: list[Metric], missing: set[str], catalog: Catalog, periods: list[str]) -> pl.DataFrame:
    rows = []
    for m in metrics:
        lacking = sorted(set(catalog.facts[m.fact].requires) & missing)
        for period in periods:
            rows.append({"metric_id": m.id, "period": period, "level": "all", "unit_id": "ALL", "stratum": "all",
                         "stratum_value": "all", "status": "not_applicable",
                         "footnote": suppress.FOOTNOTES["not_applicable"].format(tables=", ".join(lacking))})
    return pl.DataFrame(rows)


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
          catalog: Catalog | None = None, threads: int | None = None) -> store.Bundle:
    clock = [time.perf_counter()]
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        clock.append(time.perf_counter())
        timings[name] = round(clock[-1] - clock[-2], 3)

    catalog = catalog or load_catalog(metrics_dir)
    extracts = extracts or load_extracts(data_dir)
    lap("load")
    missing = set(extracts.missing)
    con = engine.connect(extracts, catalog, threads=threads)
    runnable = [m.id for m in catalog.metrics.values() if not set(catalog.facts[m.fact].requires) & missing]
    raw, exclusions, fact_sql = engine.compute(con, catalog, runnable)
    # DuckDB returns groups in any order; suppression breaks ties by order, so fix it for reproducibility.
    raw = raw.sort("metric_id", "period", "level", "unit_id", "stratum", "stratum_value")
    lap("compute")
    results = stats.add_statistics(raw, catalog)
    lap("statistics")
    results = suppress.apply(results, catalog, nesting(con, catalog))
    lap("suppression")
    periods = sorted(results["period"].unique().to_list()) if results.height else []
    na = [m for m in catalog.metrics.values() if m.id not in runnable]
    if na:
        results = pl.concat([results, not_applicable(na, missing, catalog, periods or ["all"])], how="diagonal_relaxed")
    manifest = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "metrics": {m.id: {"version": m.version, "sha256": m.source_hash, "path": m.loc.path, "fact": m.fact}
                    for m in catalog.metrics.values()},
        "facts": {f.id: {"sha256": f.source_hash, "path": f.loc.path} for f in catalog.facts.values()},
        "data_cut": {"folder": str(data_dir), "missing_tables": sorted(missing),
                     "files": [asdict(s) for s in extracts.sources]},
        "periods": periods,
        "timings_seconds": timings,
    }
    digest = hashlib.sha256(json.dumps({k: v for k, v in manifest.items() if k != "created_at"},
                                       sort_keys=True, default=str).encode()).hexdigest()[:8]
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + digest
    manifest["run_id"] = run_id
    versions = {m.id: m.version for m in catalog.metrics.values()}
    results = (results.with_columns(run_id=pl.lit(run_id),
                                    metric_version=pl.col("metric_id").replace_strict(versions, return_dtype=pl.Int64))
               .select([c for c in RESULT_COLUMNS if c in results.columns or c in ("run_id", "metric_version")])
               .sort("metric_id", "period", "level", "unit_id", "stratum", "stratum_value"))
    metric_sql = {m.id: compile_fact(catalog.facts[m.fact], [m]) for m in catalog.metrics.values()}
    return store.Bundle(
        run_id=run_id, manifest=manifest, results=results, public=suppress.public_view(results),
        exclusions=exclusions.with_columns(run_id=pl.lit(run_id)), units=units_frame(extracts),
        catalog={"metrics": {m.id: metric_entry(m, catalog, metric_sql[m.id]) for m in catalog.metrics.values()},
                 "facts": {f.id: {"description": f.description, "grain": f.grain, "sql": f.sql}
                           for f in catalog.facts.values()}},
        sql=fact_sql,
    )


def run(data_dir: Path, metrics_dir: Path = DEFAULT_METRICS, root: Path | None = None) -> store.Bundle:
    bundle = build(Path(data_dir), Path(metrics_dir))
    store.publish(bundle, root)
    return bundle
