"""Data quality: table contracts compile to Great Expectations suites that run pushed down on DuckDB,
and blocking failures become holds on exactly the metrics that read the failing table or column.

The only module that imports great_expectations (through gx_compat, which makes GX work on DuckDB).

Contract keys (data/contracts/*.yaml) and the rule each compiles to:
  column: nullable: false → not_null · allowed → allowed · min/max → range · pattern (anchored regex)
          · not_future (date ≤ as-of day) · max_age_years (date ≥ as-of − N years) · not_before: <column>
          (date order) · references: table.column · max_length · no_formula (text a spreadsheet would run)
          · severity: blocking|warning, or {kind: severity} for some of the column's rules
          · every double column, without a key: finite (no NaN or ±infinity: they pass range checks,
          since NaN compares as the largest number, and later stop the engine's decimal casts)
  table:  primary_key → unique · rows (≥ 1 row) · freshness: {column, max_age_days}
          · volume: {tolerance, by_provider, min_rows} (rows within ±tolerance of the last accepted cut,
          overall and, with by_provider, per provider that had at least min_rows)

Scope of a blocking failure:
- Metrics hit: those whose fact requires the table and, for a column rule, that read the column: it
  decides the fact's rows (a filter, join or grouping) or feeds, by sqlglot column lineage, a fact column
  the metric uses. Table-wide rules (duplicate keys, row counts, an unreadable file) hit every metric over
  the table.
- Providers hit: a failure is provider-specific when the table has provider_id and the failing rows
  belong to fewer than half of the providers in the table (one hospital's duplicated or missing survey
  file). Then only that provider's rows are held, plus the rows that include its data (its network and
  the 'all' rows). Otherwise the metric is held network-wide.
Warnings are reported and published with the run; they hold nothing.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify

from ..define.contracts import Contract
from ..define.spec import Catalog, Fact
from ..extracts.canonical import Extracts
from ..issues import Diagnostic, Loc
from . import gx_compat

gx = gx_compat.gx
E = gx.expectations

DEFAULT_SEVERITY = {"max_length": "warning", "no_formula": "warning", "freshness": "warning", "rows": "warning"}
TABLE_WIDE = {"unique", "rows", "volume", "provider_volume", "freshness", "parse"}
CODES = {"header": "L003", "parse": "Q001", "rows": "Q002", "volume": "Q003", "provider_volume": "Q004", "freshness": "Q005",
         "unique": "Q010", "not_null": "Q011", "allowed": "Q012", "range": "Q013", "pattern": "Q014",
         "not_future": "Q015", "max_age": "Q016", "not_before": "Q017", "references": "Q018",
         "max_length": "Q019", "no_formula": "Q020", "finite": "Q021"}
FORMULA = r"^[=+@\t\r]"  # what a spreadsheet would evaluate; "-" is left out: negative numbers are data
SAMPLES = 5
POLARS_TO_SQL = {"varchar": "VARCHAR", "integer": "BIGINT", "double": "DOUBLE", "date": "DATE", "boolean": "BOOLEAN"}
DQ_SCHEMA = {"table": pl.Utf8, "column": pl.Utf8, "expectation": pl.Utf8, "rule": pl.Utf8, "severity": pl.Utf8,
             "success": pl.Boolean, "observed": pl.Utf8, "unexpected_count": pl.Int64, "sample_keys": pl.Utf8,
             "providers": pl.Utf8, "message": pl.Utf8}


@dataclass(frozen=True)
class Rule:
    table: str
    kind: str
    columns: tuple[str, ...]
    severity: str
    expected: str  # what the data should be, in words
    params: tuple[tuple[str, object], ...] = ()

    @property
    def param(self) -> dict:
        return dict(self.params)

    @property
    def column(self) -> str | None:
        return self.columns[0] if self.columns else None

    @property
    def table_wide(self) -> bool:
        return self.kind in TABLE_WIDE


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    success: bool
    observed: str = ""
    unexpected_count: int = 0
    sample_keys: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # a provider-specific failure; () means network-wide
    loc: Loc | None = None
    detail: str = ""
    code: str = ""  # the loader's own code for a file it could not read (L00x)

    @property
    def blocking(self) -> bool:
        return not self.success and self.rule.severity == "blocking"

    @property
    def where(self) -> str:
        return f"{self.rule.table}.{self.rule.column}" if self.rule.column and not self.rule.table_wide \
            else self.rule.table

    @property
    def message(self) -> str:
        if self.success:
            return f"{self.where}: {self.rule.expected}"
        if self.detail:
            return self.detail
        if self.unexpected_count:
            what = "provider(s)" if self.rule.kind == "provider_volume" else "row(s)"
            text = f"{self.where}: {self.unexpected_count} {what} break the rule '{self.rule.expected}'"
        else:
            text = f"{self.where}: observed {self.observed or 'nothing'}, expected {self.rule.expected}"
        if self.sample_keys:
            text += f" (e.g. {', '.join(self.sample_keys)})"
        if self.providers:
            text += f"; only provider(s) {', '.join(self.providers)}"
        return text

    def diagnostic(self) -> Diagnostic:
        severity = "error" if self.rule.severity == "blocking" else "warning"
        return Diagnostic(self.loc or Loc(self.rule.table), self.code or CODES[self.rule.kind], self.message, severity)


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def blocking(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.blocking]

    @property
    def rejected(self) -> set[str]:
        """Tables that could not be read at all (nothing of them is loaded)."""
        return {o.rule.table for o in self.outcomes if o.rule.kind == "parse"}

    def diagnostics(self) -> list[Diagnostic]:
        return [o.diagnostic() for o in self.failures]

    def frame(self) -> pl.DataFrame:
        rows = [{"table": o.rule.table, "column": o.rule.column, "expectation": EXPECTATION_NAMES.get(o.rule.kind, ""),
                 "rule": o.rule.kind, "severity": o.rule.severity, "success": o.success, "observed": o.observed,
                 "unexpected_count": o.unexpected_count, "sample_keys": ", ".join(o.sample_keys),
                 "providers": ", ".join(o.providers), "message": o.message} for o in self.outcomes]
        return pl.DataFrame(rows, schema=DQ_SCHEMA)

    def summary(self) -> pl.DataFrame:
        """One line per table: rows, checks run, blocking failures, warnings."""
        frame = self.frame()
        return (frame.group_by("table").agg(
            checks=pl.len(),
            blocking=(~pl.col("success") & (pl.col("severity") == "blocking")).sum(),
            warnings=(~pl.col("success") & (pl.col("severity") == "warning")).sum())
            .with_columns(rows=pl.col("table").replace_strict(self.rows, default=None, return_dtype=pl.Int64))
            .select("table", "rows", "checks", "blocking", "warnings").sort("table"))


# ---------------------------------------------------------------------------------------------- rules

def _severity(spec, kind: str) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and kind in spec:
        return spec[kind]
    return DEFAULT_SEVERITY.get(kind, "blocking")


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def rules_for(contract: Contract, as_of: dt.date, baseline: pl.DataFrame | None = None) -> list[Rule]:
    """Every check a contract asks for, in a stable order."""
    t, raw, out = contract.table, contract.raw, []
    if contract.primary_key:
        out.append(Rule(t, "unique", contract.primary_key, _severity(raw.get("severity"), "unique"),
                        f"({', '.join(contract.primary_key)}) is unique"))
    # An empty table is only a warning on its own: against the last accepted cut it is a volume collapse
    # (blocking), and a file with no header at all is refused by the loader.
    out.append(Rule(t, "rows", (), _severity(raw.get("severity"), "rows"), "the file has at least one row"))
    for c in contract.columns:
        sev = c.checks.get("severity")
        if not c.nullable:
            out.append(Rule(t, "not_null", (c.name,), _severity(sev, "not_null"), "never empty"))
        if c.allowed:
            out.append(Rule(t, "allowed", (c.name,), _severity(sev, "allowed"),
                            f"one of {', '.join(c.allowed)}", (("values", c.allowed),)))
        if c.type == "double":
            out.append(Rule(t, "finite", (c.name,), _severity(sev, "finite"), "a finite number (not NaN or infinity)"))
        if c.min is not None or c.max is not None:
            words = " and ".join(w for w in (f">= {c.min}" if c.min is not None else "",
                                             f"<= {c.max}" if c.max is not None else "") if w)
            out.append(Rule(t, "range", (c.name,), _severity(sev, "range"), words, (("min", c.min), ("max", c.max))))
        if "pattern" in c.checks:
            out.append(Rule(t, "pattern", (c.name,), _severity(sev, "pattern"), f"matches {c.checks['pattern']}",
                            (("regex", c.checks["pattern"]),)))
        if c.checks.get("not_future"):
            out.append(Rule(t, "not_future", (c.name,), _severity(sev, "not_future"),
                            f"not after the as-of day {as_of}", (("max", as_of),)))
        if "max_age_years" in c.checks:
            low = _years_before(as_of, int(c.checks["max_age_years"]))
            out.append(Rule(t, "max_age", (c.name,), _severity(sev, "max_age"),
                            f"not before {low} (age over {c.checks['max_age_years']})", (("min", low),)))
        if "not_before" in c.checks:
            out.append(Rule(t, "not_before", (c.name, c.checks["not_before"]), _severity(sev, "not_before"),
                            f"not before {c.checks['not_before']}"))
        if c.references:
            out.append(Rule(t, "references", (c.name,), _severity(sev, "references"),
                            f"exists in {c.references}", (("target", c.references),)))
        if "max_length" in c.checks:
            out.append(Rule(t, "max_length", (c.name,), _severity(sev, "max_length"),
                            f"at most {c.checks['max_length']} characters", (("max", int(c.checks["max_length"])),)))
        if c.checks.get("no_formula"):
            out.append(Rule(t, "no_formula", (c.name,), _severity(sev, "no_formula"),
                            "does not start like a spreadsheet formula (=, +, @)", (("regex", FORMULA),)))
    fresh = raw.get("freshness")
    if fresh:
        low = as_of - dt.timedelta(days=int(fresh["max_age_days"]))
        out.append(Rule(t, "freshness", (fresh["column"],), fresh.get("severity", "warning"),
                        f"latest {fresh['column']} on or after {low}", (("min", low),)))
    volume = raw.get("volume")
    if volume and baseline is not None and baseline.height:
        tol = float(volume.get("tolerance", 0.5))
        sev = volume.get("severity", "blocking")
        prev = baseline.filter((pl.col("table") == t) & pl.col("provider_id").is_null())["rows"]
        if len(prev):
            n = int(prev[0])
            out.append(Rule(t, "volume", (), sev, f"row count within ±{tol:.0%} of the last accepted cut ({n})",
                            (("min", int(n * (1 - tol))), ("max", int(n * (1 + tol)) + 1))))
        if volume.get("by_provider"):
            per = baseline.filter((pl.col("table") == t) & pl.col("provider_id").is_not_null()
                                  & (pl.col("rows") >= int(volume.get("min_rows", 1))))
            if per.height:
                out.append(Rule(t, "provider_volume", ("provider_id",), sev,
                                f"each provider's rows at least {1 - tol:.0%} of its last accepted cut",
                                (("floor", tuple((p, int(r * (1 - tol))) for p, r in
                                                 per.select("provider_id", "rows").iter_rows())),)))
    return out


# ------------------------------------------------------------------------------------ SQL of a rule
# sqlglot trees, like every query carescore runs: names are quoted identifiers, contract values literals.

def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _table(name: str) -> exp.Table:
    return exp.table_(name, quoted=True)


def _batch() -> exp.Table:
    """GX's placeholder for the table of the batch it validates; GX fills it in, so it is written as is."""
    return exp.Table(this=exp.Identifier(this="{batch}", quoted=False))


