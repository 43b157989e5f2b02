"""Hypothesis-generated hostile metric expressions and fact views: random SQL from a small grammar mixed with the
known attack fragments, unicode, deep nesting and binary bytes. Whatever comes, the catalog either loads and runs on
the locked connection, or fails with located diagnostics (a CarescoreError); never a traceback, never a file."""

from __future__ import annotations

import json
import shutil
import sys
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from carescore.compute import engine
from carescore.define.loader import load_catalog
from carescore.issues import CarescoreError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "compute"))  # canonical.py: small typed tables
import canonical  # noqa: E402

OUT = Path("/tmp/carescore_fuzz_out")  # every attack writes here; no example may create it
ATTACKS = [
    f"1; COPY (SELECT * FROM patients) TO '{OUT}.csv'", f"x'; ATTACH '{OUT}.db' AS a; --", "read_text('/etc/passwd')",
    "(SELECT content FROM read_text('/etc/passwd'))", f"read_csv('{OUT}')", "glob('/etc/*')", "getenv('HOME')",
    ") UNION ALL SELECT * FROM read_text('/etc/passwd') --", "INSTALL httpfs", "LOAD httpfs", "PRAGMA version",
    "SET enable_external_access = true", "/* */ ;", "$1", "?", "'\\x00'", "\x00", "\u202e", "'", '"', "--", "::",
]
COLUMNS = ["window_complete", "followup_7d", "age", "stay_cost", "discharge_disposition", "sex", "no_such_column"]
FUNCTIONS = ["COALESCE", "ABS", "LEAST", "ROUND", "read_text", "range", "upper", "current_setting", "now"]


def _expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(COLUMNS), st.integers(-5, 5).map(str), st.sampled_from(ATTACKS),
                     st.text(max_size=6).map(lambda t: "'" + t.replace("'", "''") + "'"), st.text(max_size=4))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["=", "<", "+", "*", " AND ", " OR ", " || ", " IS ", " IN "]), inner)
        .map("".join),
        inner.map(lambda e: f"NOT ({e})"),
        st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, max_size=3)).map(lambda f: f"{f[0]}({', '.join(f[1])})"),
        st.tuples(inner, inner, inner).map(lambda c: f"CASE WHEN {c[0]} THEN {c[1]} ELSE {c[2]} END"),
        st.tuples(inner, st.sampled_from(ATTACKS)).map(" ".join),
    ), max_leaves=8)


def _nested(core: str) -> st.SearchStrategy[str]:
    return st.integers(1, 600).map(lambda n: "(" * n + core + ")" * n)


EXPRESSIONS = st.one_of(_expressions(), _nested("window_complete"))
TABLES = ["sdoh_screenings", "patients", "providers", "encounters", "'/etc/passwd'", "read_text('/etc/passwd')",
          f"read_csv('{OUT}')", "range(3)", "glob('*')", "information_schema.tables", "(SELECT 1 AS period)",
          "fact_social_needs", "duckdb_settings()"]
TAILS = ["", f"; COPY (SELECT 1) TO '{OUT}'", f"; ATTACH '{OUT}'", "; INSTALL httpfs", "; PRAGMA enable_profiling",
         "; SET enable_external_access = true", "; SELECT 1", ";"]


def _selects() -> st.SearchStrategy[str]:
    item = st.one_of(st.just("*"), st.tuples(_expressions(), st.sampled_from(["period", "provider_id", "x"]))
                     .map(lambda i: f"{i[0]} AS {i[1]}"))
    one = st.tuples(st.lists(item, min_size=1, max_size=3), st.sampled_from(TABLES),
                    st.one_of(st.just(""), _expressions().map(lambda w: f" WHERE {w}"))) \
        .map(lambda s: f"SELECT {', '.join(s[0])} FROM {s[1]}{s[2]}")
    return st.tuples(st.lists(one, min_size=1, max_size=3), st.sampled_from(TAILS)) \
        .map(lambda q: " UNION ALL ".join(q[0]) + q[1])


FACT_SQL = st.one_of(_selects(), st.sampled_from(ATTACKS),
                     _nested("1").map(lambda e: f"SELECT {e} AS period, provider_id FROM providers"))


@cache
def tables():
    return canonical.extracts(canonical.tables())


