"""`carescore run` killed or starved of disk at each named point inside publishing (store.FAULT_POINTS,
activated by CARESCORE_FAULT_AT): the live run stays whole and readable, and the next run cleans up and
publishes. Two `run`s publishing to one store at once never leave a mixed publication."""

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from carescore.publish import store

REPO = Path(__file__).resolve().parents[2]
AS_OF = ("--as-of", "2026-01-15")


def run(data: Path, root: Path, fault: str | None = None, **popen):
    env = {**os.environ, "CARESCORE_STORE": str(root)}
    env.pop("CARESCORE_FAULT_AT", None)
    if fault:
        env["CARESCORE_FAULT_AT"] = fault
    args = [sys.executable, "-m", "carescore.cli", "run", "--data", str(data), *AS_OF]
    if popen.pop("background", False):
        return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, **popen)


@pytest.fixture(scope="module")
def cut(tmp_path_factory) -> Path:
    from carescore.extracts.demo import write_demo

    out = tmp_path_factory.mktemp("faults") / "cut"
    write_demo(out, patients=300, seed=7)
    return out


@pytest.fixture(scope="module")
def live(cut, tmp_path_factory) -> Path:
    """A store with one publication."""
    root = tmp_path_factory.mktemp("faults") / "store"
    out = run(cut, root)
    assert out.returncode == 0, out.stderr
    return root


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def _whole(root: Path) -> str:
    """CURRENT names a complete run folder whose files all belong to that run id."""
    run_id = store.current_run_id(root)
    assert store.read_manifest(root, run_id)["run_id"] == run_id
    for read in (store.read_results, store.read_public):
        frame = read(root, run_id=run_id)
        assert frame.height and set(frame["run_id"]) == {run_id}
    assert set(store.read_exclusions(root, run_id=run_id)["run_id"]) == {run_id}
    assert store.read_dq(root, run_id=run_id).height and store.read_sql(root, run_id=run_id)
    return run_id


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in [*root.glob(".CURRENT-*"), *(root / "runs").glob(".tmp-*")])


@pytest.mark.parametrize("point", store.FAULT_POINTS)
def test_killed_inside_publish_then_the_next_run_recovers(cut, live, tmp_path, point):
    root = tmp_path / "store"
    shutil.copytree(live, root)
    previous = store.current_run_id(root)
    before = _digest(root / "runs" / previous)

    killed = run(cut, root, point)
    assert killed.returncode == store.FAULT_EXIT, killed.stderr
    if point == "pointer_replaced":  # past the point of no return: the killed run is the live one
        assert _whole(root) != previous
    else:
        assert _whole(root) == previous
    assert _digest(root / "runs" / previous) == before
    cli = subprocess.run([sys.executable, "-m", "carescore.cli", "results", "--metric", "readmission_30d"], cwd=REPO,
                         env={**os.environ, "CARESCORE_STORE": str(root)}, capture_output=True, text=True)
    assert cli.returncode == 0 and cli.stdout.count("\n") > 1, cli.stderr
    runs_after_kill = store.list_runs(root)

    again = run(cut, root)
    assert again.returncode == 0, again.stderr
    latest = _whole(root)
    assert latest not in runs_after_kill and _leftovers(root) == []
    kept = [previous, *([r for r in runs_after_kill if r != previous] if point == "pointer_replaced" else [])]
    assert store.list_runs(root) == sorted([*kept, latest])
    assert _digest(root / "runs" / previous) == before


def test_a_full_disk_is_one_sentence_and_leaves_nothing(cut, live, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(live, root)
    previous = store.current_run_id(root)
    out = run(cut, root, "first_file:ENOSPC")
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    assert out.stderr == (f"cannot write the publication to {root}: no space left on device; "
                          "the previous publication stays live\n")
    assert _whole(root) == previous and store.list_runs(root) == [previous] and _leftovers(root) == []


def _small_files():
    """A real write failure without root: files may not grow past 20 kB (polars then fails mid-parquet)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_a_real_failed_parquet_write_is_one_sentence(cut, live, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(live, root)
    previous = store.current_run_id(root)
    out = run(cut, root, preexec_fn=_small_files)
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    assert out.stderr == (f"cannot write the publication to {root}: file too large; "
                          "the previous publication stays live\n")
    assert _whole(root) == previous and store.list_runs(root) == [previous] and _leftovers(root) == []


def test_two_concurrent_runs_never_leave_a_mixed_publication(cut, live, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(live, root)
    previous = store.current_run_id(root)
    runs = [run(cut, root, background=True) for _ in range(2)]
    seen = set()
    while any(r.poll() is None for r in runs):
        seen.add(_whole(root))
    outputs = [r.communicate() for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    published = {out.split()[2] for out, _ in outputs}
    assert len(published) == 2 and _whole(root) in published
    assert seen <= {previous, *published}
    assert store.list_runs(root) == sorted([previous, *published]) and _leftovers(root) == []
