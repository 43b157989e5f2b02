"""The exact audit's kernel: which unknowns a system of sums fixes, checked against rational arithmetic."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from carescore.compute.suppress import fixed_unknowns


def _rank(rows: list[list[Fraction]]) -> int:
    """Rank by Gaussian elimination over the rationals (slow, exact, written independently)."""
    m = [r[:] for r in rows]
    rank, cols = 0, len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((i for i in range(rank, len(m)) if m[i][c] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for i in range(len(m)):
            if i != rank and m[i][c] != 0:
                f = m[i][c] / m[rank][c]
                m[i] = [x - f * y for x, y in zip(m[i], m[rank])]
        rank += 1
    return rank


def _fixed_by_rank(a: np.ndarray) -> list[bool]:
    """x_j is fixed by a x = b exactly when the unit vector e_j lies in the row space of a."""
    rows = [[Fraction(int(x)) for x in r] for r in a]
    base = _rank(rows)
    n = a.shape[1]
    return [_rank(rows + [[Fraction(int(k == j)) for k in range(n)]]) == base for j in range(n)]


def fixed_columns(a: np.ndarray) -> list[bool]:
    return fixed_unknowns([{j: int(v) for j, v in enumerate(row) if v} for row in a], a.shape[1]).tolist()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 7).flatmap(lambda n: st.lists(st.lists(st.sampled_from([-1, 0, 0, 1]), min_size=n, max_size=n),
                                                    min_size=1, max_size=8)))
def test_fixed_columns_match_rational_rank(rows):
    a = np.array(rows, dtype=np.int64)
    assert fixed_columns(a) == _fixed_by_rank(a)


def test_a_sum_with_two_hidden_members_fixes_neither_but_a_second_sum_fixes_both():
    one = np.array([[1, -1, 0]])  # parent - child = known
    assert fixed_columns(one) == [False, False, False]
    two = np.array([[1, -1, 0], [0, 1, 1], [1, 0, 1]])  # rank 2 over three unknowns: none fixed
    assert fixed_columns(two) == [False, False, False]
    three = np.array([[1, -1, 0], [0, 1, 0]])
    assert fixed_columns(three) == [True, True, False]
