"""Typed, frozen specifications of facts and metrics (what the YAML means, nothing about SQL)."""

from __future__ import annotations

from dataclasses import dataclass

from ..issues import Loc

DOMAINS = ("quality", "safety", "experience", "cost", "equity")
DIRECTIONS = ("lower_is_better", "higher_is_better", "neutral")
KINDS = ("proportion", "rate", "mean", "ratio", "per_member_per_month", "o_e")
UNITS = ("percent", "per_1000", "dollars", "ratio", "score", "count")
# Kinds whose numerator counts people or events, so small numerators identify people.
COUNT_NUMERATOR_KINDS = ("proportion", "rate", "o_e")
# Kinds whose denominator is a sum of an exposure expression rather than a row count.
EXPOSURE_KINDS = ("rate", "ratio", "per_member_per_month")


def view_name(fact_id: str) -> str:
    """The DuckDB view a fact's SQL is created as."""
    return f"fact_{fact_id}"


@dataclass(frozen=True)
class Expr:
    sql: str
    loc: Loc


@dataclass(frozen=True)
class FactColumn:
    name: str
    type: str  # varchar | integer | double | date | boolean
    description: str = ""


@dataclass(frozen=True)
class Fact:
    id: str
    description: str
    grain: str
    requires: tuple[str, ...]
    units: tuple[tuple[str, str], ...]  # (level, column)
    parents: tuple[tuple[str, str], ...]  # (child level, parent level): child units nest in parent units
    columns: tuple[FactColumn, ...]
    sql: str
    loc: Loc
    source_hash: str

    @property
    def column_types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}

    @property
    def unit_columns(self) -> dict[str, str]:
        return dict(self.units)

    @property
    def view(self) -> str:
        return view_name(self.id)


@dataclass(frozen=True)
class RiskAdjustment:
    method: str
    by: tuple[str, ...]


@dataclass(frozen=True)
class Metric:
    id: str
    version: int
    title: str
    domain: str
    plain_language: str
    description: str
    direction: str
    unit: str
    kind: str
    fact: str
    population: Expr | None
    exclusions: tuple[tuple[str, Expr], ...]
    numerator: Expr
    denominator: Expr | None  # exposure for rate / ratio / PMPM; rows otherwise
    per: int  # rates are reported per `per` units of exposure; 1 otherwise
    levels: tuple[str, ...]
    stratify_by: tuple[str, ...]
    risk_adjustment: RiskAdjustment | None
    min_denominator: int
    target: float | None
    loc: Loc
    source_hash: str

    @property
    def counts_numerator(self) -> bool:
        return self.kind in COUNT_NUMERATOR_KINDS


@dataclass(frozen=True)
class Catalog:
    facts: dict[str, Fact]
    metrics: dict[str, Metric]

    def metrics_for(self, fact_id: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.fact == fact_id]
