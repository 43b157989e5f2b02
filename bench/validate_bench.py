"""Validation benchmark: the same contract checks three ways on the demo network.

  gx-duckdb    Great Expectations pushed down on DuckDB (carescore's route: validate.run, all tables)
  gx-pandas    Great Expectations on pandas copies of the tables (cross-table checks left out: GX's
               pandas route has no unexpected-rows query)
  duckdb-sql   one plain DuckDB query computing every check's failure count (the floor)

Each route runs in its own process so its peak memory is its own. Prints a table and writes it to
bench/results.md under "## Validation" (replacing an earlier one).

    .venv/bin/python bench/validate_bench.py --patients 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
AS_OF = dt.date(2026, 1, 15)


def _load(data: Path):
    from carescore.define.contracts import load_contracts
    from carescore.extracts.canonical import load_extracts

    contracts = load_contracts()
    return contracts, load_extracts(data, contracts)


def route_gx_duckdb(data: Path) -> dict:
    from carescore.dq import validate

    contracts, extracts = _load(data)
    start = time.perf_counter()
    report = validate.run(extracts, contracts, AS_OF)
    return {"seconds": time.perf_counter() - start, "checks": len(report.outcomes), "failed": len(report.failures)}


def route_gx_pandas(data: Path) -> dict:
    from carescore.dq import gx_compat, validate

    gx = gx_compat.gx
    contracts, extracts = _load(data)
    start = time.perf_counter()
    frames = {t: extracts.tables[t].to_pandas() for t in contracts}
    convert = time.perf_counter() - start
    ctx = gx_compat.context()
    source = ctx.data_sources.add_pandas("pandas")
    checks = failed = 0
    for table, contract in contracts.items():
        suite = ctx.suites.add(validate.suite_for(table, validate.rules_for(contract, AS_OF), sql_route=False))
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch, suite=suite))
        result = vd.run(batch_parameters={"dataframe": frames[table]},
                        result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
        checks += len(result.results)
        failed += sum(not r.success for r in result.results)
    return {"seconds": time.perf_counter() - start, "convert_seconds": convert, "checks": checks, "failed": failed}


def handwritten_sql(contracts) -> tuple[str, int]:
    """One query: per table a single scan with a FILTERed count per check, all tables side by side."""
    from sqlglot import exp

    from carescore.dq import validate

    def _id(name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql("duckdb")

    parts, checks = [], 0
    for i, (table, contract) in enumerate(contracts.items()):
        rules = validate.rules_for(contract, AS_OF)
        q = _id(table)
        cols = ["COUNT(*) AS n"]
        for k, rule in enumerate(rules):
            where = validate.bad_rows(rule, table)
            if rule.kind == "unique":  # how one would write it by hand: no self-join needed for pass/fail
                cols.append(f"COUNT(*) - COUNT(DISTINCT ({', '.join(map(_id, rule.columns))})) AS c{k}")
            elif where is not None:
                cols.append(f"COUNT(*) FILTER (WHERE {where.sql('duckdb')}) AS c{k}")
            elif rule.kind == "freshness":
                cols.append(f"MAX({_id(rule.column)}) AS c{k}")
            checks += 1
        parts.append(f"(SELECT {', '.join(cols)} FROM {q}) AS t{i}")
    return "SELECT * FROM " + ", ".join(parts), checks


def route_duckdb_sql(data: Path) -> dict:
    import duckdb

    contracts, extracts = _load(data)
    con = duckdb.connect()
    for name, frame in extracts.tables.items():
        con.register(name, frame)
    sql, checks = handwritten_sql(contracts)
    start = time.perf_counter()
    con.sql(sql).fetchall()
    return {"seconds": time.perf_counter() - start, "checks": checks}


ROUTES = {"gx-duckdb": route_gx_duckdb, "gx-pandas": route_gx_pandas, "duckdb-sql": route_duckdb_sql}


def run_route(name: str, data: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--route", name, "--data", str(data)], capture_output=True,
                         text=True, check=False)
    if out.returncode:
        sys.exit(f"route {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_section(text: str) -> None:
    path = HERE / "results.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    old = re.sub(r"\n## Validation\n.*?(?=\n## |\Z)", "", old, flags=re.S).rstrip("\n")
    path.write_text(old + "\n\n" + text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=None, help="demo folder (default data/bench/demo-<patients>)")
    parser.add_argument("--route", choices=sorted(ROUTES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = args.data or REPO / "data" / "bench" / f"demo-{args.patients}"
    if args.route:
        result = ROUTES[args.route](data)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    if not (data / "patients.parquet").exists():
        from carescore.extracts.demo import write_demo

        print(f"generating {args.patients:,} patients into {data} ...", flush=True)
        write_demo(data, patients=args.patients, seed=7)
    import polars as pl

    rows = {p.stem: pl.scan_parquet(p).select(pl.len()).collect().item() for p in sorted(data.glob("*.parquet"))}
    results = {name: run_route(name, data) for name in ("duckdb-sql", "gx-duckdb", "gx-pandas")}
    floor = results["duckdb-sql"]["seconds"]
    lines = ["## Validation", "",
             f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, `bench/validate_bench.py --patients "
             f"{args.patients}`: {rows.get('patients', 0):,} patients, {rows.get('encounters', 0):,} encounters, "
             f"{sum(rows.values()):,} rows in 11 tables; the contracts' checks, tables already loaded.", "",
             "| route | checks | seconds | ratio to plain SQL | peak memory (MB) |", "|---|---:|---:|---:|---:|"]
    labels = {"duckdb-sql": "plain DuckDB SQL, one query (floor)",
              "gx-duckdb": "Great Expectations pushed down on DuckDB (carescore)",
              "gx-pandas": "Great Expectations on pandas"}
    for name, r in results.items():
        extra = f" (+{r['convert_seconds']:.1f}s to convert from Polars)" if "convert_seconds" in r else ""
        lines.append(f"| {labels[name]}{extra} | {r['checks']} | {r['seconds']:.1f} | "
                     f"{r['seconds'] / floor:.1f} | {r['peak_mb']:.0f} |")
    ratio = results["gx-duckdb"]["seconds"] / floor
    lines += ["", f"GX pushed down ÷ plain SQL = {ratio:.1f} (target ≤ 3); GX pandas ÷ GX pushed down = "
              f"{results['gx-pandas']['seconds'] / results['gx-duckdb']['seconds']:.1f}. The pandas route runs "
              "fewer checks (no cross-table references or per-provider volume)."]
    text = "\n".join(lines)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
