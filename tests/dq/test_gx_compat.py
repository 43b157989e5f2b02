"""The GX/duckdb-engine compatibility layer: it works, and it is still needed.

The `still_needed` tests run GX the plain, documented way on duckdb-engine. They fail the day upstream
fixes these problems; then delete the matching part of gx_compat.py and the test.
"""

import duckdb
import polars as pl
import pytest

from carescore.dq import gx_compat

gx = pytest.importorskip("great_expectations")
E = gx.expectations


def _frame():
    return pl.DataFrame({"id": ["a", "b", "c", "c"], "dx": ["I10", "E11.9", "bad", None],
                         "cost": [1.0, -2.0, 3.0, 4.0]})


def _run(source, table, expectations):
    ctx = source._data_context
    suite = ctx.suites.add(gx.ExpectationSuite(f"s_{table}_{id(expectations)}"))
    for e in expectations:
        suite.add_expectation(e)
    batch = source.add_table_asset(table, table_name=table).add_batch_definition_whole_table("all")
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"v_{table}_{id(expectations)}",
                                                                data=batch, suite=suite))
    return vd.run(result_format="SUMMARY").results


def test_patched_route_gives_right_answers_in_place():
    con = duckdb.connect()
    con.register("t", _frame())
    ctx = gx_compat.context()
    source = gx_compat.duckdb_datasource(ctx, con)
    results = _run(source, "t", [
        E.ExpectColumnValuesToNotBeNull(column="dx"),
        E.ExpectColumnValuesToBeUnique(column="id"),
        E.ExpectColumnValuesToBeBetween(column="cost", min_value=0),
        E.ExpectColumnValuesToMatchRegex(column="dx", regex=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"),
        E.ExpectTableRowCountToBeBetween(min_value=4, max_value=4),
    ])
    got = {r.expectation_config.type: (r.success, r.result.get("unexpected_count", r.result.get("observed_value")))
           for r in results}
    assert all(not r.exception_info.get("raised_exception", False) for r in results if r.exception_info)
    assert got == {
        "expect_column_values_to_not_be_null": (False, 1),
        "expect_column_values_to_be_unique": (False, 2),
        "expect_column_values_to_be_between": (False, 1),
        "expect_column_values_to_match_regex": (False, 1),
        "expect_table_row_count_to_be_between": (True, 4),
    }


def test_tilde_is_a_search_as_in_postgresql():
    # GX emits PostgreSQL's `~` (a search, like pandas' str.contains); DuckDB must read it the same way.
    assert duckdb.sql(r"SELECT 'E11.9' ~ '[0-9]\.', 'E11.9' ~ '^[0-9]'").fetchall()[0] == (True, False)


def test_still_needed_results_are_lost_when_the_connection_closes(tmp_path):
    db = tmp_path / "plain.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("src", _frame())
        con.execute("CREATE TABLE t AS SELECT * FROM src")
    ctx = gx_compat.context()
    source = ctx.data_sources.add_sql("plain", connection_string=f"duckdb:///{db}")
    (result,) = _run(source, "t", [E.ExpectTableRowCountToBeBetween(min_value=4, max_value=4)])
    assert not result.success and result.exception_info, (
        "plain GX on duckdb-engine now reads results: remove BufferedCursor/SharedConnection from gx_compat")


def test_still_needed_no_regex_for_duckdb_dialect(tmp_path):
    con = duckdb.connect()
    con.register("t", _frame())
    ctx = gx_compat.context()
    source = gx_compat.duckdb_datasource(ctx, con)
    source.get_execution_engine().dialect_module = None  # what GX sets for a dialect it does not know
    (result,) = _run(source, "t", [E.ExpectColumnValuesToMatchRegex(column="dx", regex="^I.*$")])
    messages = str(result.exception_info)
    assert not result.success and "Regex is not supported" in messages, (
        "GX now supports regex on duckdb-engine: remove the dialect_module line from gx_compat")
