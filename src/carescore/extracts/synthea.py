"""Synthea CSV export → canonical tables (the same contracts and checks as any other extract).

Synthea models people, encounters and claims, not a care network's reporting feeds, so the adapter maps
what exists and leaves the rest out instead of inventing it:
- providers are Synthea *organizations* (care is attributed to the organization of the encounter);
  hospital when it has an inpatient or emergency encounter or is named like one, home health when named
  so, primary care otherwise; one network holds them all; rurality is not in Synthea ('urban').
- diagnoses are SNOMED CT in Synthea and ICD-10-CM in our facts: the few conditions the facts look for
  are translated (SNOMED_TO_ICD10); any other reason keeps its SNOMED code (a pattern warning, no hold).
- medication reconciliations are the Synthea procedure 430193006 "Medication Reconciliation".
- surveys, safety events, unit days and social-needs screenings have no Synthea counterpart: those
  tables are *missing*, so their metrics are published as not_applicable with a footnote, never as zero.
  (member_years needs sdoh_screenings, so per-member metrics are not_applicable too.)
- language is not in Synthea ('unknown').
Layouts: v3.2 (payer_transitions START_DATE/END_DATE) and earlier (START_YEAR/END_YEAR; providers with
UTILIZATION; patients without INCOME/FIPS) are read alike: only the columns below are used.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..define.contracts import Contract, load_contracts
from ..issues import Diagnostic, ExtractError, Loc
from .canonical import Extracts, SourceFile, sha256, type_frame

REQUIRED = ("patients", "encounters", "organizations", "payers", "payer_transitions", "procedures")
NETWORK_ID = "SYNTHEA"
CLASSES = {"inpatient": "inpatient", "emergency": "ed", "urgentcare": "outpatient", "ambulatory": "outpatient",
           "outpatient": "outpatient", "wellness": "primary_care", "snf": "snf", "home": "home_health",
           "hospice": "home_health", "virtual": "outpatient"}
PAYERS = {"medicare": "medicare", "medicaid": "medicaid", "dual eligible": "medicare", "no_insurance": "uninsured"}
SNOMED_TO_ICD10 = {
    "59621000": "I10", "38341003": "I10",  # hypertension
    "44054006": "E11.9",  # type 2 diabetes
    "88805009": "I50.9", "84114007": "I50.9",  # heart failure
    "185086009": "J44.1", "13645005": "J44.1",  # COPD
    "431855005": "N18.3", "431856006": "N18.3", "433144002": "N18.3",  # chronic kidney disease
    "370143000": "F32.9", "36923009": "F32.9",  # depression
    "195662009": "J02.9", "43878008": "J02.9",  # pharyngitis
    "54150009": "J06.9", "444814009": "J06.9",  # upper respiratory / viral sinusitis
    "68566005": "N39.0", "38822007": "N39.0",  # urinary tract infection
    "65363002": "H66.90",  # otitis media
    "279039007": "M54.5",  # low back pain
}
MEDREC = "430193006"


def _read(directory: Path, name: str) -> pl.DataFrame:
    path = directory / f"{name}.csv"
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8")
    except Exception as exc:  # the steward needs the file and the reason, whatever Polars raised
        raise ExtractError([Diagnostic(Loc(str(path)), "S002", f"Synthea {name}: file cannot be read: "
                                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")]) from exc


def _day(column: str) -> pl.Expr:
    return pl.col(column).str.slice(0, 10)


def _need(frame: pl.DataFrame, name: str, path: Path, columns: tuple[str, ...]) -> list[Diagnostic]:
    return [Diagnostic(Loc(str(path)), "S003", f"Synthea {name}: missing column '{c}'")
            for c in columns if c not in frame.columns]


def _dx(column: str) -> pl.Expr:
    return pl.col(column).replace(SNOMED_TO_ICD10)


def load_synthea(directory: Path, contracts: dict[str, Contract] | None = None) -> Extracts:
    """Read an unmodified Synthea CSV export (output/csv) into canonical tables typed by their contracts."""
    directory = Path(directory)
    absent = [n for n in REQUIRED if not (directory / f"{n}.csv").exists()]
    if not directory.is_dir() or absent:
        raise ExtractError([Diagnostic(Loc(str(directory)), "S001", "not a Synthea CSV export: missing "
                                         + ", ".join(f"{n}.csv" for n in absent or REQUIRED))])
    contracts = contracts or load_contracts()
    raw = {n: _read(directory, n) for n in REQUIRED}
    needs = {"patients": ("Id", "BIRTHDATE", "DEATHDATE", "GENDER", "RACE", "ETHNICITY", "ZIP"),
             "encounters": ("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "ENCOUNTERCLASS", "REASONCODE",
                            "TOTAL_CLAIM_COST"),
             "organizations": ("Id", "NAME", "CITY", "ZIP"), "payers": ("Id", "NAME"),
             "payer_transitions": ("PATIENT", "PAYER"),
             "procedures": ("START", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION", "BASE_COST", "REASONCODE")}
    problems = [d for n, cols in needs.items() for d in _need(raw[n], n, directory / f"{n}.csv", cols)]
    if problems:
        raise ExtractError(problems)
    pat, enc, org, pay, trans, proc = (raw[n] for n in REQUIRED)

    # payer_transitions: v3.2 has START_DATE/END_DATE timestamps, earlier versions START_YEAR/END_YEAR
    if "START_DATE" in trans.columns:
        trans = trans.with_columns(start=_day("START_DATE"), end=_day("END_DATE"))
    else:
        trans = trans.with_columns(start=pl.col("START_YEAR") + "-01-01", end=pl.col("END_YEAR") + "-12-31")
    payer_names = dict(pay.select("Id", pl.col("NAME").str.to_lowercase()).iter_rows())
    trans = trans.with_columns(
        payer_name=pl.col("PAYER").replace_strict(payer_names, default=""),
    ).with_columns(payer=pl.col("payer_name").replace_strict(PAYERS, default="commercial"))

    encounters = enc.select(
        encounter_id="Id", patient_id="PATIENT", provider_id="ORGANIZATION",
        encounter_class=pl.col("ENCOUNTERCLASS").replace_strict(CLASSES, default=pl.col("ENCOUNTERCLASS")),
        admit_date=_day("START"), discharge_date=pl.coalesce(_day("STOP"), _day("START")),
        primary_dx=pl.coalesce(_dx("REASONCODE"), pl.col("CODE") if "CODE" in enc.columns else pl.lit("R69")),
        planned=pl.col("ENCOUNTERCLASS").is_in(["wellness", "ambulatory", "outpatient", "virtual"]),
        cost="TOTAL_CLAIM_COST")
    deaths = pat.select(patient_id="Id", death=pl.col("DEATHDATE"))
    encounters = encounters.join(deaths, on="patient_id", how="left").with_columns(
        discharge_disposition=pl.when(pl.col("encounter_class") != "inpatient").then(None)
        .when(pl.col("death") == pl.col("discharge_date")).then(pl.lit("expired")).otherwise(pl.lit("home"))
    ).drop("death")

    acute = set(encounters.filter(pl.col("encounter_class").is_in(["inpatient", "ed"]))["provider_id"].to_list())
    name = pl.col("NAME").str.to_lowercase()
    providers = org.select(
        provider_id="Id", name="NAME",
        provider_type=pl.when(pl.col("Id").is_in(sorted(acute)) | name.str.contains("hospital|medical center"))
        .then(pl.lit("hospital")).when(name.str.contains("home health|hospice")).then(pl.lit("home_health"))
        .otherwise(pl.lit("primary_care")),
        network_id=pl.lit(NETWORK_ID), town="CITY", zip=pl.col("ZIP").str.slice(0, 5), rurality=pl.lit("urban"),
        pcmh=pl.lit(None, pl.Utf8), beds=pl.lit(None, pl.Utf8))

    practice = (encounters.filter(pl.col("encounter_class") == "primary_care")
                .group_by("patient_id", "provider_id").len()
                .sort("patient_id", "len", "provider_id", descending=[False, True, False])
                .unique("patient_id", keep="first", maintain_order=True)
                .select("patient_id", attributed_practice_id="provider_id"))
    latest = (trans.sort("PATIENT", "start").group_by("PATIENT", maintain_order=True)
              .agg(payer=pl.col("payer").last(), dual=(pl.col("payer_name") == "dual eligible").any())
              .rename({"PATIENT": "patient_id"}))
    race = {"white": "white", "black": "black", "asian": "asian", "native": "native_american"}
    patients = pat.select(
        patient_id="Id", birth_date="BIRTHDATE", death_date="DEATHDATE",
        sex=pl.col("GENDER").replace_strict({"F": "female", "M": "male"}, default=pl.col("GENDER")),
        race_ethnicity=pl.when(pl.col("ETHNICITY") == "hispanic").then(pl.lit("hispanic"))
        .otherwise(pl.col("RACE").replace_strict(race, default="other")),
        language=pl.lit("unknown"), zip=pl.col("ZIP").fill_null("00000").str.slice(0, 5),
        rurality=pl.lit("urban"),
    ).join(latest, on="patient_id", how="left").join(practice, on="patient_id", how="left").select(
        "patient_id", "birth_date", "death_date", "sex", "race_ethnicity", "language",
        dual_eligible=pl.col("dual").fill_null(False).cast(pl.Utf8), payer=pl.col("payer").fill_null("uninsured"),
        zip="zip", rurality="rurality", attributed_practice_id="attributed_practice_id")

    enrollment = (trans.select(patient_id="PATIENT", payer="payer", start_date="start", end_date="end")
                  .unique(["patient_id", "start_date"], keep="first", maintain_order=True))

    where = encounters.select("encounter_id", "provider_id")
    proc = proc.with_row_index("row").join(where, left_on="ENCOUNTER", right_on="encounter_id", how="left")
    medrec = proc.filter(pl.col("CODE") == MEDREC).select(
        medrec_id=pl.lit("MR-") + pl.col("row").cast(pl.Utf8), patient_id="PATIENT", provider_id="provider_id",
        rec_date=_day("START"))
    desc = pl.col("DESCRIPTION").str.to_lowercase()
    imaging = desc.str.contains(r"x-ray|radiograph|computed tomography|\bct\b|magnetic resonance|\bmri\b|"
                                r"ultrasound|sonograph|mammogra")
    procedures = proc.select(
        procedure_id=pl.lit("PR-") + pl.col("row").cast(pl.Utf8), patient_id="PATIENT", encounter_id="ENCOUNTER",
        provider_id="provider_id", procedure_date=_day("START"),
        category=pl.when(imaging).then(pl.lit("imaging")).otherwise(pl.lit("other")),
        modality=pl.when(desc.str.contains("magnetic resonance|mri")).then(pl.lit("mri"))
        .when(desc.str.contains(r"computed tomography|\bct\b")).then(pl.lit("ct"))
        .when(desc.str.contains("ultrasound|sonograph")).then(pl.lit("ultrasound"))
        .when(imaging).then(pl.lit("xray")).otherwise(None),
        body_region=pl.lit(None, pl.Utf8), indication_dx=_dx("REASONCODE"), cost="BASE_COST")

    canonical = {"networks": pl.DataFrame({"network_id": [NETWORK_ID], "name": ["Synthea network"]}),
                 "providers": providers, "patients": patients, "encounters": encounters,
                 "enrollment": enrollment, "procedures": procedures, "medication_reconciliations": medrec}
    origin = {"networks": "organizations", "providers": "organizations", "patients": "patients",
              "encounters": "encounters", "enrollment": "payer_transitions", "procedures": "procedures",
              "medication_reconciliations": "procedures"}
    tables, sources, problems = {}, [], []
    for table, contract in contracts.items():
        if table not in canonical:
            tables[table] = pl.DataFrame(schema=contract.schema)
            continue
        path = directory / f"{origin[table]}.csv"
        try:
            tables[table] = type_frame(canonical[table].select([c.name for c in contract.columns]), contract, path)
        except ExtractError as err:
            problems.extend(err.diagnostics)
            continue
        sources.append(SourceFile(table, str(path), tables[table].height, path.stat().st_size, sha256(path)))
    if problems:
        raise ExtractError(problems)
    missing = tuple(t for t in contracts if t not in canonical)
    return Extracts(tables, tuple(sources), missing)
