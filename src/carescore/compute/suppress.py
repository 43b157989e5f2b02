"""Status of every value and small-number protection.

**Primary.** A count of 1 to 10 (people, events) is never published; a denominator below the measure's
minimum is "too few to report".

**Complementary.** Published results add up: patient groups to their unit, units to the whole population,
providers to their network. A hidden result must never be the only hidden member of such a sum, or
subtraction would reveal it, so the smallest other member is hidden too, until no sum has exactly one.

**Audit.** One sum at a time is not enough: several sums together can still pin down a hidden result. For
each measure and year, all its sums over the hidden results are solved together, exactly (integer arithmetic,
the same answer on every machine), and any hidden result they determine gets one more neighbour hidden,
until none is determined.

**Measures that count the same people** (for example 7- and 30-day follow-up after the same discharges)
publish the same denominators, so a count shown by one is public for all of them: their sums are protected
and audited once more together, and a result hidden there is hidden in each of them.

**Ranges (what a reader can bound).** Even a result that no combination of sums fixes can be narrowed: counts
are whole and not negative, a numerator is at most its cases, "too few" says the volume is under the minimum
and any other hidden cell is not too few, and one metric's count may be another's (`links`: derived from the
definitions, never listed by hand: equal where two metrics count the same rows of the same fact, at most
where one counts a part of the other's rows). Every hidden count of 1 to 10 must keep a range, from all of
that together, that reaches both 1 and 11 (`intervals`: decided by linear programs solved with HiGHS);
where one does not, the published cell beside it with the most room and the fewest people is hidden too,
and the program is asked again, until none is narrow.

**One footnote** for every cell hidden for privacy, whether its own count is small or it is hidden to protect
one: two footnotes would tell a reader which cells hold 1 to 10. The staff table says which rule hid each
(`hidden_by`: "small count" or "related result"); the public view drops that column.

**What is protected:** the counts of 1 to 10 (people, events) in every result of a run, and the cells that
would reveal them, within a metric and across the metrics of the run. The ranges are those of the linear
program, as τ-ARGUS audits them: reasoning in whole numbers narrows one further only where the program's best
corner is fractional, which the audit does not check.

**Not protected: differencing across releases.** Two runs over the same period that differ by a few people (late
records, a correction) let a reader subtract one release from the other. Publish fixed periods once and hold
revisions until they are large; `carescore run` and `carescore diff` warn when a published result for the same
period changed by 1 to 10 since the last release.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable

import numpy as np
import polars as pl

from ..define.spec import Catalog
from . import intervals
from .compile import NO_UNIT
from .links import derive as derive_links

SMALL = (1, 10)
FOOTNOTES = {
    # placeholders filled per row by pl.format: the metric's minimum, then what it counts
    "too_few": "Too few to report: fewer than {} {} in this group, so the result would not be reliable.",
    # one footnote for every cell hidden for privacy, whether small itself or hidden to protect one: two would tell
    # a reader which bound applies (a "1 to 10" cell is at most 10); staff see which rule hid it (`hidden_by`)
    "suppressed": "Hidden to protect privacy: showing it could reveal a very small number of people.",
    "not_applicable": "Not available: the data for this measure ({tables}) is not in this data cut.",
    "data_quality_hold": "On hold: the data behind this result failed a data-quality check ({reason}).",
}
PUBLIC_HIDDEN = ["numerator", "denominator", "cases", "value", "ci_low", "ci_high", "expected", "comparison"]


def _small(col: str) -> pl.Expr:
    return pl.col(col).is_between(*SMALL)


def primary_status(results: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    ms = catalog.metrics.values()
    min_den = pl.col("metric_id").replace_strict({m.id: m.min_denominator for m in ms}, return_dtype=pl.Int64)
    kind = pl.col("metric_id").replace_strict({m.id: m.kind for m in ms})
    counts_num = pl.col("metric_id").replace_strict({m.id: m.counts_numerator for m in ms}, return_dtype=pl.Boolean)
    what = pl.when(kind == "rate").then(pl.lit("units of exposure")).otherwise(pl.lit("patients or cases"))
    volume = pl.when(kind == "rate").then(pl.col("denominator")).otherwise(pl.col("cases"))
    too_few = volume < min_den
    small = (counts_num & _small("numerator")) | ((kind != "rate") & _small("cases"))
    status = (pl.when(pl.col("unit_id") == NO_UNIT).then(pl.lit("not_applicable"))
              .when(too_few).then(pl.lit("too_few"))
              .when(small).then(pl.lit("suppressed"))
              .otherwise(pl.lit("ok")))
    footnote = (pl.when(status == "too_few")
                .then(pl.format(FOOTNOTES["too_few"], min_den, what))
                .when(status == "suppressed").then(pl.lit(FOOTNOTES["suppressed"]))
                .when(status == "not_applicable").then(pl.lit("Not attributed to any unit at this level."))
                .otherwise(pl.lit("")))
    return results.with_columns(status=status, footnote=footnote)


def _sums(children: pl.DataFrame, parents: pl.DataFrame, group: list[str], match: list[str]) -> list[np.ndarray]:
    """Group `children` by `group`; each group sums to the parent row that agrees on `match`."""
    grouped = children.group_by(group).agg(pl.col("i").alias("kids"))
    joined = grouped.join(parents.select(*match, pl.col("i").alias("parent")), on=match, how="inner")
    return [np.array([p, *k]) for p, k in joined.select("parent", "kids").iter_rows()]


def equations(results: pl.DataFrame, nesting: dict[str, dict[tuple[str, str], dict[str, str]]]) -> list[np.ndarray]:
    """Every additive relation as an array of row indices, the parent (the sum) first."""
    rows = (results.select("metric_id", "period", "level", "unit_id", "stratum", "stratum_value")
            .with_row_index("i").with_columns(pl.col("i").cast(pl.Int64)))
    cell = ["metric_id", "period", "stratum", "stratum_value"]
    # strata add up to their unit
    unit = ["metric_id", "period", "level", "unit_id"]
    out = _sums(rows.filter(pl.col("stratum") != "all"), rows.filter(pl.col("stratum") == "all"),
                [*unit, "stratum"], unit)
    # the units of each level add up to the whole population
    out += _sums(rows.filter(pl.col("level") != "all"), rows.filter(pl.col("level") == "all"), [*cell, "level"], cell)
    for metric, links in nesting.items():  # providers add up to their network
        for (child_level, parent_level), parent_of in links.items():
            if not parent_of:
                continue
            kids = (rows.filter((pl.col("metric_id") == metric) & (pl.col("level") == child_level))
                    .with_columns(parent_unit=pl.col("unit_id").replace_strict(parent_of, default=None,
                                                                               return_dtype=pl.Utf8))
                    .filter(pl.col("parent_unit").is_not_null()))
            parents = (rows.filter((pl.col("metric_id") == metric) & (pl.col("level") == parent_level))
                       .rename({"unit_id": "parent_unit"}))
            out += _sums(kids, parents, [*cell, "parent_unit"], [*cell, "parent_unit"])
    return out


def close(hidden: np.ndarray, size: np.ndarray, eqs: list[np.ndarray], member_of: dict[int, list[int]]) -> np.ndarray:
    """Hide the smallest other member of every sum with exactly one hidden member, until there is none.

    Worklist: a sum is looked at again only when one of its members has just been hidden."""
    hidden = hidden.copy()
    count = np.array([hidden[eq].sum() for eq in eqs], dtype=np.int64)
    queue = deque(e for e in range(len(eqs)) if count[e] == 1)
    while queue:
        e = queue.popleft()
        if count[e] != 1:
            continue
        eq = eqs[e]
        candidates = eq[1:][~hidden[eq[1:]]]
        if len(candidates) == 0:
            candidates = eq[:1]  # the lone hidden child equals its parent: hide the parent
        pick = int(candidates[np.argmin(size[candidates])])
        hidden[pick] = True
        for other in member_of[pick]:
            count[other] += 1
            if count[other] == 1:
                queue.append(other)
    return hidden


P = 2_147_483_647  # a prime: products of two residues fit in int64


def fixed_unknowns(rows: list[dict[int, int]], n: int) -> np.ndarray:
    """Which of the n unknowns of a linear system (each row a sparse {unknown: integer coefficient}) the system
    fixes: every solution agrees on them.

    Exact: sparse Gauss-Jordan elimination in integers modulo a large prime, so the answer is the same on every
    machine (a floating-point SVD's LAPACK routine can fail to converge, and needs a tolerance). An unknown is
    fixed when its unit vector lies in the row space: in the reduced row echelon form it has a pivot whose row
    has no other entry. Which unknowns are fixed does not depend on the elimination order, so columns go from
    the sparsest and each pivot row is the shortest candidate, which keeps fill-in low. (Modulo p the answer
    equals the rational one unless p divides one of the system's minors: with coefficients 0 and +-1 and
    p = 2^31 - 1, not a practical concern; the tests compare it with rational arithmetic.)"""
    rows = [{c: v % P for c, v in r.items() if v % P} for r in rows]
    rows_with: list[set[int]] = [set() for _ in range(n)]
    for i, r in enumerate(rows):
        for c in r:
            rows_with[c].add(i)
    used = [False] * len(rows)
    pivot_of: dict[int, int] = {}
    for c in sorted(range(n), key=lambda c: (len(rows_with[c]), c)):
        candidates = [i for i in rows_with[c] if not used[i]]
        if not candidates:
            continue
        p = min(candidates, key=lambda i: (len(rows[i]), i))
        row = rows[p]
        inverse = pow(row[c], P - 2, P)
        for k in row:
            row[k] = row[k] * inverse % P
        items = list(row.items())
        for o in list(rows_with[c]):
            if o == p:
                continue
            other, f = rows[o], rows[o][c]
            for k, v in items:
                new = (other.get(k, 0) - f * v) % P
                if new:
                    if k not in other:
                        rows_with[k].add(o)
                    other[k] = new
                elif k in other:
                    del other[k]
                    rows_with[k].discard(o)
        used[p] = True
        pivot_of[c] = p
    fixed = np.zeros(n, dtype=bool)
    for c, p in pivot_of.items():
        fixed[c] = len(rows[p]) == 1
    return fixed


def determined(hidden: np.ndarray, eqs: list[np.ndarray], groups: dict,
               max_unknowns: int | None) -> tuple[list[int], int]:
    """Hidden cells whose value follows from the published ones through some combination of sums.

    Per metric and period, the sums restricted to the hidden cells form a linear system; a hidden cell is
    determined when the system fixes it. Returns the determined cells and the number of groups too large for
    this check (left to the one-sum-at-a-time rule; None: no group is too large)."""
    found, skipped = [], 0
    for members in groups.values():
        unknowns = sorted({int(i) for e in members for i in eqs[e] if hidden[i]})
        if not unknowns:
            continue
        if max_unknowns is not None and len(unknowns) > max_unknowns:
            skipped += 1
            continue
        col = {v: j for j, v in enumerate(unknowns)}
        rows = [{col[i]: 1 if k == 0 else -1 for k, i in enumerate(eqs[e].tolist()) if hidden[i]} for e in members]
        found += [unknowns[j] for j in np.flatnonzero(fixed_unknowns([r for r in rows if r], len(unknowns)))]
    return found, skipped


def protect(hidden: np.ndarray, size: np.ndarray, eqs: list[np.ndarray], group_of: list,
            max_unknowns: int | None) -> tuple[np.ndarray, dict]:
    """Hide more cells until no sum has a single hidden member (smallest other member first), then audit: solve
    the sums of each group (`group_of` a cell's group, e.g. its metric and period) together and hide one more
    cell next to any hidden cell that a combination of sums still reveals, until none does."""
    member_of: dict[int, list[int]] = defaultdict(list)
    groups: dict[object, list[int]] = defaultdict(list)
    for e, eq in enumerate(eqs):
        groups[group_of[eq[0]]].append(e)
        for i in eq.tolist():
            member_of[i].append(e)
    hidden = close(hidden, size, eqs, member_of)
    rounds, unresolved = 0, 0
    leaks, skipped = determined(hidden, eqs, groups, max_unknowns)
    while leaks:
        rounds += 1
        before = hidden.copy()
        for v in leaks:
            pick = _nearest_visible(v, hidden, size, eqs, member_of)
            if pick is not None:
                hidden[pick] = True
        hidden = close(hidden, size, eqs, member_of)
        changed = np.flatnonzero(hidden & ~before)
        if len(changed) == 0:  # nothing left to hide next to the leaks: report rather than loop
            unresolved = len(leaks)
            break
        touched = {group_of[i] for i in changed.tolist()} | {group_of[i] for i in leaks}
        leaks, _ = determined(hidden, eqs, {g: groups[g] for g in touched if g in groups}, max_unknowns)
    return hidden, {"audit_rounds": rounds, "groups": len(groups), "groups_too_large_to_audit": skipped,
                    "unresolved": unresolved}


def siblings(catalog: Catalog) -> list[list[str]]:
    """Groups of metrics that count the same people in the same cells: same fact, population and exclusions
    (for means also the same value, as a mean counts the rows where it is present). Rates are left out: their
    denominators are exposure (patient days, member years), not people."""
    by_count: dict[tuple, list[str]] = defaultdict(list)
    for m in catalog.metrics.values():
        if m.kind == "rate":
            continue
        value = m.numerator.sql if m.kind == "mean" and m.numerator else None
        by_count[(m.fact, m.population.sql if m.population else None,
                  tuple(sorted(e.sql for _, e in m.exclusions)), value)].append(m.id)
    return [sorted(ids) for ids in by_count.values() if len(ids) > 1]


CELL = ["period", "level", "unit_id", "stratum", "stratum_value"]


def _shared_cells(results: pl.DataFrame, ids: list[str], eqs: list[np.ndarray]):
    """For a group of sibling metrics: each row's cell (the people it counts), and the sums over cells."""
    rows = results.select("metric_id", *CELL).with_row_index("i").filter(pl.col("metric_id").is_in(ids))
    cells = rows.select(CELL).unique(maintain_order=True).with_row_index("cell")
    rows = rows.join(cells, on=CELL, how="left", nulls_equal=True, maintain_order="left")
    cell_of = np.full(results.height, -1, dtype=np.int64)
    cell_of[rows["i"].to_numpy()] = rows["cell"].to_numpy()
    cell_eqs = sorted({tuple(cell_of[eq].tolist()) for eq in eqs if cell_of[eq[0]] >= 0})
    return rows["i"].to_numpy(), rows["cell"].to_numpy(), [np.array(e) for e in cell_eqs], cells["period"].to_list()


def complementary(results: pl.DataFrame, eqs: list[np.ndarray], shared: list[list[str]] = (),
                  max_unknowns: int | None = None, catalog: Catalog | None = None) -> tuple[np.ndarray, dict]:
    """Rows to hide in addition to the primary ones, and an account of the audit.

    Each metric's sums are protected on their own; then, for metrics that count the same people (`shared`, see
    `siblings`), a count is public where any of them shows it, so their sums are protected again over the cells
    hidden in all of them, and a cell hidden there is hidden in all of them. Repeated until nothing changes."""
    primary = (results["status"] != "ok").to_numpy()
    size = results["cases"].fill_null(0).to_numpy()
    group_of = list(zip(results["metric_id"].to_list(), results["period"].to_list()))
    shared_cells = [_shared_cells(results, ids, eqs) for ids in shared]

    def grow(start: np.ndarray) -> tuple[np.ndarray, dict]:
        hidden, account = protect(start, size, eqs, group_of, max_unknowns)
        rounds = 0
        while shared_cells:
            grown = hidden.copy()
            for rows, cell, cell_eqs, cell_period in shared_cells:
                shown = np.zeros(len(cell_period), dtype=bool)
                np.logical_or.at(shown, cell, ~hidden[rows])
                cell_size = np.zeros(len(cell_period), dtype=size.dtype)
                np.maximum.at(cell_size, cell, size[rows])
                cell_hidden, _ = protect(~shown, cell_size, cell_eqs, cell_period, max_unknowns)
                grown[rows[cell_hidden[cell]]] = True
            if (grown == hidden).all():
                break
            rounds += 1
            hidden, again = protect(grown, size, eqs, group_of, max_unknowns)
            account = {**again, "audit_rounds": account["audit_rounds"] + again["audit_rounds"]}
        return hidden, {**account, "shared_count_rounds": rounds}

    hidden, account = grow(primary)
    account["audit_limit"] = max_unknowns
    if catalog is not None:  # the reader's ranges: every hidden small count must reach 1 and 11
        member_of: dict[int, list[int]] = defaultdict(list)
        for e, eq in enumerate(eqs):
            for i in eq.tolist():
                member_of[i].append(e)
        found = derive_links(catalog)
        hidden, ranges = intervals.protect(results, hidden, catalog, eqs, found, member_of, lambda h: grow(h)[0])
        account["ranges"] = {**ranges, "links": [link.describe() for link in found]}
    return hidden & ~primary, account


def _nearest_visible(v: int, hidden: np.ndarray, size: np.ndarray, eqs, member_of) -> int | None:
    """The smallest published cell in a sum with `v`, or failing that in a sum with a hidden neighbour."""
    seen, frontier = {v}, [v]
    while frontier:
        visible = {int(i) for c in frontier for e in member_of[c] for i in eqs[e] if not hidden[i]}
        if visible:
            return min(visible, key=lambda i: (size[i], i))
        frontier = [int(i) for c in frontier for e in member_of[c] for i in eqs[e] if int(i) not in seen]
        seen.update(frontier)
    return None


def apply(results: pl.DataFrame, catalog: Catalog, nesting: dict,
          hold: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
          audit_limit: int | None = None) -> tuple[dict, pl.DataFrame]:
    """Primary statuses, then `hold` (data-quality holds: held cells are hidden cells, so complementary
    suppression must see them), then complementary suppression. Returns the audit account and the table."""
    results = primary_status(results, catalog)
    if hold is not None:
        results = hold(results)
    mask, audit = complementary(results, equations(results, nesting), siblings(catalog), audit_limit or None, catalog)
    extra = pl.Series(mask)
    return audit, results.with_columns(
        status=pl.when(extra).then(pl.lit("suppressed")).otherwise(pl.col("status")),
        footnote=pl.when(extra).then(pl.lit(FOOTNOTES["suppressed"])).otherwise(pl.col("footnote")),
        hidden_by=pl.when(extra).then(pl.lit("related result"))
        .when(pl.col("status") == "suppressed").then(pl.lit("small count")).otherwise(None),
    )


def public_view(results: pl.DataFrame) -> pl.DataFrame:
    """What anyone may see: hidden values blanked (including a network value used as a reference where the
    network row itself is hidden), internal rows and variance sums removed."""
    hidden = pl.col("status") != "ok"
    whole = (results.filter(pl.col("level") == "all")
             .select("metric_id", "period", "stratum", "stratum_value", pl.col("status").alias("_reference_status")))
    return (results.filter(pl.col("unit_id") != NO_UNIT)
            .join(whole, on=["metric_id", "period", "stratum", "stratum_value"], how="left", maintain_order="left")
            .with_columns([pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c) for c in PUBLIC_HIDDEN])
            .with_columns(reference_value=pl.when(pl.col("_reference_status") == "ok")
                          .then(pl.col("reference_value")).otherwise(None))
            .drop("_reference_status", *[c for c in ("sxx", "syy", "sxy", "hidden_by") if c in results.columns]))


def public_exclusions(exclusions: pl.DataFrame) -> pl.DataFrame:
    """Exclusion counts are published for the whole population only (per-unit counts would add up to it and
    let small ones be subtracted out), and a count of 1-10 is blanked."""
    return (exclusions.filter(pl.col("level") == "all")
            .with_columns(excluded=pl.when(pl.col("excluded").is_between(*SMALL)).then(None)
                          .otherwise(pl.col("excluded"))))
