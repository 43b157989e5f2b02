WITH eligible AS (
  SELECT
    *,
    CASE
      WHEN COALESCE((
        setting = 'hospital' AND NOT discharge_information_top IS NULL
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m0_in, /* metric: discharge_information v1 (metrics/experience/discharge_information.yaml:1) */
    CASE
      WHEN COALESCE((
        setting = 'hospital' AND NOT doctor_communication_top IS NULL
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m1_in, /* metric: doctor_communication v1 (metrics/experience/doctor_communication.yaml:1) */
    CASE
      WHEN COALESCE((
        setting = 'hospital' AND NOT nurse_communication_top IS NULL
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m2_in, /* metric: nurse_communication v1 (metrics/experience/nurse_communication.yaml:1) */
    CASE
      WHEN COALESCE((
        setting = 'hospital' AND NOT overall_rating_top IS NULL
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m3_in, /* metric: overall_rating v1 (metrics/experience/overall_rating.yaml:1) */
    CASE
      WHEN COALESCE((
        setting = 'hospital' AND NOT would_recommend_top IS NULL
      ), FALSE)
      THEN 1
      ELSE 0
    END AS m4_in /* metric: would_recommend v1 (metrics/experience/would_recommend.yaml:1) */
  FROM fact_survey_returns
), measured AS (
  SELECT
    *,
    CASE WHEN m0_in = 1 AND COALESCE(discharge_information_top, FALSE) THEN 1 ELSE 0 END AS m0_x,
    CASE WHEN m1_in = 1 AND COALESCE(doctor_communication_top, FALSE) THEN 1 ELSE 0 END AS m1_x,
    CASE WHEN m2_in = 1 AND COALESCE(nurse_communication_top, FALSE) THEN 1 ELSE 0 END AS m2_x,
    CASE WHEN m3_in = 1 AND COALESCE(overall_rating_top, FALSE) THEN 1 ELSE 0 END AS m3_x,
    CASE WHEN m4_in = 1 AND COALESCE(would_recommend_top, FALSE) THEN 1 ELSE 0 END AS m4_x
  FROM eligible
)
/* fact: survey_returns (metrics/facts/survey_returns.yaml); metrics: discharge_information, doctor_communication, nurse_communication, overall_rating, would_recommend */
SELECT
  "period" AS period,
  CASE
    WHEN GROUPING("provider_id") = 0
    THEN 'provider'
    WHEN GROUPING("network_id") = 0
    THEN 'network'
    ELSE 'all'
  END AS level,
  CASE
    WHEN GROUPING("provider_id") = 0
    THEN COALESCE(CAST("provider_id" AS TEXT), '~none')
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
  CAST(SUM(m1_x) AS DOUBLE) AS m1__num,
  CAST(SUM(m1_in) AS DOUBLE) AS m1__den,
  CAST(SUM(m1_in) AS BIGINT) AS m1__cases,
  CAST(SUM(m2_x) AS DOUBLE) AS m2__num,
  CAST(SUM(m2_in) AS DOUBLE) AS m2__den,
  CAST(SUM(m2_in) AS BIGINT) AS m2__cases,
  CAST(SUM(m3_x) AS DOUBLE) AS m3__num,
  CAST(SUM(m3_in) AS DOUBLE) AS m3__den,
  CAST(SUM(m3_in) AS BIGINT) AS m3__cases,
  CAST(SUM(m4_x) AS DOUBLE) AS m4__num,
  CAST(SUM(m4_in) AS DOUBLE) AS m4__den,
  CAST(SUM(m4_in) AS BIGINT) AS m4__cases
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
    ("period", "network_id"),
    ("period", "network_id", "race_ethnicity"),
    ("period", "network_id", "sex"),
    ("period", "network_id", "age_band"),
    ("period", "network_id", "dual_eligible"),
    ("period", "network_id", "rurality"),
    ("period", "network_id", "language")
  )
