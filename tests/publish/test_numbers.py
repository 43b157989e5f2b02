"""One number formatter: the app's pages and `carescore explain` write a result the same way."""

import pytest

from carescore.publish import explain, numbers
from lib import data as ad

CASES = [
    (0.72, "percent", "72%"),
    (0.7249, "percent", "72%"),
    (0.045, "percent", "4.5%"),
    (0.0, "percent", "0%"),
    (4.123, "per_1000", "4.1 per 1,000"),
    (1234.4, "dollars", "$1,234"),
    (0.954, "ratio", "0.95×"),
    (1500.0, "count", "1,500"),
    (None, "percent", "–"),
    (float("nan"), "dollars", "–"),
]


@pytest.mark.parametrize(("v", "unit", "text"), CASES)
def test_a_value_reads_the_same_on_the_pages_and_in_explain(v, unit, text):
    assert numbers.value(v, unit) == text
    assert ad.fmt_value({"unit": unit}, v) == text
    shown = explain._number(v, unit)
    assert shown == "–" if text == "–" else shown == f"{text} [{v:.6g}]"


def test_a_small_count_is_never_written_out():
    assert [numbers.count(n) for n in (None, 0, 1, 10, 11, 2500)] == ["–", "0", "fewer than 11", "fewer than 11",
                                                                     "11", "2,500"]
