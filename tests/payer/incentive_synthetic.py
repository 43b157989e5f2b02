"""Generated measure tables for the shipped scenarios: HVBP-like hospitals over a baseline and a
performance period, and a network on carescore metric ids in the published-results layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from carescore.payer.incentives import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def hvbp_table(providers: int = 3000, seed: int = 7) -> pl.DataFrame:
    scenario = load_scenario(SCENARIOS / "hvbp_fy2026_like.yaml")
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=providers)
    size = rng.lognormal(6, 1, size=providers)
    ids = [f"H{p:05d}" for p in range(providers)]
    frames = []
    for period, drift in (("2019", 0.0), ("2022", 0.3)):
        q = quality + drift * rng.normal(size=providers)
        surveyed = rng.random(providers) < 0.85  # HCAHPS is all dimensions or none
        for m in scenario.measures:
            reports = rng.random(providers) < (0.55 if m.id.startswith(("MORT_30_CABG", "HAI_4")) else 0.9)
            if m.domain == "person_and_community_engagement":
                reports = surveyed
            den = np.maximum(25, rng.poisson(size * 0.3)).astype(float)
            if m.domain == "person_and_community_engagement":
                p = np.clip(0.75 + 0.04 * q + rng.normal(0, 0.03, providers), 0.3, 0.99)
                value = rng.binomial(den.astype(int), p) / den
            elif m.domain == "safety" or m.id == "MSPB_1":
                value = np.exp(-0.15 * q + rng.normal(0, 0.25 if m.domain == "safety" else 0.05, providers))
            else:
                p = np.clip(0.12 - 0.01 * q + rng.normal(0, 0.01, providers), 0.01, 0.5)
                value = rng.binomial(den.astype(int), p) / den
            frames.append(pl.DataFrame({"provider_id": [ids[i] for i in np.flatnonzero(reports)],
                                        "measure_id": m.id, "period": period, "value": value[reports],
                                        "denominator": den[reports]}))
        frames.append(pl.DataFrame({"provider_id": ids, "measure_id": "base_operating_drg_payment",
                                    "period": period, "value": np.round(size * 9000, 2), "denominator": None}))
    return pl.concat(frames, how="vertical_relaxed")


def network_results(providers: int = 60, seed: int = 3) -> pl.DataFrame:
    """The carescore published-results layout (metric_id, level, unit_id, ..., status)."""
    rng = np.random.default_rng(seed)
    rows = []
    for period in ("2023", "2024"):
        for p in range(providers):
            q = rng.normal()
            members = float(rng.integers(2000, 40000))
            values = {"readmission_30d": (0.14 - 0.015 * q, 400), "followup_7d": (0.55 + 0.06 * q, 300),
                      "hcahps_would_recommend": (0.72 + 0.04 * q, 200), "cost_pmpm": (900 - 40 * q, members),
                      "benchmark_pmpm": (930.0, None), "member_months": (members, None),
                      "base_payment": (members * 450, None), "episode_spend_hip_knee": (24000 - 900 * q, None),
                      "episodes_hip_knee": (float(rng.integers(5, 80)), None)}
            for metric, (value, den) in values.items():
                rows.append({"run_id": "r1", "metric_id": metric, "level": "provider", "unit_id": f"clinic_{p:03d}",
                             "stratum": None, "period": period, "value": float(value),
                             "denominator": None if den is None else float(den),
                             "status": "too_few" if (p == 0 and metric == "hcahps_would_recommend") else "ok"})
            rows.append({"run_id": "r1", "metric_id": "readmission_30d", "level": "network", "unit_id": "net",
                         "stratum": None, "period": period, "value": 0.14, "denominator": 1e4, "status": "ok"})
    return pl.DataFrame(rows)
