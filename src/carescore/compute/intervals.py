"""What a reader can work out about each hidden count, and the audit that keeps every such range wide.

**The reader's model.** Every hidden count (cases, a proportion's or rate's numerator) and every hidden sum (an
exposure, an expected count) is an unknown. A reader knows: every published value; that published results add up
(strata to their unit, units to the whole population, providers to their network: the same sums as
`suppress.equations`); the links between metrics (`links.derive`: equal, or at most); that counts are whole and
not negative; and what each status says: "too few" means the volume is under the metric's minimum, a cell hidden
for privacy is not too few, so its volume is at least that minimum.

**The rule.** A hidden count of 1 to 10 must not be pinned down: the reader's range for it must reach both
`FLOOR` (1) and `CEILING` (11). Ranges are those of the linear program (no whole-number check), solved with
HiGHS (`highspy`).

**Cheap and sound.** Each count is asked first in its table (one quantity of one metric and period, joined
through equal links), with every other unknown held at its true value. Holding unknowns fixed only narrows
what the program may do, so a count that reaches 1 and 11 there reaches them for the reader too. In a table
all its counts are first raised together (each at most to 11), then each still open one alone, changing only
the objective so HiGHS starts from the last basis. A count still narrow after a round of hiding is asked
again in its whole connected part. Hiding one more cell only widens every range, so a count found safe stays
safe while the audit hides more around the others.
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
    links, numerator <= cases), lb <= x <= ub."""
    row_of: np.ndarray  # the results row of each unknown
    quantity: np.ndarray  # its index in QUANTITIES
    truth: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    A: sp.csr_matrix
    G: sp.csr_matrix
    slack: np.ndarray  # g - G @ truth (>= 0)
    var: np.ndarray  # (results row, quantity) -> unknown, or -1
    linked: sp.csr_matrix  # results row -> rows of other metrics a link ties it to
    kind: np.ndarray  # each results row's metric kind


def _present(kinds: np.ndarray) -> np.ndarray:
    """Which quantities each row has: cases always, numerator if counted or a rate's, denominator if an
    exposure, expected if observed-to-expected."""
    return np.stack([np.ones(len(kinds), bool), np.isin(kinds, COUNT_NUMERATOR_KINDS),
                     np.isin(kinds, EXPOSURE_KINDS), kinds == "o_e"], axis=1)


def _values(results: pl.DataFrame) -> np.ndarray:
    """Each row's true quantities (0 where a kind has none)."""
    return np.stack([results[c].cast(pl.Float64).fill_null(0).fill_nan(0).to_numpy() if c in results.columns
                     else np.zeros(results.height) for c in QUANTITIES], axis=1)