def _lit(value) -> exp.Expression:
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    return exp.convert(value)


def _row(columns: tuple[str, ...]) -> exp.Expression:
    """(a, b) of the key columns, or (a) for one."""
    keys = [_col(c) for c in columns]
    return exp.Tuple(expressions=keys) if len(keys) > 1 else exp.Paren(this=keys[0])


def _group_by_all(query: exp.Select) -> exp.Select:
    query.set("group", exp.Group(all=True))
    return query


def bad_rows(rule: Rule, table: str) -> exp.Expression | None:
    """A condition true for the rows that break a row-level rule (None for table-level rules).

    Used to locate failures (which providers, which first row) and by the hand-written benchmark.
    """
    c = rule.column
    p = rule.param
    if rule.kind == "unique":
        duplicated = _group_by_all(exp.select(_row(rule.columns)).from_(_table(table)))
        duplicated = duplicated.having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.convert(1)))
        return exp.In(this=_row(rule.columns), query=duplicated.subquery())
    if rule.kind == "not_null":
        return _col(c).is_(exp.null())
    if rule.kind == "allowed":
        return _col(c).isin(*(_lit(v) for v in p["values"])).not_()
    if rule.kind in ("range", "max_age", "not_future"):
        parts = []
        if p.get("min") is not None:
            parts.append(exp.LT(this=_col(c), expression=_lit(p["min"])))
        if p.get("max") is not None:
            parts.append(exp.GT(this=_col(c), expression=_lit(p["max"])))
        return exp.or_(*parts)
    if rule.kind in ("pattern", "no_formula"):
        matches = exp.func("regexp_matches", _col(c), _lit(p["regex"]), dialect="duckdb")
        return matches if rule.kind == "no_formula" else matches.not_()
    if rule.kind == "not_before":
        return exp.LT(this=_col(c), expression=_col(rule.columns[1]))
    if rule.kind == "references":
        target, column = p["target"].split(".")
        known = exp.select(_col(column)).from_(_table(target)).where(_col(column).is_(exp.null()).not_())
        return exp.In(this=_col(c), query=known.subquery()).not_()
    if rule.kind == "max_length":
        return exp.GT(this=exp.Length(this=_col(c)), expression=exp.convert(p["max"]))
    if rule.kind == "finite":
        return exp.Anonymous(this="isfinite", expressions=[_col(c)]).not_()
    return None


