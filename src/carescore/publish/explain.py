"""Where a published number comes from, in one page of text: the measure's definition (file, version, hash),
the run (id, time, code version), the data cut, the compiled SQL, and the result itself with its interval and
status. It reads only the published run and the public view, so its output can be shared."""

from __future__ import annotations

import polars as pl

from ..issues import PublishError, did_you_mean
from . import numbers, store

COMPARED = {"better": "better than the network (the interval is clear of the network value)",
            "worse": "worse than the network (the interval is clear of the network value)",
            "no_different": "no different from the network"}


def _number(v, unit: str) -> str:
    """The number as every page shows it (`numbers.value`), and unrounded beside it for whoever recomputes it."""
    return "–" if numbers.missing(v) else f"{numbers.value(v, unit)} [{v:.6g}]"


def explain(metric_id: str, unit_id: str = "ALL", period: str | None = None, stratum: str = "all",
            stratum_value: str = "all", root=None) -> str:
    run_id = store.current_run_id(root)
    catalog = store.read_catalog(root, run_id)["metrics"]
    if metric_id not in catalog:
        raise PublishError(f"unknown metric '{metric_id}'" + did_you_mean(metric_id, catalog))
    m = catalog[metric_id]
    manifest = store.read_manifest(root, run_id)
    public = store.read_public(root, metric_id=metric_id, run_id=run_id)
    period = period or max(public["period"])
    units = set(public["unit_id"])
    if unit_id not in units:
        raise PublishError(f"no published result of {metric_id} for unit '{unit_id}'" + did_you_mean(unit_id, units))
    row = public.filter(pl.col("unit_id") == unit_id, pl.col("period") == period, pl.col("stratum") == stratum,
                        pl.col("stratum_value") == stratum_value)
    if row.height != 1:
        raise PublishError(f"no published result of {metric_id} for {unit_id}, {period}, {stratum}={stratum_value} "
                           f"(periods: {', '.join(sorted(set(public['period'])))})")
    r = row.row(0, named=True)
    fact = manifest["facts"][m["fact"]]
    excluded = dict(store.read_exclusions(root, run_id)
                    .filter(pl.col("metric_id") == metric_id, pl.col("period") == period)
                    .select("exclusion", "excluded").iter_rows())

    def count(name: str) -> str:
        n = excluded.get(name)
        return "fewer than 11" if n is None and name in excluded else "–" if n is None else f"{n:,}"

    exclusions = "\n             ".join(f"{name} ({e['sql']}): {count(name)} excluded network-wide in {period}"
                                       for name, e in m["exclusions"]) or "none"
    lines = [
        f"{m['title']}",
        f"  measure    {metric_id} version {m['version']} ({m['domain']}, {m['direction'].replace('_', ' ')})",
        f"  meaning    {m['plain_language']}",
        f"  definition {m['loc']['path']}:{m['loc']['line']} (sha256 {m['source_hash']})",
        f"  fact       {m['fact']}: {fact['path']} (sha256 {fact['sha256']})",
        f"  population {m['population']['sql'] if m['population'] else 'every row of the fact'}",
        f"  exclusions {exclusions}",
        f"  numerator  {m['numerator']['sql'] if m['numerator'] else '–'}"
        + (f"; denominator {m['denominator']['sql']}" if m.get("denominator") else ""),
    ]
    if m.get("risk_adjustment"):
        ra = m["risk_adjustment"]
        lines.append(f"  adjusted   {ra['method']} standardization by {', '.join(ra['by'])}")
    lines += [
        f"  minimum    {m['min_denominator']} to report",
        "",
        f"Run {run_id}, published {manifest['created_at']}, code {manifest['code_version']}",
        f"  data cut   {manifest['data_cut']['folder']}",
        *(f"             {f['table']}: {f['rows']:,} rows, sha256 {f['sha256'][:16]}"
          for f in manifest["data_cut"]["files"]),
        f"  SQL        {store.run_dir(root, run_id) / 'sql' / (m['fact'] + '.sql')} (`carescore sql {metric_id}` "
        "prints this measure's query)",
        "",
        f"Result: {unit_id}, {period}" + ("" if stratum == "all" else f", {stratum} = {stratum_value}"),
    ]
    if r["status"] != "ok":
        lines.append(f"  status     {r['status']}: {r['footnote']}")
    else:
        lines += [
            f"  value      {_number(r['value'], m['unit'])} (95% interval {_number(r['ci_low'], m['unit'])} to "
            f"{_number(r['ci_high'], m['unit'])})",
            f"  counts     numerator {r['numerator']:,.0f}, denominator {r['denominator']:,.0f}"
            + (f", expected {r['expected']:,.1f}" if r.get("expected") is not None else ""),
        ]
        if r.get("comparison"):
            lines.append("  compared   " + COMPARED.get(r["comparison"], r["comparison"]))
        lines.append("  status     ok")
    return "\n".join(lines) + "\n"
