"""The only caller of DuckDB: registers canonical tables, creates fact views, runs the fused queries."""

from __future__ import annotations

import duckdb
import polars as pl

from ..define.spec import Catalog, Fact, Metric, view_name
from ..extracts.canonical import Extracts
from ..issues import ComputeError, Diagnostic
from .compile import compile_fact, describe_sql, fact_view_sql, rows_sql, unit_pairs_sql

RAW_SCHEMA = {"metric_id": pl.Utf8, "period": pl.Utf8, "level": pl.Utf8, "unit_id": pl.Utf8, "stratum": pl.Utf8,
              "stratum_value": pl.Utf8, "numerator": pl.Float64, "denominator": pl.Float64, "cases": pl.Int64,
              "sxx": pl.Float64, "syy": pl.Float64, "sxy": pl.Float64, "expected": pl.Float64}

EXCLUSION_SCHEMA = {"metric_id": pl.Utf8, "period": pl.Utf8, "level": pl.Utf8, "unit_id": pl.Utf8, "exclusion": pl.Utf8,
                    "excluded": pl.Int64}

# Once the extracts are registered the connection needs nothing outside memory, so it is locked before any fact view
# is even bound (binding read_csv already reads the file): SQL that slipped past the loader's checks cannot read or
# write files, load extensions or undo these settings.
LOCKDOWN = ("SET enable_external_access = false", "SET autoload_known_extensions = false",
            "SET autoinstall_known_extensions = false", "SET allow_community_extensions = false",
            "SET lock_configuration = true")


def connect(extracts: Extracts, catalog: Catalog, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads} if threads else {})
    for name, frame in extracts.tables.items():
        con.register(name, frame)
    for setting in LOCKDOWN:
        con.execute(setting)
    problems = []
    for fact in catalog.facts.values():
        try:
            con.sql(fact_view_sql(fact))
            actual = dict(con.sql(describe_sql(fact)).pl().select("column_name", "column_type").iter_rows())
        except duckdb.Error as err:
            problems.append(Diagnostic(fact.loc, "F010", f"fact {fact.id} does not run: {str(err).splitlines()[0]}"))
            continue
        missing = [c.name for c in fact.columns if c.name not in actual]
        if missing:
            problems.append(Diagnostic(fact.loc, "F011", f"fact {fact.id} declares columns its SQL does not "
                                       f"produce: {', '.join(missing)}"))
    if problems:
        raise ComputeError(problems)
    return con


def fact_frame(con: duckdb.DuckDBPyConnection, fact_id: str) -> pl.DataFrame:
    return con.sql(rows_sql(view_name(fact_id))).pl()


def unit_pairs(con: duckdb.DuckDBPyConnection, fact: Fact, child: str, parent: str) -> list[tuple]:
    return con.sql(unit_pairs_sql(fact, child, parent)).fetchall()


def _failing(con: duckdb.DuckDBPyConnection, fact: Fact, metrics: list[Metric]) -> list[Diagnostic]:
    """The metrics whose own query fails (the fused one did), each located at its definition."""
    problems = []
    for m in metrics:
        try:
            con.sql(compile_fact(fact, [m])).fetchall()
        except duckdb.Error as err:
            problems.append(Diagnostic(m.loc, "E001", f"metric {m.id} does not run: {str(err).splitlines()[0]}"))
    return problems or [Diagnostic(fact.loc, "E001", f"the metrics over fact {fact.id} do not run together")]


def _to_long(wide: pl.DataFrame, metrics: list[Metric]) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = ["period", "level", "unit_id", "stratum", "stratum_value"]
    parts, exclusions = [], []
    for i, m in enumerate(metrics):
        rows = wide.filter(pl.col("level").is_in(["all", *m.levels]) & pl.col("stratum").is_in(["all", *m.stratify_by]))
        rows = rows.filter(pl.col(f"m{i}__cases") > 0)

        def field(name, dtype=pl.Float64, i=i):
            src = f"m{i}__{name}"
            return (pl.col(src) if src in wide.columns else pl.lit(None)).cast(dtype).alias(name)

        parts.append(rows.select(
            pl.lit(m.id).alias("metric_id"), *keys, field("num").alias("numerator"),
            field("den").alias("denominator"), field("cases", pl.Int64), field("sxx"), field("syy"), field("sxy"),
            field("expected")))
        overall = rows.filter(pl.col("stratum") == "all")
        for k, (name, _) in enumerate(m.exclusions):
            exclusions.append(overall.select(pl.lit(m.id).alias("metric_id"), "period", "level", "unit_id",
                                             pl.lit(name).alias("exclusion"),
                                             pl.col(f"m{i}__ex{k}").cast(pl.Int64).alias("excluded")))
    long = pl.concat(parts) if parts else pl.DataFrame()
    return long, (pl.concat(exclusions) if exclusions else pl.DataFrame(schema=EXCLUSION_SCHEMA))


def compute(con: duckdb.DuckDBPyConnection, catalog: Catalog, metric_ids=None) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                                      dict[str, str]]:
    """Run one fused query per fact. Returns raw aggregates (long), exclusion counts and the SQL per fact."""
    wanted = set(metric_ids or catalog.metrics)
    parts, excl, sql = [], [], {}
    for fact_id in catalog.facts:
        metrics = [m for m in catalog.metrics_for(fact_id) if m.id in wanted]
        if not metrics:
            continue
        sql[fact_id] = compile_fact(catalog.facts[fact_id], metrics)
        try:
            wide = con.sql(sql[fact_id]).pl()
        except duckdb.Error:
            raise ComputeError(_failing(con, catalog.facts[fact_id], metrics)) from None
        long, ex = _to_long(wide, metrics)
        if long.height:
            parts.append(long)
        excl.append(ex)
    return (pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame(schema=RAW_SCHEMA),
            pl.concat(excl) if excl else pl.DataFrame(schema=EXCLUSION_SCHEMA), sql)