def short_providers(rule: Rule, source: exp.Table) -> exp.Select:
    """The providers whose row count fell below their floor (provider_volume): one row per provider."""
    floors = exp.values([(k, n) for k, n in rule.param["floor"]], alias="f", columns=["provider_id", "floor"])
    current = _group_by_all(exp.select(exp.column("provider_id"), exp.alias_(exp.Count(this=exp.Star()), "n"))
                            .from_(source))
    below = exp.LT(this=exp.func("COALESCE", exp.column("n", table="cur"), exp.convert(0)),
                   expression=exp.column("floor", table="f"))
    return (exp.select(exp.column("provider_id", table="f")).from_(floors)
            .join(current.subquery("cur"), using=["provider_id"], join_type="left")
            .where(below).order_by(exp.Literal.number(1)))


def _first_bad_rows(keys: list[str], table: str, where: exp.Expression) -> exp.Select:
    """Row number (0-based, file order) and key of the first SAMPLES rows that break a rule."""
    numbered = exp.select(exp.Star(), exp.alias_(exp.Sub(this=exp.Window(this=exp.RowNumber()),
                                                          expression=exp.convert(1)), "__row")).from_(_table(table))
    return (exp.select(exp.column("__row"), *(_col(k) for k in keys)).from_(numbered.subquery()).where(where)
            .order_by(exp.column("__row"), dialect="duckdb").limit(SAMPLES))


