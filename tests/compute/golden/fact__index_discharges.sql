WITH eligible AS (
  SELECT
    *,
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND NOT COALESCE((
        discharge_disposition = 'expired'
      ), FALSE)
      AND NOT (
        episode_cost_30d
      ) IS NULL
      THEN 1
      ELSE 0
    END AS m0_in, /* metric: episode_cost_30d v1 (metrics/cost/episode_cost_30d.yaml:1) */
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND COALESCE((
        discharge_disposition = 'expired'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m0_ex0,
    CASE WHEN NOT (
      stay_cost
    ) IS NULL THEN 1 ELSE 0 END AS m1_in, /* metric: inpatient_cost_per_admission v1 (metrics/cost/inpatient_cost_per_admission.yaml:1) */
    CASE
      WHEN COALESCE((
        window_complete AND discharge_disposition IN ('home', 'home_health')
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m2_in, /* metric: followup_7d_equity v1 (metrics/equity/followup_7d_equity.yaml:1) */
    CASE
      WHEN COALESCE((
        window_complete AND discharge_disposition IN ('home', 'home_health')
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m3_in, /* metric: followup_30d v1 (metrics/quality/followup_30d.yaml:1) */
    CASE
      WHEN COALESCE((
        window_complete AND discharge_disposition IN ('home', 'home_health')
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m4_in, /* metric: followup_7d v1 (metrics/quality/followup_7d.yaml:1) */
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND NOT COALESCE((
        discharge_disposition = 'expired'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m5_in, /* metric: med_rec_30d v1 (metrics/quality/med_rec_30d.yaml:1) */
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND COALESCE((
        discharge_disposition = 'expired'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m5_ex0,
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND NOT COALESCE((
        discharge_disposition = 'expired'
      ), FALSE)
      AND NOT COALESCE((
        discharge_disposition = 'transfer'
      ), FALSE)
      AND NOT COALESCE((
        discharge_disposition = 'left_against_advice'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m6_in, /* metric: readmission_30d v1 (metrics/quality/readmission_30d.yaml:1) */
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND COALESCE((
        discharge_disposition = 'expired'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m6_ex0,
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND COALESCE((
        discharge_disposition = 'transfer'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m6_ex1,
    CASE
      WHEN COALESCE(window_complete, FALSE)
      AND COALESCE((
        discharge_disposition = 'left_against_advice'
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m6_ex2
  FROM fact_index_discharges
), measured AS (
  SELECT
    *,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(episode_cost_30d, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_x,
    CASE WHEN m1_in = 1 THEN CAST(COALESCE(stay_cost, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m1_x,
    CASE WHEN m2_in = 1 AND COALESCE(followup_7d, FALSE) THEN 1 ELSE 0 END AS m2_x,
    CASE WHEN m3_in = 1 AND COALESCE(followup_30d, FALSE) THEN 1 ELSE 0 END AS m3_x,
    CASE WHEN m4_in = 1 AND COALESCE(followup_7d, FALSE) THEN 1 ELSE 0 END AS m4_x,
    CASE WHEN m5_in = 1 AND COALESCE(med_rec_30d, FALSE) THEN 1 ELSE 0 END AS m5_x,
    CASE WHEN m6_in = 1 AND COALESCE(readmitted_unplanned_30d, FALSE) THEN 1 ELSE 0 END AS m6_x
  FROM eligible
), expected AS (
  SELECT
    *,
    CASE
      WHEN m6_in = 1
      THEN CAST(CAST(SUM(m6_x) OVER (PARTITION BY "period", "age_band", "sex", "comorbidity_band") AS DOUBLE) / NULLIF(SUM(m6_in) OVER (PARTITION BY "period", "age_band", "sex", "comorbidity_band"), 0) AS DECIMAL(38, 12))
      ELSE 0
    END AS m6_e
  FROM measured
)
/* fact: index_discharges (metrics/facts/index_discharges.yaml); metrics: episode_cost_30d, inpatient_cost_per_admission, followup_7d_equity, followup_30d, followup_7d, med_rec_30d, readmission_30d */
SELECT
  "period" AS period,
  CASE
    WHEN GROUPING("provider_id") = 0
    THEN 'provider'
    WHEN GROUPING("attributed_practice_id") = 0
    THEN 'practice'
    WHEN GROUPING("network_id") = 0
    THEN 'network'
    ELSE 'all'
  END AS level,
  CASE
    WHEN GROUPING("provider_id") = 0
    THEN COALESCE(CAST("provider_id" AS TEXT), '~none')
    WHEN GROUPING("attributed_practice_id") = 0
    THEN COALESCE(CAST("attributed_practice_id" AS TEXT), '~none')
    WHEN GROUPING("network_id") = 0
    THEN COALESCE(CAST("network_id" AS TEXT), '~none')
    ELSE 'ALL'
  END AS unit_id,
  CASE
    WHEN GROUPING("race_ethnicity") = 0
    THEN 'race_ethnicity'
    WHEN GROUPING("sex") = 0
    THEN 'sex'
    WHEN GROUPING("age_band") = 0
    THEN 'age_band'
    WHEN GROUPING("dual_eligible") = 0
    THEN 'dual_eligible'
    WHEN GROUPING("rurality") = 0
    THEN 'rurality'
    WHEN GROUPING("language") = 0
    THEN 'language'
    ELSE 'all'
  END AS stratum,
  CASE
    WHEN GROUPING("race_ethnicity") = 0
    THEN COALESCE(CAST("race_ethnicity" AS TEXT), 'unknown')
    WHEN GROUPING("sex") = 0
    THEN COALESCE(CAST("sex" AS TEXT), 'unknown')
    WHEN GROUPING("age_band") = 0
    THEN COALESCE(CAST("age_band" AS TEXT), 'unknown')
    WHEN GROUPING("dual_eligible") = 0
    THEN COALESCE(CAST("dual_eligible" AS TEXT), 'unknown')
    WHEN GROUPING("rurality") = 0
    THEN COALESCE(CAST("rurality" AS TEXT), 'unknown')
    WHEN GROUPING("language") = 0
    THEN COALESCE(CAST("language" AS TEXT), 'unknown')
    ELSE 'all'
  END AS stratum_value,
  CAST(SUM(m0_x) AS DOUBLE) AS m0__num,
  CAST(SUM(m0_in) AS DOUBLE) AS m0__den,
  CAST(SUM(m0_in) AS BIGINT) AS m0__cases,
  CAST(SUM(m0_x * m0_x) AS DOUBLE) AS m0__sxx,
  CAST(SUM(m0_ex0) AS BIGINT) AS m0__ex0,
  CAST(SUM(m1_x) AS DOUBLE) AS m1__num,
  CAST(SUM(m1_in) AS DOUBLE) AS m1__den,
  CAST(SUM(m1_in) AS BIGINT) AS m1__cases,
  CAST(SUM(m1_x * m1_x) AS DOUBLE) AS m1__sxx,
  CAST(SUM(m2_x) AS DOUBLE) AS m2__num,
  CAST(SUM(m2_in) AS DOUBLE) AS m2__den,
  CAST(SUM(m2_in) AS BIGINT) AS m2__cases,
  CAST(SUM(m3_x) AS DOUBLE) AS m3__num,
  CAST(SUM(m3_in) AS DOUBLE) AS m3__den,
  CAST(SUM(m3_in) AS BIGINT) AS m3__cases,
  CAST(SUM(m4_x) AS DOUBLE) AS m4__num,
  CAST(SUM(m4_in) AS DOUBLE) AS m4__den,
  CAST(SUM(m4_in) AS BIGINT) AS m4__cases,
  CAST(SUM(m5_x) AS DOUBLE) AS m5__num,
  CAST(SUM(m5_in) AS DOUBLE) AS m5__den,
  CAST(SUM(m5_in) AS BIGINT) AS m5__cases,
  CAST(SUM(m5_ex0) AS BIGINT) AS m5__ex0,
  CAST(SUM(m6_x) AS DOUBLE) AS m6__num,
  CAST(SUM(m6_in) AS DOUBLE) AS m6__den,
  CAST(SUM(m6_in) AS BIGINT) AS m6__cases,
  CAST(SUM(m6_e) AS DOUBLE) AS m6__expected,
  CAST(SUM(m6_ex0) AS BIGINT) AS m6__ex0,
  CAST(SUM(m6_ex1) AS BIGINT) AS m6__ex1,
  CAST(SUM(m6_ex2) AS BIGINT) AS m6__ex2
FROM expected
GROUP BY
  GROUPING SETS (
    ("period"),
    ("period", "race_ethnicity"),
    ("period", "sex"),
    ("period", "age_band"),
    ("period", "dual_eligible"),
    ("period", "rurality"),
    ("period", "language"),
    ("period", "provider_id"),
    ("period", "provider_id", "race_ethnicity"),
    ("period", "provider_id", "sex"),
    ("period", "provider_id", "age_band"),
    ("period", "provider_id", "dual_eligible"),
    ("period", "provider_id", "rurality"),
    ("period", "provider_id", "language"),
    ("period", "network_id"),
    ("period", "network_id", "race_ethnicity"),
    ("period", "network_id", "sex"),
    ("period", "network_id", "age_band"),
    ("period", "network_id", "dual_eligible"),
    ("period", "network_id", "rurality"),
    ("period", "network_id", "language"),
    ("period", "attributed_practice_id"),
    ("period", "attributed_practice_id", "race_ethnicity"),
    ("period", "attributed_practice_id", "sex"),
    ("period", "attributed_practice_id", "age_band"),
    ("period", "attributed_practice_id", "dual_eligible"),
    ("period", "attributed_practice_id", "rurality"),
    ("period", "attributed_practice_id", "language")
  )
