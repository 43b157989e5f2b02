WITH eligible AS (
  SELECT
    *,
    1 AS m0_in /* metric: avoidable_ed_per_1000 v1 (metrics/quality/avoidable_ed_per_1000.yaml:1) */
  FROM fact_member_years
), measured AS (
  SELECT
    *,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(avoidable_ed_visits, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_x,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(member_months, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_y
  FROM eligible
)
/* fact: member_years (metrics/facts/member_years.yaml); metrics: avoidable_ed_per_1000 */
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
  CAST(SUM(m0_in) AS BIGINT) AS m0__cases
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