def build(results: pl.DataFrame, hidden: np.ndarray, catalog: Catalog, eqs: list[np.ndarray],
          links: list[Link]) -> Model:
    metrics = catalog.metrics
    ids = results["metric_id"].to_numpy()
    kinds = np.array([metrics[i].kind for i in ids]) if len(ids) else np.array([], dtype=str)
    values = _values(results)
    has = _present(kinds)
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

    nrows = results.height

    def relations(parts):
        """Rows of a sparse system from (relation, results row, quantity, coefficient) arrays: published
        quantities go to the right-hand side; relations with no unknown are dropped."""
        if not parts:
            return sp.csr_matrix((0, n)), np.zeros(0)
        rel, row, q, coef = (np.concatenate(x) for x in zip(*parts))
        v = var[row, q]
        known = v < 0
        rhs = np.zeros(int(rel.max()) + 1)
        np.subtract.at(rhs, rel[known], coef[known] * values[row[known], q[known]])
        used, rel = np.unique(rel[~known], return_inverse=True)
        return sp.csr_matrix((coef[~known], (rel, v[~known])), shape=(len(used), n)), rhs[used]

    eq_parts, in_parts, base = [], [], 0
    if eqs:
        lengths = np.array([len(e) for e in eqs])
        members = np.concatenate(eqs)
        which = np.repeat(np.arange(len(eqs)), lengths)
        coef = np.where(np.arange(len(members)) == np.repeat(np.cumsum(lengths) - lengths, lengths), 1.0, -1.0)
        touched = np.zeros(len(eqs), dtype=bool)
        np.logical_or.at(touched, which, hidden[members])
        keep = touched[which]
        members, which, coef = members[keep], which[keep], coef[keep]
        for q in range(len(QUANTITIES)):
            on = has[members, q]
            eq_parts.append((which[on] * len(QUANTITIES) + q, members[on], np.full(on.sum(), q), coef[on]))
        base = len(eqs) * len(QUANTITIES)
    pairs_i, pairs_j = [], []
    if links:
        keyed = results.select("metric_id", *CELL).with_row_index("i")
        for link in links:
            a = keyed.filter(pl.col("metric_id") == link.small.metric)
            b = keyed.filter(pl.col("metric_id") == link.large.metric)
            ij = a.join(b, on=CELL, how="inner", nulls_equal=True).select("i", "i_right").to_numpy().astype(np.int64)
            i, j = ij[:, 0], ij[:, 1]
            pairs_i.append(i)
            pairs_j.append(j)
            on = hidden[i] | hidden[j]
            i, j = i[on], j[on]
            rel = base + np.arange(len(i))
            base += len(i)
            qa, qb = QUANTITIES.index(link.small.column), QUANTITIES.index(link.large.column)
            part = (np.concatenate([rel, rel]), np.concatenate([i, j]),
                    np.concatenate([np.full(len(i), qa), np.full(len(j), qb)]),
                    np.concatenate([np.ones(len(i)), -np.ones(len(j))]))
            (eq_parts if link.equal else in_parts).append(part)
    oe = np.flatnonzero(hidden & (kinds == "o_e"))  # an expected count is a sum of probabilities
    rel = base + np.arange(len(oe))
    in_parts.append((np.concatenate([rel, rel]), np.concatenate([oe, oe]),
                     np.concatenate([np.full(len(oe), 3), np.zeros(len(oe), dtype=np.int64)]),
                     np.concatenate([np.ones(len(oe)), -np.ones(len(oe))])))
    A, _ = relations(eq_parts)
    G, g = relations(in_parts)
    slack = g - G @ truth if G.shape[0] else np.zeros(0)
    i = np.concatenate(pairs_i) if pairs_i else np.zeros(0, dtype=np.int64)
    j = np.concatenate(pairs_j) if pairs_j else np.zeros(0, dtype=np.int64)
    other = i != j
    linked = sp.csr_matrix((np.ones(2 * other.sum()), (np.concatenate([i[other], j[other]]),
                                                       np.concatenate([j[other], i[other]]))), shape=(nrows, nrows))
    return Model(row_of, quantity, truth, lb, ub, A, G, np.maximum(slack, 0), var, linked, kinds)


def targets(results: pl.DataFrame, model: Model) -> np.ndarray:
    """Unknowns that are a count of 1 to 10 to protect: a counted numerator, or the cases of a non-rate,
    in a cell hidden for privacy or held (not one the reader already knows is too few)."""
    kinds = model.kind[model.row_of]
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

        def settle(h, pos=pos, mine=mine):  # a solution answers for every count of the group it carries far enough
            x = np.asarray(h.getSolution().col_value)[pos]
            up[mine] |= x >= CEILING - TOL
            down[mine] |= x <= FLOOR + TOL
        h = None
        if len(mine) > 1:  # first all at once, each raised at most to CEILING: one solve answers for many
            h = _highs(model, cols)
            upper = np.asarray(h.getLp().col_upper_)[pos]
            for side, sense in ((up, -1.0), (down, 1.0)):
                ask = ~side[mine]
                if not ask.any():
                    continue
                idx = pos[ask].astype(np.int32)
                if side is up:
                    h.changeColsBounds(len(idx), idx, np.asarray(h.getLp().col_lower_)[idx],
                                       np.minimum(upper[ask], CEILING))
                h.changeColsCost(len(idx), idx, np.full(len(idx), sense))
                h.run()
                if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                    settle(h)
                h.changeColsCost(len(idx), idx, np.zeros(len(idx)))
                if side is up:
                    h.changeColsBounds(len(idx), idx, np.asarray(h.getLp().col_lower_)[idx], upper[ask])
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
                    settle(h)
                # any other status leaves the count narrow: the audit hides more rather than trust it
                h.changeColCost(p, 0.0)
    return {int(v): (bool(u), bool(d)) for v, u, d in zip(wanted, up, down)}


