"""Table contracts (data/contracts/*.yaml): the typed shape of every canonical table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml

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


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    directory = Path(directory or default_contracts_dir())
    contracts = {}
    for path in sorted(directory.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        known = {"type", "nullable", "allowed", "references", "min", "max", "description"}
        columns = tuple(
            Column(
                name=name,
                type=spec["type"],
                nullable=spec.get("nullable", True),
                allowed=tuple(spec["allowed"]) if spec.get("allowed") else None,
                references=spec.get("references"),
                min=spec.get("min"),
                max=spec.get("max"),
                description=spec.get("description", ""),
                checks={k: v for k, v in spec.items() if k not in known},
            )
            for name, spec in raw["columns"].items()
        )
        contracts[raw["table"]] = Contract(
            table=raw["table"],
            description=raw.get("description", ""),
            primary_key=tuple(raw.get("primary_key", ())),
            columns=columns,
            path=str(path),
            raw=raw,
        )
    return contracts
