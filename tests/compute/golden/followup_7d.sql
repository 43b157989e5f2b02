WITH eligible AS (
  SELECT
    *,
    CASE
      WHEN COALESCE((
        window_complete AND discharge_disposition IN ('home', 'home_health')
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m0_in /* metric: followup_7d v1 (metrics/quality/followup_7d.yaml:1) */
  FROM fact_index_discharges
), measured AS (
  SELECT
    *,
    CASE WHEN m0_in = 1 AND COALESCE(followup_7d, FALSE) THEN 1 ELSE 0 END AS m0_x
  FROM eligible
)
/* fact: index_discharges (metrics/facts/index_discharges.yaml); metrics: followup_7d */
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
    ("period", "provider_id"),
    ("period", "provider_id", "race_ethnicity"),
    ("period", "provider_id", "sex"),
    ("period", "provider_id", "age_band"),
    ("period", "provider_id", "dual_eligible"),
    ("period", "provider_id", "rurality"),
    ("period", "provider_id", "language"),
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
