WITH eligible AS (
  SELECT
    *,
    1 AS m0_in, /* metric: cost_pmpm v1 (metrics/cost/cost_pmpm.yaml:1) */
    CASE WHEN COALESCE((
      pcp_visits >= 1
    ), FALSE) THEN 1 ELSE 0 END AS m1_in, /* metric: sdoh_screening v1 (metrics/equity/sdoh_screening.yaml:1) */
    1 AS m2_in, /* metric: avoidable_ed_per_1000 v1 (metrics/quality/avoidable_ed_per_1000.yaml:1) */
    1 AS m3_in, /* metric: ed_visits_per_1000 v1 (metrics/quality/ed_visits_per_1000.yaml:1) */
    CASE WHEN COALESCE((
      pcp_visits >= 2
    ), FALSE) THEN 1 ELSE 0 END AS m4_in /* metric: pcp_continuity v1 (metrics/quality/pcp_continuity.yaml:1) */
  FROM fact_member_years
), measured AS (
  SELECT
    *,
    CASE WHEN m0_in = 1 THEN CAST(COALESCE(total_cost, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m0_x,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(member_months, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_y,
    CASE WHEN m1_in = 1 AND COALESCE(sdoh_screened, FALSE) THEN 1 ELSE 0 END AS m1_x,
    CASE
      WHEN m2_in = 1
      THEN CAST(COALESCE(avoidable_ed_visits, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m2_x,
    CASE
      WHEN m2_in = 1
      THEN CAST(COALESCE(member_months, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m2_y,
    CASE WHEN m3_in = 1 THEN CAST(COALESCE(ed_visits, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m3_x,
    CASE
      WHEN m3_in = 1
      THEN CAST(COALESCE(member_months, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m3_y,
    CASE
      WHEN m4_in = 1
      THEN CAST(COALESCE(pcp_visits_own_practice, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m4_x,
    CASE WHEN m4_in = 1 THEN CAST(COALESCE(pcp_visits, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m4_y
  FROM eligible
)
/* fact: member_years (metrics/facts/member_years.yaml); metrics: cost_pmpm, sdoh_screening, avoidable_ed_per_1000, ed_visits_per_1000, pcp_continuity */
SELECT
  "period" AS period,
  CASE
    WHEN GROUPING("attributed_practice_id") = 0
    THEN 'practice'
    WHEN GROUPING("network_id") = 0
    THEN 'network'
    ELSE 'all'
  END AS level,
  CASE
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
  CAST(SUM(m0_y) AS DOUBLE) AS m0__den,
  CAST(SUM(m0_in) AS BIGINT) AS m0__cases,
  CAST(SUM(m0_x * m0_x) AS DOUBLE) AS m0__sxx,
  CAST(SUM(m0_y * m0_y) AS DOUBLE) AS m0__syy,
  CAST(SUM(m0_x * m0_y) AS DOUBLE) AS m0__sxy,
  CAST(SUM(m1_x) AS DOUBLE) AS m1__num,
  CAST(SUM(m1_in) AS DOUBLE) AS m1__den,
  CAST(SUM(m1_in) AS BIGINT) AS m1__cases,
  CAST(SUM(m2_x) AS DOUBLE) AS m2__num,
  CAST(SUM(m2_y) AS DOUBLE) AS m2__den,
  CAST(SUM(m2_in) AS BIGINT) AS m2__cases,
  CAST(SUM(m3_x) AS DOUBLE) AS m3__num,
  CAST(SUM(m3_y) AS DOUBLE) AS m3__den,
  CAST(SUM(m3_in) AS BIGINT) AS m3__cases,
  CAST(SUM(m4_x) AS DOUBLE) AS m4__num,
  CAST(SUM(m4_y) AS DOUBLE) AS m4__den,
  CAST(SUM(m4_in) AS BIGINT) AS m4__cases,
  CAST(SUM(m4_x * m4_x) AS DOUBLE) AS m4__sxx,
  CAST(SUM(m4_y * m4_y) AS DOUBLE) AS m4__syy,
  CAST(SUM(m4_x * m4_y) AS DOUBLE) AS m4__sxy
FROM measured
GROUP BY
  GROUPING SETS (
    ("period"),
    ("period", "race_ethnicity"),
    ("period", "sex"),
    ("period", "age_band"),
    ("period", "dual_eligible"),
    ("period", "rurality"),
    ("period", "language"),
    ("period", "attributed_practice_id"),
    ("period", "attributed_practice_id", "race_ethnicity"),
    ("period", "attributed_practice_id", "sex"),
    ("period", "attributed_practice_id", "age_band"),
    ("period", "attributed_practice_id", "dual_eligible"),
    ("period", "attributed_practice_id", "rurality"),
    ("period", "attributed_practice_id", "language"),
    ("period", "network_id"),
    ("period", "network_id", "race_ethnicity"),
    ("period", "network_id", "sex"),
    ("period", "network_id", "age_band"),
    ("period", "network_id", "dual_eligible"),
    ("period", "network_id", "rurality"),
    ("period", "network_id", "language")
  )
