"""Files people open in spreadsheets: text that starts like a formula is neutralized (CSV injection).

`safe_csv` is the one CSV writer for anything a person downloads or is sent (app download buttons, CLI
exports). Following OWASP's CSV-injection guidance, a cell (or header) that starts with =, +, -, @, a tab or a
carriage return gets a leading single quote, so a spreadsheet shows it as text instead of running it; a plain
negative number is left alone, as it cannot run anything. Fields are quoted by the writer as usual.
"""

from __future__ import annotations

import re

import polars as pl

_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^-\d+(\.\d+)?$"


def _formula(c: str) -> pl.Expr:
    """A cell a spreadsheet would run as a formula."""
    return pl.col(c).str.contains(_FORMULA) & ~pl.col(c).str.contains(_NUMBER)


def _safe_name(name: str) -> str:
    return "'" + name if re.match(_FORMULA, name) and not re.match(_NUMBER, name) else name


def neutralize(frame: pl.DataFrame) -> pl.DataFrame:
    # Categorical and Enum columns hold text too (a provider name may be one): they are written as text.
    text = [c for c, t in frame.schema.items() if t in (pl.Utf8, pl.Categorical) or isinstance(t, pl.Enum)]
    frame = frame.with_columns([pl.col(c).cast(pl.Utf8) for c in text])
    frame = frame.with_columns([
        pl.when(_formula(c)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in text])
    return frame.rename({c: _safe_name(c) for c in frame.columns})


def safe_csv(frame: pl.DataFrame) -> str:
    return neutralize(frame).write_csv()
