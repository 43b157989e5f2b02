"""Small numbers: no published count of 1-10, and no hidden small cell can be worked out by subtraction.

The attacker's model here is built independently of carescore.compute.suppress: every cell of the internal table is
a variable; the ones the public view shows are known; every additive relation (strata → unit, units of a level
→ whole population, providers → their network) is an equation; any equation with one unknown is solved, and
solving repeats until nothing changes.
"""

from collections import defaultdict

import numpy as np
import polars as pl
import pytest

from carescore.define.loader import load_catalog

KEY = ["metric_id", "period", "level", "unit_id", "stratum", "stratum_value"]


@pytest.fixture(scope="module")
def tables(published):
    from carescore.publish import store

    root, bundle = published
    return bundle.results, store.read_public(root), store.read_units(root)


def test_no_small_counts_published(tables):
    _, public, _ = tables
    counted = {m.id for m in load_catalog("metrics").metrics.values() if m.counts_numerator}
    shown = public.filter(pl.col("status") == "ok")
    assert shown.filter(pl.col("cases").is_between(1, 10)).height == 0
    assert shown.filter(pl.col("metric_id").is_in(counted) & pl.col("numerator").is_between(1, 10)).height == 0
    hidden = public.filter(pl.col("status") != "ok")
    assert hidden.select(pl.col("numerator", "denominator", "cases", "value").is_not_null().any()).row(0) == (False,) * 4


def test_one_footnote_for_every_cell_hidden_for_privacy(tables):
    """A reader must not learn which hidden cells hold 1 to 10 (at most 10) and which were hidden beside them."""
    results, public, _ = tables
    hidden = results.filter(pl.col("status") == "suppressed")
    assert public.filter(pl.col("status") == "suppressed")["footnote"].n_unique() == 1
    assert "hidden_by" not in public.columns
    # staff still see which rule hid each one, and both rules hid something in this run
    assert sorted(hidden["hidden_by"].unique()) == ["related result", "small count"]
    assert results.filter(pl.col("status") != "suppressed")["hidden_by"].null_count() == results.height - hidden.height
    own = hidden.filter(pl.col("hidden_by") == "small count")
    assert own.filter(~pl.col("numerator").is_between(1, 10) & ~pl.col("cases").is_between(1, 10)).height == 0


def _equations(results: pl.DataFrame, units: pl.DataFrame):
    catalog = load_catalog("metrics")
    nests = {m.id: {child for child, parent in catalog.facts[m.fact].parents if parent == "network"}
             for m in catalog.metrics.values()}
    cells = {tuple(r[:6]): i for i, r in enumerate(results.select(KEY).iter_rows())}
    network_of = dict(units.select("unit_id", "network_id").iter_rows())
    eqs = defaultdict(list)
    for (metric, period, level, unit, stratum, value), i in cells.items():
        if stratum != "all":
            eqs[((metric, period, level, unit, "all", "all"), "strata", stratum)].append(i)
        if level != "all":
            eqs[((metric, period, "all", "ALL", stratum, value), "level", level)].append(i)
        if level in nests[metric] and unit in network_of:
            eqs[((metric, period, "network", network_of[unit], stratum, value), "nest", level)].append(i)
    return [(cells[parent], kids) for (parent, _, _), kids in eqs.items() if parent in cells]


def test_equations_hold_in_the_internal_table(tables):
    results, _, units = tables
    num, cases = results["numerator"].to_list(), results["cases"].to_list()
    checked = 0
    for parent, kids in _equations(results, units):
        assert abs(num[parent] - sum(num[k] for k in kids)) < 1e-6 * max(1, abs(num[parent]))
        assert cases[parent] == sum(cases[k] for k in kids)
        checked += 1
    assert checked > 1000


def test_no_hidden_small_cell_can_be_derived(tables):
    results, public, units = tables
    catalog = load_catalog("metrics")
    shown = set(map(tuple, public.filter(pl.col("status") == "ok").select(KEY).iter_rows()))
    keys = list(results.select(KEY).iter_rows())
    known = [k in shown for k in keys]
    hidden_at_start = [not k for k in known]
    eqs = _equations(results, units)
    changed = True
    while changed:
        changed = False
        for parent, kids in eqs:
            members = [parent, *kids]
            unknown = [i for i in members if not known[i]]
            if len(unknown) == 1:
                known[unknown[0]] = True
                changed = True
    num, cases, metric = results["numerator"].to_list(), results["cases"].to_list(), results["metric_id"].to_list()
    leaks = [keys[i] for i in range(len(keys)) if hidden_at_start[i] and known[i]
             and (1 <= cases[i] <= 10 or (catalog.metrics[metric[i]].counts_numerator and 1 <= num[i] <= 10))]
    assert leaks == []
    assert sum(hidden_at_start) > 100  # the demo has plenty of hidden cells to protect


def test_exclusions_published_for_whole_population_without_small_counts(published):
    ex = published[1].exclusions
    assert set(ex["level"]) == {"all"}
    assert ex.filter(pl.col("excluded").is_between(1, 10)).height == 0
    died = ex.filter((pl.col("metric_id") == "readmission_30d") & (pl.col("exclusion") == "died_in_hospital"))
    assert died.height == 2 and (died["excluded"] > 10).all()


def test_reference_value_only_where_the_network_value_is_published(tables):
    _, public, _ = tables
    whole = public.filter(pl.col("level") == "all").select(
        "metric_id", "period", "stratum", "stratum_value", pl.col("value").alias("network_value"))
    joined = public.filter(pl.col("level") != "all").join(whole, on=["metric_id", "period", "stratum", "stratum_value"])
    assert joined.filter(pl.col("reference_value").is_not_null() & pl.col("network_value").is_null()).height == 0
    assert joined.filter(pl.col("reference_value").is_not_null()).height > 1000


