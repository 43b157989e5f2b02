"""Broken YAML of every kind carescore reads, run through the command line: each fixture says, in its first line,
the located message it must give; the command exits 1 with it, and never with a traceback or an internal error.

broken/*.yaml are metric definitions; broken/<kind>/ hold the other kinds."""

import shutil
from pathlib import Path

import pytest
from test_check import make_tree  # the catalog's facts and definitions, no metrics

from carescore import cli
from carescore.define import contracts, loader
from carescore.issues import DefinitionError

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "broken"
KINDS = ("metrics", "facts", "definitions", "contracts", "methods", "scenarios")
CASES = [(kind, case) for kind in KINDS
         for case in sorted((BROKEN if kind == "metrics" else BROKEN / kind).glob("*.yaml"))]


def _install(kind: str, case: Path, tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """Where the broken file goes and the command that reads it."""
    if kind in ("methods", "scenarios"):  # the measures are read after the file, so any path will do
        option = "--method" if kind == "methods" else "--scenario"
        return case, ["stars" if kind == "methods" else "incentives", option, str(case), "--measures", str(case)]
    if kind == "contracts":
        folder = tmp_path / "contracts"
        shutil.copytree(REPO / "data" / "contracts", folder)
        monkeypatch.setattr(contracts, "default_contracts_dir", lambda: folder)
        return shutil.copy(case, folder / case.name), ["check", str(REPO / "metrics")]
    root = make_tree(tmp_path)
    place = {"metrics": root / "quality" / case.name, "facts": root / "facts" / case.name,
             "definitions": root / "definitions.yaml"}[kind]
    return shutil.copy(case, place), ["check", str(root)]


@pytest.fixture
def fresh_contracts():
    loader.canonical_tables.cache_clear()  # the contracts a fact may require are read once per process
    yield
    loader.canonical_tables.cache_clear()


@pytest.mark.parametrize("kind, case", CASES, ids=lambda v: v if isinstance(v, str) else v.stem)
def test_a_broken_file_is_a_located_error_not_a_traceback(kind, case, tmp_path, monkeypatch, capsys,
                                                           fresh_contracts):
    expected = case.read_bytes().splitlines()[0].decode().removeprefix("# expect: ")  # some fixtures are binary
    target, argv = _install(kind, case, tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    said = capsys.readouterr()
    assert "Traceback" not in said.out + said.err and "internal error" not in said.err, said.err
    assert done.value.code == 1, said.err
    assert f"{target}{expected}" in said.err.splitlines(), said.err


def test_a_single_value_where_a_list_is_wanted_is_one_error(tmp_path):
    root = make_tree(tmp_path)
    shutil.copy(BROKEN / "levels_scalar.yaml", root / "quality" / "levels_scalar.yaml")  # levels: provider
    with pytest.raises(DefinitionError) as err:
        loader.load_catalog(root)
    assert [d.code for d in err.value.diagnostics] == ["M034"]  # not one per letter of 'provider'
