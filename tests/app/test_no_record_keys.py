"""Public pages never show record identifiers, even when a data-quality check names the records that failed."""

import polars as pl
import pytest
from app_fixtures import copy_run
from streamlit.testing.v1 import AppTest
from test_pages import PUBLIC_PAGES, no_errors, open_page, sign_in

KEYS = ["PAT-93A7F1", "ENC-55120B", "CLM-0077Q"]


@pytest.fixture(scope="session")
def published_with_keyed_failure(tmp_path_factory, published):
    """A run whose failing checks carry patient, encounter and claim ids in every free-text field."""
    root = tmp_path_factory.mktemp("keyed_dq")
    run = copy_run(published, root)
    pl.DataFrame({
        "table": ["patients", "encounters", "claims"],
        "column": ["patient_id", "encounter_id", "claim_id"],
        "expectation": ["unique", "not_null", "in_set"],
        "rule": [f"patient_id != '{KEYS[0]}'", "encounter_id present", f"claim_id in ('{KEYS[2]}')"],
        "severity": ["error", "warning", "error"],
        "success": [False, False, False],
        "observed": [KEYS[0], KEYS[1], f"{KEYS[2]}, {KEYS[0]}"],
        "unexpected_count": [2, 40, 1],
        "sample_keys": [f"{KEYS[0]}, {KEYS[1]}", KEYS[1], KEYS[2]],
        "providers": ["", "", ""],
        "message": [f"patients.patient_id: 2 row(s) break the rule 'unique' (e.g. {KEYS[0]}, {KEYS[1]})",
                    f"encounters.encounter_id: 40 row(s) (e.g. {KEYS[1]})", f"claims: unexpected {KEYS[2]}"],
    }).write_parquet(run / "dq.parquet")
    return root


def page_bytes(at: AppTest) -> bytes:
    """Everything the page sends to the browser (text, tables as Arrow, charts), main area and sidebar."""
    out = []

    def walk(node):
        if hasattr(node, "proto") and node.proto is not None:
            out.append(node.proto.SerializeToString())
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return b"".join(out)


def test_no_public_page_shows_a_record_key(app, published_with_keyed_failure, monkeypatch):
    monkeypatch.setenv("CARESCORE_STORE", str(published_with_keyed_failure))
    for page in PUBLIC_PAGES:
        open_page(app, page)
        no_errors(app)
        sent = page_bytes(app)
        assert sent  # the page did show something
        assert [k for k in KEYS if k.encode() in sent] == [], page
    failed = next(d.value for d in app.dataframe if "Records affected" in d.value.columns)
    assert set(failed["Table"]) == {"patients", "encounters", "claims"}  # the failures are counted, by check
    assert dict(zip(failed["Table"], failed["Records affected"]))["encounters"] == "40"


def test_leadership_staff_see_the_check_messages(app, published_with_keyed_failure, monkeypatch):
    monkeypatch.setenv("CARESCORE_STORE", str(published_with_keyed_failure))
    sign_in(app, "cmo")
    open_page(app, "data_quality")
    no_errors(app)
    assert KEYS[1].encode() in page_bytes(app)