def _failing_providers(table: str, where: exp.Expression) -> exp.Select:
    provider = exp.column("provider_id")
    return (exp.select(provider).distinct().from_(_table(table))
            .where(exp.and_(exp.Paren(this=where), provider.copy().is_(exp.null()).not_()))
            .order_by(exp.Literal.number(1)))


# ----------------------------------------------------------------------------- GX expectations

EXPECTATION_NAMES = {
    "unique": "expect_compound_columns_to_be_unique", "rows": "expect_table_row_count_to_be_between",
    "not_null": "expect_column_values_to_not_be_null", "allowed": "expect_column_values_to_be_in_set",
    "range": "expect_column_values_to_be_between", "pattern": "expect_column_values_to_match_regex",
    "not_future": "expect_column_values_to_be_between", "max_age": "expect_column_values_to_be_between",
    "not_before": "expect_column_pair_values_a_to_be_greater_than_b",
    "references": "unexpected_rows_expectation", "max_length": "expect_column_value_lengths_to_be_between",
    "no_formula": "expect_column_values_to_not_match_regex", "freshness": "expect_column_max_to_be_between",
    "volume": "expect_table_row_count_to_be_between", "provider_volume": "unexpected_rows_expectation",
    "finite": "unexpected_rows_expectation", "parse": "", "header": "",
}


