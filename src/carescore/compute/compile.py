"""Spec → SQL. The only builder of SQL: sqlglot trees, never string splicing of user text.

One query per fact: every metric over that fact, every level and every stratum are fused into a single
GROUP BY GROUPING SETS scan. Readable CTEs: `eligible` (who is in each metric's
denominator), `measured` (numerator and exposure), `expected` (indirect standardization), then the grouped select.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..define.spec import EXPOSURE_KINDS, Fact, Metric

NO_UNIT = "~none"  # rows whose unit column is empty (e.g. patients attributed to no practice)


def parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, dialect="duckdb")


def col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def view(name: str) -> exp.Table:
    # An identifier node, never spliced text: quoted whenever the name is not a plain word.
    return exp.Table(this=exp.to_identifier(name))


def _when(cond: exp.Expression, then: exp.Expression, otherwise: exp.Expression) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=cond, true=then)], default=otherwise)


def _true(e: exp.Expression, default: bool = False) -> exp.Expression:
    # SQL's NULL must not silently drop a row from a denominator: an unknown condition counts as `default`.
    inner = e if isinstance(e, (exp.Column, exp.Paren)) else exp.paren(e, copy=False)
    return exp.func("COALESCE", inner, exp.Boolean(this=default))


def _double(e: exp.Expression) -> exp.Expression:
    return exp.cast(e, "DOUBLE")


def _exact(e: exp.Expression, scale: int = 6) -> exp.Expression:
    # Floating-point sums depend on the order parallel threads add them; fixed-point sums do not, so the
    # same data always publishes the same digits.
    return exp.cast(e, f"DECIMAL(38, {scale})")


def _is_one(name: str) -> exp.Expression:
    return exp.EQ(this=exp.column(name), expression=exp.Literal.number(1))


def eligible_columns(m: Metric, i: int) -> list[exp.Expression]:
    """m{i}_in: the row is in the population and in no exclusion; m{i}_ex{k}: counted by exclusion k."""
    one, zero = exp.Literal.number(1), exp.Literal.number(0)
    conds: list[exp.Expression] = [_true(parse(m.population.sql))] if m.population else []
    conds += [exp.not_(_true(parse(e.sql))) for _, e in m.exclusions]
    if m.kind == "mean":
        conds.append(exp.not_(exp.Is(this=exp.paren(parse(m.numerator.sql)), expression=exp.Null())))
    in_col = exp.alias_(_when(exp.and_(*conds), one, zero) if conds else one, f"m{i}_in")
    in_col.add_comments([f" metric: {m.id} v{m.version} ({m.loc.path}:{m.loc.line}) "])
    out = [in_col]
    pop = _true(parse(m.population.sql)) if m.population else exp.Boolean(this=True)
    for k, (_, e) in enumerate(m.exclusions):
        out.append(exp.alias_(_when(exp.and_(pop.copy(), _true(parse(e.sql))), one, zero), f"m{i}_ex{k}"))
    return out


def value_columns(m: Metric, i: int) -> list[exp.Expression]:
    """m{i}_x: the numerator contribution of an eligible row; m{i}_y: its exposure (rates, ratios, PMPM)."""
    one, zero = exp.Literal.number(1), exp.Literal.number(0)
    if m.kind in ("proportion", "o_e"):
        x = _when(exp.and_(_is_one(f"m{i}_in"), _true(parse(m.numerator.sql))), one, zero)
    else:
        x = _when(_is_one(f"m{i}_in"), _exact(exp.func("COALESCE", parse(m.numerator.sql), zero)), zero)
    out = [exp.alias_(x, f"m{i}_x")]
    if m.kind in EXPOSURE_KINDS:
        y = _when(_is_one(f"m{i}_in"), _exact(exp.func("COALESCE", parse(m.denominator.sql), zero)), zero)
        out.append(exp.alias_(y, f"m{i}_y"))
    return out


def expected_column(m: Metric, i: int) -> exp.Expression:
    """Indirect standardization: each eligible row expects the reference (whole-population) rate of its
    risk cell in the same period."""
    def over(name):
        return exp.Window(this=exp.func("SUM", exp.column(name)),
                          partition_by=[col("period")] + [col(c) for c in m.risk_adjustment.by])

    rate = exp.Div(this=_double(over(f"m{i}_x")), expression=exp.func("NULLIF", over(f"m{i}_in"),
                                                                         exp.Literal.number(0)))
    return exp.alias_(_when(_is_one(f"m{i}_in"), _exact(rate, 12), exp.Literal.number(0)), f"m{i}_e")


def aggregates(m: Metric, i: int) -> list[exp.Expression]:
    def s(e):
        return exp.func("SUM", e)

    x, inn = exp.column(f"m{i}_x"), exp.column(f"m{i}_in")
    y = exp.column(f"m{i}_y") if m.kind in EXPOSURE_KINDS else inn
    out = [
        exp.alias_(_double(s(x)), f"m{i}__num"),
        exp.alias_(_double(s(y)), f"m{i}__den"),
        exp.alias_(exp.cast(s(inn.copy()), "BIGINT"), f"m{i}__cases"),
    ]
    if m.kind in ("mean", "ratio", "per_member_per_month"):
        out.append(exp.alias_(_double(s(exp.Mul(this=x.copy(), expression=x.copy()))), f"m{i}__sxx"))
    if m.kind in ("ratio", "per_member_per_month"):
        out.append(exp.alias_(_double(s(exp.Mul(this=y.copy(), expression=y.copy()))), f"m{i}__syy"))
        out.append(exp.alias_(_double(s(exp.Mul(this=x.copy(), expression=y.copy()))), f"m{i}__sxy"))
    if m.kind == "o_e":
        out.append(exp.alias_(_double(s(exp.column(f"m{i}_e"))), f"m{i}__expected"))
    for k in range(len(m.exclusions)):
        out.append(exp.alias_(exp.cast(s(exp.column(f"m{i}_ex{k}")), "BIGINT"), f"m{i}__ex{k}"))
    return out


def _by_grouping(branches: list[tuple[str, exp.Expression]], default: str) -> exp.Expression:
    """CASE WHEN GROUPING(column) = 0 THEN <expression> ... ELSE default END: which grouping set a row is from."""
    if not branches:
        return exp.Literal.string(default)
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.func("GROUPING", col(c)), expression=exp.Literal.number(0)),
                                true=then) for c, then in branches], default=exp.Literal.string(default))


def _text(column: str, empty: str) -> exp.Expression:
    return exp.func("COALESCE", exp.cast(col(column), "VARCHAR"), exp.Literal.string(empty))


def grouping_sets(fact: Fact, metrics: list[Metric]) -> list[tuple[str, ...]]:
    units = fact.unit_columns
    sets: list[tuple[str, ...]] = []
    for m in metrics:
        for unit in [None] + [units[level] for level in m.levels]:
            for stratum in [None] + list(m.stratify_by):
                key = tuple(c for c in ("period", unit, stratum) if c)
                if key not in sets:
                    sets.append(key)
    return sets


def compile_fact(fact: Fact, metrics: list[Metric]) -> str:
    """The fused query for every given metric over `fact`."""
    units = [(level, column) for level, column in fact.units if any(level in m.levels for m in metrics)]
    strata = list(dict.fromkeys(s for m in metrics for s in m.stratify_by))
    eligible = exp.select(exp.Star()).from_(view(fact.view))
    measured = exp.select(exp.Star()).from_("eligible")
    for i, m in enumerate(metrics):
        eligible = eligible.select(*eligible_columns(m, i), copy=False)
        measured = measured.select(*value_columns(m, i), copy=False)
    ctes = [("eligible", eligible), ("measured", measured)]
    risk_adjusted = [(i, m) for i, m in enumerate(metrics) if m.kind == "o_e"]
    if risk_adjusted:
        ctes.append(("expected", exp.select(exp.Star(), *(expected_column(m, i) for i, m in risk_adjusted))
                     .from_("measured")))
    unit_level = _by_grouping([(c, exp.Literal.string(level)) for level, c in units], "all")
    unit_id = _by_grouping([(c, _text(c, NO_UNIT)) for _, c in units], "ALL")
    stratum = _by_grouping([(s, exp.Literal.string(s)) for s in strata], "all")
    stratum_value = _by_grouping([(s, _text(s, "unknown")) for s in strata], "all")
    final = exp.select(
        exp.alias_(col("period"), "period"), exp.alias_(unit_level, "level"), exp.alias_(unit_id, "unit_id"),
        exp.alias_(stratum, "stratum"), exp.alias_(stratum_value, "stratum_value"),
    ).from_(ctes[-1][0])
    for i, m in enumerate(metrics):
        final = final.select(*aggregates(m, i), copy=False)
    final.set("group", exp.Group(grouping_sets=[exp.GroupingSets(
        expressions=[exp.Tuple(expressions=[col(c) for c in s]) for s in grouping_sets(fact, metrics)])]))
    query = final
    for name, cte in ctes:
        query = query.with_(name, as_=cte, copy=False)
    query.add_comments([f" fact: {fact.id} ({fact.loc.path}); metrics: {', '.join(m.id for m in metrics)} "])
    return query.sql(dialect="duckdb", pretty=True)


def fact_view_sql(fact: Fact) -> str:
    """CREATE VIEW for a fact, re-rendered by sqlglot so a malformed fact fails here, not mid-run."""
    body = parse(fact.sql)
    return exp.Create(this=view(fact.view), kind="VIEW", expression=body, replace=True).sql(dialect="duckdb", pretty=True)


def describe_sql(fact: Fact) -> str:
    return exp.Describe(this=view(fact.view)).sql(dialect="duckdb")


def rows_sql(view_name: str) -> str:
    return exp.select(exp.Star()).from_(view(view_name)).sql(dialect="duckdb")


def unit_pairs_sql(fact: Fact, child: str, parent: str) -> str:
    """Each distinct (child unit, parent unit) pair of a fact, for levels that nest."""
    c, p = fact.unit_columns[child], fact.unit_columns[parent]
    return (exp.select(col(c), col(p)).distinct().from_(view(fact.view))
            .where(exp.not_(exp.Is(this=col(c), expression=exp.Null()))).sql(dialect="duckdb"))
