"""The bad-input corpus: each case is one small change to a clean CSV data cut and its exact outcome.

A case names the change (`mutate`, applied to a copy of the clean cut), the located messages it must give
(`messages`: "file:line:col: severity[CODE] start of the message", file relative to the cut), and what is
held (`held`: metric groups or ids → "network" or a tuple of provider ids). `publish` says whether the run
would still be published (False: every metric held, the previous publication stays live).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# Metric groups by fact (the hold unit when a whole table is unreadable or table-wide broken)
SURVEY = ("discharge_information", "doctor_communication", "nurse_communication", "overall_rating",
          "would_recommend")
SAFETY = ("adverse_drug_events", "cauti_rate", "clabsi_rate", "falls_with_injury", "pressure_injuries")
DISCHARGES = ("episode_cost_30d", "followup_30d", "followup_7d", "followup_7d_equity", "inpatient_cost_per_admission",
              "med_rec_30d", "readmission_30d")
MEMBERS = ("avoidable_ed_per_1000", "cost_pmpm", "ed_visits_per_1000", "pcp_continuity", "sdoh_screening")
IMAGING = ("duplicate_imaging_30d", "low_value_imaging")
SOCIAL = ("sdoh_referral", "sdoh_resolution")
ENCOUNTERS = DISCHARGES + MEMBERS
PATIENTS = DISCHARGES + MEMBERS + IMAGING + SOCIAL + SURVEY


@dataclass(frozen=True)
class Case:
    name: str
    table: str  # the table the change touches (validated in the fast path)
    mutate: Callable[[Path], None]
    messages: tuple[str, ...]
    held: dict = field(default_factory=dict)
    publish: bool = True
    full: bool = False  # also run the whole pipeline and publish (slower; a representative subset)


def read(d: Path, t: str) -> pl.DataFrame:
    return pl.read_csv(d / f"{t}.csv", infer_schema=False)


def write(d: Path, t: str, f: pl.DataFrame) -> None:
    f.write_csv(d / f"{t}.csv")


def set_cell(t: str, row: int, column: str, value: str | None) -> Callable[[Path], None]:
    def go(d: Path) -> None:
        f = read(d, t)
        write(d, t, f.with_columns(pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value))
                                   .otherwise(pl.col(column)).alias(column)))
    return go


def rewrite_text(t: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def go(d: Path) -> None:
        p = d / f"{t}.csv"
        p.write_text(fn(p.read_text()))
    return go


def write_bytes(t: str, fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def go(d: Path) -> None:
        p = d / f"{t}.csv"
        p.write_bytes(fn(p.read_bytes()))
    return go


def frame_edit(t: str, fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def go(d: Path) -> None:
        write(d, t, fn(read(d, t)))
    return go


def _latin1_in_row(text: bytes) -> bytes:
    lines = text.split(b"\n")
    lines[3] = lines[3].replace(b",primary_care,", b",primary_care_\xe9,", 1).replace(b",hospital,", b",h\xf4pital,", 1)
    return b"\n".join(lines)


def _extra_field(text: str) -> str:
    lines = text.split("\n")
    lines[3] = lines[3] + ",surprise"
    return "\n".join(lines)


def _idx(f: pl.DataFrame, predicate: pl.Expr) -> int:
    return int(f.with_row_index("i").filter(predicate)["i"][0])


CASES: list[Case] = [
    # ------------------------------------------------------------------ files that cannot be read as a whole
    Case("wrong_delimiter_semicolon", "surveys", rewrite_text("surveys", lambda s: s.replace(",", ";")),
         ("surveys.csv:1:1: error[L007] table surveys: fields are separated by ';', expected ','",),
         {m: "network" for m in SURVEY}, full=True),
    Case("wrong_delimiter_tab", "unit_days", rewrite_text("unit_days", lambda s: s.replace(",", "\t")),
         ("unit_days.csv:1:1: error[L007] table unit_days: fields are separated by tab",),
         {m: "network" for m in SAFETY}),
    Case("wrong_encoding_latin1", "surveys", write_bytes("surveys", _latin1_in_row),
         (("surveys.csv:4:43: error[L006] table surveys: file is not UTF-8 (byte 0xf4 cannot be decoded); "
          "save it as UTF-8"),),
         {m: "network" for m in SURVEY}),
    Case("wrong_encoding_utf16", "safety_events",
         write_bytes("safety_events", lambda b: b.decode().encode("utf-16")),
         ("safety_events.csv:1:1: error[L006] table safety_events: file is not UTF-8 (byte 0xff",),
         {m: "network" for m in SAFETY}),
    Case("missing_column", "encounters", frame_edit("encounters", lambda f: f.drop("cost")),
         ("encounters.csv:1:1: error[L002] table encounters: missing column 'cost'",),
         {m: "network" for m in ENCOUNTERS}, full=True),
    Case("renamed_column_typo", "surveys", frame_edit("surveys", lambda f: f.rename({"survey_date": "survey_dat"})),
         ("surveys.csv:1:1: error[L002] table surveys: missing column 'survey_date'; did you mean 'survey_dat'?",),
         {m: "network" for m in SURVEY}),
    Case("extra_column", "patients", frame_edit("patients", lambda f: f.with_columns(ssn=pl.lit("999-00-0000"))),
         ("patients.csv:1:12: warning[L003] table patients: unexpected column 'ssn' (ignored)",), {}),
    Case("wrong_type_integer", "unit_days", set_cell("unit_days", 5, "patient_days", "many"),
         ("unit_days.csv:7:3: error[L004] table unit_days, column patient_days: cannot read 'many' as integer",),
         {m: "network" for m in SAFETY}),
    Case("wrong_type_boolean", "encounters", set_cell("encounters", 2, "planned", "maybe"),
         ("encounters.csv:4:8: error[L004] table encounters, column planned: cannot read 'maybe' as boolean",),
         {m: "network" for m in ENCOUNTERS}),
    Case("unparseable_date", "encounters", set_cell("encounters", 10, "admit_date", "2024-13-45"),
         ("encounters.csv:12:5: error[L004] table encounters, column admit_date: cannot read '2024-13-45' as date",),
         {m: "network" for m in ENCOUNTERS}),
    Case("date_in_us_format", "surveys", set_cell("surveys", 0, "survey_date", "02/22/2024"),
         ("surveys.csv:2:4: error[L004] table surveys, column survey_date: cannot read '02/22/2024' as date",),
         {m: "network" for m in SURVEY}),
    Case("empty_file", "safety_events", write_bytes("safety_events", lambda b: b""),
         ("safety_events.csv:1:1: error[L005] table safety_events: file is empty (no header line)",),
         {m: "network" for m in SAFETY}),
    Case("header_only_file", "surveys", write_bytes("surveys", lambda b: b.split(b"\n")[0] + b"\n"),
         (("surveys.csv:1:1: error[Q003] surveys: observed 0, expected row count within ±50% of the last "
          "accepted cut"), "surveys.csv:1:1: warning[Q002] surveys: observed 0, expected the file has at least one row"),
         {m: "network" for m in SURVEY}, full=True),
    Case("truncated_file", "encounters", write_bytes("encounters", lambda b: b[:-30]),
         ("error[L008] table encounters: record has 6 field(s), the header has 10 (the file looks truncated)",),
         {m: "network" for m in ENCOUNTERS}),
    Case("truncated_inside_quote", "sdoh_screenings",
         write_bytes("sdoh_screenings", lambda b: b.rstrip(b"\n") + b'\nSD9,P0000001,PRAC-001,"2025-01-0'),
         ("error[L008] table sdoh_screenings: record has 4 field(s), the header has 8 (the file looks truncated)",),
         {m: "network" for m in MEMBERS + SOCIAL}),
    Case("extra_field_in_row", "safety_events", rewrite_text("safety_events", _extra_field),
         ("safety_events.csv:4:1: error[L008] table safety_events: record has 6 field(s), the header has 5",),
         {m: "network" for m in SAFETY}),
    Case("providers_unreadable_holds_everything", "providers",
         rewrite_text("providers", lambda s: s.replace(",", ";")),
         ("providers.csv:1:1: error[L007] table providers: fields are separated by ';'",),
         {m: "network" for m in PATIENTS + SAFETY}, publish=False, full=True),
    Case("patients_missing_column", "patients", frame_edit("patients", lambda f: f.drop("birth_date")),
         ("patients.csv:1:1: error[L002] table patients: missing column 'birth_date'",),
         {m: "network" for m in PATIENTS}),
]


def edit_where(t: str, predicate: pl.Expr, **values: str) -> Callable[[Path], None]:
    """Set columns on the first row matching `predicate`."""
    def go(d: Path) -> None:
        f = read(d, t)
        row = _idx(f, predicate)
        write(d, t, f.with_columns([pl.when(pl.int_range(pl.len()) == row).then(pl.lit(v)).otherwise(pl.col(c))
                                    .alias(c) for c, v in values.items()]))
    return go


def every_nth(t: str, n: int, **values: str) -> Callable[[Path], None]:
    def go(d: Path) -> None:
        f = read(d, t)
        hit = pl.int_range(pl.len()) % n == 0
        write(d, t, f.with_columns([pl.when(hit).then(pl.lit(v)).otherwise(pl.col(c)).alias(c)
                                    for c, v in values.items()]))
    return go


def duplicate_where(t: str, predicate: pl.Expr) -> Callable[[Path], None]:
    def go(d: Path) -> None:
        f = read(d, t)
        write(d, t, pl.concat([f, f.filter(predicate)]))
    return go


HOSP3_STAY = (pl.col("provider_id") == "HOSP-003") & (pl.col("encounter_class") == "inpatient")
BUSY = pl.col("provider_id") == "PRAC-019"  # the practice with the most survey returns in the clean cut


def _duplicate_busiest_month(d: Path) -> None:
    """One practice's monthly survey file delivered twice."""
    f = read(d, "surveys")
    month = f.filter(BUSY)["survey_date"].str.slice(0, 7).mode().sort()[0]
    write(d, "surveys", pl.concat([f, f.filter(BUSY & pl.col("survey_date").str.starts_with(month))]))
