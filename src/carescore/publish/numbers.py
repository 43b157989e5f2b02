"""How carescore writes a number for people, everywhere it shows one: the app's pages, `carescore explain`,
exports meant for reading. One formatter, so a result reads the same in every place (72%, not 72% here and
72.0% there)."""

from __future__ import annotations

import math


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def value(v, unit: str) -> str:
    """A value the way a person reads it: 72%, 4.1 per 1,000, $1,234, 0.95×. A percentage below 10% keeps one
    decimal (4.5%), where a whole number would round away half of it."""
    if missing(v):
        return "–"
    if unit == "percent":
        return f"{v * 100:.1f}%" if 0 < abs(v) < 0.1 else f"{v * 100:.0f}%"
    if unit == "per_1000":
        return f"{v:,.1f} per 1,000"
    if unit == "dollars":
        return f"${v:,.0f}"
    if unit == "ratio":
        return f"{v:.2f}×"
    return f"{v:,.0f}" if unit == "count" else f"{v:,.1f}"


def count(n) -> str:
    """Counts of people or events. A count of 1-10 is never written out, even if one reached here by mistake:
    the pipeline suppresses them, and this is the second lock on the same door."""
    if missing(n):
        return "–"
    return "fewer than 11" if 1 <= n <= 10 else f"{n:,.0f}"