def expectation(rule: Rule, index: int, table: str, sql_route: bool = True):
    """The GX expectation of a rule; None when the route cannot express it (cross-table rules on pandas)."""
    meta = {"rule": index}
    c, p = rule.column, rule.param
    if rule.kind == "unique":
        if len(rule.columns) == 1:
            return E.ExpectColumnValuesToBeUnique(column=c, meta=meta)
        return E.ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns), meta=meta)
    if rule.kind == "rows":
        return E.ExpectTableRowCountToBeBetween(min_value=1, meta=meta)
    if rule.kind == "volume":
        return E.ExpectTableRowCountToBeBetween(min_value=p["min"], max_value=p["max"], meta=meta)
    if rule.kind == "not_null":
        return E.ExpectColumnValuesToNotBeNull(column=c, meta=meta)
    if rule.kind == "allowed":
        return E.ExpectColumnValuesToBeInSet(column=c, value_set=list(p["values"]), meta=meta)
    if rule.kind in ("range", "not_future", "max_age"):
        return E.ExpectColumnValuesToBeBetween(column=c, min_value=p.get("min"), max_value=p.get("max"), meta=meta)
    if rule.kind == "pattern":
        return E.ExpectColumnValuesToMatchRegex(column=c, regex=p["regex"], meta=meta)
    if rule.kind == "no_formula":
        return E.ExpectColumnValuesToNotMatchRegex(column=c, regex=p["regex"], meta=meta)
    if rule.kind == "max_length":
        return E.ExpectColumnValueLengthsToBeBetween(column=c, max_value=p["max"], meta=meta)
    if rule.kind == "not_before":
        return E.ExpectColumnPairValuesAToBeGreaterThanB(column_A=rule.columns[0], column_B=rule.columns[1],
                                                         or_equal=True, ignore_row_if="either_value_is_missing",
                                                         meta=meta)
    if rule.kind == "freshness":
        return E.ExpectColumnMaxToBeBetween(column=c, min_value=p["min"], meta=meta)
    if rule.kind in ("references", "finite") and sql_route:
        query = exp.select(exp.Star()).from_(_batch()).where(bad_rows(rule, table))
        return E.UnexpectedRowsExpectation(unexpected_rows_query=query.sql("duckdb"), meta=meta)
    if rule.kind == "provider_volume" and sql_route:
        query = short_providers(rule, _batch())
        return E.UnexpectedRowsExpectation(unexpected_rows_query=query.sql("duckdb"), meta=meta)
    return None


def suite_for(name: str, rules: list[Rule], sql_route: bool = True):
    suite = gx.ExpectationSuite(name)
    for i, rule in enumerate(rules):
        e = expectation(rule, i, name, sql_route)
        if e is not None:
            suite.add_expectation(e)
    return suite


# --------------------------------------------------------------------------------------------- run

def _observed(result: dict) -> str:
    value = result.get("observed_value")
    if value is None and "unexpected_count" in result:
        value = f"{result['unexpected_count']} of {result.get('element_count', '?')} rows"
    return "" if value is None else str(value)


def _locate(rule: Rule, frame: pl.DataFrame, contract: Contract, path: str | None, con, table: str):
    """Where a failure is: file, line and column of the first failing row, a few sample keys, and the
    providers when the failure is provider-specific. Queries the failing rows, only on failure."""
    if rule.kind == "provider_volume":
        short = tuple(r[0] for r in con.sql(short_providers(rule, _table(table)).sql("duckdb")).fetchall())
        return Loc(str(path or table)), short, short[:SAMPLES]
    where = bad_rows(rule, table)
    if where is None:
        return Loc(str(path or table)), (), ()
    keys = list(contract.primary_key) or [contract.columns[0].name]
    rows = con.sql(_first_bad_rows(keys, table, where.copy()).sql("duckdb")).fetchall()
    samples = tuple(dict.fromkeys("/".join(str(v) for v in r[1:]) for r in rows))
    names = [c.name for c in contract.columns]
    col = names.index(rule.column) + 1 if rule.column in names else 1
    first = rows[0][0] if rows else None
    line = 1 if first is None else (int(first) + 2 if str(path).endswith(".csv") else int(first) + 1)
    providers: tuple[str, ...] = ()
    if "provider_id" in frame.columns and frame.height:
        failing = [r[0] for r in con.sql(_failing_providers(table, where.copy()).sql("duckdb")).fetchall()]
        if failing and 2 * len(failing) < frame["provider_id"].n_unique():
            providers = tuple(failing)
    return Loc(str(path or table), line, col), providers, samples


