"""An outside reader's linear program, built from what is public only: the public table, the units table and the
metric definitions. Written apart from carescore.compute (no import from it) so that it can catch what the
audit misses.

What the reader uses: published values; that strata add up to their unit, providers to their network, and units
of a level to at most the whole population (which also holds people attributed to no unit, not listed); that
counts are not negative and a numerator is at most its cases; that "too few" means the volume is under the
metric's minimum and any other hidden cell is not too few; and that metrics over the same fact whose conditions
(as written in their definitions) are the same, or one a part of the other, count the same or fewer rows.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.optimize import linprog

KEY = ["metric_id", "period", "level", "unit_id", "stratum", "stratum_value"]
CELL = KEY[1:]
COUNTED = ("proportion", "rate", "o_e")
EXPOSURE = ("rate", "ratio", "per_member_per_month")


def _terms(text: str | None) -> set[str]:
    if not text:
        return set()
    text = " ".join(text.split())
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return {t.strip().lower() for t in text.replace(" and ", " AND ").split(" AND ")}


def quantities(m) -> dict[str, tuple[str | None, frozenset]]:
    """column -> (summed expression or None for a row count, the conditions its rows meet)."""
    base = {"in " + t for t in _terms(m.population.sql if m.population else None)}
    base |= {"not " + " ".join(e.sql.split()).lower() for _, e in m.exclusions}
    if m.kind == "mean":
        base.add("present " + m.numerator.sql.lower())
    out = {"cases": (None, frozenset(base))}
    if m.kind in ("proportion", "o_e"):
        out["numerator"] = (None, frozenset(base | {"in " + t for t in _terms(m.numerator.sql)}))
    elif m.kind == "rate":
        out["numerator"] = (m.numerator.sql.lower(), frozenset(base))
    if m.kind in EXPOSURE:
        out["denominator"] = (m.denominator.sql.lower(), frozenset(base))
    return out


class Reader:
    def __init__(self, public: pl.DataFrame, units: pl.DataFrame, catalog):
        self.public, self.catalog = public, catalog
        rows = public.select(*KEY, "status", "numerator", "denominator", "cases", "expected").to_dicts()
        self.rows = rows
        self.index = {tuple(r[k] for k in KEY): i for i, r in enumerate(rows)}
        self.var: dict[tuple[int, str], int] = {}
        self.lb, self.ub = [], []
        for i, r in enumerate(rows):
            m = catalog.metrics[r["metric_id"]]
            if r["status"] == "ok":
                continue
            for col in self._columns(m):
                self.var[(i, col)] = len(self.lb)
                lo, hi = 0.0, np.inf
                volume = "denominator" if m.kind == "rate" else "cases"
                if col == volume and r["status"] == "too_few":
                    hi = m.min_denominator - (1 if col == "cases" else 0)
                if col == volume and r["status"] == "suppressed":
                    lo = float(m.min_denominator)
                self.lb.append(lo)
                self.ub.append(hi)
        self.eq: list[dict[int, float]] = []  # sum(coef * x) + const = 0, the constant under key -1
        self.le: list[dict[int, float]] = []  # sum(coef * x) + const <= 0
        self._sums(units)
        self._links()
        for i, r in enumerate(rows):
            m = catalog.metrics[r["metric_id"]]
            if r["status"] != "ok" and m.kind in ("proportion", "o_e"):
                self._add(self.le, [(i, "numerator", 1.0), (i, "cases", -1.0)])
            if r["status"] != "ok" and m.kind == "o_e":
                self._add(self.le, [(i, "expected", 1.0), (i, "cases", -1.0)])

    @staticmethod
    def _columns(m):
        cols = ["cases"]
        if m.kind in COUNTED:
            cols.append("numerator")
        if m.kind in EXPOSURE:
            cols.append("denominator")
        if m.kind == "o_e":
            cols.append("expected")
        return cols

    def _add(self, target, terms):
        row: dict[int, float] = defaultdict(float)
        for i, col, coef in terms:
            v = self.var.get((i, col))
            if v is None:
                row[-1] += coef * float(self.rows[i][col] or 0)
            else:
                row[v] += coef
        if any(k >= 0 for k in row):
            target.append(dict(row))

    def _sums(self, units):
        network_of = dict(units.select("unit_id", "network_id").iter_rows())
        nests = {m.id: {c for c, p in self.catalog.facts[m.fact].parents if p == "network"}
                 for m in self.catalog.metrics.values()}
        groups = defaultdict(list)
        for (metric, period, level, unit, stratum, value), i in self.index.items():
            if stratum != "all":
                groups[((metric, period, level, unit, "all", "all"), "strata", stratum)].append(i)
            if level != "all":
                groups[((metric, period, "all", "ALL", stratum, value), "level", level)].append(i)
            if level in nests[metric] and unit in network_of:
                groups[((metric, period, "network", network_of[unit], stratum, value), "nest", level)].append(i)
        for (parent, how, _), kids in groups.items():
            if parent not in self.index:
                continue
            p = self.index[parent]
            # the whole population also holds people attributed to no unit, whom the public table does not list
            target = self.le if how == "level" else self.eq
            sign = -1.0 if how == "level" else 1.0
            for col in self._columns(self.catalog.metrics[parent[0]]):
                self._add(target, [(p, col, sign)] + [(k, col, -sign) for k in kids])

    def _links(self):
        by_fact = defaultdict(list)
        for m in self.catalog.metrics.values():
            for col, (summed, conds) in quantities(m).items():
                by_fact[m.fact].append((m.id, col, summed, conds))
        cells = defaultdict(dict)
        for (metric, *cell), i in self.index.items():
            cells[tuple(cell)][metric] = i
        pairs = []
        for qs in by_fact.values():
            for a in qs:
                for b in qs:
                    if a is b or a[2] != b[2]:
                        continue
                    if a[3] == b[3] and (a[0], a[1]) < (b[0], b[1]):
                        pairs.append((a, b, True))
                    elif a[2] is None and b[3] < a[3]:
                        pairs.append((a, b, False))
        for by_metric in cells.values():
            for a, b, equal in pairs:
                i, j = by_metric.get(a[0]), by_metric.get(b[0])
                if i is not None and j is not None:
                    self._add(self.eq if equal else self.le, [(i, a[1], 1.0), (j, b[1], -1.0)])

    def range(self, key: tuple, col: str) -> tuple[float, float]:
        """The reader's smallest and largest value for one hidden count, over its connected part."""
        start = self.var[(self.index[key], col)]
        rows = self.eq + self.le
        touches = defaultdict(list)
        for r, row in enumerate(rows):
            for v in row:
                if v >= 0:
                    touches[v].append(r)
        part, todo, used = {start}, [start], set()
        while todo:
            v = todo.pop()
            for r in touches[v]:
                if r not in used:
                    used.add(r)
                    for u in rows[r]:
                        if u >= 0 and u not in part:
                            part.add(u)
                            todo.append(u)
        cols = sorted(part)
        at = {v: k for k, v in enumerate(cols)}

        def matrix(which):
            chosen = [rows[r] for r in sorted(used) if (r < len(self.eq)) == which]
            data, ii, jj, rhs = [], [], [], []
            for k, row in enumerate(chosen):
                for v, c in row.items():
                    if v >= 0:
                        ii.append(k)
                        jj.append(at[v])
                        data.append(c)
                rhs.append(-row.get(-1, 0.0))
            return sp.csr_matrix((data, (ii, jj)), shape=(len(chosen), len(cols))), np.array(rhs)

        A, b = matrix(True)
        G, g = matrix(False)
        bounds = [(self.lb[v], None if np.isinf(self.ub[v]) else self.ub[v]) for v in cols]
        out = []
        for sense in (1.0, -1.0):
            c = np.zeros(len(cols))
            c[at[start]] = sense
            res = linprog(c, A_eq=A if A.shape[0] else None, b_eq=b if A.shape[0] else None,
                          A_ub=G if G.shape[0] else None, b_ub=g if G.shape[0] else None, bounds=bounds, method="highs")
            out.append(np.inf if res.status == 3 else sense * res.fun)
        return out[0], out[1]
