"""`carescore stars` and `carescore incentives`: plain typer-annotated functions, registered by cli.py.

Both read measures in any layout :func:`carescore.payer.stars.read_measures` accepts (long CSV, carescore
published results, wide CMS CSV), print a short readable summary and write CSV output. A mistake is a
PayerError, which cli.main prints as one sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from ..issues import PayerError
from .incentives import ScenarioResult, compare_scenarios, load_scenario, run_scenario
from .stars import load_method, read_measures, star_ratings


def stars(
    measures: Annotated[Path, typer.Option(help="Measures CSV/Parquet: long, carescore results or wide CMS.")],
    method: Annotated[Path, typer.Option(help="Star method YAML, e.g. methods/cms_overall_star_2024.yaml.")],
    out: Annotated[Path | None, typer.Option(help="Write one row per provider to this CSV.")] = None,
    period: Annotated[str | None, typer.Option(help="Period to rate when the table has several.")] = None,
) -> None:
    """Composite scores and star ratings by a declared method (CMS Overall Star Rating and the like)."""
    spec = load_method(method)
    result = star_ratings(read_measures(measures), spec, period)
    p = result.providers
    rated = p.filter(pl.col("star").is_not_null())
    typer.echo(f"{spec.title}: {rated.height} of {p.height} providers rated")
    dropped = result.measures.filter(~pl.col("used"))
    for row in dropped.iter_rows(named=True):
        typer.echo(f"  measure {row['measure_id']} not used: {row['why_not_used']}")
    for row in rated.group_by("peer_group").agg(pl.len(), *[(pl.col("star") == s).sum().alias(str(s))
                                                            for s in range(1, spec.clustering.stars + 1)]
                                                ).sort("peer_group").iter_rows(named=True):
        counts = "  ".join(f"{s}★ {row[str(s)]}" for s in range(1, spec.clustering.stars + 1))
        typer.echo(f"  peer group {row['peer_group']} ({row['len']}): {counts}")
    for row in p.filter(pl.col("star").is_null()).group_by("not_rated_reason").len().sort("len", descending=True
                                                                                            ).iter_rows():
        typer.echo(f"  not rated, {row[0]}: {row[1]}")
    if out:
        p.write_csv(out)
        typer.echo(f"wrote {out}")


def _summary(name: str, r: ScenarioResult) -> None:
    p = r.providers
    scored = p.filter(pl.col("total_score").is_not_null())
    typer.echo(f"{r.scenario.title or name}: {scored.height} of {p.height} providers scored")
    if r.pool:
        typer.echo(f"  withheld pool ${r.pool:,.2f}, paid back ${p['incentive'].sum():,.2f} "
                   f"(slope {r.slope:.6g} per score point)")
    for lever in ("metric_bonuses", "shared_savings", "bundles"):
        if p[lever].abs().sum() > 0:
            typer.echo(f"  {lever.replace('_', ' ')}: ${p[lever].sum():,.2f}")
    typer.echo(f"  gain: {(p['total_dollars'] > 0).sum()}, lose: {(p['total_dollars'] < 0).sum()}, "
               f"noise-driven results: {p['noise_driven'].sum()}")


def incentives(
    scenario: Annotated[Path, typer.Option(help="Scenario YAML (see scenarios/README.md).")],
    measures: Annotated[Path | None, typer.Option(
        help="Measures CSV/Parquet; defaults to the scenario's measures_file.")] = None,
    compare: Annotated[list[Path] | None, typer.Option(
        help="Other scenario YAMLs to compare side by side with the first.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Write per-provider results (or the comparison) to this CSV.")] = None,
) -> None:
    """Value-based incentives: scores, withhold, budget-neutral exchange, levers and what-if."""
    specs = [load_scenario(s) for s in [scenario, *(compare or [])]]
    source = measures or (Path(scenario).parent / specs[0].measures_file if specs[0].measures_file else None)
    if source is None:
        raise PayerError(f"{scenario}: no measures given (--measures, or measures_file in the scenario)")
    table = read_measures(source)
    results = {s.id: run_scenario(table, s) for s in specs}
    for name, r in results.items():
        _summary(name, r)
    if len(results) > 1:
        side, totals = compare_scenarios(results)
        typer.echo("")
        for row in totals.iter_rows(named=True):
            typer.echo(f"  {row['scenario']}: total ${row['total_dollars']:,.2f}, winners {row['winners']}, "
                       f"losers {row['losers']}")
        if out:
            side.write_csv(out)
            typer.echo(f"wrote {out}")
    elif out:
        next(iter(results.values())).providers.write_csv(out)
        typer.echo(f"wrote {out}")