def run(extracts: Extracts, contracts: dict[str, Contract], as_of: dt.date | None = None,
        baseline: pl.DataFrame | None = None, rejected: dict[str, tuple[Diagnostic, ...]] | None = None,
        warnings: tuple[Diagnostic, ...] = (), only: set[str] | None = None) -> Report:
    """One GX validation per table, pushed down on DuckDB over the loaded frames (no copies).

    `only` limits the run to some tables (the others are still there for cross-table checks)."""
    as_of = as_of or dt.date.today()
    rejected = rejected or {}
    paths = {s.table: s.path for s in extracts.sources}
    present = {t for t in contracts if t not in extracts.missing and t not in rejected}
    con = duckdb.connect()
    for name, contract in contracts.items():
        con.register(name, extracts.tables.get(name, pl.DataFrame(schema=contract.schema)))
    ctx = gx_compat.context()
    source = gx_compat.duckdb_datasource(ctx, con)
    outcomes: list[Outcome] = []
    for table, diags in sorted(rejected.items()):
        rule = Rule(table, "parse", (), "blocking", "the file can be read with its contract's types")
        for d in diags:
            outcomes.append(Outcome(rule, False, loc=d.loc, detail=d.message, code=d.code))
    for d in warnings:  # the loader's own warnings, e.g. a column the contract does not know
        table = Path(d.loc.path).stem
        outcomes.append(Outcome(Rule(table, "header", (), "warning", "only the contract's columns"), False,
                                loc=d.loc, detail=d.message, code=d.code))
    for table in sorted(present if only is None else present & set(only)):
        contract = contracts[table]
        rules = rules_for(contract, as_of, baseline)
        suite = ctx.suites.add(suite_for(table, rules))
        batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table("all")
        validation = ctx.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch, suite=suite))
        # BASIC without partial lists: GX would scan the table once more per expectation for samples; we
        # fetch samples (and the location) ourselves, only for the checks that failed.
        result = validation.run(result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
        for r in result.results:
            rule = rules[r.expectation_config.meta["rule"]]
            raised = [v.get("exception_message") for v in (r.exception_info or {}).values()
                      if isinstance(v, dict) and v.get("raised_exception")]
            if raised:
                outcomes.append(Outcome(rule, False, detail=f"{table}: check {rule.kind} could not run: {raised[0]}"))
                continue
            res = r.result or {}
            count = int(res.get("unexpected_count") or (res.get("observed_value") if rule.kind in
                                                         ("references", "finite", "provider_volume") else 0) or 0)
            loc, providers, samples = None, (), ()
            if not r.success:
                loc, providers, samples = _locate(rule, extracts.tables[table], contract, paths.get(table), con, table)
            outcomes.append(Outcome(rule, bool(r.success), _observed(res), count, samples, providers, loc))
    con.close()
    rows = {t: extracts.tables[t].height for t in present}
    return Report(tuple(outcomes), rows)


def finite_only(extracts: Extracts) -> Extracts:
    """The extracts with NaN and ±infinity as missing values, for the engine: the finite rule has reported
    and held them, and DuckDB's decimal casts stop the whole run on the first one."""
    def clean(frame: pl.DataFrame) -> pl.DataFrame:
        floats = [c for c, t in frame.schema.items() if t.is_float()]
        return frame.with_columns(pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in floats)
    return replace(extracts, tables={t: clean(f) for t, f in extracts.tables.items()})


def volume_profile(extracts: Extracts, contracts: dict[str, Contract]) -> pl.DataFrame:
    """Row counts per table and per provider: the baseline the next cut's volume rules compare with."""
    parts = []
    for table, frame in extracts.tables.items():
        if table in extracts.missing or table not in contracts:
            continue
        parts.append(pl.DataFrame({"table": [table], "provider_id": [None], "rows": [frame.height]},
                                  schema={"table": pl.Utf8, "provider_id": pl.Utf8, "rows": pl.Int64}))
        if "provider_id" in frame.columns and (contracts[table].raw.get("volume") or {}).get("by_provider"):
            parts.append(frame.group_by("provider_id").len("rows").drop_nulls("provider_id")
                         .select(pl.lit(table).alias("table"), "provider_id", pl.col("rows").cast(pl.Int64)))
    return pl.concat(parts) if parts else pl.DataFrame(schema={"table": pl.Utf8, "provider_id": pl.Utf8,
                                                               "rows": pl.Int64})


# ------------------------------------------------------------------------------------------- holds

@dataclass(frozen=True)
class Hold:
    metric_id: str
    providers: tuple[str, ...]  # () = network-wide
    reason: str


def _names(sql: str | None) -> set[str]:
    return {c.name for c in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Column)} if sql else set()


