"""Each fact on its own, over small hand-built tables whose answer is plain from the fact's description.

Every expectation is checked against the engine's fact view *and* the oracle, so the oracle is held to the
description too.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import canonical
import oracle
import polars as pl
import pytest

from carescore.compute import engine
from carescore.define.loader import load_catalog

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "metrics")
D = date(2025, 3, 3)  # an index discharge date


def day(n: int) -> date:
    return D + timedelta(days=n)


def enc(eid, pid, cls, admit, discharge=None, **kw) -> dict:
    return {"encounter_id": eid, "patient_id": pid, "encounter_class": cls, "admit_date": admit,
            "discharge_date": discharge or admit, **kw}


def stay(eid, pid, admit=None, discharge=D, disp="home", **kw) -> dict:
    return enc(eid, pid, "inpatient", admit or discharge - timedelta(days=3), discharge, discharge_disposition=disp,
               **kw)


def late(pid="P0") -> dict:
    """An ED visit long after everything else, so every index stay has a complete 30-day window."""
    return enc("ZZ-LATE", pid, "ed", day(120), primary_dx="S72.001A")


def patients(*ids, **kw) -> list[dict]:
    return [{"patient_id": p, **kw} for p in ("P0", *ids)]


def both(fact_id: str, **given) -> dict[str, pl.DataFrame]:
    t = canonical.tables(**given)
    con = engine.connect(canonical.extracts(t), CATALOG)
    return {"engine": engine.fact_frame(con, fact_id), "oracle": oracle.FACTS[fact_id](t)}


def check(fact_id: str, want: dict[str, dict], key: str | list[str] | None = None, **given) -> None:
    """want: column -> {row key -> value}; every listed row must exist in the engine's and the oracle's fact."""
    key = key or oracle.FACT_KEYS[fact_id][0]
    for who, frame in both(fact_id, **given).items():
        keys = frame.select(key).rows() if isinstance(key, list) else frame[key].to_list()
        for column, expected in want.items():
            got = {k: v for k, v in zip(keys, frame[column].to_list()) if k in expected}
            assert got == expected, f"{who}: {fact_id}.{column}"


# ------------------------------------------------------------------------------------------ index_discharges
@pytest.mark.parametrize("days_after,readmitted", [(0, False), (1, True), (29, True), (30, True), (31, False)])
def test_readmission_is_an_admission_1_to_30_days_after_discharge(days_after, readmitted):
    check("index_discharges", {"readmitted_unplanned_30d": {"E1": readmitted}},
          patients=patients("P1"),
          encounters=[stay("E1", "P1"), stay("E2", "P1", admit=day(days_after), discharge=day(days_after + 2),
                                              provider_id="H2"), late()])


def test_readmission_must_be_unplanned_and_inpatient():
    check("index_discharges", {"readmitted_unplanned_30d": {"E1": False, "E3": False, "E5": True}},
          patients=patients("P1", "P2", "P3"),
          encounters=[stay("E1", "P1"), stay("E2", "P1", admit=day(5), discharge=day(7), planned=True),
                      stay("E3", "P2"), enc("E4", "P2", "ed", day(5)), enc("E4b", "P2", "snf", day(5), day(9)),
                      stay("E5", "P3"), stay("E6", "P3", admit=day(10), discharge=day(12), provider_id="H3"),
                      late()])


@pytest.mark.parametrize("days_after,fu7,fu30", [(-1, False, False), (0, True, True), (7, True, True),
                                                 (8, False, True), (30, False, True), (31, False, False)])
def test_followup_windows(days_after, fu7, fu30):
    for cls in ("primary_care", "outpatient"):
        given = {"patients": patients("P1"),
                     "encounters": [stay("E1", "P1", admit=day(-5)), enc("V", "P1", cls, day(days_after),
                                                                      provider_id="PC2"), late()]}
        check("index_discharges", {"followup_7d": {"E1": fu7}, "followup_30d": {"E1": fu30}}, **given)


def test_followup_is_a_clinic_visit_of_the_same_patient():
    check("index_discharges", {"followup_7d": {"E1": False, "E2": False}},
          patients=patients("P1", "P2"),
          encounters=[stay("E1", "P1"), enc("V1", "P1", "ed", day(2)), enc("V2", "P1", "home_health", day(2)),
                      stay("E2", "P2"), enc("V3", "P1", "primary_care", day(40)), enc("V4", "P0", "primary_care", day(2)),
                      late()])


@pytest.mark.parametrize("days_after,done", [(-1, False), (0, True), (30, True), (31, False)])
def test_medication_reconciliation_within_30_days(days_after, done):
    check("index_discharges", {"med_rec_30d": {"E1": done}},
          patients=patients("P1"), encounters=[stay("E1", "P1"), late()],
          medication_reconciliations=[{"medrec_id": "M1", "patient_id": "P1", "provider_id": "PC1",
                                       "rec_date": day(days_after)}])


def test_episode_cost_is_the_stay_plus_encounters_starting_1_to_30_days_after():
    check("index_discharges", {"episode_cost_30d": {"E1": 1000.0 + 20.0 + 300.0 + 4.0}},
          patients=patients("P1", "P2"),
          encounters=[stay("E1", "P1", cost=1000.0),
                      enc("A", "P1", "primary_care", D, cost=1.0),  # day 0: not after the stay
                      enc("B", "P1", "outpatient", day(1), cost=20.0),
                      stay("C", "P1", admit=day(12), discharge=day(40), cost=300.0, planned=True),  # starts inside
                      enc("F", "P1", "ed", day(30), cost=4.0, provider_id="H3"),
                      enc("G", "P1", "ed", day(31), cost=5000.0),
                      enc("H", "P2", "ed", day(3), cost=7000.0), late()])
    check("index_discharges", {"stay_cost": {"E1": 1000.0}},
          patients=patients("P1"), encounters=[stay("E1", "P1", cost=1000.0), late()])


def test_comorbidity_counts_distinct_chronic_conditions_in_the_whole_cut():
    chronic = ["E11.9", "I10", "I50.9", "J44.1", "N18.3", "F32.9"]
    check("index_discharges", {"comorbidity_band": {"E0": "0", "E1": "1-2", "E2": "1-2", "E3": "3+"}},
          patients=patients("P1", "P2", "P3"),
          encounters=[stay("E0", "P0", primary_dx="I21.9"), enc("x0", "P0", "primary_care", day(4), primary_dx="J06.9"),
                      stay("E1", "P1", primary_dx="E11.9"), enc("x1", "P1", "primary_care", day(50), primary_dx="E11.9"),
                      stay("E2", "P2", primary_dx="I10"), enc("x2", "P2", "outpatient", day(-200), primary_dx="I50.9"),
                      stay("E3", "P3", primary_dx=chronic[3]),
                      *[enc(f"y{i}", "P3", "primary_care", day(90 + i), primary_dx=c) for i, c in enumerate(chronic[4:])],
                      late()])


def test_window_complete_when_the_cut_covers_30_days():
    check("index_discharges", {"window_complete": {"E1": True, "E2": False, "E3": False}},
          patients=patients("P1", "P2", "P3"),
          encounters=[stay("E1", "P1", discharge=day(0)), stay("E2", "P2", discharge=day(1)),
                      stay("E3", "P3", discharge=day(30), admit=day(28)),
                      enc("cut", "P0", "ed", day(30))])


def test_discharge_row_carries_period_units_and_attribution():
    rows = both("index_discharges", patients=[{"patient_id": "P1", "attributed_practice_id": None},
                                              {"patient_id": "P2", "attributed_practice_id": "PC3"}],
                encounters=[stay("E1", "P1", admit=date(2024, 12, 30), discharge=date(2025, 1, 2), provider_id="H2"),
                            stay("E2", "P2", admit=date(2024, 12, 1), discharge=date(2024, 12, 31))])
    network = {p: canonical.NETWORKS[i % 2] for i, p in enumerate(canonical.PROVIDERS)}
    for who, f in rows.items():
        got = f.sort("discharge_id").select("discharge_id", "period", "provider_id", "network_id",
                                            "attributed_practice_id").rows()
        assert got == [("E1", "2025", "H2", network["H2"], None), ("E2", "2024", "H1", network["H1"], "PC3")], who


def test_only_inpatient_stays_are_index_discharges():
    rows = both("index_discharges", patients=patients("P1"),
                encounters=[stay("E1", "P1"), enc("S", "P1", "snf", day(1), day(9)), enc("V", "P1", "ed", day(2))])
    for who, f in rows.items():
        assert f["discharge_id"].to_list() == ["E1"], who


@pytest.mark.parametrize("fact_id,column", [("index_discharges", "age"), ("index_discharges", "age_band"),
                                            ("imaging", "age_band"), ("survey_returns", "age_band"),
                                            ("member_years", "age_band")])
def test_age_is_completed_years(fact_id, column):
    """Born 2 July 1960: on 1 July 2025 (also member_years' mid-year reference day) the person is 64."""
    when = date(2025, 7, 1)
    given = {"patients": [{"patient_id": "P1", "birth_date": date(1960, 7, 2)}],
                 "encounters": [stay("E1", "P1", admit=when - timedelta(days=2), discharge=when)],
                 "procedures": [{"procedure_id": "X1", "patient_id": "P1", "procedure_date": when}],
                 "surveys": [{"survey_id": "S1", "patient_id": "P1", "survey_date": when}],
                 "enrollment": [{"patient_id": "P1", "start_date": date(2025, 1, 1), "end_date": date(2025, 12, 31)}]}
    want = 64 if column == "age" else "45-64"
    key = ["patient_id", "period"] if fact_id == "member_years" else None
    expected = {("P1", "2025"): want} if key else {{"index_discharges": "E1", "imaging": "X1",
                                                    "survey_returns": "S1"}[fact_id]: want}
    frame = both(fact_id, **given)["engine"]
    keys = frame.select(key).rows() if key else frame[oracle.FACT_KEYS[fact_id][0]].to_list()
    assert dict(zip(keys, frame[column].to_list())) == expected


def test_oracle_age_in_completed_years():
    birth = pl.lit(date(1960, 7, 2))
    ages = pl.select(*(oracle.age_years(birth, pl.lit(d), "completed").alias(str(d)) for d in
                       (date(2025, 7, 1), date(2025, 7, 2), date(2025, 1, 1)))).row(0)
    assert ages == (64, 65, 64)


# ------------------------------------------------------------------------------------------ member_years
def test_member_months_come_from_enrollment_spans():
    span = lambda p, a, b: {"patient_id": p, "start_date": a, "end_date": b}
    check("member_years",
          {"member_months": {("P1", "2024"): 2, ("P1", "2025"): 4, ("P2", "2025"): 1, ("P3", "2024"): 12}},
          key=["patient_id", "period"], patients=patients("P1", "P2", "P3", "P4"),
          enrollment=[span("P1", date(2024, 11, 1), date(2025, 2, 28)),
                      span("P1", date(2025, 3, 1), date(2025, 4, 30)),  # adjacent span
                      span("P2", date(2025, 6, 1), date(2025, 6, 30)),
                      span("P3", date(2024, 1, 1), date(2024, 12, 31))],
          encounters=[enc("V", "P4", "ed", date(2025, 1, 5))])  # use without coverage makes no member year


def test_member_year_rows_exist_only_for_covered_years():
    for who, f in both("member_years", patients=patients("P1"),
                       enrollment=[{"patient_id": "P1", "start_date": date(2025, 2, 1), "end_date": date(2025, 3, 31)}],
                       encounters=[enc("V", "P1", "ed", date(2024, 5, 5))]).items():
        assert f.select("patient_id", "period").rows() == [("P1", "2025")], who


def test_use_and_cost_in_the_calendar_year():
    avoidable = ["J06.9", "N39.0", "J02.9", "M54.5", "R51.9", "H66.90"]
    cover = [{"patient_id": "P1", "start_date": date(2024, 1, 1), "end_date": date(2025, 12, 31)}]
    encs = [enc(f"A{i}", "P1", "ed", date(2025, 2, 1 + i), primary_dx=dx, cost=1.0) for i, dx in enumerate(avoidable)]
    encs += [enc("B1", "P1", "ed", date(2025, 3, 1), primary_dx="I21.9", cost=10.0),
             enc("B2", "P1", "primary_care", date(2025, 3, 2), primary_dx="M54.5", provider_id="PC1", cost=100.0),
             enc("B3", "P1", "primary_care", date(2025, 3, 3), provider_id="PC2", cost=1000.0),
             enc("B4", "P1", "outpatient", date(2025, 3, 4), provider_id="PC1", cost=10000.0),
             stay("B5", "P1", admit=date(2024, 12, 30), discharge=date(2025, 1, 3), cost=100000.0)]  # admitted 2024
    given = {"patients": [{"patient_id": "P1", "attributed_practice_id": "PC1"}], "enrollment": cover, "encounters": encs}
    key = ["patient_id", "period"]
    want = {"ed_visits": 7, "avoidable_ed_visits": 6, "pcp_visits": 2, "pcp_visits_own_practice": 1, "total_cost": 11116.0}
    check("member_years", {c: {("P1", "2025"): v} for c, v in want.items()}, key=key, **given)
    check("member_years", {"total_cost": {("P1", "2024"): 100000.0}}, key=key, **given)


def test_no_attributed_practice_means_no_practice_no_network_no_own_visits():
    given = {"patients": [{"patient_id": "P1", "attributed_practice_id": None}],
                 "enrollment": [{"patient_id": "P1", "start_date": date(2025, 1, 1), "end_date": date(2025, 1, 31)}],
                 "encounters": [enc("V", "P1", "primary_care", date(2025, 1, 9), provider_id="PC1")]}
    for who, f in both("member_years", **given).items():
        assert f.select("attributed_practice_id", "network_id", "pcp_visits", "pcp_visits_own_practice").rows() == [
            (None, None, 1, 0)], who


def test_sdoh_screened_in_the_same_year():
    check("member_years", {"sdoh_screened": {("P1", "2024"): False, ("P1", "2025"): True}},
          key=["patient_id", "period"], patients=patients("P1"),
          enrollment=[{"patient_id": "P1", "start_date": date(2024, 6, 1), "end_date": date(2025, 5, 31)}],
          sdoh_screenings=[{"screening_id": "S1", "patient_id": "P1", "screening_date": date(2025, 1, 1)},
                           {"screening_id": "S2", "patient_id": "P1", "screening_date": date(2023, 12, 31)}])


# ------------------------------------------------------------------------------------------ imaging
def study(pid_, d, modality="mri", region="lumbar_spine", **kw) -> dict:
    return {"patient_id": pid_, "procedure_date": d, "modality": modality, "body_region": region, **kw}


def test_duplicate_is_the_same_modality_and_region_within_30_days_before():
    check("imaging",
          {"duplicate_30d": {"A1": False, "A2": True, "A3": True,  # 0, 30, then 30 days after the repeat
                             "B1": False, "B2": False,  # 31 days apart
                             "C1": False, "C2": False, "C3": False,  # other modality, other region, other patient
                             "D1": False}},  # a lab before a study of the same kind does not count
          patients=patients("P1", "P2", "P3", "P4"),
          procedures=[study("P1", day(0), procedure_id="A1"), study("P1", day(30), procedure_id="A2"),
                      study("P1", day(60), procedure_id="A3"),
                      study("P2", day(0), procedure_id="B1"), study("P2", day(31), procedure_id="B2"),
                      study("P3", day(0), procedure_id="C0"), study("P3", day(3), "ct", procedure_id="C1"),
                      study("P3", day(4), region="head", procedure_id="C2"), study("P4", day(5), procedure_id="C3"),
                      study("P0", day(0), category="lab", procedure_id="L1"), study("P0", day(2), procedure_id="D1")])


def test_same_day_studies_one_of_them_is_the_repeat():
    for who, f in both("imaging", patients=patients("P1"),
                       procedures=[study("P1", day(0), procedure_id="X2"),
                                   study("P1", day(0), procedure_id="X1")]).items():
        assert f["duplicate_30d"].sum() == 1, who


def test_unknown_modality_or_region_is_never_a_duplicate():
    check("imaging", {"duplicate_30d": {"N2": False, "R2": False}},
          patients=patients("P1"),
          procedures=[study("P1", day(0), None, procedure_id="N1"), study("P1", day(1), None, procedure_id="N2"),
                      study("P1", day(0), "ct", None, procedure_id="R1"),
                      study("P1", day(1), "ct", None, procedure_id="R2")])


def test_low_value_is_lumbar_imaging_for_uncomplicated_low_back_pain():
    check("imaging", {"low_value": {"A": True, "B": False, "C": False, "E": False}},
          patients=patients("P1"),
          procedures=[study("P1", day(0), procedure_id="A", indication_dx="M54.5"),
                      study("P1", day(40), procedure_id="B", indication_dx="M54.16"),
                      study("P1", day(80), region="head", procedure_id="C", indication_dx="M54.5"),
                      study("P1", day(120), procedure_id="E", indication_dx=None)])


def test_only_imaging_procedures_are_studies():
    for who, f in both("imaging", patients=patients("P1"),
                       procedures=[study("P1", day(0), procedure_id="A"),
                                   study("P1", day(0), category="surgery", procedure_id="B")]).items():
        assert f["procedure_id"].to_list() == ["A"], who


# ------------------------------------------------------------------------------------------ survey_returns
def test_top_box_answers_and_unanswered_items():
    items = ["nurse_communication", "doctor_communication", "discharge_information", "overall_rating",
             "would_recommend"]
    answers = {"S1": (4, 4, 1, 10, 4), "S2": (3, 3, 0, 8, 3), "S3": (None, None, None, None, None),
               "S4": (1, 2, 1, 9, 2), "S5": (4, 1, 0, 0, 1)}
    top = {"S1": (True,) * 5, "S2": (False,) * 5, "S3": (None,) * 5, "S4": (False, False, True, True, False),
           "S5": (True, False, False, False, False)}
    surveys = [{"survey_id": s, "patient_id": "P0", "survey_date": day(0), **dict(zip(items, a))}
               for s, a in answers.items()]
    check("survey_returns", {f"{item}_top": {s: t[i] for s, t in top.items()} for i, item in enumerate(items)},
          patients=patients(), surveys=surveys)


# ------------------------------------------------------------------------------------------ social_needs
def test_social_needs_one_row_per_question_with_its_answers():
    rows = [{"screening_id": "S1", "patient_id": "P0", "screening_date": date(2024, 12, 31), "domain": "food",
             "positive": True, "referred": True, "resolved": None},
            {"screening_id": "S2", "patient_id": "P0", "screening_date": date(2025, 1, 1), "domain": "housing",
             "positive": True, "referred": False, "resolved": None, "provider_id": "PC2"}]
    for who, f in both("social_needs", patients=patients(), sdoh_screenings=rows).items():
        assert f.sort("screening_id").select("screening_id", "period", "provider_id", "domain", "positive",
                                             "referred", "resolved").rows() == [
            ("S1", "2024", "PC1", "food", True, True, None), ("S2", "2025", "PC2", "housing", True, False, None)], who


# ------------------------------------------------------------------------------------------ facility_months
def test_facility_month_counts_events_in_its_month():
    months = [{"provider_id": "H1", "month": date(2025, m, 1)} for m in (1, 2)]
    events = [("fall_with_injury", date(2025, 1, 1)), ("fall_with_injury", date(2025, 1, 31)),
              ("clabsi", date(2025, 1, 15)), ("cauti", date(2025, 2, 28)), ("pressure_injury", date(2025, 2, 1)),
              ("adverse_drug_event", date(2025, 2, 10)), ("adverse_drug_event", date(2025, 3, 1)),  # no exposure row
              ("clabsi", date(2025, 1, 20))]
    rows = [{"event_id": f"E{i}", "provider_id": "H1", "patient_id": None, "event_date": d, "event_type": t}
            for i, (t, d) in enumerate(events)]
    rows.append({"event_id": "X", "provider_id": "H2", "patient_id": None, "event_date": date(2025, 1, 5),
                 "event_type": "clabsi"})
    want = {date(2025, 1, 1): (2, 2, 0, 0, 0), date(2025, 2, 1): (0, 0, 1, 1, 1)}
    cols = ["falls_with_injury", "clabsi", "cauti", "pressure_injuries", "adverse_drug_events"]
    for who, f in both("facility_months", unit_days=months, safety_events=rows).items():
        assert {r[0]: r[1:] for r in f.filter(pl.col("provider_id") == "H1").select("month", *cols).rows()} == want, who
        assert f.height == 2, who  # H2 has events but no exposure rows


# ------------------------------------------------------------------------------------------ metrics by hand
def cells(t, metric_id, **where) -> pl.DataFrame:
    res = canonical.run_engine(t, CATALOG)[0].filter(pl.col("metric_id") == metric_id)
    for k, v in where.items():
        res = res.filter(pl.col(k) == v)
    return res


def test_readmission_observed_over_expected_by_hand():
    """Women readmit 1 in 4 and men 1 in 2 across the network (same age band, no chronic conditions), so H1
    (two women, one readmitted; one man, readmitted) expects 2*1/4 + 1/2 = 1 and observes 2."""
    people_ = [{"patient_id": p, "sex": s, "birth_date": date(1950, 1, 1)}
               for p, s in [("F1", "female"), ("F2", "female"), ("F3", "female"), ("F4", "female"),
                            ("M1", "male"), ("M2", "male")]]
    encs = [stay("1", "F1"), stay("2", "F2"), stay("3", "F3", provider_id="H2"), stay("4", "F4", provider_id="H2"),
            stay("5", "M1"), stay("6", "M2", provider_id="H2"),
            # readmissions that end in death: excluded from the measure themselves
            stay("R1", "F1", admit=day(10), discharge=day(12), provider_id="H2", disp="expired"),
            stay("R2", "M1", admit=day(30), discharge=day(31), provider_id="H3", disp="expired"),
            enc("cut", "F1", "ed", day(90))]
    t = canonical.tables(patients=people_, encounters=encs)
    res = cells(t, "readmission_30d", period="2025", stratum="all")
    got = {r["unit_id"]: (r["numerator"], r["cases"], r["expected"], r["value"]) for r in res.iter_rows(named=True)
           if r["level"] in ("provider", "all")}
    assert got == {"ALL": (2, 6, pytest.approx(2.0), pytest.approx(1.0)),
                   "H1": (2, 3, pytest.approx(1.0), pytest.approx(2.0)),
                   "H2": (0, 3, pytest.approx(1.0), 0.0)}
    women_h1 = cells(t, "readmission_30d", unit_id="H1", stratum="sex", stratum_value="female")
    assert women_h1.select("numerator", "expected", "value").row(0) == (1, pytest.approx(0.5), pytest.approx(2.0))


def test_rate_pmpm_and_mean_by_hand():
    t = canonical.tables(
        unit_days=[{"provider_id": "H1", "month": date(2025, 1, 1), "patient_days": 400},
                   {"provider_id": "H1", "month": date(2025, 2, 1), "patient_days": 600}],
        safety_events=[{"event_id": f"E{i}", "provider_id": "H1", "event_date": date(2025, 1 + i % 2, 3),
                        "event_type": "fall_with_injury"} for i in range(3)],
        patients=[{"patient_id": "A"}, {"patient_id": "B"}],
        enrollment=[{"patient_id": "A", "start_date": date(2025, 1, 1), "end_date": date(2025, 12, 31)},
                    {"patient_id": "B", "start_date": date(2025, 7, 1), "end_date": date(2025, 12, 31)}],
        encounters=[enc("V1", "A", "primary_care", date(2025, 3, 1), cost=1200.0),
                    enc("V2", "B", "primary_care", date(2025, 8, 1), cost=600.0),
                    stay("S1", "A", admit=date(2025, 5, 1), discharge=date(2025, 5, 3), cost=0.0)])
    falls = cells(t, "falls_with_injury", level="provider", unit_id="H1")
    assert falls.select("numerator", "denominator", "value").row(0) == (3, 1000, pytest.approx(3.0))
    pmpm = cells(t, "cost_pmpm", level="all", stratum="all")
    assert pmpm.select("numerator", "denominator", "cases", "value").row(0) == (1800.0, 18, 2, pytest.approx(100.0))
    stay_cost = cells(t, "inpatient_cost_per_admission", level="all", stratum="all")
    assert stay_cost.select("numerator", "cases", "value").row(0) == (0.0, 1, 0.0)


def test_unknown_population_answer_leaves_the_row_out():
    """A discharge with no recorded disposition is not a discharge home: not in the follow-up denominator, and
    not excluded as a death from medication reconciliation either."""
    t = canonical.tables(patients=patients("P1", "P2"),
                         encounters=[stay("E1", "P1", disp=None), stay("E2", "P2", disp="home"), late()])
    fu = cells(t, "followup_7d", level="all", stratum="all")
    assert fu.select("denominator", "cases").row(0) == (1, 1)
    medrec = cells(t, "med_rec_30d", level="all", stratum="all")
    assert medrec.select("denominator", "cases").row(0) == (2, 2)


def test_unattributed_people_are_their_own_practice_cell():
    t = canonical.tables(patients=[{"patient_id": "P1", "attributed_practice_id": None},
                                   {"patient_id": "P2", "attributed_practice_id": "PC2"}],
                         encounters=[stay("E1", "P1"), stay("E2", "P2"), late("P2")])
    units = cells(t, "followup_7d", level="practice", stratum="all")["unit_id"].to_list()
    assert sorted(units) == ["PC2", "~none"]
    strata = cells(t, "followup_7d", level="all", stratum="dual_eligible")["stratum_value"].to_list()
    assert strata == ["false"]