def _fixed_by_sums(sums: list[list[int]], hidden: list[bool]) -> list[int]:
    """The hidden cells that a set of sums (parent first) determines: those whose unit vector lies in the row
    space of the sums restricted to the hidden cells. Checked with a floating-point QR (Householder, no iteration
    to fail), independently of the exact modular elimination the pipeline uses."""
    from scipy.linalg import qr

    unknowns = sorted({i for s in sums for i in s if hidden[i]})
    col = {v: j for j, v in enumerate(unknowns)}
    rows = []
    for s in sums:
        row = [0.0] * len(unknowns)
        for k, i in enumerate(s):
            if hidden[i]:
                row[col[i]] = 1.0 if k == 0 else -1.0
        if any(row):
            rows.append(row)
    if not rows:
        return []
    q, r, _ = qr(np.array(rows).T, mode="economic", pivoting=True)
    rank = int((np.abs(np.diag(r)) > 1e-9 * max(1.0, abs(r[0, 0]))).sum())
    in_row_space = np.sum(q[:, :rank] ** 2, axis=1) > 1 - 1e-9  # |projection of e_j| = 1
    return [unknowns[j] for j in np.flatnonzero(in_row_space)]


def test_no_hidden_cell_follows_from_any_combination_of_sums(tables):
    """Stronger than one sum at a time: per metric and period, all sums restricted to the hidden cells form
    a linear system; a hidden cell is revealed when the system fixes its value."""
    results, public, units = tables
    shown = set(map(tuple, public.filter(pl.col("status") == "ok").select(KEY).iter_rows()))
    keys = list(results.select(KEY).iter_rows())
    hidden = [k not in shown for k in keys]
    by_group = defaultdict(list)
    for parent, kids in _equations(results, units):
        by_group[keys[parent][:2]].append([parent, *kids])
    revealed = [keys[i] for sums in by_group.values() for i in _fixed_by_sums(sums, hidden)]
    assert revealed == []


def test_no_hidden_count_follows_from_the_sums_of_metrics_that_share_it(tables):
    """Across sibling metrics (same people counted): a cell's count is known where any sibling shows it, and
    the sums of all siblings together, per period, must not fix a count hidden in all of them."""
    results, public, units = tables
    shown = set(map(tuple, public.filter(pl.col("status") == "ok").select(KEY).iter_rows()))
    keys = list(results.select(KEY).iter_rows())
    eqs = _equations(results, units)
    revealed, audited = [], 0
    for ids in _siblings():
        number: dict[tuple, int] = {}  # cell (everything but the metric) -> its number
        cell_of = {i: number.setdefault(k[1:], len(number)) for i, k in enumerate(keys) if k[0] in ids}
        cells = list(number)
        known = [False] * len(cells)
        for i, c in cell_of.items():
            known[c] = known[c] or keys[i] in shown
        by_period = defaultdict(set)
        for parent, kids in eqs:
            if parent in cell_of:
                by_period[keys[parent][1]].add(tuple(cell_of[i] for i in [parent, *kids]))
        hidden = [not k for k in known]
        audited += sum(hidden)
        revealed += [(ids, cells[c]) for sums in by_period.values() for c in _fixed_by_sums(sorted(sums), hidden)]
    assert revealed == []
    assert audited > 100


def _siblings():
    """Metrics whose denominators are the same cells: same fact, population and exclusions."""
    catalog = load_catalog("metrics")
    groups = defaultdict(list)
    for m in catalog.metrics.values():
        if m.kind != "rate":
            groups[(m.fact, m.population.sql if m.population else "", tuple(e.sql for _, e in m.exclusions),
                    m.kind == "mean" and m.numerator.sql)].append(m.id)
    return [ids for ids in groups.values() if len(ids) > 1]


def test_no_small_denominator_follows_from_a_sibling_metric(tables):
    """A denominator published by one metric is known for every metric that shares it: one sum at a time over
    the cells of a group of sibling metrics, a cell's count is known when any sibling shows it."""
    results, public, units = tables
    shown = set(map(tuple, public.filter(pl.col("status") == "ok").select(KEY).iter_rows()))
    keys = list(results.select(KEY).iter_rows())
    cases = results["cases"].to_list()
    leaks = []
    for ids in _siblings():
        group = results.with_row_index("i").filter(pl.col("metric_id").is_in(ids))
        cell_of = {}
        for i, *k in group.select("i", *KEY).iter_rows():
            cell_of.setdefault(tuple(k[1:]), []).append(i)
        known = {c: any(keys[i] in shown for i in rows) for c, rows in cell_of.items()}
        first = ids[0]
        sub = results.filter(pl.col("metric_id") == first)
        sub_keys = [tuple(k[1:]) for k in sub.select(KEY).iter_rows()]
        eqs = [[sub_keys[p], *(sub_keys[k] for k in kids)] for p, kids in _equations(sub, units)]
        hidden_at_start = {c for c, v in known.items() if not v}
        changed = True
        while changed:
            changed = False
            for eq in eqs:
                unknown = [c for c in eq if not known.get(c, True)]
                if len(unknown) == 1:
                    known[unknown[0]] = True
                    changed = True
        leaks += [(ids, c) for c in hidden_at_start if known[c] and 1 <= cases[cell_of[c][0]] <= 10]
    assert leaks == []
