"""Shared by the AppTest and browser tests: a published demo run and a local staff account, made in tmp dirs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from carescore.publish import store
from lib.auth import hash_password

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app" / "Home.py"
PATIENTS = 10_000
PASSWORD = "correct horse battery staple"


def publish_demo(root: Path, patients: int = PATIENTS) -> Path:
    """demo data → `carescore run` → a store folder with one published run, as an operator would make it."""
    cli = Path(sys.executable).parent / "carescore"
    data, store = root / "demo", root / "store"
    subprocess.run([cli, "demo", "--out", data, "--patients", str(patients), "--seed", "7"], check=True,
                   capture_output=True)
    subprocess.run([cli, "run", "--data", data, "--store", store], check=True, capture_output=True)
    return store


def copy_run(published: Path, root: Path) -> Path:
    """A new store at `root` whose current run is a copy of `published`'s, for tests that alter a run."""
    run_id = store.current_run_id(published)
    shutil.copytree(published / "runs" / run_id, root / "runs" / run_id)
    (root / "CURRENT").write_text(run_id + "\n")
    return root / "runs" / run_id


def write_auth_file(path: Path) -> Path:
    """Three local accounts: one per role and one with no role."""
    hashed = hash_password(PASSWORD)
    path.write_text("\n".join(
        f'[users.{user}]\nname = "{name}"\nroles = {roles}\npassword = "{hashed}"\n'
        for user, name, roles in [("cmo", "Dr. Rivera", '["leadership"]'), ("payer", "Pat Analyst", '["payer"]'),
                                  ("intern", "Sam Intern", "[]")]))
    return path