def _next_to(row: int, eqs, member_of, linked) -> set[int]:
    """The cells in a sum with `row`, and those a link ties to it or to them."""
    def tied(i):
        return linked.indices[linked.indptr[i]:linked.indptr[i + 1]].tolist()
    near = {int(i) for e in member_of[row] for i in eqs[e]} | set(tied(row))
    return near | {j for i in near for j in tied(i)}


def _rings(row: int, hidden: np.ndarray, size: np.ndarray, total: np.ndarray, eqs, member_of, linked,
           want: int) -> list[int]:
    """Up to `want` published cells nearest `row` through sums and links, nearest ring first, and within a ring
    patient groups before totals, smallest first."""
    seen, frontier, out = {row}, [row], []
    while frontier and len(out) < want:
        ring = {i for c in frontier for i in _next_to(c, eqs, member_of, linked)} - seen
        seen |= ring
        out += sorted((i for i in ring if not hidden[i]), key=lambda i: (total[i], size[i], i))
        frontier = [i for i in ring if hidden[i]]
    return out[:want]


def _candidates(row: int, ok: tuple[bool, bool], truth: float, q: int, hidden: np.ndarray, size: np.ndarray,
                values: np.ndarray, bounded: np.ndarray, total: np.ndarray, eqs, member_of, linked,
                want: int) -> list[int]:
    """Published cells to hide next to a narrow count: from its own sums (failing those, the sums of cells a
    link ties it to, then further out), patient groups before any unit's or population's total, the smallest
    counts first, as many as together give the room it lacks (to rise to CEILING others must fall as far; to
    fall to FLOOR others must rise: a numerator up to its cases), and `want` more."""
    near = np.array(sorted({int(i) for e in member_of[row] for i in eqs[e] if not hidden[i]}), dtype=np.int64)
    if not len(near):
        near = np.array(sorted(i for i in _next_to(row, eqs, member_of, linked) if not hidden[i]), dtype=np.int64)
    near = near[np.lexsort((near, size[near], values[near, q], total[near]))] if len(near) else near
    if not len(near) or total[near].all():  # a patient group further out before a total close by
        further = [i for i in _rings(row, hidden, size, total, eqs, member_of, linked, 64) if not total[i]]
        near = np.concatenate([np.array(further, dtype=np.int64), near]) if further else near
    if (~total[near]).any():  # a total only when no patient group is left to hide
        near = near[~total[near]]
    if not len(near):
        return []
    room = np.full(len(near), np.inf)
    if not ok[0]:
        room = np.minimum(room, values[near, q] / (CEILING - truth))
    if not ok[1]:
        rise = np.where(bounded[near] & (q == 1), values[near, 0] - values[near, 1], np.inf)
        room = np.minimum(room, rise / max(truth - FLOOR, 1))
    enough = int(np.searchsorted(np.cumsum(np.minimum(room, 1)), 1 - TOL)) + 1
    return near[:enough + want - 1].tolist()


def protect(results: pl.DataFrame, hidden: np.ndarray, catalog: Catalog, eqs: list[np.ndarray],
            links: list[Link], member_of, reclose) -> tuple[np.ndarray, dict]:
    """Hide more cells until every hidden small count's range reaches FLOOR and CEILING. `reclose(hidden)`
    re-applies the sum-by-sum and exact rules after each round."""
    hidden = hidden.copy()
    size = results["cases"].fill_null(0).to_numpy()
    values = _values(results)
    account = {"targets": 0, "rounds": 0, "hidden_for_range": 0, "narrow_left": 0}
    recheck, strikes = None, {}
    kinds = np.array([catalog.metrics[i].kind for i in results["metric_id"].to_numpy()])
    bounded = np.isin(kinds, ("proportion", "o_e"))  # numerator at most cases
    total = (results["stratum"] == "all").to_numpy()
    while True:
        model = build(results, hidden, catalog, eqs, links)
        wanted = targets(results, model)
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
            picks = _candidates(key[0], narrow[v], model.truth[v], key[1], hidden, size, values, bounded, total,
                                eqs, member_of, model.linked, 2 ** (strikes[key] - 1))
            hidden[picks] = True
        if (hidden == before).all():
            account["narrow_left"] = len(narrow)
            break
        hidden = reclose(hidden)
        account["rounds"] += 1
        account["hidden_for_range"] += int((hidden & ~before).sum())
        recheck = {(int(model.row_of[v]), int(model.quantity[v])) for v in narrow}
    return hidden, account
