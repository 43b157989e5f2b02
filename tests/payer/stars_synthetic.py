"""A generated national-size measures table: ~3,000 providers x 40 measures in 5 groups, with the
missingness pattern of real hospital data (small hospitals report few measures)."""

from __future__ import annotations

import numpy as np
import polars as pl

from carescore.payer.stars import Clustering, MeasureGroup, StarMeasure, StarMethod

GROUPS = {"mortality": 0.22, "safety": 0.22, "readmission": 0.22, "patient_experience": 0.22,
          "timely_effective": 0.12}


def national_method() -> StarMethod:
    groups = []
    for g, weight in GROUPS.items():
        direction = "higher_is_better" if g == "patient_experience" else "lower_is_better"
        groups.append(MeasureGroup(g, g, weight, tuple(StarMeasure(f"{g}_{i}", direction) for i in range(8))))
    return StarMethod(id="national", title="generated", groups=tuple(groups), drop_if_reported_by_at_most=100,
                      min_measures_per_group=3, min_groups=3, require_one_of=("mortality", "safety"),
                      clustering=Clustering())


def national_table(providers: int = 3000, seed: int = 2024) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=providers)
    size = rng.lognormal(mean=5, sigma=1.2, size=providers)
    rows = []
    for j, m in enumerate(f"{g}_{i}" for g in GROUPS for i in range(8)):
        # Larger providers report more measures; one measure is rare enough to be dropped.
        report_p = 0.02 if j == 39 else np.clip(size / (size + 80 + 40 * (j % 8)), 0.05, 0.98)
        reports = rng.random(providers) < report_p
        den = np.maximum(1, rng.poisson(size * (0.2 + 0.1 * (j % 5))))
        sign = 1 if m.startswith("patient_experience") else -1
        value = 0.15 + sign * 0.02 * quality + rng.normal(scale=0.03, size=providers) + rng.normal(
            scale=0.05 / np.sqrt(den), size=providers)
        rows.append(pl.DataFrame({"provider_id": [f"P{p:05d}" for p in np.flatnonzero(reports)],
                                  "measure_id": m, "value": value[reports], "denominator": den[reports]
                                  .astype(float)}))
    return pl.concat(rows)
