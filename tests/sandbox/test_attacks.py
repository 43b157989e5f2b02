"""A metric catalog is untrusted input. Each attack a hostile catalog author could write into a fact view or a shared
definition is refused by the loader where it is written (so `carescore check` and `carescore run` fail), and the
engine's connection refuses the same SQL anyway."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from carescore.compute import engine
from carescore.define.loader import load_catalog
from carescore.issues import CarescoreError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "compute"))  # canonical.py: small typed tables
import canonical  # noqa: E402

SQL_LINE = "  FROM sdoh_screenings AS s\n"  # a line of the social_needs fact view, where attacks go
REQUIRES = "(sdoh_screenings, patients, providers)"
ONLY_TABLES = f"a fact view reads only the tables it requires {REQUIRES}, earlier facts and its own CTEs"


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", root)
    return root


def loc_of(path: Path, marker: str) -> str:
    """path:line:col of the first occurrence of `marker` in the file."""
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if marker in line:
            return f"{path}:{i}:{line.index(marker) + 1}"
    raise AssertionError(marker)


def attack_fact(root: Path, replace: str, by: str) -> Path:
    fact = root / "facts" / "social_needs.yaml"
    text = fact.read_text()
    assert replace in text
    fact.write_text(text.replace(replace, by))
    return fact


def messages(root: Path) -> list[str]:
    with pytest.raises(CarescoreError) as err:
        load_catalog(root)
    return [str(d) for d in err.value.diagnostics]


OUT = "/tmp/carescore_attack_out.csv"  # not written by any test: each asserts it still does not exist
FACT_ATTACKS = {
    # name: (where it replaces SQL_LINE or the whole view, the attack, marker it is located at, code, message)
    "copy_after_semicolon": (SQL_LINE, SQL_LINE + f"  ; COPY (SELECT * FROM patients) TO '{OUT}'\n", "COPY", "F020",
                             "fact social_needs must be exactly one SELECT; a second statement starts here"),
    "second_select": (SQL_LINE, SQL_LINE + "  ; SELECT 1\n", "SELECT 1", "F020",
                      "fact social_needs must be exactly one SELECT; a second statement starts here"),
    "union_read_text": (SQL_LINE, SQL_LINE + "  JOIN patients AS p ON p.patient_id = s.patient_id\n"
                        "  UNION ALL SELECT * FROM read_text('/etc/passwd')\n", "read_text", "F022",
                        "fact social_needs: table function 'read_text' is not allowed; a fact view reads only tables"),
    "union_read_csv": (SQL_LINE, SQL_LINE + "  UNION ALL SELECT * FROM read_csv('/etc/passwd')\n", "read_csv", "F022",
                       "fact social_needs: table function 'read_csv' is not allowed; a fact view reads only tables"),
    "cte_read_parquet": (SQL_LINE, "  FROM (SELECT * FROM read_parquet('/x/*.parquet')) AS s\n", "read_parquet",
                         "F022", "fact social_needs: table function 'read_parquet' is not allowed; a fact view reads "
                         "only tables"),
    "glob_in_where": (SQL_LINE, SQL_LINE + "  WHERE s.domain IN (SELECT file FROM glob('/etc/*'))\n", "glob",
                      "F022", "fact social_needs: table function 'glob' is not allowed; a fact view reads only tables"),
    "range_as_table": (SQL_LINE, SQL_LINE + "  CROSS JOIN range(1000000000) AS r\n", "range", "F022",
                       "fact social_needs: table function 'range' is not allowed; a fact view reads only tables"),
    "file_as_table": (SQL_LINE, "  FROM '/etc/passwd' AS s\n", "'/etc/passwd'", "F021",
                      f"fact social_needs: table '/etc/passwd' is not allowed; {ONLY_TABLES}"),
    "table_not_required": (SQL_LINE, "  FROM encounters AS s\n", "encounters", "F021",
                           f"fact social_needs: table 'encounters' is not allowed; {ONLY_TABLES}"),
    "qualified_table": (SQL_LINE, "  FROM information_schema.tables AS s\n", "information_schema", "F021",
                        "fact social_needs: qualified table 'information_schema.tables AS s' is not allowed; write "
                        "the bare table name"),
    "scalar_getenv": ("s.screening_id,", "getenv('HOME') AS screening_id,", "getenv", "F023",
                      "fact social_needs: function 'getenv' is not allowed"),
    "scalar_current_setting": ("s.screening_id,", "current_setting('threads') AS screening_id,", "current_setting",
                               "F023", "fact social_needs: function 'current_setting' is not allowed"),
    "recursive_cte": ("  SELECT\n", "  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)\n  SELECT\n",
                      "n(i)", "F023", "fact social_needs: 'with recursive' is not allowed"),
}
STATEMENTS = {  # the whole view replaced by one statement that is not a SELECT
    "attach": (f"ATTACH '{OUT}.db' AS stolen", "ATTACH"),
    "install": ("INSTALL httpfs", "INSTALL"),
    "load": ("LOAD httpfs", "LOAD"),
    "pragma": ("PRAGMA enable_profiling", "PRAGMA"),
    "set": ("SET enable_external_access = true", "SET"),
    "create": ("CREATE TABLE stolen AS SELECT * FROM patients", "CREATE"),
    "copy": (f"COPY patients TO '{OUT}'", "COPY"),
}


@pytest.mark.parametrize("name", FACT_ATTACKS)
def test_fact_view_attack_is_a_located_error(name, tmp_path):
    replace, by, marker, code, message = FACT_ATTACKS[name]
    root = tree(tmp_path)
    fact = attack_fact(root, replace, by)
    assert f"{loc_of(fact, marker)}: error[{code}] {message}" in messages(root)
    assert not Path(OUT).exists()


@pytest.mark.parametrize("name", STATEMENTS)
def test_a_fact_view_that_is_not_a_select_is_a_located_error(name, tmp_path):
    statement, kind = STATEMENTS[name]
    root = tree(tmp_path)
    fact = root / "facts" / "social_needs.yaml"
    text = fact.read_text()
    fact.write_text(text[:text.index("sql: |")] + f"sql: |\n  {statement}\n")
    assert messages(root) == [f"{loc_of(fact, statement)}: error[F020] fact social_needs must be exactly one "
                              f"SELECT; {kind} is not allowed"]


@pytest.mark.parametrize("body,marker,message", [
    ("read_text('/etc/passwd')", "read_text", "definition age_band: function 'read_text' is not allowed"),
    ("(SELECT content FROM read_text('/etc/passwd'))", "content", "definition age_band: 'subquery' is not allowed"),
    (f"'x'; COPY patients TO '{OUT}'", "COPY", "definition age_band must be exactly one expression; a second "
                                               "statement starts here"),
])
def test_shared_definition_attack_is_located_in_definitions_yaml(body, marker, message, tmp_path):
    root = tree(tmp_path)
    defs = root / "definitions.yaml"
    text = defs.read_text()
    defs.write_text(text[:text.index("  sql: |")] + f"  sql: |\n    {body}\n")
    code = "F020" if "statement" in message else "F023"
    # only the definition is blamed, not the four facts that call it
    assert messages(root) == [f"{loc_of(defs, marker)}: error[{code}] {message}"]


def test_all_problems_of_a_load_are_reported_together(tmp_path):
    root = tree(tmp_path)
    attack_fact(root, SQL_LINE, SQL_LINE + "  UNION ALL SELECT * FROM read_text('/etc/passwd')\n"
                                           "  UNION ALL SELECT * FROM read_csv('/etc/shadow')\n")
    imaging = root / "facts" / "imaging.yaml"
    imaging.write_text(imaging.read_text() + "  ; COPY procedures TO '/tmp/x.csv'\n")
    codes = sorted(m.split("error[")[1][:4] for m in messages(root))
    assert codes == ["F020", "F022", "F022"]


def test_a_fact_reads_earlier_facts_but_not_later_ones(tmp_path):
    root = tree(tmp_path)
    src = (root / "facts" / "social_needs.yaml").read_text()
    head = src[:src.index("sql: |")]
    (root / "facts" / "zz_needs.yaml").write_text(head.replace("id: social_needs", "id: zz_needs")
                                                  + "sql: |\n  SELECT * FROM fact_social_needs\n")
    assert load_catalog(root).facts["zz_needs"].sql == "SELECT\n  *\nFROM fact_social_needs"
    early = root / "facts" / "aa_needs.yaml"
    early.write_text(head.replace("id: social_needs", "id: aa_needs") + "sql: |\n  SELECT * FROM fact_social_needs\n")
    assert f"{loc_of(early, 'fact_social_needs')}: error[F021] fact aa_needs: table 'fact_social_needs' is not " \
           f"allowed; a fact view reads only the tables it requires {REQUIRES}, earlier facts and its own CTEs" \
           in messages(root)


def test_requires_names_only_canonical_tables(tmp_path):
    root = tree(tmp_path)
    fact = attack_fact(root, "requires: [sdoh_screenings, patients, providers]",
                       "requires: [sdoh_screenings, patients, providers, duckdb_settings]")
    assert f"{loc_of(fact, 'duckdb_settings')}: error[F025] 'duckdb_settings' is not a canonical table" \
           in messages(root)


def test_parents_name_unit_levels(tmp_path):
    root = tree(tmp_path)
    fact = attack_fact(root, "parents: {provider: network}", "parents: {provider: netwrk}")
    assert f"{loc_of(fact, 'netwrk')}: error[F027] parents names level 'netwrk', which is not one of the fact's " \
           f"units; did you mean 'network'?" in messages(root)


@pytest.mark.parametrize("command", ["check", "run"])
def test_carescore_check_and_run_fail_with_the_located_message(command, tmp_path):
    root = tree(tmp_path)
    fact = attack_fact(root, SQL_LINE, SQL_LINE + "  UNION ALL SELECT * FROM read_text('/etc/passwd')\n")
    (tmp_path / "data").mkdir()
    args = [str(root)] if command == "check" else ["--metrics", str(root), "--data", str(tmp_path / "data"),
                                                   "--store", str(tmp_path / "store")]
    # the real command line: its entry point turns the error into the sentence it prints
    result = subprocess.run([sys.executable, "-m", "carescore.cli", command, *args], capture_output=True, text=True)
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert f"{loc_of(fact, 'read_text')}: error[F022] fact social_needs: table function 'read_text'" in said
    assert "1 error(s)" in said and "Traceback" not in said


# ------------------------------------------------------------------------------------ the engine's connection
@pytest.fixture(scope="module")
def con():
    return engine.connect(canonical.extracts(canonical.tables()), load_catalog(REPO / "metrics"))


def test_the_connection_is_locked_and_registered_tables_still_work(con):
    settings = dict(con.sql("SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
                            "'autoload_known_extensions', 'autoinstall_known_extensions', "
                            "'allow_community_extensions', 'lock_configuration')").fetchall())
    assert settings == {"enable_external_access": "false", "autoload_known_extensions": "false",
                        "autoinstall_known_extensions": "false", "allow_community_extensions": "false",
                        "lock_configuration": "true"}
    assert engine.fact_frame(con, "social_needs").columns[0] == "period"
    assert con.sql("SELECT COUNT(*) FROM providers").fetchall()[0][0] > 0


@pytest.mark.parametrize("attack", [
    "COPY (SELECT * FROM patients) TO '{out}'",
    "ATTACH '{out}' AS stolen",
    "SELECT provider_id FROM providers UNION ALL SELECT content FROM read_text('/etc/passwd')",
    "SELECT provider_id FROM providers UNION ALL SELECT * FROM read_csv('/etc/passwd')",
    "CREATE VIEW v AS SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET autoinstall_known_extensions = true",
    "SELECT 1; COPY (SELECT * FROM patients) TO '{out}'",
    "EXPORT DATABASE '{out}'",
])
def test_the_connection_refuses_the_raw_attack(con, attack, tmp_path):
    out = tmp_path / "stolen"
    with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)) as err:
        con.execute(attack.format(out=out)).fetchall()
    assert "disabled" in str(err.value) or "configuration has been locked" in str(err.value)
    assert not out.exists() and list(tmp_path.iterdir()) == []
