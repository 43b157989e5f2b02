"""What a reader can work out about each hidden count, and the audit that keeps every such range wide.

**The reader's model.** Every hidden count (cases, a proportion's or rate's numerator) and every hidden sum (an
exposure, an expected count) is an unknown. A reader knows: every published value; that published results add up
(strata to their unit, units to the whole population, providers to their network: the same sums as
`suppress.equations`); the links between metrics (`links.derive`: equal, or at most); that counts are whole and
not negative; and what each status says: "too few" means the volume is under the metric's minimum, a cell hidden
for privacy is not too few, so its volume is at least that minimum.

**The rule.** A hidden count of 1 to 10 must not be pinned down: the reader's range for it must reach both
`FLOOR` (1) and `CEILING` (11). The range is decided with HiGHS (through scipy): a count is safe upward when some
whole-number table that agrees with everything published has it at 11, and downward when one has it at 1.

**Cheap and sound.** Asking the whole table for every count is slow when nearly everything is hidden, so each
count is asked first in a small neighbourhood of it (the hidden cells in its sums, and in theirs), with every
other hidden cell held at its true value. Holding cells fixed only narrows what the program may do, so a count
that reaches 1 and 11 there reaches them in the whole table too; one that does not is asked again in a larger
neighbourhood, then in its whole connected part, and only one that is narrow there is narrow for the reader.
The neighbourhoods of many counts are solved as one program (independent blocks). Hiding one more cell only
widens every range, so a count found safe stays safe while the audit hides more around the others.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import highspy
import numpy as np
import polars as pl
import scipy.sparse as sp

from ..define.spec import COUNT_NUMERATOR_KINDS, EXPOSURE_KINDS, Catalog
from .links import Link

FLOOR, CEILING = 1, 11
QUANTITIES = ("cases", "numerator", "denominator", "expected")
CELL = ["period", "level", "unit_id", "stratum", "stratum_value"]
TOL = 1e-6


@dataclass
class Model:
    """The reader's linear system over the hidden quantities: A x = b (sums, equal links), G x <= g (at-most
    links, numerator <= cases), lb <= x <= ub, whole numbers where `integer`."""
    row_of: np.ndarray  # the results row of each unknown
    quantity: np.ndarray  # its index in QUANTITIES
    truth: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    A: sp.csr_matrix
    G: sp.csr_matrix
    slack: np.ndarray  # g - G @ truth (>= 0)
    var: np.ndarray  # (results row, quantity) -> unknown, or -1
    linked: dict  # results row -> rows of other metrics a link ties it to


def _present(catalog: Catalog, kinds: np.ndarray) -> np.ndarray:
    """Which quantities each row has: cases always, numerator if counted or a rate's, denominator if an
    exposure, expected if observed-to-expected."""
    return np.stack([np.ones(len(kinds), bool), np.isin(kinds, COUNT_NUMERATOR_KINDS),
                     np.isin(kinds, EXPOSURE_KINDS), kinds == "o_e"], axis=1)


def build(results: pl.DataFrame, hidden: np.ndarray, catalog: Catalog, eqs: list[np.ndarray],
          links: list[Link]) -> Model:
    metrics = catalog.metrics
    ids = results["metric_id"].to_numpy()
    kinds = np.array([metrics[i].kind for i in ids]) if len(ids) else np.array([], dtype=str)
    values = np.stack([results[c].cast(pl.Float64).fill_null(0).fill_nan(0).to_numpy() for c in QUANTITIES], axis=1)
    has = _present(catalog, kinds)
    hid = has & hidden[:, None]
    var = np.full(has.shape, -1, dtype=np.int64)
    var[hid] = np.arange(int(hid.sum()))
    row_of, quantity = np.nonzero(hid)
    truth = values[row_of, quantity]
    n = len(truth)
    lb, ub = np.zeros(n), np.full(n, np.inf)
    integer = np.isin(quantity, (0,)) | ((quantity == 1) & np.isin(kinds[row_of], COUNT_NUMERATOR_KINDS))
    # what a status says about the volume (cases, or a rate's exposure)
    status = results["status"].to_numpy()
    min_den = np.array([metrics[i].min_denominator for i in ids], dtype=float) if len(ids) else np.zeros(0)
    volume_q = np.where(kinds == "rate", 2, 0)
    is_volume = quantity == volume_q[row_of]
    too_few = status[row_of] == "too_few"
    private = np.isin(status[row_of], ("ok", "suppressed"))  # hidden for privacy: at least the minimum
    ub[is_volume & too_few] = np.where(integer, min_den[row_of] - 1, min_den[row_of])[is_volume & too_few]
    lb[is_volume & private] = min_den[row_of][is_volume & private]

    eq_rows: list[tuple[list[int], list[float], float]] = []
    in_rows: list[tuple[list[int], list[float], float]] = []

    def add(target, pairs):  # pairs: (results row, quantity, coefficient); published ones go to the right side
        cols, coefs, rhs = [], [], 0.0
        for r, q, c in pairs:
            v = var[r, q]
            if v >= 0:
                cols.append(int(v))
                coefs.append(c)
            else:
                rhs -= c * values[r, q]
        if cols:
            target.append((cols, coefs, rhs))

    for eq in eqs:
        if not hidden[eq].any():
            continue
        for q in np.flatnonzero(has[eq[0]]):
            add(eq_rows, [(int(eq[0]), q, 1.0)] + [(int(k), q, -1.0) for k in eq[1:]])
    linked: dict[int, set[int]] = {}
    if links:
        keyed = results.select("metric_id", *CELL).with_row_index("i")
        for link in links:
            a = keyed.filter(pl.col("metric_id") == link.small.metric)
            b = keyed.filter(pl.col("metric_id") == link.large.metric)
            pairs = a.join(b, on=CELL, how="inner", nulls_equal=True).select("i", "i_right").to_numpy()
            qa, qb = QUANTITIES.index(link.small.column), QUANTITIES.index(link.large.column)
            for i, j in pairs:
                if i != j:
                    linked.setdefault(int(i), set()).add(int(j))
                    linked.setdefault(int(j), set()).add(int(i))
                if hidden[i] or hidden[j]:
                    add(eq_rows if link.equal else in_rows, [(int(i), qa, 1.0), (int(j), qb, -1.0)])
    for r in np.flatnonzero(hidden & (kinds == "o_e")):  # an expected count is a sum of probabilities
        add(in_rows, [(int(r), 3, 1.0), (int(r), 0, -1.0)])

    def matrix(rows):
        if not rows:
            return sp.csr_matrix((0, n)), np.zeros(0)
        indptr = np.cumsum([0] + [len(c) for c, _, _ in rows])
        m = sp.csr_matrix((np.concatenate([f for _, f, _ in rows]), np.concatenate([c for c, _, _ in rows]),
                           indptr), shape=(len(rows), n))
        return m, np.array([r for _, _, r in rows])

    A, _ = matrix(eq_rows)
    G, g = matrix(in_rows)
    slack = g - G @ truth if G.shape[0] else np.zeros(0)
    return Model(row_of, quantity, truth, lb, ub, integer, A, G, np.maximum(slack, 0), var, linked)


def targets(results: pl.DataFrame, model: Model, catalog: Catalog) -> np.ndarray:
    """Unknowns that are a count of 1 to 10 to protect: a counted numerator, or the cases of a non-rate,
    in a cell hidden for privacy or held (not one the reader already knows is too few)."""
    kinds = np.array([catalog.metrics[i].kind for i in results["metric_id"].to_numpy()])[model.row_of]
    status = results["status"].to_numpy()[model.row_of]
    counted = ((model.quantity == 1) & np.isin(kinds, COUNT_NUMERATOR_KINDS)) | ((model.quantity == 0)
                                                                                 & (kinds != "rate"))
    small = (model.truth >= FLOOR) & (model.truth <= CEILING - 1)
    return np.flatnonzero(counted & small & ~np.isin(status, ("too_few", "not_applicable")))


def tables(results: pl.DataFrame, model: Model, links: list[Link]) -> list[np.ndarray]:
    """Groups of unknowns solved together: one quantity of one metric and period, joined with every quantity
    an equal link ties it to (a sibling's cases, another metric's numerator that is this one's cases)."""
    metric = results["metric_id"].to_numpy()[model.row_of]
    period = results["period"].to_numpy()[model.row_of]
    root: dict[tuple, tuple] = {}

    def find(k):
        while root.get(k, k) != k:
            k = root[k]
        return k
    for link in links:
        if link.equal:
            a = find((link.small.metric, QUANTITIES.index(link.small.column)))
            b = find((link.large.metric, QUANTITIES.index(link.large.column)))
            if a != b:
                root[max(a, b)] = min(a, b)
    keys = [(*find((m, int(q))), p) for m, q, p in zip(metric.tolist(), model.quantity.tolist(), period.tolist())]
    groups: dict[tuple, list[int]] = {}
    for v, k in enumerate(keys):
        groups.setdefault(k, []).append(v)
    return [np.array(g, dtype=np.int64) for g in groups.values()]


def parts(model: Model) -> list[np.ndarray]:
    """The connected parts of the whole system: unknowns joined by any sum, link or bound between them."""
    from scipy.sparse.csgraph import connected_components
    cons = sp.vstack([model.A, model.G]).tocsr()
    inc = sp.csr_matrix((np.ones(cons.nnz), cons.indices, cons.indptr), shape=cons.shape)
    n, label = connected_components(inc.T @ inc, directed=False)
    order = np.argsort(label, kind="stable")
    return np.split(order, np.cumsum(np.bincount(label, minlength=n))[:-1])


def _block(model: Model, cols: np.ndarray):
    """The program restricted to `cols`, every other unknown held at its true value (holding unknowns fixed
    only narrows what the program may do, so a range found wide here is wide for the reader too)."""
    A = model.A[:, cols]
    A = A[np.flatnonzero(A.getnnz(axis=1))]
    G = model.G[:, cols]
    rg = np.flatnonzero(G.getnnz(axis=1))
    G = G[rg]
    return A, A @ model.truth[cols], G, G @ model.truth[cols] + model.slack[rg]


def _quiet_highs() -> highspy.Highs:
    """A HiGHS instance that writes nothing (its first construction in a process prints a banner on the C
    level standard output, which `carescore run` must not)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def _highs(model: Model, cols: np.ndarray):
    A, b, G, g = _block(model, cols)
    M = sp.vstack([A, G]).tocsc() if G.shape[0] else A.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), M.shape[0]
    lp.col_cost_ = np.zeros(len(cols))
    lp.col_lower_ = model.lb[cols]
    lp.col_upper_ = np.where(np.isfinite(model.ub[cols]), model.ub[cols], highspy.kHighsInf)
    lp.row_lower_ = np.concatenate([b, np.full(G.shape[0], -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate([b, g])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = M.indptr, M.indices, M.data
    h = _quiet_highs()
    h.passModel(lp)
    return h


def audit(model: Model, wanted: np.ndarray, groups: list[np.ndarray]) -> dict[int, tuple[bool, bool]]:
    """For each unknown in `wanted`: whether the reader's range reaches CEILING (up) and FLOOR (down).

    Each group is one program; its targets are asked in turn by changing only the objective (HiGHS starts
    from the last basis), and every solution also answers for the other targets it happens to carry far
    enough."""
    wanted = np.asarray(wanted, dtype=np.int64)
    up, down = model.truth[wanted] >= CEILING, model.truth[wanted] <= FLOOR
    group_of = np.full(len(model.truth), -1, dtype=np.int64)
    for k, g in enumerate(groups):
        group_of[g] = k
    for k in np.unique(group_of[wanted]).tolist():
        mine = np.flatnonzero(group_of[wanted] == k)
        cols = groups[k]
        pos = np.searchsorted(cols, wanted[mine])
        h = None
        for j, p in zip(mine.tolist(), pos.tolist()):
            for side, sense in ((up, -1.0), (down, 1.0)):  # raise: minimize -x; lower: minimize x
                if side[j]:
                    continue
                h = _highs(model, cols) if h is None else h
                h.changeColCost(p, sense)
                h.run()
                status = h.getModelStatus()
                if status == highspy.HighsModelStatus.kUnbounded and side is up:
                    up[j] = True
                elif status == highspy.HighsModelStatus.kOptimal:
                    x = np.asarray(h.getSolution().col_value)[pos]
                    up[mine] |= x >= CEILING - TOL
                    down[mine] |= x <= FLOOR + TOL
                # any other status leaves the count narrow: the audit hides more rather than trust it
                h.changeColCost(p, 0.0)
    return {int(v): (bool(u), bool(d)) for v, u, d in zip(wanted, up, down)}


def _next_to(row: int, eqs, member_of, linked) -> set[int]:
    """The cells in a sum with `row`, and those a link ties to it or to them."""
    near = {int(i) for e in member_of[row] for i in eqs[e]} | linked.get(row, set())
    return near | {j for i in near for j in linked.get(i, ())}


def _rings(row: int, hidden: np.ndarray, size: np.ndarray, eqs, member_of, linked, want: int) -> list[int]:
    """Up to `want` published cells nearest `row` through sums and links, nearest ring first and smallest
    first within a ring."""
    seen, frontier, out = {row}, [row], []
    while frontier and len(out) < want:
        ring = {i for c in frontier for i in _next_to(c, eqs, member_of, linked)} - seen
        seen |= ring
        out += sorted((i for i in ring if not hidden[i]), key=lambda i: (size[i], i))
        frontier = [i for i in ring if hidden[i]]
    return out[:want]


def _candidates(row: int, ok: tuple[bool, bool], truth: float, q: int, hidden: np.ndarray, size: np.ndarray,
                values: np.ndarray, bounded: np.ndarray, eqs, member_of, linked, want: int) -> list[int]:
    """Published cells to hide next to a narrow count, best first: those in one of its sums with room to give
    what it lacks (to rise to CEILING a cell must be able to fall as far; to fall to FLOOR, one must be able to
    rise: a numerator up to its cases), smallest first; failing any in its sums, the nearest published cell."""
    near = np.array(sorted({int(i) for e in member_of[row] for i in eqs[e] if not hidden[i]}), dtype=np.int64)
    if not len(near):  # nothing left in its own sums: those of the cells a link ties it to
        near = np.array(sorted(i for i in _next_to(row, eqs, member_of, linked) if not hidden[i]), dtype=np.int64)
    if not len(near):
        return _rings(row, hidden, size, eqs, member_of, linked, want)
    lacks = np.zeros(len(near), dtype=int)
    if not ok[0]:
        lacks += values[near, q] < CEILING - truth
    if not ok[1]:
        rise = np.where(bounded[near] & (q == 1), values[near, 0] - values[near, 1], np.inf)
        lacks += rise < truth - FLOOR
    return near[np.lexsort((near, size[near], lacks))][:want].tolist()


def protect(results: pl.DataFrame, hidden: np.ndarray, catalog: Catalog, eqs: list[np.ndarray],
            links: list[Link], member_of, reclose) -> tuple[np.ndarray, dict]:
    """Hide more cells until every hidden small count's range reaches FLOOR and CEILING. `reclose(hidden)`
    re-applies the sum-by-sum and exact rules after each round."""
    hidden = hidden.copy()
    size = results["cases"].fill_null(0).to_numpy()
    values = np.stack([results[c].cast(pl.Float64).fill_null(0).fill_nan(0).to_numpy() for c in QUANTITIES], axis=1)
    account = {"targets": 0, "rounds": 0, "hidden_for_range": 0, "narrow_left": 0}
    recheck, strikes = None, {}
    kinds = np.array([catalog.metrics[i].kind for i in results["metric_id"].to_numpy()])
    bounded = np.isin(kinds, ("proportion", "o_e"))  # numerator at most cases
    while True:
        model = build(results, hidden, catalog, eqs, links)
        wanted = targets(results, model, catalog)
        if recheck is None:
            account["targets"] = len(wanted)
        else:
            wanted = np.array([v for v in wanted if (model.row_of[v], model.quantity[v]) in recheck], dtype=np.int64)
        verdict = audit(model, wanted, tables(results, model, links))
        narrow = {v: ok for v, ok in verdict.items() if not all(ok)}
        # narrow with the other quantities held fixed: ask the whole part before hiding more
        if narrow and recheck is not None:
            verdict = audit(model, np.array(sorted(narrow), dtype=np.int64), parts(model))
            narrow = {v: ok for v, ok in verdict.items() if not all(ok)}
        if not narrow:
            break
        before = hidden.copy()
        for v in narrow:
            key = (int(model.row_of[v]), int(model.quantity[v]))
            strikes[key] = strikes.get(key, 0) + 1  # a count still narrow gets twice as many cells each round
            picks = _candidates(key[0], narrow[v], model.truth[v], key[1], hidden, size, values, bounded, eqs,
                                member_of, model.linked, 2 ** (strikes[key] - 1))
            hidden[picks] = True
        if (hidden == before).all():
            account["narrow_left"] = len(narrow)
            break
        hidden = reclose(hidden)
        account["rounds"] += 1
        account["hidden_for_range"] += int((hidden & ~before).sum())
        recheck = {(int(model.row_of[v]), int(model.quantity[v])) for v in narrow}
    return hidden, account