# one file in four ends in binary bytes
JUNK = st.tuples(st.integers(0, 3), st.binary(min_size=1, max_size=40)).map(lambda j: j[1] if j[0] == 3 else b"")


def _write(path: Path, text: str, junk: bytes) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass") + junk)


def _outcome(root: Path) -> None:
    """Load, and run what loads on a fresh locked connection; a CarescoreError must carry located diagnostics."""
    try:
        catalog = load_catalog(root)
        engine.compute(engine.connect(tables(), catalog), catalog)
        event("ran")
    except CarescoreError as err:
        assert err.diagnostics
        event(err.diagnostics[0].code)
        for d in err.diagnostics:
            assert Path(d.loc.path).exists() and d.loc.line >= 1 and d.loc.col >= 1, str(d)
            assert "\n" not in d.message, str(d)
    assert not any(OUT.parent.glob(OUT.name + "*")), "an attack wrote a file"


def _tree(tmp_path_factory, name: str) -> Path:
    root = tmp_path_factory.mktemp(name) / "metrics"
    (root / "facts").mkdir(parents=True)
    for fact in ("index_discharges", "social_needs"):
        shutil.copy(REPO / "metrics" / "facts" / f"{fact}.yaml", root / "facts")
    shutil.copy(REPO / "metrics" / "definitions.yaml", root)
    (root / "quality").mkdir()
    return root


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
METRIC = """id: fuzz
version: 1
title: Fuzz
domain: quality
plain_language: Fuzz.
direction: higher_is_better
unit: percent
kind: proportion
from: index_discharges
levels: [provider]
numerator: {numerator}
population: {population}
exclusions: {{odd: {exclusion}}}
"""


@FUZZ
@given(population=EXPRESSIONS, numerator=EXPRESSIONS, exclusion=EXPRESSIONS, junk=JUNK)
# found by this test: a lone surrogate ("\ud800" in the YAML) once reached the loader's hash as a UnicodeEncodeError;
# the reader now refuses it, M006 at its line and column
@example(population="\ud800", numerator="window_complete", exclusion="window_complete", junk=b"")
def test_hostile_metric_expressions_give_located_errors(tmp_path_factory, population, numerator, exclusion, junk):
    root = _tree(tmp_path_factory, "metric")
    text = METRIC.format(population=json.dumps(population), numerator=json.dumps(numerator),
                         exclusion=json.dumps(exclusion))
    _write(root / "quality" / "fuzz.yaml", text, junk)
    _outcome(root)


FACT = """id: zz_fuzz
description: Fuzz.
grain: one row per anything
requires: [sdoh_screenings, patients, providers]
units: {{provider: provider_id}}
columns: {{period: varchar, provider_id: varchar}}
sql: {sql}
"""


@FUZZ
@given(sql=FACT_SQL, junk=JUNK)
@example(sql="SELECT '\ud800' AS period, provider_id FROM providers", junk=b"")
def test_hostile_fact_views_give_located_errors(tmp_path_factory, sql, junk):
    root = _tree(tmp_path_factory, "fact")
    _write(root / "facts" / "zz_fuzz.yaml", FACT.format(sql=json.dumps(sql)), junk)
    _outcome(root)


def test_a_lone_surrogate_is_a_located_error(tmp_path_factory):
    """The example above, checked exactly: M006 at the value, in a metric and in a fact view."""
    metric = _tree(tmp_path_factory, "surrogate_metric")
    _write(metric / "quality" / "fuzz.yaml", METRIC.format(population=json.dumps("\ud800"), numerator='"1"',
                                                           exclusion='"1"'), b"")
    fact = _tree(tmp_path_factory, "surrogate_fact")
    _write(fact / "facts" / "zz_fuzz.yaml", FACT.format(sql=json.dumps("SELECT '\ud800' AS period")), b"")
    for root, name, line in ((metric, "quality/fuzz.yaml", 12), (fact, "facts/zz_fuzz.yaml", 7)):
        with pytest.raises(CarescoreError) as err:
            load_catalog(root)
        [d] = err.value.diagnostics
        assert (d.code, d.loc.path, d.loc.line) == ("M006", str(root / name), line), str(d)
        assert "unpaired surrogate" in d.message
