WITH eligible AS (
  SELECT
    *,
    1 AS m0_in /* metric: clabsi_rate v1 (metrics/safety/clabsi_rate.yaml:1) */
  FROM fact_facility_months
), measured AS (
  SELECT
    *,
    CASE WHEN m0_in = 1 THEN CAST(COALESCE(clabsi, 0) AS DECIMAL(38, 6)) ELSE 0 END AS m0_x,
    CASE
      WHEN m0_in = 1
      THEN CAST(COALESCE(central_line_days, 0) AS DECIMAL(38, 6))
      ELSE 0
    END AS m0_y
  FROM eligible
)
/* fact: facility_months (metrics/facts/facility_months.yaml); metrics: clabsi_rate */
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
  CAST(SUM(m0_in) AS BIGINT) AS m0__cases
FROM measured
GROUP BY
  GROUPING SETS (
    ("period"),
    ("period", "provider_id"),
    ("period", "network_id")
  )
