"""Files people open in spreadsheets: text that starts like a formula is neutralized (CSV injection)."""

from __future__ import annotations

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(frame: pl.DataFrame) -> pl.DataFrame:
    text = [c for c, t in frame.schema.items() if t == pl.Utf8]
    return frame.with_columns([
        pl.when(pl.col(c).str.starts_with("=") | pl.col(c).str.starts_with("+") | pl.col(c).str.starts_with("@")
                | (pl.col(c).str.starts_with("-") & ~pl.col(c).str.contains(r"^-?\d+(\.\d+)?$"))
                | pl.col(c).str.starts_with("\t") | pl.col(c).str.starts_with("\r"))
        .then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in text])


def safe_csv(frame: pl.DataFrame) -> str:
    return neutralize(frame).write_csv()
