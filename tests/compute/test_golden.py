"""Golden SQL: the compiled query of every metric and every fused fact query is checked in.

Run `pytest tests/compute --update-golden` to accept a deliberate change; review the diff like code.
"""

from pathlib import Path

import pytest

from carescore.compute.compile import compile_fact
from carescore.define.loader import load_catalog

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
CATALOG = load_catalog(REPO / "metrics")


def _relative(sql: str) -> str:
    return sql.replace(str(REPO) + "/", "")


def _check(name: str, sql: str, update: bool) -> None:
    path = GOLDEN / f"{name}.sql"
    if update:
        path.write_text(sql + "\n")
    assert path.exists(), f"no golden file {path}; run pytest --update-golden"
    assert sql + "\n" == path.read_text(), f"{name}: compiled SQL changed; rerun with --update-golden if intended"


@pytest.mark.parametrize("metric_id", sorted(CATALOG.metrics))
def test_metric_sql_matches_golden(metric_id, request):
    m = CATALOG.metrics[metric_id]
    _check(metric_id, _relative(compile_fact(CATALOG.facts[m.fact], [m])), request.config.getoption("--update-golden"))


@pytest.mark.parametrize("fact_id", sorted(CATALOG.facts))
def test_fused_fact_sql_matches_golden(fact_id, request):
    sql = compile_fact(CATALOG.facts[fact_id], CATALOG.metrics_for(fact_id))
    _check(f"fact__{fact_id}", _relative(sql), request.config.getoption("--update-golden"))


def test_one_scan_per_fact():
    """Every metric over a fact is fused into one query that reads the fact view exactly once."""
    for fact_id, fact in CATALOG.facts.items():
        sql = compile_fact(fact, CATALOG.metrics_for(fact_id))
        assert sql.count(f"FROM {fact.view}") == 1
        assert sql.count("GROUPING SETS") == 1


def test_every_metric_sql_carries_its_location():
    for m in CATALOG.metrics.values():
        sql = compile_fact(CATALOG.facts[m.fact], [m])
        assert f"/* metric: {m.id} v{m.version} (" in sql
