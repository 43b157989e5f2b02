"""Runs are immutable and publication is atomic: a failed publish leaves the previous run served unchanged."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from carescore.publish import store


def _tiny_bundle(run_id: str, value: float) -> store.Bundle:
    frame = pl.DataFrame({"run_id": [run_id], "metric_id": ["m"], "level": ["all"], "value": [value],
                          "status": ["ok"]})
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
    with pytest.raises(store.PublishError, match="disk full"):
        store.publish(_tiny_bundle("r2", 0.9), tmp_path)
    monkeypatch.undo()
    assert store.current_run_id(tmp_path) == "r1"
    assert store.list_runs(tmp_path) == ["r1"]
    assert _leftovers(tmp_path) == []
    assert (tmp_path / "runs" / "r1" / "public.parquet").read_bytes() == before
    assert store.read_public(tmp_path)["value"].to_list() == [0.5]


def test_runs_are_immutable(tmp_path):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    with pytest.raises(store.RunExists, match="runs are immutable"):
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


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in [*root.glob(".CURRENT-*"), *(root / "runs").glob(".tmp-*")])


def _live_is_whole(root: Path) -> str:
    """CURRENT names a run folder whose every file says it belongs to that run (read by run id: CURRENT may
    move on between two reads)."""
    run = store.current_run_id(root)
    assert store.read_manifest(root, run)["run_id"] == run
    assert set(store.read_results(root, run_id=run)["run_id"]) == {run}
    assert set(store.read_public(root, run_id=run)["run_id"]) == {run}
    return run


FAILING = [p for p in store.FAULT_POINTS if p != "pointer_replaced"]


@pytest.mark.parametrize("point", FAILING)
@pytest.mark.parametrize("code, words", [("ENOSPC", "no space left on device"), ("EROFS", "read-only file system")])
def test_a_failed_write_is_one_sentence_and_leaves_nothing(tmp_path, monkeypatch, point, code, words):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    monkeypatch.setenv("CARESCORE_FAULT_AT", f"{point}:{code}")
    with pytest.raises(store.PublishError) as err:
        store.publish(_tiny_bundle("r2", 0.9), tmp_path)
    assert str(err.value) == (f"cannot write the publication to {tmp_path}: {words}; "
                              "the previous publication stays live")
    assert _live_is_whole(tmp_path) == "r1" and store.list_runs(tmp_path) == ["r1"]
    assert _leftovers(tmp_path) == []


def test_the_last_flush_failing_says_the_run_is_live(tmp_path, monkeypatch):
    monkeypatch.setenv("CARESCORE_FAULT_AT", "pointer_replaced:EIO")
    with pytest.raises(store.PublishError, match="run r1 is live but may not survive a power cut"):
        store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    assert _live_is_whole(tmp_path) == "r1"


def test_a_store_that_cannot_be_a_folder_is_one_sentence(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(store.PublishError, match=f"cannot write the publication to {tmp_path}/file/store: "
                                                 "not a directory; the previous publication stays live"):
        store.publish(_tiny_bundle("r1", 0.5), tmp_path / "file" / "store")


def test_leftovers_of_a_dead_publisher_go_with_the_next_publish(tmp_path):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    (tmp_path / "runs" / ".tmp-dead1" / "sql").mkdir(parents=True)  # killed while writing
    store.publish(_tiny_bundle("dead2", 0.7), tmp_path)  # killed after the rename, before CURRENT moved:
    (tmp_path / "CURRENT").write_text("r1\n")
    (tmp_path / ".CURRENT-dead2.tmp").write_text("dead2\n")  # its marker is still there
    store.publish(_tiny_bundle("r3", 0.9), tmp_path)
    assert _live_is_whole(tmp_path) == "r3"
    assert store.list_runs(tmp_path) == ["r1", "r3"] and _leftovers(tmp_path) == []


def test_a_publisher_waits_for_the_lock_and_leaves_a_live_publishers_files_alone(tmp_path):
    store.publish(_tiny_bundle("r1", 0.5), tmp_path)
    busy = tmp_path / "runs" / ".tmp-busy"
    done = threading.Event()
    with store._lock(tmp_path):  # another publisher, half-way through writing its run
        busy.mkdir()
        thread = threading.Thread(target=lambda: (store.publish(_tiny_bundle("r2", 0.9), tmp_path), done.set()))
        thread.start()
        time.sleep(0.5)
        assert not done.is_set() and busy.exists() and store.current_run_id(tmp_path) == "r1"
    thread.join(10)  # the holder died without finishing: its folder is now a leftover
    assert done.is_set() and not busy.exists() and _live_is_whole(tmp_path) == "r2"


PUBLISHER = """
import sys
import polars as pl
from carescore.publish import store
for i in range(int(sys.argv[3])):
    run = f"{sys.argv[2]}{i:03d}"
    frame = pl.DataFrame({"run_id": [run] * 2000, "value": [float(i)] * 2000})
    store.publish(store.Bundle(run, {"run_id": run}, frame, frame, pl.DataFrame(), frame, {}, {"f": run}), sys.argv[1])
"""


def test_concurrent_publishers_never_mix_a_publication(tmp_path):
    store.publish(_tiny_bundle("a-first", 0.5), tmp_path)
    writers = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(tmp_path), prefix, "15"], env=os.environ,
                                stderr=subprocess.PIPE, text=True) for prefix in ("b", "c")]
    seen = set()
    while any(w.poll() is None for w in writers):
        seen.add(_live_is_whole(tmp_path))
    assert [w.wait() for w in writers] == [0, 0], [w.stderr.read() for w in writers]
    seen.add(_live_is_whole(tmp_path))
    assert len(store.list_runs(tmp_path)) == 31 and _leftovers(tmp_path) == []
    assert len(seen) > 2  # the reader really watched publications change
