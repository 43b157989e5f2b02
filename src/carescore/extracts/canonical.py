"""Read extracts into canonical Polars tables typed by their contracts, with located errors."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..define.contracts import Contract, load_contracts
from ..issues import Diagnostic, ExtractError, Loc, did_you_mean

BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False,
                "yes": True, "no": False}


@dataclass(frozen=True)
class SourceFile:
    table: str
    path: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Extracts:
    tables: dict[str, pl.DataFrame]
    sources: tuple[SourceFile, ...]
    missing: tuple[str, ...]  # tables the data cut does not provide (metrics on them are not_applicable)
    # tables whose file could not be read (nothing of them is loaded; metrics on them are held), and warnings
    rejected: dict[str, tuple[Diagnostic, ...]] = field(default_factory=dict)
    warnings: tuple[Diagnostic, ...] = ()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_file(directory: Path, table: str) -> Path | None:
    for ext in ("parquet", "csv"):
        candidate = directory / f"{table}.{ext}"
        if candidate.exists():
            return candidate
    return None


def _cast_column(raw: pl.Series, dtype: pl.DataType) -> pl.Series:
    text = raw.cast(pl.Utf8, strict=False)
    if dtype == pl.Boolean:
        return text.str.strip_chars().str.to_lowercase().replace_strict(
            BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
    if dtype == pl.Date:
        return text.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    if dtype == pl.Utf8:
        return text
    return text.str.strip_chars().cast(dtype, strict=False)


def type_frame(frame: pl.DataFrame, contract: Contract, path: Path) -> pl.DataFrame:
    """Cast every column to its contract type; every value that does not parse is reported with its row."""
    problems: list[Diagnostic] = []
    present = set(frame.columns)
    for column in contract.columns:
        if column.name not in present:
            problems.append(Diagnostic(Loc(str(path), 1, 1), "L002",
                                       f"table {contract.table}: missing column '{column.name}'"
                                       + did_you_mean(column.name, present - {c.name for c in contract.columns})))
    for name in sorted(present - {c.name for c in contract.columns}):
        problems.append(Diagnostic(Loc(str(path), 1, 1), "L003",
                                   f"table {contract.table}: unexpected column '{name}'", "warning"))
    if any(p.severity == "error" for p in problems):
        raise ExtractError(problems)
    out = {}
    for column in contract.columns:
        dtype = contract.schema[column.name]
        raw = frame[column.name]
        if raw.dtype == dtype:
            out[column.name] = raw
            continue
        typed = _cast_column(raw, dtype)
        bad = (typed.is_null() & raw.is_not_null()
               & (raw.cast(pl.Utf8, strict=False).str.strip_chars() != "")).arg_true()
        if len(bad):
            first = int(bad[0])
            # CSV line = data row + 2 (header is line 1)
            line = first + 2 if path.suffix == ".csv" else first + 1
            problems.append(Diagnostic(
                Loc(str(path), line, contract.columns.index(column) + 1), "L004",
                f"table {contract.table}, column {column.name}: cannot read {raw[first]!r} as {column.type} "
                f"({len(bad)} row(s) affected)"))
        out[column.name] = typed
    if any(p.severity == "error" for p in problems):
        raise ExtractError(problems)
    return pl.DataFrame(out)


def _csv_problem(path: Path, table: str) -> Diagnostic | None:
    """Where a CSV file breaks: not UTF-8, not comma-separated, or a record with the wrong number of fields.

    Only called on a file Polars refused or that looks truncated, so reading it again costs nothing on
    the good path."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        return Diagnostic(Loc(str(path), line, col), "L006", f"table {table}: file is not UTF-8 (byte "
                          f"0x{data[err.start]:02x} cannot be decoded); save it as UTF-8")
    records = csv.reader(text.splitlines(keepends=True))
    header = next(records, [])
    start = records.line_num + 1
    for record in records:
        if len(record) != len(header):
            cut = " (the file looks truncated)" if not text.endswith("\n") else ""
            return Diagnostic(Loc(str(path), start, 1), "L008", f"table {table}: record has {len(record)} "
                              f"field(s), the header has {len(header)}{cut}")
        start = records.line_num + 1
    if text.count('"') % 2:
        return Diagnostic(Loc(str(path), start - 1, 1), "L008", f"table {table}: unterminated quote "
                          "(the file looks truncated)")
    return None


def _check_csv(path: Path, contract: Contract) -> None:
    """Cheap checks before parsing: an empty file, a wrong delimiter, a last record cut short."""
    t = contract.table
    with open(path, "rb") as fh:
        head = fh.readline()
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if not head.strip():
        raise ExtractError([Diagnostic(Loc(str(path)), "L005", f"table {t}: file is empty (no header line)")])
    text = head.decode("utf-8", "replace")
    if "," not in text:
        found = next((d for d in (";", "\t", "|") if d in text), None)
        if found:
            shown = {"\t": "tab"}.get(found, repr(found))
            raise ExtractError([Diagnostic(Loc(str(path)), "L007", f"table {t}: fields are separated by {shown}, "
                                             "expected ',' (comma-separated values)")])
    if not tail.endswith(b"\n"):
        problem = _csv_problem(path, t)
        if problem:
            raise ExtractError([problem])


def read_table(path: Path, contract: Contract, warnings: list | None = None) -> pl.DataFrame:
    if path.suffix == ".csv":
        _check_csv(path, contract)
    try:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except Exception as exc:  # polars raises several types; the user needs the file and the reason
        located = _csv_problem(path, contract.table) if path.suffix == ".csv" else None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExtractError([located or Diagnostic(Loc(str(path)), "L001",
                                                    f"table {contract.table}: file cannot be read: {reason}")]) from exc
    extra = sorted(set(frame.columns) - {c.name for c in contract.columns})
    if warnings is not None:
        warnings.extend(Diagnostic(Loc(str(path), 1, frame.columns.index(name) + 1), "L003",
                                   f"table {contract.table}: unexpected column '{name}' (ignored)", "warning")
                        for name in extra)
    return type_frame(frame, contract, path)


def load_extracts(directory: Path, contracts: dict[str, Contract] | None = None, strict: bool = True) -> Extracts:
    """Load every table found in `directory`; collect every problem before failing.

    With strict=False a table that cannot be read is left out whole (`rejected`) instead of failing the load,
    so validation can hold just the metrics that need it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ExtractError([Diagnostic(Loc(str(directory)), "L000", "data folder does not exist")])
    contracts = contracts or load_contracts()
    tables, sources, missing, problems, warnings, rejected = {}, [], [], [], [], {}
    for name, contract in contracts.items():
        path = find_file(directory, name)
        if path is None:
            missing.append(name)
            tables[name] = pl.DataFrame(schema=contract.schema)
            continue
        try:
            tables[name] = read_table(path, contract, warnings)
        except ExtractError as err:
            problems.extend(err.diagnostics)
            rejected[name] = tuple(d for d in err.diagnostics if d.severity == "error")
            tables[name] = pl.DataFrame(schema=contract.schema)
            continue
        sources.append(SourceFile(name, str(path), tables[name].height, path.stat().st_size, sha256(path)))
    if problems and strict:
        raise ExtractError(problems)
    return Extracts(tables, tuple(sources), tuple(missing), rejected, tuple(warnings))
