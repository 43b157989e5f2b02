"""An independent oracle for the SQL engine, in plain Polars.

Every fact in metrics/facts/ is re-derived here from its *description* and the table contracts, the way a
second analyst would write it (never by translating the fact SQL), and every metric is re-evaluated with
`pl.sql_expr` + `group_by`. The tests compare the engine's long table with this one cell by cell.

Definitions the descriptions leave open, settled once here:
- "1-30 days after" / "0-7 days after" are whole calendar days between the two dates, both ends included.
- a study on the same day as another of the same modality and region is the repeat if its procedure_id
  sorts after the other one (one of the two must be "first");
- a study with an unknown modality or body region is never a duplicate (unknown is not "the same");
- member months are the calendar months a coverage span touches, counted once per person even when
  spans overlap; a year's use and cost are every encounter admitted in that calendar year;
- the data cut ends on the latest discharge date in `encounters`;
- age is in completed years (birthday reached); see AGE_RULE for the one known deviation of the engine.
"""

from __future__ import annotations

import math

import polars as pl

from carescore.define.spec import Metric

NO_UNIT = "~none"
CHRONIC_DX = ("E11.9", "I10", "I50.9", "J44.1", "N18.3", "F32.9")  # diabetes, hypertension, HF, COPD, CKD, depression
AVOIDABLE_ED_DX = ("J06.9", "N39.0", "J02.9", "M54.5", "R51.9", "H66.90")  # URI, UTI, sore throat, LBP, headache, ear
LOW_BACK_PAIN = "M54.5"
DEMOGRAPHICS = ["sex", "race_ethnicity", "language", "dual_eligible", "rurality"]

# "completed": age in completed years (the usual meaning of age).
# "year_boundaries": calendar year of the date minus calendar year of birth (DuckDB DATE_DIFF('year', ...)), the
# engine's old, wrong rule; kept so the oracle can show the two differ.
AGE_RULE = "completed"


# --------------------------------------------------------------------------------------------- helpers
def age_years(birth: pl.Expr, on: pl.Expr, rule: str) -> pl.Expr:
    years = on.dt.year() - birth.dt.year()
    if rule == "year_boundaries":
        return years
    before_birthday = (on.dt.month() < birth.dt.month()) | (
        (on.dt.month() == birth.dt.month()) & (on.dt.day() < birth.dt.day()))
    return years - before_birthday.cast(pl.Int32)


def age_band(age: pl.Expr) -> pl.Expr:
    return (pl.when(age < 18).then(pl.lit("0-17")).when(age < 45).then(pl.lit("18-44"))
            .when(age < 65).then(pl.lit("45-64")).when(age < 75).then(pl.lit("65-74")).otherwise(pl.lit("75+")))


def year_text(d: pl.Expr) -> pl.Expr:
    return d.dt.year().cast(pl.Utf8)


def days_between(earlier: str, later: str) -> pl.Expr:
    return (pl.col(later) - pl.col(earlier)).dt.total_days()


