"""Files people open in spreadsheets: text that starts like a formula is neutralized (CSV injection)."""

from __future__ import annotations

import polars as pl


def _formula(c: str) -> pl.Expr:
    """A cell a spreadsheet would run as a formula; a plain negative number is left alone."""
    return pl.col(c).str.contains(r"^[=+@\t\r]") | (pl.col(c).str.starts_with("-")
                                                    & ~pl.col(c).str.contains(r"^-\d+(\.\d+)?$"))


def neutralize(frame: pl.DataFrame) -> pl.DataFrame:
    text = [c for c, t in frame.schema.items() if t == pl.Utf8]
    return frame.with_columns([
        pl.when(_formula(c)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in text])


def safe_csv(frame: pl.DataFrame) -> str:
    return neutralize(frame).write_csv()
