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
    """Raised with every diagnostic of a stage; str() lists them one per line."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.loc.path, d.loc.line, d.loc.col, d.code))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def did_you_mean(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
