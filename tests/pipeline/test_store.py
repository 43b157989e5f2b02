"""Runs are immutable and publication is atomic: a failed publish leaves the previous run served unchanged."""

import json
from pathlib import Path

import polars as pl
import pytest

from carescore import store


def _tiny_bundle(run_id: str, value: float) -> store.Bundle:
    frame = pl.DataFrame({"metric_id": ["m"], "level": ["all"], "value": [value], "status": ["ok"]})
    return store.Bundle(run_id=run_id, manifest={"run_id": run_id, "periods": []}, results=frame, public=frame,
                        exclusions=pl.DataFrame(), units=pl.DataFrame({"unit_id": ["ALL"]}),
                        catalog={"metrics": {}}, sql={"f": "SELECT 1"})


def test_no_run_yet_says_so(tmp_path):
    with pytest.raises(store.NoPublishedRun, match="no run has been published"):
        store.current_run_id(tmp_path)


def test_publish_then_read(tmp_path):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    assert store.current_run_id(tmp_path) == "r1"
    assert store.read_public(tmp_path)["value"].to_list() == [0.5]
    assert store.read_sql(tmp_path) == {"f": "SELECT 1\n"}


def test_failed_publish_keeps_previous_run(tmp_path, monkeypatch):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    before = (tmp_path / "runs" / "r1" / "public.parquet").read_bytes()
    original = pl.DataFrame.write_parquet
    calls = {"n": 0}

    def failing(self, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # fail half-way through writing the new run
            raise OSError("disk full")
        return original(self, path, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", failing)
    with pytest.raises(OSError, match="disk full"):
        store.publish(_tiny_bundle("r2", 0.9), tmp_path)
    monkeypatch.undo()
    assert store.current_run_id(tmp_path) == "r1"
    assert store.list_runs(tmp_path) == ["r1"]
    assert (tmp_path / "runs" / "r1" / "public.parquet").read_bytes() == before
    assert store.read_public(tmp_path)["value"].to_list() == [0.5]


def test_runs_are_immutable(tmp_path):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    with pytest.raises(FileExistsError):
        store.publish(_tiny_bundle("r1", 0.7), tmp_path)
    assert store.read_public(tmp_path)["value"].to_list() == [0.5]


def test_manifest_describes_the_run(published):
    root, bundle = published
    manifest = store.read_manifest(root)
    assert manifest["run_id"] == bundle.run_id == store.current_run_id(root)
    assert len(manifest["metrics"]) >= 25
    assert all(len(m["sha256"]) == 16 and m["version"] >= 1 for m in manifest["metrics"].values())
    files = {f["table"]: f for f in manifest["data_cut"]["files"]}
    assert files["encounters"]["rows"] > 100_000 and len(files["encounters"]["sha256"]) == 64
    assert manifest["periods"] == ["2024", "2025"]
    json.dumps(manifest)


def test_same_data_same_results(demo_dir, published):
    """Reproducible: a second run over the same extracts publishes identical numbers and statuses."""
    from carescore import pipeline

    again = pipeline.build(demo_dir, Path(__file__).resolve().parents[2] / "metrics")
    first = published[1]
    assert again.run_id != first.run_id
    assert again.results.drop("run_id").equals(first.results.drop("run_id"))
    assert again.manifest["data_cut"] == first.manifest["data_cut"]
    assert again.manifest["metrics"] == first.manifest["metrics"]
