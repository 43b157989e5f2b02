"""Fixtures of the engine tests: one seeded demo network, built by the pipeline and by the oracle.

The demo cut and its pipeline run are made once per test session even under xdist (the first worker builds
them under a file lock, the others read the files), because pipeline.build runs the data-quality suites.
"""

from __future__ import annotations

import fcntl
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # oracle.py and canonical.py sit next to the tests

REPO = Path(__file__).resolve().parents[2]
PATIENTS = int(os.environ.get("CARESCORE_ORACLE_PATIENTS", "10000"))


@contextmanager
def _locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def catalog():
    from carescore.define.loader import load_catalog

    return load_catalog(REPO / "metrics")


@pytest.fixture(scope="session")
def oracle_demo(tmp_path_factory, worker_id, catalog):
    """(demo tables, pipeline.build results) for one seeded demo network written to parquet."""
    from carescore import pipeline
    from carescore.extracts.demo import write_demo

    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if worker_id != "master" else shared
    folder, results = shared / f"oracle_demo_{PATIENTS}", shared / f"oracle_demo_{PATIENTS}.results.parquet"
    with _locked(shared / "oracle_demo.lock"):
        if not results.exists():
            write_demo(folder, patients=PATIENTS, seed=7)
            bundle = pipeline.build(folder, REPO / "metrics", catalog=catalog)
            bundle.results.write_parquet(results.with_suffix(".tmp"))
            results.with_suffix(".tmp").rename(results)
    tables = {p.stem: pl.read_parquet(p) for p in folder.glob("*.parquet")}
    return tables, pl.read_parquet(results)


@pytest.fixture(scope="session")
def engine_demo(oracle_demo, catalog):
    """(cells with statistics, exclusion counts, fact frames) straight from the engine over the demo tables."""
    import canonical

    return canonical.run_engine(oracle_demo[0], catalog)


@pytest.fixture(scope="session")
def oracle_expected(oracle_demo, catalog):
    """(cells, exclusions, fact frames) of the oracle over the demo tables."""
    import oracle

    return oracle.results(catalog, oracle_demo[0])
