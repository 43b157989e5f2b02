"""Shared fixtures: a small seeded demo network published once per test session."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from the current code.")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    from carescore.extracts.demo import write_demo

    out = tmp_path_factory.mktemp("demo")
    write_demo(out, patients=int(os.environ.get("CARESCORE_TEST_PATIENTS", 50_000)), seed=7)
    return out


@pytest.fixture(scope="session")
def published(demo_dir, tmp_path_factory):
    """(store root, bundle) of one run over the demo network."""
    from carescore import pipeline
    from carescore.publish import store

    root = tmp_path_factory.mktemp("published")
    bundle = pipeline.build(demo_dir, REPO / "metrics")
    store.publish(bundle, root)
    return root, bundle
