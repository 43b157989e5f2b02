"""Run bundles: one immutable folder per run, published by atomically swapping a pointer file.

<root>/runs/<run_id>/ holds manifest.json, results.parquet, public.parquet, exclusions.parquet, units.parquet,
catalog.json, sql/*.sql and the data-quality files (dq.parquet, dq_volume.parquet, dq_report.html);
<root>/CURRENT holds the published run id. A run folder is written under a temporary name and renamed when
complete, and CURRENT is replaced with os.replace, so a reader sees either the previous run or the new one,
never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

DEFAULT_ROOT = Path("data/published")


@dataclass
class Bundle:
    run_id: str
    manifest: dict
    results: pl.DataFrame
    public: pl.DataFrame
    exclusions: pl.DataFrame
    units: pl.DataFrame
    catalog: dict
    sql: dict[str, str]
    extra: dict[str, pl.DataFrame] = field(default_factory=dict)  # e.g. data-quality results
    files: dict[str, str] = field(default_factory=dict)  # other text files of the run, e.g. dq_report.html


class NoPublishedRun(Exception):
    pass


def root_dir(root: Path | str | None = None) -> Path:
    return Path(root or os.environ.get("CARESCORE_STORE", DEFAULT_ROOT))


def publish(bundle: Bundle, root: Path | str | None = None) -> Path:
    root = root_dir(root)
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    final = runs / bundle.run_id
    if final.exists():
        raise FileExistsError(f"run {bundle.run_id} already exists; runs are immutable")
    tmp = runs / f".tmp-{bundle.run_id}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "sql").mkdir(parents=True)
    frames = {"results": bundle.results, "public": bundle.public, "exclusions": bundle.exclusions,
              "units": bundle.units, **bundle.extra}
    for name, frame in frames.items():
        frame.write_parquet(tmp / f"{name}.parquet")
    for name, text in bundle.sql.items():
        (tmp / "sql" / f"{name}.sql").write_text(text + "\n")
    for name, text in bundle.files.items():
        (tmp / name).write_text(text)
    (tmp / "catalog.json").write_text(json.dumps(bundle.catalog, indent=2, default=str))
    (tmp / "manifest.json").write_text(json.dumps(bundle.manifest, indent=2, default=str))
    os.replace(tmp, final)
    pointer = root / ".CURRENT.tmp"
    pointer.write_text(bundle.run_id + "\n")
    with open(pointer) as fh:
        os.fsync(fh.fileno())
    os.replace(pointer, root / "CURRENT")
    return final


def current_run_id(root: Path | str | None = None) -> str:
    pointer = root_dir(root) / "CURRENT"
    if not pointer.exists():
        raise NoPublishedRun(f"no run has been published in {root_dir(root)} yet (run `carescore run`)")
    return pointer.read_text().strip()


def run_dir(root=None, run_id: str | None = None) -> Path:
    return root_dir(root) / "runs" / (run_id or current_run_id(root))


def list_runs(root=None) -> list[str]:
    runs = root_dir(root) / "runs"
    return sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) if runs.exists() else []


def read_manifest(root=None, run_id=None) -> dict:
    return json.loads((run_dir(root, run_id) / "manifest.json").read_text())


def read_catalog(root=None, run_id=None) -> dict:
    return json.loads((run_dir(root, run_id) / "catalog.json").read_text())


def read_sql(root=None, run_id=None) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((run_dir(root, run_id) / "sql").glob("*.sql"))}


def read_frame(name: str, root=None, run_id=None) -> pl.DataFrame:
    path = run_dir(root, run_id) / f"{name}.parquet"
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


def _filter(frame: pl.DataFrame, **where) -> pl.DataFrame:
    for column, wanted in where.items():
        if wanted is not None:
            frame = frame.filter(pl.col(column).is_in(wanted if isinstance(wanted, (list, tuple)) else [wanted]))
    return frame


def read_public(root=None, metric_id=None, level=None, run_id=None) -> pl.DataFrame:
    """The suppressed long table: the only results a public page may show."""
    return _filter(read_frame("public", root, run_id), metric_id=metric_id, level=level)


def read_results(root=None, metric_id=None, level=None, run_id=None) -> pl.DataFrame:
    """Unsuppressed results, for signed-in network staff only."""
    return _filter(read_frame("results", root, run_id), metric_id=metric_id, level=level)


def read_units(root=None, run_id=None) -> pl.DataFrame:
    return read_frame("units", root, run_id)


def read_exclusions(root=None, run_id=None) -> pl.DataFrame:
    return read_frame("exclusions", root, run_id)


def read_dq(root=None, run_id=None) -> pl.DataFrame:
    """Data-quality results of the run: one row per table × check (table, column, expectation, rule, severity,
    success, observed, unexpected_count, sample_keys, providers, message)."""
    return read_frame("dq", root, run_id)


def dq_report_path(root=None, run_id=None) -> Path | None:
    """The human-readable data-quality report of the run (HTML), if it has one."""
    path = run_dir(root, run_id) / "dq_report.html"
    return path if path.exists() else None
