"""Which published counts of different metrics count the same people, derived from the compiled definitions.

A metric's cases are the rows of its fact that are in its population and in none of its exclusions; a
proportion's (or observed-to-expected measure's) numerator is those of them that meet the numerator; a rate's
numerator and an exposure are sums of one expression over its cases. Each such quantity is written as the set of
conditions (conjuncts) a row must meet, exactly as the compiler tests them. Two quantities of metrics over the
same fact, in the same cell (period, unit, patient group), are then

- **equal** when they count, or sum the same expression over, the same set of conditions (siblings that share a
  population; one metric's numerator that is another's population; a shared exposure);
- **at most** one another when one's conditions include all of the other's (a subset of the same rows);
- **unrelated** otherwise (neither is implied by the other as the definitions are written).

The small-number audit gives a reader every equal and at-most link: a count shown by one metric is a count known
for each metric linked to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from sqlglot import exp

from ..define.spec import EXPOSURE_KINDS, Catalog, Metric
from .compile import parse


@dataclass(frozen=True)
class Quantity:
    metric: str
    column: str  # the results column: cases, numerator or denominator
    fact: str
    summed: str | None  # the expression summed (rates' numerators, exposures); None for a count of rows
    conditions: frozenset[str]


@dataclass(frozen=True)
class Link:
    small: Quantity  # small <= large in every cell both metrics publish; equal when `equal`
    large: Quantity
    equal: bool

    def describe(self) -> str:
        op = "=" if self.equal else "<="
        return f"{self.small.metric}.{self.small.column} {op} {self.large.metric}.{self.large.column}"


def _sql(e: exp.Expression) -> str:
    return e.sql(dialect="duckdb", normalize=True)


def _conjuncts(sql: str, tag: str) -> set[str]:
    tree = parse(sql)
    while isinstance(tree, exp.Paren):
        tree = tree.this
    parts = list(tree.flatten()) if isinstance(tree, exp.And) else [tree]
    return {f"{tag}:{_sql(p.unnest())}" for p in parts}


def quantities(m: Metric) -> list[Quantity]:
    """The published counts and sums of one metric, each with the conditions a row must meet to be in it."""
    cases = _conjuncts(m.population.sql, "in") if m.population else set()
    cases |= {f"not:{_sql(parse(e.sql))}" for _, e in m.exclusions}
    if m.kind == "mean":
        cases.add(f"present:{_sql(parse(m.numerator.sql))}")
    out = [Quantity(m.id, "cases", m.fact, None, frozenset(cases))]
    if m.kind in ("proportion", "o_e"):
        out.append(Quantity(m.id, "numerator", m.fact, None, frozenset(cases | _conjuncts(m.numerator.sql, "in"))))
    elif m.kind == "rate":
        out.append(Quantity(m.id, "numerator", m.fact, _sql(parse(m.numerator.sql)), frozenset(cases)))
    if m.kind in EXPOSURE_KINDS:
        out.append(Quantity(m.id, "denominator", m.fact, _sql(parse(m.denominator.sql)), frozenset(cases)))
    return out


def derive(catalog: Catalog) -> list[Link]:
    """Every equal or at-most link between quantities over the same fact (within one metric too: a
    proportion's numerator is at most its cases)."""
    links = []
    by_fact: dict[str, list[Quantity]] = {}
    for m in catalog.metrics.values():
        for q in quantities(m):
            by_fact.setdefault(q.fact, []).append(q)
    for qs in by_fact.values():
        for a, b in combinations(qs, 2):
            if a.summed != b.summed:
                continue
            if a.conditions == b.conditions:
                links.append(Link(a, b, True))
            elif a.summed is None and b.conditions <= a.conditions:  # a's rows are some of b's
                links.append(Link(a, b, False))
            elif a.summed is None and a.conditions <= b.conditions:
                links.append(Link(b, a, False))
    return links