HOSP2 = pl.col("provider_id") == "HOSP-002"
PROVIDER_NAME = pl.col("provider_id") == "HOSP-002"

CASES += [
    # ------------------------------------------------------------------ rows that break a contract rule
    Case("discharge_before_admit", "encounters", edit_where("encounters", HOSP3_STAY, discharge_date="2023-01-01"),
         ("error[Q017] encounters.discharge_date: 1 row(s) break the rule 'not before admit_date'",
          "only provider(s) HOSP-003"),
         {m: ("HOSP-003",) for m in ENCOUNTERS}),
    Case("future_date_one_provider", "surveys",
         edit_where("surveys", HOSP2, survey_date="2099-01-01"),
         ("error[Q015] surveys.survey_date: 1 row(s) break the rule 'not after the as-of day 2026-01-15'",
          "only provider(s) HOSP-002"),
         {m: ("HOSP-002",) for m in SURVEY}),
    Case("future_dates_everywhere", "encounters", every_nth("encounters", 3, admit_date="2031-05-01",
                                                            discharge_date="2031-05-02"),
         ("error[Q015] encounters.admit_date:", "error[Q015] encounters.discharge_date:"),
         {m: "network" for m in ENCOUNTERS}),
    Case("duplicate_primary_key", "encounters", duplicate_where("encounters", pl.col("encounter_id") == "E000000005"),
         (("encounters.csv:6:1: error[Q010] encounters: 2 row(s) break the rule '(encounter_id) is unique' "
          "(e.g. E000000005); only provider(s) HOSP-007"),),
         {m: ("HOSP-007",) for m in ENCOUNTERS}),
    Case("duplicate_patients_network_wide", "patients",
         duplicate_where("patients", pl.int_range(pl.len()) < 50),
         ("error[Q010] patients: 100 row(s) break the rule '(patient_id) is unique'",),
         {m: "network" for m in PATIENTS}),
    Case("duplicated_monthly_file_unit_days", "unit_days",
         duplicate_where("unit_days", (pl.col("provider_id") == "HOSP-001") & (pl.col("month") == "2025-03-01")),
         (("unit_days.csv:16:1: error[Q010] unit_days: 2 row(s) break the rule '(provider_id, month) is unique' "
          "(e.g. HOSP-001/2025-03-01)"),
          "only provider(s) HOSP-001"),
         {m: ("HOSP-001",) for m in SAFETY}),
    Case("duplicated_monthly_survey_file", "surveys", _duplicate_busiest_month,
         ("error[Q010] surveys: ", "break the rule '(survey_id) is unique'", "only provider(s) PRAC-019"),
         {m: ("PRAC-019",) for m in SURVEY}, full=True),
    Case("orphan_patient_in_surveys", "surveys", edit_where("surveys", HOSP2, patient_id="P9999999"),
         ("error[Q018] surveys.patient_id: 1 row(s) break the rule 'exists in patients.patient_id'",
          "only provider(s) HOSP-002"),
         {m: ("HOSP-002",) for m in SURVEY}),
    Case("orphan_provider_in_procedures", "procedures",
         edit_where("procedures", pl.col("category") == "imaging", provider_id="HOSP-999"),
         ("error[Q018] procedures.provider_id: 1 row(s) break the rule 'exists in providers.provider_id'",),
         {m: ("HOSP-999",) for m in IMAGING}),
    Case("negative_cost_one_stay", "encounters", edit_where("encounters", HOSP3_STAY, cost="-2500.00"),
         ("error[Q013] encounters.cost: 1 row(s) break the rule '>= 0'", "only provider(s) HOSP-003"),
         {m: ("HOSP-003",) for m in ("episode_cost_30d", "inpatient_cost_per_admission", "cost_pmpm")}, full=True),
    # NaN and infinity parse as doubles and pass '>= 0' (NaN compares as the largest number), then stopped the
    # engine with an unlocated ConversionException: now a located blocking check, held like a negative cost
    Case("nan_cost_one_stay", "encounters", edit_where("encounters", HOSP3_STAY, cost="NaN"),
         ("error[Q021] encounters.cost: 1 row(s) break the rule 'a finite number (not NaN or infinity)'",
          "only provider(s) HOSP-003"),
         {m: ("HOSP-003",) for m in ("episode_cost_30d", "inpatient_cost_per_admission", "cost_pmpm")}, full=True),
    Case("infinite_costs_everywhere", "procedures", every_nth("procedures", 2, cost="inf"),
         ("procedures.csv:2:10: error[Q021] procedures.cost: ",), {}),
    Case("negative_costs_everywhere", "procedures", every_nth("procedures", 2, cost="-1.00"),
         ("procedures.csv:2:10: error[Q013] procedures.cost: ",), {}),
    Case("age_over_120", "patients", set_cell("patients", 7, "birth_date", "1890-06-01"),
         (("patients.csv:9:2: error[Q016] patients.birth_date: 1 row(s) break the rule 'not before 1906-01-15 "
          "(age over 120)' (e.g. P0000008)"),),
         {m: "network" for m in PATIENTS if m not in ("followup_7d_equity", "sdoh_referral", "sdoh_resolution")}),
    Case("unknown_encounter_class", "encounters", edit_where("encounters", HOSP3_STAY, encounter_class="telehealth"),
         ("error[Q012] encounters.encounter_class: 1 row(s) break the rule 'one of inpatient, ed,",
          "only provider(s) HOSP-003"),
         {m: ("HOSP-003",) for m in ENCOUNTERS}),
    Case("unknown_survey_setting", "surveys", edit_where("surveys", HOSP2, setting="virtual"),
         ("error[Q012] surveys.setting: 1 row(s) break the rule 'one of hospital, primary_care, home_health'",),
         {m: ("HOSP-002",) for m in SURVEY}),
    Case("malformed_diagnosis_code_warns", "encounters", set_cell("encounters", 4, "primary_dx", "hypertension"),
         ("encounters.csv:6:7: warning[Q014] encounters.primary_dx: 1 row(s) break the rule 'matches ",), {}),
    Case("survey_score_out_of_range", "surveys", edit_where("surveys", HOSP2 & pl.col("overall_rating").is_not_null(),
                                                            overall_rating="11"),
         ("error[Q013] surveys.overall_rating: 1 row(s) break the rule '>= 0 and <= 10'", "only provider(s) HOSP-002"),
         {"overall_rating": ("HOSP-002",)}),
    Case("null_provider_in_surveys", "surveys", set_cell("surveys", 3, "provider_id", None),
         ("surveys.csv:5:3: error[Q011] surveys.provider_id: 1 row(s) break the rule 'never empty'",),
         {m: "network" for m in SURVEY}),
    Case("one_provider_surveys_missing", "surveys", frame_edit("surveys", lambda f: f.filter(~BUSY)),
         ("error[Q004] surveys: ", "break the rule 'each provider's rows at least 50% of its last accepted cut'",
          "only provider(s) PRAC-019"),
         {m: ("PRAC-019",) for m in SURVEY}, full=True),
    Case("row_count_collapse", "encounters", frame_edit("encounters", lambda f: f.head(f.height // 4)),
         ("error[Q003] encounters: observed ", "expected row count within ±50% of the last accepted cut"),
         {m: "network" for m in ENCOUNTERS}),
    Case("row_count_surge", "procedures",
         frame_edit("procedures", lambda f: pl.concat([f, f.with_columns(procedure_id=pl.col("procedure_id") + "b")])),
         ("error[Q003] procedures: observed ",), {m: "network" for m in IMAGING}),
    Case("end_before_start_enrollment", "enrollment", set_cell("enrollment", 2, "end_date", "2000-01-31"),
         ("enrollment.csv:4:4: error[Q017] enrollment.end_date: 1 row(s) break the rule 'not before start_date'",),
         {m: "network" for m in MEMBERS}),
    Case("death_before_birth", "patients", frame_edit("patients", lambda f: f.with_columns(
        death_date=pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("1901-01-01")).otherwise(pl.col("death_date")))),
         ("patients.csv:7:3: error[Q017] patients.death_date: 1 row(s) break the rule 'not before birth_date'",),
         {m: "network" for m in PATIENTS if m not in ("followup_7d_equity", "sdoh_referral", "sdoh_resolution")}),
    Case("stale_surveys_warn", "surveys", frame_edit("surveys", lambda f: f.with_columns(
        survey_date=pl.col("survey_date").str.replace(r"^202", "201"))),
         ("warning[Q005] surveys: observed 2015-12-30, expected latest survey_date on or after",),
         {}),
    # ------------------------------------------------------------------ hostile text that must load as data
    Case("huge_field_warns", "providers", edit_where("providers", PROVIDER_NAME, name="x" * 100_000),
         ("providers.csv:3:2: warning[Q019] providers.name: 1 row(s) break the rule 'at most 200 characters'",), {}),
    Case("embedded_newlines_and_quotes", "providers",
         edit_where("providers", PROVIDER_NAME, name='St. "Anne"\nRegional, Hospital'), (), {}),
    Case("formula_injection_warns", "providers",
         edit_where("providers", PROVIDER_NAME, name='=HYPERLINK("http://evil.example","Click")'),
         (("providers.csv:3:2: warning[Q020] providers.name: 1 row(s) break the rule 'does not start like a "
          "spreadsheet formula"),), {}, full=True),
    Case("sql_looking_names", "networks", set_cell("networks", 0, "name", "North'); DROP TABLE patients;--"),
         (), {}, full=True),
]
