"""Run bundles: one immutable folder per run, published by atomically swapping a pointer file.

<root>/runs/<run_id>/ holds manifest.json, results.parquet, public.parquet, exclusions.parquet, units.parquet,
catalog.json, sql/*.sql and the data-quality files (dq.parquet, dq_volume.parquet, dq_report.html);
<root>/CURRENT holds the published run id. A reader sees either the previous run or the new one, never a
half-written one, whatever happens to the publishing process:

1. the run is written to runs/.tmp-<run_id> and every file is fsynced;
2. the new pointer is written to .CURRENT-<run_id>.tmp (it also marks "this run folder is not live yet");
3. runs/.tmp-<run_id> is renamed runs/<run_id>;
4. .CURRENT-<run_id>.tmp replaces CURRENT (os.replace: atomic), which consumes the marker.

Publishers take an exclusive fcntl lock on <root>/.lock for all of this. A lock rather than an age or pid
check, because the kernel drops it the moment its holder dies (killed, os._exit, power cut), so it is never
stale, and while a publisher holds it nobody else writes temporary files: whoever holds the lock may delete
every leftover of a dead publisher (a .tmp- folder, a marker and the run folder it names when CURRENT does
not) without touching a concurrent publication. Two concurrent runs therefore publish one after the other,
each complete; CURRENT names the last. Readers take no lock: run folders are never changed once renamed.
(fcntl locks need a local file system or a lock-honouring network one.)

A failed write (a full disk, a read-only store) removes what it wrote and raises PublishError, one sentence;
the previous publication stays live. CARESCORE_FAULT_AT=<point> makes the process die at that point of
publish (os._exit, as if killed), and <point>:<ERRNO> makes that step fail with OSError(ERRNO): the
fault-injection tests (tests/pipeline/test_faults.py) use them; FAULT_POINTS lists the points in order.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..issues import PublishError

DEFAULT_ROOT = Path("data/published")
FAULT_POINTS = ("locked", "tmp_created", "first_file", "files_written", "synced", "marker_written", "renamed",
                "pointer_replaced")
FAULT_EXIT = 137  # what a shell reports for a SIGKILLed process


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


class NoPublishedRun(PublishError):
    """The store has no live run yet."""


class RunExists(PublishError):
    """Runs are immutable: a run id is published once."""


def root_dir(root: Path | str | None = None) -> Path:
    return Path(root or os.environ.get("CARESCORE_STORE", DEFAULT_ROOT))


def _fault(point: str) -> None:
    wanted = os.environ.get("CARESCORE_FAULT_AT", "")
    name, _, code = wanted.partition(":")
    if name != point:
        return
    if code:
        number = getattr(errno, code)
        raise OSError(number, os.strerror(number))
    os._exit(FAULT_EXIT)


def _fsync(path: Path) -> None:
    """Flush a file or a folder entry to disk: a rename is only as durable as what it renames."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _lock(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _current(root: Path) -> str | None:
    pointer = root / "CURRENT"
    return pointer.read_text().strip() if pointer.exists() else None


def _remove_leftovers(root: Path) -> None:
    """Delete what dead (or failed) publishers left; call only with the lock held."""
    runs = root / "runs"
    for marker in sorted(root.glob(".CURRENT-*.tmp")):
        run_id = marker.read_text().strip()
        if run_id and run_id != _current(root) and (runs / run_id).exists():
            shutil.rmtree(runs / run_id)  # renamed but never made live: not a publication
        marker.unlink()
    for tmp in sorted(runs.glob(".tmp-*")) if runs.exists() else ():
        shutil.rmtree(tmp)


def _os_error(err: Exception) -> OSError | None:
    """The operating system's error behind a failed write: polars wraps it in a ComputeError '... (os error N)'."""
    if isinstance(err, OSError):
        return err
    found = re.search(r"\(os error (\d+)\)", str(err))
    return OSError(int(found[1]), os.strerror(int(found[1]))) if found else None


def publish(bundle: Bundle, root: Path | str | None = None) -> Path:
    root = root_dir(root)
    try:
        with _lock(root):
            _fault("locked")
            try:
                return _write(bundle, root)
            except (OSError, pl.exceptions.PolarsError):
                try:
                    _remove_leftovers(root)
                except OSError:
                    pass  # a read-only store has nothing of ours to remove
                raise
    except (OSError, pl.exceptions.PolarsError) as err:
        cause = _os_error(err)
        if cause is None:
            raise  # not the store's fault: a bug, reported as one
        reason = os.strerror(cause.errno) if cause.errno else str(cause).strip() or type(cause).__name__
        # only the last flush comes after CURRENT moved: then the run is live, but maybe not on disk yet
        outcome = (f"run {bundle.run_id} is live but may not survive a power cut" if _current(root) == bundle.run_id
                   else "the previous publication stays live")
        raise PublishError(f"cannot write the publication to {getattr(cause, 'filename', None) or root}: "
                           f"{reason[:1].lower() + reason[1:]}; {outcome}") from err


def _write(bundle: Bundle, root: Path) -> Path:
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root)
    final = runs / bundle.run_id
    if final.exists():
        raise RunExists(f"run {bundle.run_id} already exists; runs are immutable")
    tmp = runs / f".tmp-{bundle.run_id}"
    (tmp / "sql").mkdir(parents=True)
    _fault("tmp_created")
    frames = {"results": bundle.results, "public": bundle.public, "exclusions": bundle.exclusions,
              "units": bundle.units, **bundle.extra}
    for name, frame in frames.items():
        frame.write_parquet(tmp / f"{name}.parquet")
        _fault("first_file")
    for name, text in bundle.sql.items():
        (tmp / "sql" / f"{name}.sql").write_text(text + "\n")
    for name, text in bundle.files.items():
        (tmp / name).write_text(text)
    (tmp / "catalog.json").write_text(json.dumps(bundle.catalog, indent=2, default=str))
    (tmp / "manifest.json").write_text(json.dumps(bundle.manifest, indent=2, default=str))
    _fault("files_written")
    for path in [*tmp.rglob("*"), tmp]:
        _fsync(path)
    _fault("synced")
    marker = root / f".CURRENT-{bundle.run_id}.tmp"
    marker.write_text(bundle.run_id + "\n")
    _fsync(marker)
    _fault("marker_written")
    os.replace(tmp, final)
    _fsync(runs)
    _fault("renamed")
    os.replace(marker, root / "CURRENT")
    _fsync(root)
    _fault("pointer_replaced")
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


def volume_baseline(root=None) -> pl.DataFrame | None:
    """The volume profile of the last accepted (published) cut, which the next cut's volume rules compare with;
    None before the first publication."""
    try:
        frame = read_frame("dq_volume", root)
    except NoPublishedRun:
        return None
    return frame if frame.height else None


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