def _fact_lineage(fact: Fact, schema: dict[str, dict[str, str]]) -> tuple[set, dict[str, set]]:
    """(table, column) pairs that decide which rows a fact has (filters, joins, grouping), and for each fact
    column the canonical (table, column) pairs its value comes from (sqlglot lineage through the CTEs).

    Filter and join columns are matched by name in every table the fact requires: that can only over-hold."""
    key = (fact.sql, tuple(fact.requires), tuple(c.name for c in fact.columns),
           tuple(sorted((t, tuple(sorted(cols.items()))) for t, cols in schema.items())))
    if key not in _LINEAGE:
        _LINEAGE[key] = _trace(fact, schema)
    return _LINEAGE[key]


_LINEAGE: dict[tuple, tuple[set, dict[str, set]]] = {}  # facts change rarely; tracing them takes a second


def _trace(fact: Fact, schema: dict[str, dict[str, str]]) -> tuple[set, dict[str, set]]:
    every = {(t, c) for t in fact.requires for c in schema.get(t, {})}
    try:
        tree = qualify(sqlglot.parse_one(fact.sql, read="duckdb"), schema=schema, dialect="duckdb")
        nodes = lineage(None, tree, schema=schema, dialect="duckdb")
    except (sqlglot.errors.SqlglotError, ValueError, KeyError):
        return every, {}
    names = {c.name for node in tree.find_all(exp.Where, exp.Join, exp.Group, exp.Having)
             for c in node.find_all(exp.Column)}
    rows = {(t, c) for t, c in every if c in names}
    sources = {name: {(n.source.name, n.name.split(".")[-1].strip('"')) for n in node.walk()
                      if not n.downstream and isinstance(n.source, exp.Table)} for name, node in nodes.items()}
    return rows, {c.name: sources.get(c.name, every) for c in fact.columns}


def metric_reads(catalog: Catalog, contracts: dict[str, Contract]) -> dict[str, set[tuple[str, str]]]:
    """The canonical (table, column) pairs each metric's values depend on: the columns that decide its fact's
    rows, plus the lineage of the fact columns the metric uses (population, exclusions, numerator,
    denominator, strata, risk adjustment, units, period)."""
    schema = {t: {c.name: POLARS_TO_SQL[c.type] for c in k.columns} for t, k in contracts.items()}
    lineages = {f.id: _fact_lineage(f, schema) for f in catalog.facts.values()}
    out = {}
    for m in catalog.metrics.values():
        rows, sources = lineages[m.fact]
        fact = catalog.facts[m.fact]
        used = {"period", *m.stratify_by, *(m.risk_adjustment.by if m.risk_adjustment else ()),
                *(fact.unit_columns[level] for level in m.levels if level in fact.unit_columns)}
        for e in (m.population, m.numerator, m.denominator, *(x for _, x in m.exclusions)):
            used |= _names(e.sql if e else None)
        every = {(t, c) for t in fact.requires for c in schema.get(t, {})}
        out[m.id] = rows | set().union(*(sources.get(c, every if c not in fact.column_types else set())
                                         for c in used))
    return out


