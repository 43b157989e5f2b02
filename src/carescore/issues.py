"""Collected, located problems: every stage reports all of them at once, like a compiler."""

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
