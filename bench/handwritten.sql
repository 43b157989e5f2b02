-- Hand-written fused query for six metrics over index_discharges, the yardstick for the compiler.
-- readmission_30d (O/E), followup_7d, followup_30d, med_rec_30d, inpatient_cost_per_admission, episode_cost_30d
WITH base AS (
  SELECT
    *,
    window_complete AND COALESCE(discharge_disposition NOT IN ('expired', 'transfer', 'left_against_advice'), TRUE) AS r_in,
    window_complete AND COALESCE(discharge_disposition IN ('home', 'home_health'), FALSE) AS f_in,
    window_complete AND COALESCE(discharge_disposition <> 'expired', TRUE) AS m_in
  FROM fact_index_discharges
),
expected AS (
  SELECT
    *,
    CASE WHEN r_in THEN
      SUM(CASE WHEN r_in AND readmitted_unplanned_30d THEN 1 ELSE 0 END) OVER w
      / SUM(CASE WHEN r_in THEN 1 ELSE 0 END) OVER w
    ELSE 0 END AS r_expected
  FROM base
  WINDOW w AS (PARTITION BY period, age_band, sex, comorbidity_band)
)
SELECT
  period,
  CASE WHEN GROUPING(provider_id) = 0 THEN 'provider' WHEN GROUPING(attributed_practice_id) = 0 THEN 'practice'
       WHEN GROUPING(network_id) = 0 THEN 'network' ELSE 'all' END AS level,
  COALESCE(provider_id, attributed_practice_id, network_id, 'ALL') AS unit_id,
  CASE WHEN GROUPING(race_ethnicity) = 0 THEN 'race_ethnicity' WHEN GROUPING(sex) = 0 THEN 'sex'
       WHEN GROUPING(age_band) = 0 THEN 'age_band' WHEN GROUPING(dual_eligible) = 0 THEN 'dual_eligible'
       WHEN GROUPING(rurality) = 0 THEN 'rurality' WHEN GROUPING(language) = 0 THEN 'language' ELSE 'all' END AS stratum,
  COALESCE(race_ethnicity, sex, age_band, CAST(dual_eligible AS VARCHAR), rurality, language, 'all') AS stratum_value,
  COUNT(*) FILTER (WHERE r_in) AS readmit_den,
  COUNT(*) FILTER (WHERE r_in AND readmitted_unplanned_30d) AS readmit_num,
  SUM(r_expected) AS readmit_expected,
  COUNT(*) FILTER (WHERE f_in) AS followup_den,
  COUNT(*) FILTER (WHERE f_in AND followup_7d) AS followup7_num,
  COUNT(*) FILTER (WHERE f_in AND followup_30d) AS followup30_num,
  COUNT(*) FILTER (WHERE m_in) AS medrec_den,
  COUNT(*) FILTER (WHERE m_in AND med_rec_30d) AS medrec_num,
  SUM(stay_cost) AS stay_cost_sum,
  SUM(stay_cost * stay_cost) AS stay_cost_sumsq,
  COUNT(*) AS stays,
  SUM(episode_cost_30d) FILTER (WHERE m_in) AS episode_sum,
  SUM(episode_cost_30d * episode_cost_30d) FILTER (WHERE m_in) AS episode_sumsq
FROM expected
GROUP BY GROUPING SETS (
  (period), (period, race_ethnicity), (period, sex), (period, age_band), (period, dual_eligible), (period, rurality), (period, language),
  (period, provider_id), (period, provider_id, race_ethnicity), (period, provider_id, sex), (period, provider_id, age_band),
  (period, provider_id, dual_eligible), (period, provider_id, rurality), (period, provider_id, language),
  (period, attributed_practice_id), (period, attributed_practice_id, race_ethnicity), (period, attributed_practice_id, sex),
  (period, attributed_practice_id, age_band), (period, attributed_practice_id, dual_eligible),
  (period, attributed_practice_id, rurality), (period, attributed_practice_id, language),
  (period, network_id), (period, network_id, race_ethnicity), (period, network_id, sex), (period, network_id, age_band),
  (period, network_id, dual_eligible), (period, network_id, rurality), (period, network_id, language)
)
