"""The risk-adjusted spending benchmark that shared savings on a publication read, worked by hand."""

import polars as pl
import pytest

from carescore.payer.incentives import Scenario, SharedSavings, risk_adjusted_benchmark, run_scenario


def test_benchmark_weights_group_rates_by_each_providers_own_mix():
    exposure = pl.DataFrame({"provider_id": ["a", "a", "b", "c", "c"],
                             "group": ["young", "old", "young", "young", "unknown"],
                             "exposure": [10.0, 30.0, 20.0, 5.0, 5.0]})
    rates = pl.DataFrame({"group": ["young", "old"], "rate": [100.0, 500.0]})
    out = risk_adjusted_benchmark(exposure, rates)
    # a: (10 x 100 + 30 x 500) / 40 = 400; b: only young people, 100; c: a group without a rate, no benchmark.
    assert out.rows() == [("a", 40.0, 400.0), ("b", 20.0, 100.0), ("c", 10.0, None)]


def test_shared_savings_against_the_adjusted_benchmark():
    exposure = pl.DataFrame({"provider_id": ["a", "a", "b"], "group": ["young", "old", "old"],
                             "exposure": [100.0, 100.0, 50.0]})
    bench = risk_adjusted_benchmark(exposure, pl.DataFrame({"group": ["young", "old"], "rate": [100.0, 500.0]}))
    rows = [("a", "spend", 270.0), ("b", "spend", 520.0)]
    rows += [(p, "bench", b) for p, b in bench.select("provider_id", "benchmark").rows()]
    rows += [(p, "mm", m) for p, m in bench.select("provider_id", "exposure").rows()]
    table = pl.DataFrame(rows, schema=["provider_id", "measure_id", "value"], orient="row")
    s = Scenario(id="s", title="s", measures=(), domains=(),
                 shared_savings=SharedSavings("bench", "spend", "mm", min_savings_rate=0.02, sharing_rate=0.5))
    p = run_scenario(table, s).providers.sort("provider_id")
    # a: benchmark 300 for its half-young mix, spends 270: 10% saved, half of 30 x 200 member months = 3,000.
    # b: all old, benchmark 500, spends 520: above its benchmark, and shared savings are one-sided: nothing.
    assert p["shared_savings"].to_list() == pytest.approx([3000.0, 0.0])
