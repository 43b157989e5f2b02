"""carescore command line: each command is one sentence of output on error, exit 1.

A user's mistake or a failing environment (a located CarescoreError, no publication yet, a file that cannot be
read or written, a full disk) is that sentence; anything else is a bug, reported as `internal error: ...`
with exit status 70 (EX_SOFTWARE); `--debug` anywhere on the command line shows its traceback instead."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from .issues import CarescoreError, DefinitionError, ExtractError, PublishError, QualityError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="carescore: public-grade performance measures for integrated care networks. "
                       "Add --debug to any command to see the traceback of an internal error.")
INTERNAL_ERROR = 70

METRICS = typer.Option(Path("metrics"), "--metrics", help="Folder of metric definitions.")
STORE = typer.Option(None, "--store", help="Publication folder (default data/published or $CARESCORE_STORE).")


def _report(err: Exception) -> None:
    typer.echo(_sentence(err), err=True)
    if isinstance(err, CarescoreError) and err.diagnostics:
        errors = sum(d.severity == "error" for d in err.diagnostics)
        typer.echo(f"{errors} error(s)", err=True)


def _sentence(err: Exception) -> str:
    if isinstance(err, OSError) and err.filename and err.strerror:  # open(), mkdir(): name the file
        return f"{err.filename}: {err.strerror[:1].lower() + err.strerror[1:]}"
    return str(err).strip() or type(err).__name__


def _user_error(err: Exception) -> bool:
    return isinstance(err, (CarescoreError, OSError))


def _catalog(metrics: Path):
    from .define.loader import load_catalog
    from .issues import Diagnostic, Loc

    if not metrics.is_dir():  # the loader would find no definitions in it and call that a valid catalog
        raise DefinitionError([Diagnostic(Loc(str(metrics)), "M000", "metrics folder does not exist")])
    return load_catalog(metrics)


@app.command()
def demo(out: Path = typer.Option(Path("data/demo"), help="Folder to write the extracts to."),
         patients: int = typer.Option(50_000, help="Number of synthetic patients."),
         seed: int = typer.Option(7, help="Random seed; the same seed gives the same data."),
         format: str = typer.Option("parquet", help="parquet or csv.")):
    """Generate a seeded synthetic network (no real patients)."""
    from .extracts.demo import write_demo

    start = time.perf_counter()
    paths = write_demo(out, patients=patients, seed=seed, fmt=format)
    typer.echo(f"wrote {len(paths)} tables to {out} in {time.perf_counter() - start:.1f}s")


@app.command()
def check(metrics: Path = typer.Argument(Path("metrics"), help="Folder of metric definitions.")):
    """Load and check every definition; print every problem as path:line:col: error[CODE] message."""
    catalog = _catalog(metrics)
    typer.echo(f"ok: {len(catalog.metrics)} metrics over {len(catalog.facts)} facts")


@app.command()
def sql(metric_id: str = typer.Argument(..., help="Metric id, or a fact id with --fused."),
        metrics: Path = METRICS,
        fused: bool = typer.Option(False, help="Print the fused query of every metric over the fact.")):
    """Print the compiled, readable DuckDB SQL of a metric."""
    from .compute.compile import compile_fact
    from .issues import did_you_mean

    catalog = _catalog(metrics)
    if fused:
        if metric_id not in catalog.facts:
            raise DefinitionError(f"unknown fact '{metric_id}'" + did_you_mean(metric_id, catalog.facts))
        typer.echo(compile_fact(catalog.facts[metric_id], catalog.metrics_for(metric_id)))
        return
    if metric_id not in catalog.metrics:
        raise DefinitionError(f"unknown metric '{metric_id}'" + did_you_mean(metric_id, catalog.metrics))
    m = catalog.metrics[metric_id]
    typer.echo(compile_fact(catalog.facts[m.fact], [m]))


DATA_FORMAT = typer.Option("canonical", "--format",
                           help="canonical (one file per table) or synthea (an unmodified Synthea CSV export).")
AS_OF = typer.Option(None, "--as-of", help="Day that future dates are judged against, YYYY-MM-DD (default today).")


def _extracts(data: Path, format: str):
    from .extracts.canonical import load_extracts

    if format == "synthea":
        from .extracts.synthea import load_synthea

        return load_synthea(data)
    if format != "canonical":
        raise ExtractError(f"unknown format '{format}'; use canonical or synthea")
    return load_extracts(data, strict=False)


def _as_of(text: str | None):
    from datetime import date

    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise QualityError(f"--as-of {text!r} is not a date like 2025-12-31") from None


@app.command()
def run(data: Path = typer.Option(Path("data/demo"), help="Folder of extracts (one file per table)."),
        metrics: Path = METRICS, store: Path | None = STORE, format: str = DATA_FORMAT,
        as_of: str | None = AS_OF,
        audit_limit: int | None = typer.Option(None, "--audit-limit", help=(
            "Largest group of hidden cells the small-number audit solves together; larger groups are protected "
            "sum by sum only (default: every group is solved, about 2 s for a group of 20,000)."))):
    """Load → validate → compute → publish a new run (not published if data quality would hold everything)."""
    from .publish import store as store_mod

    start = time.perf_counter()
    try:
        previous = store_mod.current_run_id(store)
    except store_mod.NoPublishedRun:
        previous = None
    extracts = _extracts(data, format)
    from . import pipeline  # after the extracts: a wrong --data is said at once, not after importing GX

    bundle = pipeline.build(data, metrics, extracts=extracts, catalog=_catalog(metrics), as_of=_as_of(as_of),
                            baseline=store_mod.volume_baseline(store), audit_limit=audit_limit)
    store_mod.publish(bundle, store)
    res = bundle.results
    counts = dict(res.group_by("status").len().iter_rows())
    typer.echo(f"published run {bundle.run_id} in {time.perf_counter() - start:.1f}s: "
               f"{res['metric_id'].n_unique()} metrics, {res.height} results "
               f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    if previous is not None:
        from .publish.diff import compare

        change = compare(store, previous, bundle.run_id)[0]
        typer.echo(f"versus the previous run {previous}: {change['status']:,} result(s) changed status, "
                   f"{change['moved']:,} moved outside the earlier interval, {change['added']:,} added, "
                   f"{change['removed']:,} removed (`carescore diff` for the detail)")
        if change["small_changes"]:
            typer.echo(f"warning: {change['small_changes']:,} published result(s) changed by 1 to 10 people or events "
                       "since the previous run; a reader comparing the two releases learns about those few "
                       "(`carescore diff` lists them)")
    audit = bundle.manifest.get("suppression_audit", {})
    if audit.get("groups_too_large_to_audit"):
        typer.echo(f"small-number audit: {audit['groups_too_large_to_audit']} of {audit['groups']} metric-period groups "
                   "were protected sum by sum only (larger than --audit-limit)")
    ranges = audit.get("ranges", {})
    if ranges.get("narrow_left"):
        typer.echo(f"warning: {ranges['narrow_left']} hidden small count(s) keep a range narrower than 1 to 11 "
                   "and no published cell is left beside them to hide")
    dq = bundle.manifest.get("data_quality", {})
    if dq.get("blocking_failures") or dq.get("warnings"):
        typer.echo(f"data quality: {dq['blocking_failures']} blocking failure(s), {dq['warnings']} warning(s), "
                   f"{len(dq['holds'])} hold(s); see {store_mod.run_dir(store, bundle.run_id) / 'dq_report.html'}")


@app.command()
def validate(data: Path = typer.Option(Path("data/demo"), help="Folder of extracts (one file per table)."),
             format: str = DATA_FORMAT, as_of: str | None = AS_OF, store: Path | None = STORE,
             report: Path = typer.Option(Path("build/dq_report.html"), help="Write the HTML report here.")):
    """Check the extracts against their contracts (Great Expectations on DuckDB); exit 1 on a blocking failure."""
    from .define.contracts import load_contracts
    from .publish import store as store_mod

    start = time.perf_counter()
    day, extracts = _as_of(as_of), _extracts(data, format)
    from .dq import validate as dq  # after the arguments are checked: importing GX takes seconds

    result = dq.run(extracts, load_contracts(), day, store_mod.volume_baseline(store), rejected=extracts.rejected,
                    warnings=extracts.warnings)
    typer.echo(f"{'table':<28}{'rows':>10}{'checks':>8}{'blocking':>10}{'warnings':>10}")
    for table, rows, checks, blocking, warnings in result.summary().iter_rows():
        typer.echo(f"{table:<28}{'' if rows is None else rows:>10}{checks:>8}{blocking:>10}{warnings:>10}")
    for d in result.diagnostics():
        typer.echo(str(d))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(dq.html_report(result))
    typer.echo(f"{len(result.outcomes)} checks in {time.perf_counter() - start:.1f}s: {len(result.blocking)} blocking, "
               f"{len(result.failures) - len(result.blocking)} warning(s); report {report}")
    if result.blocking:
        raise typer.Exit(1)


@app.command()
def results(metric: str | None = typer.Option(None, help="Only this metric id."),
            level: str | None = typer.Option(None, help="provider, practice, network or all."),
            format: str = typer.Option("csv", help="csv, parquet or json."),
            out: Path | None = typer.Option(None, help="Write to this file instead of standard output."),
            store: Path | None = STORE):
    """The published (public, suppressed) long table."""
    from .publish import store as store_mod

    frame = store_mod.read_public(store, metric_id=metric, level=level)
    if format == "parquet":
        if out is None:
            raise PublishError("--format parquet needs --out FILE")
        frame.write_parquet(out)
    elif format == "json":
        text = frame.write_json()
        out.write_text(text) if out else typer.echo(text)
    elif format == "csv":
        from .publish.exports import safe_csv

        text = safe_csv(frame)
        out.write_text(text) if out else sys.stdout.write(text)
    else:
        raise PublishError(f"unknown format '{format}'; use csv, parquet or json")


@app.command()
def explain(metric: str = typer.Argument(..., help="Metric id."),
            unit: str = typer.Option("ALL", help="Unit id (ALL: the whole population)."),
            period: str | None = typer.Option(None, help="Period (default: the latest)."),
            stratum: str = typer.Option("all", help="Patient grouping, e.g. dual_eligible (default: everyone)."),
            value: str = typer.Option("all", "--value", help="The group within --stratum, e.g. true."),
            store: Path | None = STORE):
    """Where one published number comes from: definition, run, data cut, SQL, value and status."""
    from .publish.explain import explain as explain_text

    typer.echo(explain_text(metric, unit, period, stratum, value, store), nl=False)


@app.command()
def diff(old: str | None = typer.Option(None, "--from", help="Earlier run id (default: the run before --to)."),
         new: str | None = typer.Option(None, "--to", help="Later run id (default: the live run)."),
         out: Path | None = typer.Option(None, help="Write every changed result to this CSV file."),
         store: Path | None = STORE):
    """What changed between two published runs: definitions, results added or removed, status, values that
    moved outside the earlier interval."""
    from .publish import store as store_mod
    from .publish.diff import compare, report
    from .publish.exports import safe_csv

    runs = store_mod.list_runs(store)
    new = new or store_mod.current_run_id(store)
    for run in (new, old):
        if run is not None and run not in runs:
            raise PublishError(f"no run '{run}' in {store_mod.root_dir(store)}")
    earlier = [r for r in runs if r < new]
    if old is None and not earlier:
        raise PublishError(f"run {new} is the first published run: there is nothing to compare it with")
    summary, changes = compare(store, old or earlier[-1], new)
    typer.echo(report(summary, changes), nl=False)
    if out is not None:
        out.write_text(safe_csv(changes))
        typer.echo(f"{changes.height:,} changed results written to {out}")


def _register_payer_commands() -> None:
    from .payer import cli as payer_cli

    app.command("stars")(payer_cli.stars)
    app.command("incentives")(payer_cli.incentives)


_register_payer_commands()


def _usage(err: typer.TyperException) -> None:
    """A wrong command, option or value, in one sentence like any other mistake (typer would draw a box)."""
    where = getattr(getattr(err, "ctx", None), "command_path", None) or "carescore"
    said = " ".join(err.format_message().split()).rstrip(".")
    typer.echo(f"{where}: {said[:1].lower() + said[1:]} (see {where} --help)", err=True)
    sys.exit(err.exit_code)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        code = app([a for a in args if a != "--debug"] or ["--help"], prog_name="carescore", standalone_mode=False)
    except typer.TyperException as err:  # usage errors: typer's own click
        _usage(err)
    except typer.Abort:  # Ctrl-C or end of input at a prompt
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as err:
        if debug:
            raise
        if _user_error(err):
            _report(err)
            sys.exit(1)
        line = (str(err).strip().splitlines() or [""])[0]
        typer.echo(f"internal error: {type(err).__name__}: {line}; please report it "
                   "(rerun with --debug for the traceback)", err=True)
        sys.exit(INTERNAL_ERROR)
    sys.exit(code or 0)  # typer.Exit(1) (validate's blocking failure) comes back as the code


if __name__ == "__main__":
    main()
