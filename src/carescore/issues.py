"""Collected, located problems: every stage reports all of them at once, like a compiler.

Every diagnostic code carescore gives is in CODES with what it means (tests/define/test_codes.py keeps the list and
the code in step). A code keeps its meaning for good: a retired code is not given to something else."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    path: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    loc: Loc
    code: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.loc}: {self.severity}[{self.code}] {self.message}"


class CarescoreError(Exception):
    """A user's mistake or a failing environment, said in full: every located diagnostic of a stage (str() lists
    them one per line), or one sentence. The command line prints it as it is and exits 1; any other exception
    is a bug. Raise the subclass of the stage that found it."""

    def __init__(self, problems: list[Diagnostic] | str):
        if isinstance(problems, str):
            self.diagnostics: list[Diagnostic] = []
            super().__init__(problems)
            return
        self.diagnostics = sorted(problems, key=lambda d: (d.loc.path, d.loc.line, d.loc.col, d.code))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class DefinitionError(CarescoreError):
    """What a YAML file says: metrics, fact views, shared definitions, table contracts."""


class ExtractError(CarescoreError):
    """Extracts that cannot be read as their contract says (canonical files, a Synthea export, the demo)."""


class QualityError(CarescoreError):
    """Data quality that stops a run."""


class ComputeError(CarescoreError):
    """Computing results: the engine, statistics, equity."""


class PublishError(CarescoreError):
    """The publication: writing, reading, explaining and comparing runs."""


class PayerError(CarescoreError):
    """Payer tools: star methods and ratings, incentive scenarios and their measures."""


def did_you_mean(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


CODES = {
    # Any YAML file carescore reads (metrics, fact views, definitions.yaml, contracts, star methods, scenarios):
    # the reader, carescore.yamldoc.
    "M000": "a file or folder to read does not exist or cannot be read",
    "M001": "YAML syntax error",
    "M002": "a required key is missing",
    "M003": "unknown key (with the closest known key)",
    "M004": "a single value of the wrong type, or out of its range (text, a whole number >= 1, true or false...)",
    "M005": "a value outside its fixed set of choices (with the closest choice)",
    "M006": "the file is not text: not UTF-8, a control character, or an unpaired surrogate escape",
    "M007": "the file is empty",
    "M008": "lists and mappings nested more than 50 levels deep, or more than 100,000 values once aliases expand",
    "M009": "a key appears twice in the same mapping",
    "M035": "wrong shape: a single value, a list or a mapping where another is expected (the file itself included)",
    # Metric definitions (metrics/<domain>/*.yaml)
    "M010": "unknown fact in 'from'",
    "M011": "an expression cannot be parsed, is empty, or holds a second statement",
    "M012": "unknown column in an expression",
    "M013": "an expression of the wrong type (a number where a condition is needed, or the reverse)",
    "M014": "a function, subquery or qualified column not allowed in a metric expression",
    "M015": "a level the fact has no unit column for",
    "M016": "unknown stratum or risk-adjustment column",
    "M017": "an expression nested too deeply",
    "M020": "two metric files share an id",
    "M021": "kind and its companion keys disagree (o_e without risk_adjustment, rate without denominator...)",
    "M022": "id does not match the file name",
    "M030": "reporting is not a mapping such as {min_denominator: 25}",
    "M031": "benchmark is not a mapping such as {target: 0.14}",
    "M032": "exclusions is not a mapping of name to condition",
    "M033": "risk_adjustment (or its 'by') has the wrong shape",
    "M034": "levels or stratify_by is not a list of names",
    "M036": "benchmark.target is not a number",
    # Fact views (metrics/facts/*.yaml) and shared definitions (metrics/definitions.yaml)
    "F003": "a fact declares no 'period' column",
    "F004": "a unit column is not a declared column",
    "F005": "a shared definition's SQL cannot be parsed",
    "F006": "a shared definition called with the wrong number of arguments",
    "F007": "a fact view's SQL cannot be parsed",
    "F010": "a fact view does not run on the extracts",
    "F011": "a fact view does not produce a column it declares",
    "F020": "not exactly one SELECT (one expression for a definition): a second statement or another statement kind",
    "F021": "a table the view does not require, or a qualified table name",
    "F022": "a table function (read_csv, glob...) in a fact view",
    "F023": "a function or construct not allowed in a fact view or definition (with recursive included)",
    "F024": "fact view SQL nested too deeply",
    "F025": "requires names a table that is not canonical",
    "F027": "parents names a level that is not one of the fact's units",
    # Table contracts (data/contracts/*.yaml)
    "C001": "the table name does not match the file name",
    "C002": "primary_key, not_before or freshness.column names an undeclared column",
    "C003": "references does not name a column of another contract",
    "C004": "pattern is not a regular expression",
    # Extracts (canonical files)
    "L000": "the data folder does not exist",
    "L001": "a file cannot be read",
    "L002": "a column the contract declares is missing",
    "L003": "a column the contract does not declare (a warning: it is ignored)",
    "L004": "a value cannot be read as the column's type",
    "L005": "the file is empty (no header line)",
    "L006": "the file is not UTF-8",
    "L007": "fields are separated by something other than a comma",
    "L008": "a record has the wrong number of fields, or an unterminated quote (a truncated file)",
    # Synthea exports
    "S001": "not a Synthea CSV export (a required file is missing)",
    "S002": "a Synthea file cannot be read",
    "S003": "a Synthea file lacks a column",
    # Data quality (a rule of a contract failed; carescore.dq.validate)
    "Q001": "a table cannot be read with its contract's types",
    "Q002": "a table has no rows",
    "Q003": "row count outside the tolerance of the last accepted cut",
    "Q004": "a provider's row count below its share of the last accepted cut",
    "Q005": "the latest date is too old (freshness)",
    "Q010": "duplicate primary key",
    "Q011": "an empty value in a column that is never empty",
    "Q012": "a value outside the allowed ones",
    "Q013": "a value outside min/max",
    "Q014": "a value that does not match the pattern",
    "Q015": "a date after the as-of day",
    "Q016": "a date too far before the as-of day (max_age_years)",
    "Q017": "a date before the column it must not precede",
    "Q018": "a reference to a row that does not exist",
    "Q019": "text longer than max_length",
    "Q020": "text a spreadsheet would run as a formula",
    "Q021": "NaN or infinity in a number column",
    "Q100": "every metric would be on data-quality hold: the run is not published",
    # Computing
    "E001": "a metric does not run on its fact",
    # Star methods (methods/*.yaml)
    "S005": "a measure is in two groups",
    "S006": "require_one_of names an unknown group",
    # Payer scenarios (scenarios/*.yaml)
    "I002": "a setting another one needs is missing (a withhold without base_payment, measures without domains)",
    "I003": "a measure names an unknown domain",
    "I004": "threshold, benchmark or floor is neither a number nor a provider statistic",
}
# Retired, never to be given again: F002 and F026 (now M005 and M035), I001 (M003), I005 and S004 (M004),
# S003 of star methods and Y001-Y003 (M005, M001, M002), M004 for a file that is not a mapping (M035).
