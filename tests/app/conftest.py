import polars as pl
import pytest
from app_fixtures import APP, copy_run, publish_demo, write_auth_file
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    return publish_demo(tmp_path_factory.mktemp("published"))


@pytest.fixture(scope="session")
def auth_file(tmp_path_factory):
    return write_auth_file(tmp_path_factory.mktemp("auth") / "users.toml")


@pytest.fixture
def app(published, auth_file, monkeypatch):
    """An AppTest of the whole app (navigation included) on the published demo run, not signed in."""
    monkeypatch.setenv("CARESCORE_STORE", str(published))
    monkeypatch.setenv("CARESCORE_AUTH_FILE", str(auth_file))
    monkeypatch.setenv("CARESCORE_SESSION_SECRET", "a secret for tests only")  # not ~/.carescore
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    return at


@pytest.fixture(scope="session")
def published_without_dq(tmp_path_factory, published):
    """A run published without data-quality results (as runs before validation were)."""
    root = tmp_path_factory.mktemp("without_dq")
    (copy_run(published, root) / "dq.parquet").unlink(missing_ok=True)
    return root


@pytest.fixture(scope="session")
def published_with_dq(tmp_path_factory, published):
    """A run with known data-quality results, whatever the validation stage currently finds."""
    root = tmp_path_factory.mktemp("with_dq")
    run = copy_run(published, root)
    pl.DataFrame({
        "table": ["patients", "patients", "encounters", "surveys"],
        "column": ["patient_id", "birth_date", "discharge_date", "score"],
        "expectation": ["not_null", "between", "column_pair_order", "in_set"],
        "severity": ["error", "warning", "error", "warning"],
        "success": [True, False, False, True],
        "observed": ["0", "3", "42", "0"],
        "unexpected_count": [0, 3, 42, 0],
        "sample_keys": ["", "P1,P2,P3", "E9", ""],
        "message": ["ok", "birth dates in the future", "discharge before admission", "ok"],
    }).write_parquet(run / "dq.parquet")
    return root
