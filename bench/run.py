"""make bench: the million-patient benchmark, figures written to bench/results.md.

Each stage runs in its own process so its peak memory is its own. Ratios compare stages of one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
SUBSET = ["readmission_30d", "followup_7d", "followup_30d", "med_rec_30d", "inpatient_cost_per_admission",
          "episode_cost_30d"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def stage_generate(data: Path, patients: int) -> dict:
    from carescore.extracts.demo import write_demo

    start = time.perf_counter()
    paths = write_demo(data, patients=patients, seed=7)
    import polars as pl

    rows = {t: pl.scan_parquet(p).select(pl.len()).collect().item() for t, p in paths.items()}
    return {"seconds": time.perf_counter() - start, "rows": rows}


def stage_end_to_end(data: Path, patients: int) -> dict:
    from carescore import pipeline
    from carescore.publish import store

    start = time.perf_counter()
    bundle = pipeline.build(data, REPO / "metrics")
    store.publish(bundle, data.parent / "published")
    total = time.perf_counter() - start
    return {"seconds": total, "stages": bundle.manifest["timings_seconds"], "results": bundle.results.height,
            "audit": bundle.manifest["suppression_audit"], "hidden": hidden_cells(bundle)}


def hidden_cells(bundle) -> int:
    import polars as pl

    return bundle.results.filter(pl.col("status") != "ok").height


def stage_capped_audit(data: Path, patients: int) -> dict:
    """The same run with the small-number audit capped at groups of 1,500 hidden cells (the rest sum by sum)."""
    from carescore import pipeline

    start = time.perf_counter()
    bundle = pipeline.build(data, REPO / "metrics", audit_limit=1500)
    return {"seconds": time.perf_counter() - start, "suppression_seconds": bundle.manifest["timings_seconds"]["suppression"],
            "audit": bundle.manifest["suppression_audit"], "hidden": hidden_cells(bundle)}


def stage_subset(data: Path, patients: int) -> dict:
    from carescore.compute import engine
    from carescore.define.loader import load_catalog
    from carescore.extracts.canonical import load_extracts

    catalog = load_catalog(REPO / "metrics")
    con = engine.connect(load_extracts(data), catalog)
    hand = (HERE / "handwritten.sql").read_text()
    engine_s, _ = timed(lambda: engine.compute(con, catalog, SUBSET))
    hand_s, _ = timed(lambda: con.sql(hand).pl())
    full_s, _ = timed(lambda: engine.compute(con, catalog), repeat=1)
    return {"metrics": len(catalog.metrics), "engine_subset_seconds": engine_s, "handwritten_seconds": hand_s,
            "engine_full_catalog_seconds": full_s}


def stage_pandas(data: Path, patients: int) -> dict:
    import pandas_subset

    from carescore.extracts.canonical import load_extracts

    start = time.perf_counter()
    tables = {k: v.to_pandas() for k, v in load_extracts(data).tables.items()
              if k in ("encounters", "patients", "providers", "medication_reconciliations")}
    convert = time.perf_counter() - start
    start = time.perf_counter()
    out = pandas_subset.metrics(pandas_subset.index_discharges(tables))
    return {"seconds": time.perf_counter() - start, "convert_seconds": convert, "rows": len(out)}


STAGES = {"generate": stage_generate, "end_to_end": stage_end_to_end, "capped_audit": stage_capped_audit,
          "subset": stage_subset, "pandas": stage_pandas}


def run_stage(name: str, data: Path, patients: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--stage", name, "--data", str(data), "--patients", str(patients)],
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench stage {name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=REPO / "data" / "bench" / "demo")
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    if args.stage:
        result = STAGES[args.stage](args.data, args.patients)
        result["peak_mb"] = peak_mb()
        print(json.dumps(result))
        return
    r = {name: run_stage(name, args.data, args.patients) for name in STAGES
         if not (name == "pandas" and args.skip_pandas)}
    rows = r["generate"]["rows"]
    sub = r["subset"]
    lines = [
        "# Benchmarks", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this machine (2 cores, 24 GiB); "
        f"{args.patients:,} patients, {rows['encounters']:,} encounters, {sum(rows.values()):,} rows in all.", "",
        "## Measurement spine", "",
        "| stage | seconds | peak memory (MB) |", "|---|---:|---:|",
        f"| generate demo extracts (parquet) | {r['generate']['seconds']:.1f} | {r['generate']['peak_mb']:.0f} |",
        f"| end to end: load → compute → statistics → suppression → publish | {r['end_to_end']['seconds']:.1f} "
        f"| {r['end_to_end']['peak_mb']:.0f} |",
        *(f"| · {k} | {v:.1f} | |" for k, v in r["end_to_end"]["stages"].items()),
        f"| whole catalog ({sub['metrics']} metrics, all levels and strata), engine only "
        f"| {sub['engine_full_catalog_seconds']:.1f} | {sub['peak_mb']:.0f} |", "",
        f"Six-metric subset over index_discharges ({', '.join(SUBSET)}), all levels × strata, median of 3:", "",
        "| implementation | seconds | ratio to carescore |", "|---|---:|---:|",
        f"| carescore compiled, fused | {sub['engine_subset_seconds']:.2f} | 1.00 |",
        f"| (a) hand-written fused DuckDB SQL | {sub['handwritten_seconds']:.2f} | "
        f"{sub['handwritten_seconds'] / sub['engine_subset_seconds']:.2f} |",
    ]
    if "pandas" in r:
        p = r["pandas"]
        lines.append(f"| (b) straightforward pandas (+{p['convert_seconds']:.1f}s to convert from Polars) | "
                     f"{p['seconds']:.2f} | {p['seconds'] / sub['engine_subset_seconds']:.1f} |")
        lines.append(f"\npandas peak memory {p['peak_mb']:.0f} MB.")
    e2e, capped = r["end_to_end"], r["capped_audit"]
    lines += ["", "Small-number audit (per metric and period, all sums solved together, exact arithmetic):", "",
              "| audit | groups solved together | groups left to the one-sum rule | hidden cells | suppression seconds |",
              "|---|---:|---:|---:|---:|"]
    for label, x, seconds in (("every group (default)", e2e, e2e["stages"]["suppression"]),
                              ("capped: `--audit-limit 1500`", capped, capped["suppression_seconds"])):
        a = x["audit"]
        lines.append(f"| {label} | {a['groups'] - a['groups_too_large_to_audit']} | {a['groups_too_large_to_audit']} | "
                     f"{x['hidden']:,} | {seconds:.1f} |")
    ranges = e2e["audit"].get("ranges", {})
    if ranges:
        lines += ["", f"Reader's ranges (every hidden count of 1 to 10 must reach 1 and 11, HiGHS): {ranges['targets']:,} "
                  f"counts asked, {ranges['rounds']} round(s), {ranges['hidden_for_range']:,} more cells hidden, "
                  f"{ranges['narrow_left']} left narrow."]
    lines.append(f"\ncarescore ÷ hand-written = {sub['engine_subset_seconds'] / sub['handwritten_seconds']:.2f} "
                 "(target ≤ 1.3); end to end target ≤ 60 s.")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    validation = HERE / "validate_bench.py"
    if validation.exists():
        subprocess.run([sys.executable, str(validation), "--patients", str(args.patients), "--data", str(args.data)],
                       check=False)


if __name__ == "__main__":
    main()