def people(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return t["patients"].select("patient_id", "birth_date", "attributed_practice_id", *DEMOGRAPHICS)


def networks_of(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return t["providers"].select("provider_id", "network_id")


def ids_where(frame: pl.DataFrame, key: str, cond: pl.Expr) -> pl.Series:
    return frame.filter(cond)[key].unique()


# --------------------------------------------------------------------------------------------- facts
def index_discharges(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> pl.DataFrame:
    enc = t["encounters"]
    cut = enc["discharge_date"].max()
    stays = enc.filter(pl.col("encounter_class") == "inpatient")

    # everything else the same person had, measured in days from the index discharge
    later = (stays.select("patient_id", pl.col("encounter_id").alias("index_id"), pl.col("discharge_date").alias("out"))
             .join(enc.select("patient_id", "encounter_id", "encounter_class", "admit_date", "planned", "cost"),
                   on="patient_id")
             .filter(pl.col("encounter_id") != pl.col("index_id"))
             .with_columns(day=days_between("out", "admit_date")))
    clinic = pl.col("encounter_class").is_in(["primary_care", "outpatient"])
    readmitted = ids_where(later, "index_id", (pl.col("encounter_class") == "inpatient") & ~pl.col("planned")
                           & pl.col("day").is_between(1, 30))
    fu7 = ids_where(later, "index_id", clinic & pl.col("day").is_between(0, 7))
    fu30 = ids_where(later, "index_id", clinic & pl.col("day").is_between(0, 30))
    post_cost = (later.filter(pl.col("day").is_between(1, 30)).group_by("index_id")
                 .agg(post_cost=pl.col("cost").sum()))
    recs = (stays.select("patient_id", "encounter_id", "discharge_date")
            .join(t["medication_reconciliations"].select("patient_id", "rec_date"), on="patient_id")
            .filter(days_between("discharge_date", "rec_date").is_between(0, 30)))
    chronic = (enc.filter(pl.col("primary_dx").is_in(CHRONIC_DX)).group_by("patient_id")
               .agg(n_chronic=pl.col("primary_dx").n_unique()))

    age = age_years(pl.col("birth_date"), pl.col("discharge_date"), age_rule)
    n = pl.col("n_chronic").fill_null(0)
    return (stays.join(people(t), on="patient_id").join(networks_of(t), on="provider_id")
            .join(chronic, on="patient_id", how="left")
            .join(post_cost, left_on="encounter_id", right_on="index_id", how="left")
            .select(
                period=year_text(pl.col("discharge_date")),
                discharge_id="encounter_id", patient_id="patient_id", provider_id="provider_id",
                network_id="network_id", attributed_practice_id="attributed_practice_id",
                discharge_date="discharge_date", discharge_disposition="discharge_disposition", planned="planned",
                primary_dx="primary_dx", age=age.cast(pl.Int64), age_band=age_band(age),
                sex="sex", race_ethnicity="race_ethnicity", language="language", dual_eligible="dual_eligible",
                rurality="rurality",
                comorbidity_band=pl.when(n == 0).then(pl.lit("0")).when(n <= 2).then(pl.lit("1-2"))
                .otherwise(pl.lit("3+")),
                window_complete=(pl.lit(cut, dtype=pl.Date) - pl.col("discharge_date")).dt.total_days() >= 30,
                readmitted_unplanned_30d=pl.col("encounter_id").is_in(readmitted.implode()),
                followup_7d=pl.col("encounter_id").is_in(fu7.implode()),
                followup_30d=pl.col("encounter_id").is_in(fu30.implode()),
                med_rec_30d=pl.col("encounter_id").is_in(recs["encounter_id"].unique().implode()),
                stay_cost="cost",
                episode_cost_30d=pl.col("cost") + pl.col("post_cost").fill_null(0.0),
            ))


def member_years(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> pl.DataFrame:
    # months as integers (year * 12 + month - 1): a span covers every month from its first to its last day's
    month_no = lambda d: pl.col(d).dt.year().cast(pl.Int64) * 12 + pl.col(d).dt.month().cast(pl.Int64) - 1
    covered = (t["enrollment"].select("patient_id", m=pl.int_ranges(month_no("start_date"), month_no("end_date") + 1))
               .explode("m").drop_nulls("m").unique()
               .group_by("patient_id", year=pl.col("m") // 12).agg(member_months=pl.len().cast(pl.Int64)))
    who = people(t)
    enc = t["encounters"].join(who.select("patient_id", "attributed_practice_id"), on="patient_id")
    ed = pl.col("encounter_class") == "ed"
    pc = pl.col("encounter_class") == "primary_care"
    use = enc.group_by("patient_id", year=pl.col("admit_date").dt.year().cast(pl.Int64)).agg(
        ed_visits=ed.sum().cast(pl.Int64),
        avoidable_ed_visits=(ed & pl.col("primary_dx").is_in(AVOIDABLE_ED_DX)).sum().cast(pl.Int64),
        pcp_visits=pc.sum().cast(pl.Int64),
        pcp_visits_own_practice=(pc & (pl.col("provider_id") == pl.col("attributed_practice_id")).fill_null(False))
        .sum().cast(pl.Int64),
        total_cost=pl.col("cost").sum(),
    )
    screened = (t["sdoh_screenings"].select("patient_id", year=pl.col("screening_date").dt.year().cast(pl.Int64))
                .unique().with_columns(sdoh_screened=pl.lit(True)))
    mid_year = pl.date(pl.col("year"), 7, 1)
    age = age_years(pl.col("birth_date"), mid_year, age_rule)
    counts = ["ed_visits", "avoidable_ed_visits", "pcp_visits", "pcp_visits_own_practice"]
    return (covered.join(who, on="patient_id")
            .join(networks_of(t).rename({"provider_id": "attributed_practice_id"}), on="attributed_practice_id",
                  how="left")
            .join(use, on=["patient_id", "year"], how="left")
            .join(screened, on=["patient_id", "year"], how="left")
            .with_columns(pl.col(c).fill_null(0) for c in counts)  # no use that year
            .select(
                period=pl.col("year").cast(pl.Utf8), patient_id="patient_id",
                attributed_practice_id="attributed_practice_id", network_id="network_id",
                member_months="member_months", age_band=age_band(age), sex="sex", race_ethnicity="race_ethnicity",
                language="language", dual_eligible="dual_eligible", rurality="rurality",
                ed_visits="ed_visits", avoidable_ed_visits="avoidable_ed_visits", pcp_visits="pcp_visits",
                pcp_visits_own_practice="pcp_visits_own_practice",
                total_cost=pl.col("total_cost").fill_null(0.0),
                sdoh_screened=pl.col("sdoh_screened").fill_null(False),
            ))


def imaging(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> pl.DataFrame:
    studies = t["procedures"].filter(pl.col("category") == "imaging")
    same = ["patient_id", "modality", "body_region"]
    pairs = (studies.select(*same, "procedure_id", "procedure_date")
             .join(studies.select(*same, pl.col("procedure_id").alias("prior_id"),
                                  pl.col("procedure_date").alias("prior_date")), on=same)  # nulls never match
             .with_columns(gap=days_between("prior_date", "procedure_date"))
             .filter(pl.col("gap").is_between(0, 30) & (pl.col("prior_id") != pl.col("procedure_id"))
                     & ((pl.col("gap") > 0) | (pl.col("prior_id") < pl.col("procedure_id")))))
    repeats = pairs["procedure_id"].unique()
    age = age_years(pl.col("birth_date"), pl.col("procedure_date"), age_rule)
    return (studies.join(people(t), on="patient_id").join(networks_of(t), on="provider_id")
            .select(
                period=year_text(pl.col("procedure_date")), procedure_id="procedure_id", patient_id="patient_id",
                provider_id="provider_id", network_id="network_id", modality="modality", body_region="body_region",
                age_band=age_band(age), sex="sex", race_ethnicity="race_ethnicity", language="language",
                dual_eligible="dual_eligible", rurality="rurality",
                duplicate_30d=pl.col("procedure_id").is_in(repeats.implode()),
                low_value=((pl.col("body_region") == "lumbar_spine") & (pl.col("indication_dx") == LOW_BACK_PAIN))
                .fill_null(False),
                cost="cost",
            ))


def survey_returns(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> pl.DataFrame:
    age = age_years(pl.col("birth_date"), pl.col("survey_date"), age_rule)
    return (t["surveys"].join(people(t), on="patient_id").join(networks_of(t), on="provider_id")
            .select(
                period=year_text(pl.col("survey_date")), survey_id="survey_id", provider_id="provider_id",
                network_id="network_id", setting="setting", age_band=age_band(age), sex="sex",
                race_ethnicity="race_ethnicity", language="language", dual_eligible="dual_eligible",
                rurality="rurality",
                # top box; an unanswered item stays unknown (null) so it drops out of that item only
                nurse_communication_top=pl.col("nurse_communication") == 4,  # "always"
                doctor_communication_top=pl.col("doctor_communication") == 4,  # "always"
                discharge_information_top=pl.col("discharge_information") == 1,  # "yes"
                overall_rating_top=pl.col("overall_rating") >= 9,  # 9 or 10
                would_recommend_top=pl.col("would_recommend") == 4,  # "definitely yes"
            ))


def social_needs(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> pl.DataFrame:
    return (t["sdoh_screenings"].join(people(t), on="patient_id").join(networks_of(t), on="provider_id")
            .select(period=year_text(pl.col("screening_date")), screening_id="screening_id", patient_id="patient_id",
                    provider_id="provider_id", network_id="network_id", domain="domain", positive="positive",
                    referred="referred", resolved="resolved", sex="sex", race_ethnicity="race_ethnicity",
                    language="language", dual_eligible="dual_eligible", rurality="rurality"))


EVENT_COLUMNS = {"fall_with_injury": "falls_with_injury", "clabsi": "clabsi", "cauti": "cauti",
                 "pressure_injury": "pressure_injuries", "adverse_drug_event": "adverse_drug_events"}


def facility_months(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> pl.DataFrame:
    ev = t["safety_events"].with_columns(month=pl.col("event_date").dt.month_start())
    counts = ev.group_by("provider_id", "month").agg(
        *[(pl.col("event_type") == kind).sum().cast(pl.Int64).alias(name) for kind, name in EVENT_COLUMNS.items()])
    return (t["unit_days"].join(networks_of(t), on="provider_id")
            .join(counts, on=["provider_id", "month"], how="left")
            .select(pl.col("month").dt.year().cast(pl.Utf8).alias("period"), "provider_id", "network_id", "month",
                    "patient_days", "central_line_days", "catheter_days",
                    *[pl.col(c).fill_null(0) for c in EVENT_COLUMNS.values()]))  # a month without events: 0


FACTS = {"index_discharges": index_discharges, "member_years": member_years, "imaging": imaging,
         "survey_returns": survey_returns, "social_needs": social_needs, "facility_months": facility_months}
FACT_KEYS = {"index_discharges": ["discharge_id"], "member_years": ["patient_id", "period"],
             "imaging": ["procedure_id"], "survey_returns": ["survey_id"], "social_needs": ["screening_id"],
             "facility_months": ["provider_id", "month"]}


def facts(t: dict[str, pl.DataFrame], age_rule: str = AGE_RULE) -> dict[str, pl.DataFrame]:
    return {name: build(t, age_rule) for name, build in FACTS.items()}


# --------------------------------------------------------------------------------------------- metrics
KEYS = ["metric_id", "period", "level", "unit_id", "stratum", "stratum_value"]
COUNTED = ("proportion", "o_e")
EXPOSURE = ("rate", "ratio", "per_member_per_month")


def _cond(sql: str | None) -> pl.Expr:
    """A condition; an unknown (NULL) answer counts as false."""
    return pl.lit(True) if sql is None else pl.sql_expr(sql).fill_null(False)


def evaluate(m: Metric, fact: pl.DataFrame, units: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cells, exclusion counts) of one metric over its oracle fact frame.

    cells: one row per period × level (all + the metric's levels) × unit × stratum (all + the metric's strata)
    × stratum value with at least one eligible row.
    """
    in_pop = _cond(m.population.sql if m.population else None)
    excluded = [_cond(e.sql) for _, e in m.exclusions]
    eligible = in_pop
    for e in excluded:
        eligible = eligible & ~e
    num = pl.sql_expr(m.numerator.sql)
    if m.kind == "mean":
        eligible = eligible & num.is_not_null()
    f = fact.with_columns(_pop=in_pop, _in=eligible,
                          **{f"_ex{k}": in_pop & e for k, e in enumerate(excluded)})
    if m.kind in COUNTED:
        f = f.with_columns(_x=(pl.col("_in") & num.fill_null(False)).cast(pl.Float64),
                           _y=pl.col("_in").cast(pl.Float64))
    elif m.kind == "mean":
        f = f.with_columns(_x=pl.when(pl.col("_in")).then(num.cast(pl.Float64)).otherwise(0.0),
                           _y=pl.col("_in").cast(pl.Float64))
    else:
        den = pl.sql_expr(m.denominator.sql)
        f = f.with_columns(_x=pl.when(pl.col("_in")).then(num.cast(pl.Float64).fill_null(0.0)).otherwise(0.0),
                           _y=pl.when(pl.col("_in")).then(den.cast(pl.Float64).fill_null(0.0)).otherwise(0.0))
    if m.kind == "o_e":
        # indirect standardization: reference rate of the row's risk cell (period × by) over everyone eligible
        cell = ["period", *m.risk_adjustment.by]
        ref = (f.filter(pl.col("_in")).group_by(cell, maintain_order=True)
               .agg(_ref=pl.col("_x").sum() / pl.len()))
        f = f.join(ref, on=cell, how="left", nulls_equal=True).with_columns(
            _e=pl.when(pl.col("_in")).then(pl.col("_ref")).otherwise(0.0))
    aggs = [pl.col("_x").sum().alias("numerator"), pl.col("_y").sum().alias("denominator"),
            pl.col("_in").sum().cast(pl.Int64).alias("cases"),
            *[pl.col(f"_ex{k}").sum().cast(pl.Int64).alias(f"_ex{k}") for k in range(len(excluded))]]
    if m.kind == "o_e":
        aggs.append(pl.col("_e").sum().alias("expected"))

    parts = []
    for level in ["all", *m.levels]:
        unit = (pl.lit("ALL") if level == "all"
                else pl.col(units[level]).cast(pl.Utf8).fill_null(NO_UNIT))
        for stratum in ["all", *m.stratify_by]:
            value = pl.lit("all") if stratum == "all" else pl.col(stratum).cast(pl.Utf8).fill_null("unknown")
            g = (f.with_columns(_unit=unit, _value=value)
                 .group_by("period", "_unit", "_value").agg(aggs)
                 .filter(pl.col("cases") > 0)
                 .select(pl.lit(m.id).alias("metric_id"), "period", pl.lit(level).alias("level"),
                         pl.col("_unit").alias("unit_id"), pl.lit(stratum).alias("stratum"),
                         pl.col("_value").alias("stratum_value"), pl.exclude("period", "_unit", "_value")))
            parts.append(g)
    cells = pl.concat(parts, how="diagonal_relaxed")
    if "expected" not in cells.columns:
        cells = cells.with_columns(expected=pl.lit(None, pl.Float64))
    cells = cells.with_columns(value=_value(m))
    exclusions = pl.concat(
        [cells.filter(pl.col("stratum") == "all").select(
            "metric_id", "period", "level", "unit_id", pl.lit(name).alias("exclusion"),
            pl.col(f"_ex{k}").alias("excluded")) for k, (name, _) in enumerate(m.exclusions)]
    ) if m.exclusions else None
    return cells.select(*KEYS, "numerator", "denominator", "cases", "expected", "value"), exclusions


def _value(m: Metric) -> pl.Expr:
    if m.kind == "proportion":
        return pl.col("numerator") / pl.col("denominator")
    if m.kind == "mean":
        return pl.col("numerator") / pl.col("cases")
    if m.kind == "o_e":
        return pl.col("numerator") / pl.col("expected")
    return pl.col("numerator") / pl.col("denominator") * m.per  # rate, ratio, per member per month


def results(catalog, tables: dict[str, pl.DataFrame], age_rule: str = AGE_RULE,
            metric_ids=None) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame]]:
    """(cells of every metric, exclusion counts, oracle fact frames)."""
    frames = facts(tables, age_rule)
    cells, excl = [], []
    for m in catalog.metrics.values():
        if metric_ids is not None and m.id not in metric_ids:
            continue
        c, e = evaluate(m, frames[m.fact], catalog.facts[m.fact].unit_columns)
        cells.append(c)
        if e is not None:
            excl.append(e)
    empty = pl.DataFrame(schema={"metric_id": pl.Utf8, "period": pl.Utf8, "level": pl.Utf8, "unit_id": pl.Utf8,
                                 "exclusion": pl.Utf8, "excluded": pl.Int64})
    return (pl.concat(cells, how="vertical_relaxed") if cells else pl.DataFrame(),
            pl.concat(excl, how="vertical_relaxed") if excl else empty, frames)


# --------------------------------------------------------------------------------------------- comparison
def close(a, b, rel: float = 1e-9) -> bool:
    """Equal within `rel` (relative, absolute near zero); null, NaN and ±inf only equal themselves."""
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def diff_cells(engine: pl.DataFrame, expected: pl.DataFrame, kinds: dict[str, str], limit: int = 15) -> list[str]:
    """Every disagreement between the engine's long table and the oracle's, as readable lines."""
    problems = []
    e = engine.select(*KEYS, "numerator", "denominator", "cases", "expected", "value")
    o = expected.select(*KEYS, "numerator", "denominator", "cases", "expected", "value")
    e_keys, o_keys = set(e.select(KEYS).iter_rows()), set(o.select(KEYS).iter_rows())
    if len(e_keys) != e.height:
        problems.append(f"engine has {e.height - len(e_keys)} duplicated cells")
    for k in sorted(o_keys - e_keys)[:limit]:
        problems.append(f"missing from engine: {k}")
    for k in sorted(e_keys - o_keys)[:limit]:
        problems.append(f"extra in engine: {k}")
    joined = e.join(o, on=KEYS, suffix="_oracle")
    bad = 0
    for row in joined.iter_rows(named=True):
        kind = kinds[row["metric_id"]]
        checks = {
            "cases": row["cases"] == row["cases_oracle"],
            "numerator": (close(row["numerator"], row["numerator_oracle"]) if kind in ("mean", "per_member_per_month")
                          else row["numerator"] == row["numerator_oracle"]),
            "denominator": row["denominator"] == row["denominator_oracle"],
            "expected": close(row["expected"], row["expected_oracle"]),
            "value": close(row["value"], row["value_oracle"]),
        }
        for name, ok in checks.items():
            if not ok:
                bad += 1
                if bad <= limit:
                    problems.append(f"{tuple(row[k] for k in KEYS)} {name}: engine {row[name]!r} "
                                    f"!= oracle {row[name + '_oracle']!r}")
    if bad > limit:
        problems.append(f"... {bad - limit} more value disagreements")
    return problems


def diff_exclusions(engine: pl.DataFrame, expected: pl.DataFrame, limit: int = 15) -> list[str]:
    keys = ["metric_id", "period", "level", "unit_id", "exclusion"]
    e = {r[:-1]: r[-1] for r in engine.select(*keys, "excluded").iter_rows()}
    o = {r[:-1]: r[-1] for r in expected.select(*keys, "excluded").iter_rows()}
    problems = [f"{k}: engine {e.get(k)!r} != oracle {o.get(k)!r}" for k in sorted(set(e) | set(o))
                if e.get(k) != o.get(k)]
    return problems[:limit] + ([f"... {len(problems) - limit} more"] if len(problems) > limit else [])


def diff_facts(engine: pl.DataFrame, expected: pl.DataFrame, keys: list[str], columns: list[str],
               limit: int = 15) -> list[str]:
    """Row-by-row comparison of one fact: the same grain keys, and every declared column equal."""
    problems = []
    if engine.height != engine.select(keys).unique().height:
        problems.append("engine fact has duplicated grain keys")
    e_keys, o_keys = set(engine.select(keys).iter_rows()), set(expected.select(keys).iter_rows())
    problems += [f"missing from engine: {k}" for k in sorted(o_keys - e_keys)[:limit]]
    problems += [f"extra in engine: {k}" for k in sorted(e_keys - o_keys)[:limit]]
    joined = engine.select(columns).join(expected.select(columns), on=keys, suffix="_oracle")
    bad = 0
    for row in joined.iter_rows(named=True):
        for c in columns:
            if c in keys:
                continue
            a, b = row[c], row[c + "_oracle"]
            ok = close(a, b) if isinstance(a, float) or isinstance(b, float) else a == b
            if not ok:
                bad += 1
                if bad <= limit:
                    problems.append(f"{tuple(row[k] for k in keys)} {c}: engine {a!r} != oracle {b!r}")
    if bad > limit:
        problems.append(f"... {bad - limit} more")
    return problems
