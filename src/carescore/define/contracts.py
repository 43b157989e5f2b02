"""Table contracts (data/contracts/*.yaml): the typed shape of every canonical table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .. import yamldoc
from ..issues import DefinitionError, Diagnostic, Loc, did_you_mean
from ..yamldoc import FLAG, NUMBER, SINGLE, TEXT, AnyOf, Field, Keys, ListOf, MapOf, Node, OneOf, number, whole

POLARS_TYPES = {
    "varchar": pl.Utf8,
    "integer": pl.Int64,
    "double": pl.Float64,
    "date": pl.Date,
    "boolean": pl.Boolean,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    references: str | None = None
    min: float | None = None
    max: float | None = None
    description: str = ""
    checks: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Contract:
    table: str
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    path: str
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {c.name: POLARS_TYPES[c.type] for c in self.columns}

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def default_contracts_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "data" / "contracts"


SEVERITY = OneOf(("blocking", "warning"))
COLUMN_RULES = ("not_null", "allowed", "finite", "range", "pattern", "not_future", "max_age", "not_before",
                "references", "max_length", "no_formula")


def _severity(rules: tuple[str, ...]) -> AnyOf:
    return AnyOf((SEVERITY, Keys({r: SEVERITY for r in rules})),
                 words="blocking, warning, or a mapping of rule to either such as {pattern: warning}")


# Every key a contract may hold (validate.py says the rule each compiles to): a misspelled check is an error, not
# a check that silently never runs.
COLUMN = Keys({
    "type": Field(OneOf(tuple(POLARS_TYPES)), True), "nullable": FLAG, "allowed": ListOf(SINGLE),
    "references": Field(TEXT, words="a column of another table such as patients.patient_id"),
    "min": NUMBER, "max": NUMBER, "description": TEXT, "pattern": TEXT, "severity": _severity(COLUMN_RULES),
    "not_future": FLAG, "not_before": TEXT, "max_age_years": whole(1), "max_length": whole(1), "no_formula": FLAG,
})
CONTRACT = Keys({
    "table": Field(TEXT, True), "description": TEXT, "primary_key": ListOf(TEXT),
    "columns": Field(MapOf(COLUMN), True, words="a mapping of column name to its type and checks"),
    "freshness": Keys({"column": Field(TEXT, True), "max_age_days": Field(whole(1), True), "severity": SEVERITY}),
    "volume": Keys({"tolerance": number(low=0), "by_provider": FLAG, "min_rows": whole(1), "severity": SEVERITY}),
    "severity": _severity(("unique", "rows")),
})
KNOWN = {"type", "nullable", "allowed", "references", "min", "max", "description"}  # the rest: Column.checks


def _read(path: Path, problems: list[Diagnostic]) -> tuple[Contract, Node] | None:
    doc = yamldoc.load(path, CONTRACT, problems, "a table contract", f"contract {path.stem}")
    if doc is None:
        return None
    raw = yamldoc.plain(doc.value)
    if raw["table"] != path.stem:  # extracts are found by table name: encounters.csv for table encounters
        problems.append(Diagnostic(doc.value_loc("table"), "C001",
                                   f"table '{raw['table']}' must match the file name '{path.stem}'"))
    columns = doc["columns"]
    named = [("primary_key", doc["primary_key"].value_loc(i), key) for i, key in enumerate(raw.get("primary_key", ()))]
    named += [(f"columns.{c}.not_before", columns[c].value_loc("not_before"), spec["not_before"])
              for c, spec in raw["columns"].items() if "not_before" in spec]
    if "freshness" in raw:
        named.append(("freshness.column", doc["freshness"].value_loc("column"), raw["freshness"]["column"]))
    for what, loc, column in named:
        if column not in raw["columns"]:
            problems.append(Diagnostic(loc, "C002", f"{what} names column '{column}', which contract {path.stem} "
                                       "does not declare" + did_you_mean(column, raw["columns"])))
    for name, spec in raw["columns"].items():
        if "pattern" in spec:
            try:
                re.compile(spec["pattern"])
            except re.error as err:
                problems.append(Diagnostic(columns[name].value_loc("pattern"), "C004",
                                           f"columns.{name}.pattern is not a regular expression: {err}"))
    contract = Contract(
        table=raw["table"], description=raw.get("description", ""), primary_key=tuple(raw.get("primary_key", ())),
        columns=tuple(Column(name=name, type=spec["type"], nullable=spec.get("nullable", True),
                             allowed=tuple(spec["allowed"]) if spec.get("allowed") else None,
                             references=spec.get("references"), min=spec.get("min"), max=spec.get("max"),
                             description=spec.get("description", ""),
                             checks={k: v for k, v in spec.items() if k not in KNOWN})
                      for name, spec in raw["columns"].items()),
        path=str(path), raw=raw)
    return contract, doc


def _check_references(read: dict[str, tuple[Contract, Node]], problems: list[Diagnostic]) -> None:
    for contract, doc in read.values():
        for c in contract.columns:
            if c.references is None:
                continue
            table, _, column = c.references.partition(".")
            target = read.get(table)
            if target is None or column not in {t.name for t in target[0].columns}:
                known = [f"{t}.{col.name}" for t, (other, _) in read.items() for col in other.columns]
                problems.append(Diagnostic(doc["columns"][c.name].value_loc("references"), "C003",
                                           f"columns.{c.name}.references names '{c.references}', which is not a "
                                           "column of a contract" + did_you_mean(c.references, known)))


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """Every contract of `directory` (default data/contracts); raises DefinitionError with every problem of every
    file, each at its line and column."""
    directory = Path(directory or default_contracts_dir())
    problems: list[Diagnostic] = []
    if not directory.is_dir():
        raise DefinitionError([Diagnostic(Loc(str(directory)), "M000", "contracts folder does not exist")])
    read = {}
    for path in sorted(directory.glob("*.yaml")):
        got = _read(path, problems)
        if got:
            read[got[0].table] = got
    _check_references(read, problems)
    if problems:
        raise DefinitionError(problems)
    return {table: contract for table, (contract, _) in read.items()}