def holds(report: Report, catalog: Catalog, contracts: dict[str, Contract]) -> list[Hold]:
    """The metrics (× providers) each blocking failure holds, one Hold per metric and scope."""
    reads = metric_reads(catalog, contracts) if report.blocking else {}
    found: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for o in report.blocking:
        for m in catalog.metrics.values():
            if o.rule.table not in catalog.facts[m.fact].requires:
                continue
            if not o.rule.table_wide and not any((o.rule.table, c) in reads[m.id] for c in o.rule.columns):
                continue
            reasons = found.setdefault((m.id, o.providers), [])
            if o.where not in reasons:
                reasons.append(o.where)
    network_wide = {m for m, p in found if not p}
    return [Hold(m, p, "; ".join(r)) for (m, p), r in sorted(found.items()) if not p or m not in network_wide]


def holds_everything(hold_list: list[Hold], catalog: Catalog, missing: set[str]) -> bool:
    """True when every metric that the cut could give is held network-wide: such a run is not published."""
    network = {h.metric_id for h in hold_list if not h.providers}
    possible = {m.id for m in catalog.metrics.values() if not set(catalog.facts[m.fact].requires) & missing}
    return bool(network) and possible <= network


def held_mask(results: pl.DataFrame, hold: Hold, units: pl.DataFrame) -> pl.Expr:
    metric = pl.col("metric_id") == hold.metric_id
    if not hold.providers:
        return metric
    networks = units.filter(pl.col("unit_id").is_in(list(hold.providers)))["network_id"].drop_nulls().to_list()
    touched = ((pl.col("level").is_in(["provider", "practice"]) & pl.col("unit_id").is_in(list(hold.providers)))
               | ((pl.col("level") == "network") & pl.col("unit_id").is_in(networks))
               | (pl.col("level") == "all"))
    return metric & touched


def apply_holds(results: pl.DataFrame, hold_list: list[Hold], units: pl.DataFrame, footnote: str) -> pl.DataFrame:
    """Status data_quality_hold on the held rows; call before complementary suppression so held cells
    count as hidden cells."""
    for hold in hold_list:
        mask = held_mask(results, hold, units)
        results = results.with_columns(
            status=pl.when(mask).then(pl.lit("data_quality_hold")).otherwise(pl.col("status")),
            footnote=pl.when(mask).then(pl.lit(footnote.format(reason=hold.reason))).otherwise(pl.col("footnote")))
    return results


# ------------------------------------------------------------------------------------------ report

def html_report(report: Report, title: str = "Data quality") -> str:
    """A self-contained page for a data steward: per-table summary, then every failed check."""
    esc = html.escape
    summary = "".join(f"<tr><td>{esc(t)}</td><td>{r if r is not None else ''}</td><td>{c}</td><td>{b}</td>"
                      f"<td>{w}</td></tr>" for t, r, c, b, w in report.summary().iter_rows())
    failed = "".join(f"<tr class='{esc(o.rule.severity)}'><td>{esc(o.rule.severity)}</td><td>{esc(o.where)}</td>"
                     f"<td>{esc(EXPECTATION_NAMES.get(o.rule.kind, o.rule.kind))}</td><td>{esc(o.observed)}</td>"
                     f"<td>{o.unexpected_count}</td><td>{esc(', '.join(o.sample_keys))}</td>"
                     f"<td>{esc(str(o.diagnostic()))}</td></tr>" for o in report.failures)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:4px 8px;text-align:left}.blocking{background:#fde2e1}.warning{background:#fff4d6}</style>"
            f"</head><body><h1>{esc(title)}</h1><h2>Tables</h2><table><tr><th>table</th><th>rows</th>"
            f"<th>checks</th><th>blocking</th><th>warnings</th></tr>{summary}</table>"
            f"<h2>Failed checks ({len(report.failures)})</h2><table><tr><th>severity</th><th>where</th>"
            f"<th>expectation</th><th>observed</th><th>unexpected</th><th>sample keys</th><th>message</th></tr>"
            f"{failed}</table></body></html>")
