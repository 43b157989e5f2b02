"""Broken definitions: each fixture says, in its first line, the exact located message it must produce."""

import shutil
from pathlib import Path

import pytest

from carescore.define.loader import load_catalog
from carescore.issues import CarescoreError

REPO = Path(__file__).resolve().parents[2]
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def make_tree(tmp_path: Path) -> Path:
    root = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics" / "facts", root / "facts")
    shutil.copy(REPO / "metrics" / "definitions.yaml", root / "definitions.yaml")
    (root / "quality").mkdir()
    return root


def test_catalog_is_clean():
    catalog = load_catalog(REPO / "metrics")
    assert len(catalog.metrics) >= 2


@pytest.mark.parametrize("case", BROKEN, ids=lambda p: p.stem)
def test_broken_definition_message(case: Path, tmp_path):
    expected = case.read_bytes().splitlines()[0].decode().removeprefix("# expect: ")  # some fixtures are binary
    root = make_tree(tmp_path)
    target = root / "quality" / case.name
    shutil.copy(case, target)
    with pytest.raises(CarescoreError) as err:
        load_catalog(root)
    messages = [str(d) for d in err.value.diagnostics]
    assert f"{target}{expected}" in messages, messages


def test_duplicate_id_names_both_places(tmp_path):
    root = make_tree(tmp_path)
    (root / "equity").mkdir()
    src = REPO / "metrics" / "quality" / "followup_7d.yaml"
    shutil.copy(src, root / "quality" / "followup_7d.yaml")
    shutil.copy(src, root / "equity" / "followup_7d.yaml")
    with pytest.raises(CarescoreError) as err:
        load_catalog(root)
    assert [str(d) for d in err.value.diagnostics] == [
        f"{root}/quality/followup_7d.yaml:1:1: error[M020] duplicate metric id 'followup_7d' "
        f"(first defined at {root}/equity/followup_7d.yaml:1:1)"]


def test_all_problems_reported_together(tmp_path):
    root = make_tree(tmp_path)
    for case in BROKEN[:4]:
        shutil.copy(case, root / "quality" / case.name)
    with pytest.raises(CarescoreError) as err:
        load_catalog(root)
    assert len({d.loc.path for d in err.value.diagnostics}) == 4


def test_shared_definition_expands_and_a_wrong_call_is_located(tmp_path):
    root = make_tree(tmp_path)
    catalog = load_catalog(root)
    sql = catalog.facts["survey_returns"].sql
    assert "age_band(" not in sql.lower() and "AGE(s.survey_date, p.birth_date)" in sql and "'75+'" in sql
    fact = root / "facts" / "survey_returns.yaml"
    text = fact.read_text()
    fact.write_text(text.replace("age_band(s.survey_date, p.birth_date)", "age_band(s.survey_date)"))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("sql:"))
    with pytest.raises(CarescoreError) as err:
        load_catalog(root)
    assert [str(d) for d in err.value.diagnostics] == [
        f"{fact}:{line}:6: error[F006] age_band takes 2 argument(s) (on_day, birth_date); got 1"]


def test_changing_a_shared_definition_changes_the_hash_of_every_fact_using_it(tmp_path):
    root = make_tree(tmp_path)
    before = {f.id: f.source_hash for f in load_catalog(root).facts.values()}
    defs = root / "definitions.yaml"
    defs.write_text(defs.read_text().replace("< 75 THEN '65-74'", "< 80 THEN '65-79'").replace("'75+'", "'80+'"))
    after = {f.id: f.source_hash for f in load_catalog(root).facts.values()}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"imaging", "index_discharges", "member_years", "survey_returns"}
