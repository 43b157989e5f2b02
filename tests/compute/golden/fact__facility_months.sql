WITH eligible AS (
  SELECT
    *,
    1 AS m0_in, /* metric: adverse_drug_events v1 (metrics/safety/adverse_drug_events.yaml:1) */
    1 AS m1_in, /* metric: cauti_rate v1 (metrics/safety/cauti_rate.yaml:1) */
    1 AS m2_in, /* metric: clabsi_rate v1 (metrics/safety/clabsi_rate.yaml:1) */
    1 AS m3_in, /* metric: falls_with_injury v1 (metrics/safety/falls_with_injury.yaml:1) */
    1 AS m4_in /* metric: pressure_injuries v1 (metrics/safety/pressure_injuries.yaml:1) */
  FROM fact_facility_months
), measured AS (
  SELECT
    *,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(adverse_drug_events, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_x,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(patient_days, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_y,
    CASE WHEN m1_in = 1 THEN CAST(COALESCE(cauti, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m1_x,
    CASE
      WHEN m1_in = 1
      THEN CAST(COALESCE(catheter_days, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m1_y,
    CASE WHEN m2_in = 1 THEN CAST(COALESCE(clabsi, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m2_x,
    CASE
      WHEN m2_in = 1
      THEN CAST(COALESCE(central_line_days, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m2_y,
    CASE
      WHEN m3_in = 1
      THEN CAST(COALESCE(falls_with_injury, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m3_x,
    CASE
      WHEN m3_in = 1
      THEN CAST(COALESCE(patient_days, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m3_y,
    CASE
      WHEN m4_in = 1
      THEN CAST(COALESCE(pressure_injuries, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m4_x,
    CASE
      WHEN m4_in = 1
      THEN CAST(COALESCE(patient_days, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m4_y
  FROM eligible
)
/* fact: facility_months (metrics/facts/facility_months.yaml); metrics: adverse_drug_events, cauti_rate, clabsi_rate, falls_with_injury, pressure_injuries */
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
  'all' AS stratum,
  'all' AS stratum_value,
  CAST(SUM(m0_x) AS DOUBLE) AS m0__num,
  CAST(SUM(m0_y) AS DOUBLE) AS m0__den,
  CAST(SUM(m0_in) AS BIGINT) AS m0__cases,
  CAST(SUM(m1_x) AS DOUBLE) AS m1__num,
  CAST(SUM(m1_y) AS DOUBLE) AS m1__den,
  CAST(SUM(m1_in) AS BIGINT) AS m1__cases,
  CAST(SUM(m2_x) AS DOUBLE) AS m2__num,
  CAST(SUM(m2_y) AS DOUBLE) AS m2__den,
  CAST(SUM(m2_in) AS BIGINT) AS m2__cases,
  CAST(SUM(m3_x) AS DOUBLE) AS m3__num,
  CAST(SUM(m3_y) AS DOUBLE) AS m3__den,
  CAST(SUM(m3_in) AS BIGINT) AS m3__cases,
  CAST(SUM(m4_x) AS DOUBLE) AS m4__num,
  CAST(SUM(m4_y) AS DOUBLE) AS m4__den,
  CAST(SUM(m4_in) AS BIGINT) AS m4__cases
FROM measured
GROUP BY
  GROUPING SETS (
    ("period"),
    ("period", "provider_id"),
    ("period", "network_id")
  )
