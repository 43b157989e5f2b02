"""What changed between two published runs, from their public views: measures whose definition or version
changed, results that appeared or disappeared, changed status (published, hidden, too few), and published
values that moved outside the earlier run's 95% interval. For a reviewer before a run goes live, and for the
note that goes with a new publication."""

from __future__ import annotations

import polars as pl

from . import store

KEY = ["metric_id", "period", "level", "unit_id", "stratum", "stratum_value"]


def compare(root, old_run: str, new_run: str) -> tuple[dict, pl.DataFrame]:
    """(summary, changes): one row per result that differs, with `change` = added, removed, status or moved."""
    old, new = (store.read_public(root, run_id=r).select(*KEY, "value", "ci_low", "ci_high", "status", "numerator",
                                                         "cases")
                for r in (old_run, new_run))
    both = old.join(new, on=KEY, how="full", coalesce=True, suffix="_new", nulls_equal=True)
    change = (pl.when(pl.col("status").is_null()).then(pl.lit("added"))
              .when(pl.col("status_new").is_null()).then(pl.lit("removed"))
              .when(pl.col("status") != pl.col("status_new")).then(pl.lit("status"))
              .when((pl.col("status") == "ok") & ((pl.col("value_new") < pl.col("ci_low"))
                                                  | (pl.col("value_new") > pl.col("ci_high")))).then(pl.lit("moved"))
              .when(pl.col("value") != pl.col("value_new")).then(pl.lit("within_interval"))
              .when((pl.col("cases") != pl.col("cases_new")) | (pl.col("numerator") != pl.col("numerator_new")))
              .then(pl.lit("counts")))
    changes = (both.with_columns(change=change, small_change=_small_change())
               .filter(pl.col("change").is_not_null()).sort("change", *KEY))
    manifests = [store.read_manifest(root, r) for r in (old_run, new_run)]
    redefined = sorted(m for m, spec in manifests[1]["metrics"].items()
                       if m in manifests[0]["metrics"] and spec["sha256"] != manifests[0]["metrics"][m]["sha256"])
    counts = dict(changes.group_by("change").len().iter_rows())
    summary = {
        "from": old_run, "to": new_run, "results_before": old.height, "results_after": new.height,
        "redefined": redefined,
        "new_metrics": sorted(set(manifests[1]["metrics"]) - set(manifests[0]["metrics"])),
        "dropped_metrics": sorted(set(manifests[0]["metrics"]) - set(manifests[1]["metrics"])),
        "code": (manifests[0]["code_version"], manifests[1]["code_version"]),
        **{k: counts.get(k, 0) for k in ("added", "removed", "status", "moved", "within_interval")},
        "small_changes": int(changes["small_change"].sum()),
    }
    return summary, changes


def _small_change() -> pl.Expr:
    """A result published in both runs whose count moved by 1 to 10: a reader who subtracts the two releases
    learns about those few people (differencing), which no suppression within one run prevents."""
    def moved(c):
        d = (pl.col(f"{c}_new") - pl.col(c)).abs()
        whole = (pl.col(c) == pl.col(c).round()) & (pl.col(f"{c}_new") == pl.col(f"{c}_new").round())
        return d.is_between(1, 10) & whole
    return ((pl.col("status") == "ok") & (pl.col("status_new") == "ok")
            & (moved("cases") | moved("numerator"))).fill_null(False)


def report(summary: dict, changes: pl.DataFrame, top: int = 10) -> str:
    s = summary
    lines = [f"from {s['from']} ({s['results_before']:,} results, code {s['code'][0]})",
             f"to   {s['to']} ({s['results_after']:,} results, code {s['code'][1]})",
             f"definitions changed: {', '.join(s['redefined']) or 'none'}"]
    if s["new_metrics"] or s["dropped_metrics"]:
        lines.append(f"measures added: {', '.join(s['new_metrics']) or 'none'}; "
                     f"removed: {', '.join(s['dropped_metrics']) or 'none'}")
    lines += [f"results added {s['added']:,}, removed {s['removed']:,}, status changed {s['status']:,}, "
              f"moved outside the earlier 95% interval {s['moved']:,}, moved within it {s['within_interval']:,}"]
    if s.get("small_changes"):
        lines.append(f"warning: {s['small_changes']:,} published result(s) for the same period changed by 1 to 10 "
                     "people or events; comparing the two releases reveals those few (publish fixed periods once, "
                     "or hold the revision until it is larger)")
    status = changes.filter(pl.col("change") == "status")
    if status.height:
        lines.append("status changes: " + ", ".join(
            f"{a} → {b}: {n:,}" for a, b, n in status.group_by("status", "status_new").len()
            .sort("len", descending=True).iter_rows()))
    moved = (changes.filter(pl.col("change") == "moved", pl.col("stratum") == "all")
             .with_columns(shift=(pl.col("value_new") - pl.col("value")).abs() / (pl.col("ci_high") - pl.col("ci_low")))
             .sort("shift", descending=True).head(top))
    if moved.height:
        lines.append("largest moves (whole units, value before → after):")
        lines += [f"  {r['metric_id']} {r['level']} {r['unit_id']} {r['period']}: {r['value']:.4g} → {r['value_new']:.4g}"
                  for r in moved.iter_rows(named=True)]
    return "\n".join(lines) + "\n"
