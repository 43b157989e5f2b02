"""Small canonical tables for the engine tests: typed builders, a parquet writer and a hypothesis strategy.

The strategy aims at the edges of the fact definitions: events on day 0/1/7/8/30/31 after a discharge,
same-day and 30/31-day repeat imaging, nulls in every nullable column, people with no attributed
practice, overlapping coverage spans, months without exposure rows, and empty tables.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
from hypothesis import strategies as st

from carescore.compute import engine, stats
from carescore.define.contracts import load_contracts
from carescore.extracts.canonical import Extracts

CONTRACTS = load_contracts()
TABLES = list(CONTRACTS)

NETWORKS = ["N1", "N2"]
HOSPITALS = ["H1", "H2", "H3"]
PRACTICES = ["PC1", "PC2", "PC3"]
OTHERS = ["HH1", "CB1"]
PROVIDERS = HOSPITALS + PRACTICES + OTHERS
PROVIDER_TYPE = {**{p: "hospital" for p in HOSPITALS}, **{p: "primary_care" for p in PRACTICES},
                 "HH1": "home_health", "CB1": "community"}

BASE = date(2024, 11, 20)  # events run from here into 2025, so there are two periods and a year boundary
DX = ["E11.9", "I10", "I50.9", "J44.1", "N18.3", "F32.9", "J06.9", "N39.0", "J02.9", "M54.5", "R51.9", "H66.90",
      "I21.9", "Z00.00", "S72.001A"]
CLASSES = ["inpatient", "ed", "outpatient", "primary_care", "home_health", "snf"]
DISPOSITIONS = ["home", "home_health", "snf", "transfer", "expired", "left_against_advice"]
AFTER_DISCHARGE = [0, 1, 6, 7, 8, 29, 30, 31, 32, 45]  # days after a discharge: both sides of every window
REPEAT_GAP = [0, 1, 29, 30, 31]  # days between two studies of the same modality and region


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=CONTRACTS[table].schema)


def frame(table: str, rows: list[dict] | None = None, **defaults) -> pl.DataFrame:
    """A table typed by its contract; each row may leave out columns that `defaults` or the table default gives."""
    schema = CONTRACTS[table].schema
    base = {**DEFAULTS.get(table, {}), **defaults}
    full = [{c: row.get(c, base.get(c)) for c in schema} for row in rows or []]
    return pl.DataFrame(full, schema=schema, orient="row") if full else empty(table)


DEFAULTS = {
    "patients": {"birth_date": date(1960, 1, 1), "sex": "female", "race_ethnicity": "white", "language": "english",
                 "dual_eligible": False, "payer": "medicare", "zip": "00001", "rurality": "urban",
                 "attributed_practice_id": "PC1"},
    "encounters": {"provider_id": "H1", "encounter_class": "inpatient", "primary_dx": "I21.9", "planned": False,
                   "discharge_disposition": None, "cost": 100.0},
    "procedures": {"provider_id": "H1", "category": "imaging", "modality": "ct", "body_region": "head",
                   "indication_dx": None, "cost": 50.0, "encounter_id": None},
    "surveys": {"provider_id": "H1", "setting": "hospital"},
    "sdoh_screenings": {"provider_id": "PC1", "domain": "food", "positive": False, "referred": False,
                        "resolved": None},
    "unit_days": {"provider_id": "H1", "patient_days": 100, "central_line_days": 10, "catheter_days": 20},
    "enrollment": {"payer": "medicare"},
}


def reference_tables(network_of: dict[str, str] | None = None) -> dict[str, pl.DataFrame]:
    network_of = network_of or {p: NETWORKS[i % 2] for i, p in enumerate(PROVIDERS)}
    return {
        "networks": frame("networks", [{"network_id": n, "name": f"Network {n}"} for n in NETWORKS]),
        "providers": frame("providers", [
            {"provider_id": p, "name": p, "provider_type": PROVIDER_TYPE[p], "network_id": network_of[p],
             "town": "Town", "zip": "00001", "rurality": "urban", "pcmh": None, "beds": None} for p in PROVIDERS]),
    }


def tables(**given: pl.DataFrame | list[dict]) -> dict[str, pl.DataFrame]:
    """Every canonical table: the given ones (frames or lists of rows), the reference tables, the rest empty."""
    out = {name: empty(name) for name in TABLES}
    out.update(reference_tables())
    for name, value in given.items():
        out[name] = value if isinstance(value, pl.DataFrame) else frame(name, value)
    return out


def extracts(t: dict[str, pl.DataFrame]) -> Extracts:
    return Extracts(tables=t, sources=(), missing=())


def run_engine(t: dict[str, pl.DataFrame], catalog) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, pl.DataFrame]]:
    """The engine stage alone: (cells with statistics, exclusion counts, fact frames)."""
    con = engine.connect(extracts(t), catalog)
    raw, excluded, _ = engine.compute(con, catalog)
    return stats.add_statistics(raw, catalog), excluded, {f: engine.fact_frame(con, f) for f in catalog.facts}


def write(t: dict[str, pl.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, f in t.items():
        f.write_parquet(folder / f"{name}.parquet")
    return folder


# --------------------------------------------------------------------------------------------- hypothesis
def day(n: int) -> date:
    return BASE + timedelta(days=n)


def month_start(d: date) -> date:
    return d.replace(day=1)


def add_months(d: date, n: int) -> date:
    k = d.year * 12 + d.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def month_end(d: date) -> date:
    nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


births = st.builds(
    lambda y, md: date(y, *md),
    st.integers(1940, 2012),
    st.sampled_from([(1, 1), (3, 15), (6, 30), (7, 1), (7, 2), (11, 25), (12, 31)]) | st.tuples(
        st.integers(1, 12), st.integers(1, 28)),
)
money = st.sampled_from([0.0, 12.5, 100.0, 1234.56]) | st.integers(0, 500_000).map(lambda c: c / 100)
maybe = lambda s: st.one_of(st.none(), s, s, s)


@st.composite
def canonical_tables(draw) -> dict[str, pl.DataFrame]:
    network_of = {p: draw(st.sampled_from(NETWORKS)) for p in PROVIDERS}
    out = {name: empty(name) for name in TABLES}
    out.update(reference_tables(network_of))
    n = draw(st.integers(0, 8) | st.integers(2, 8))  # now and then nobody at all
    pids = [f"P{i}" for i in range(1, n + 1)]
    out["patients"] = frame("patients", [
        {"patient_id": p, "birth_date": draw(births), "death_date": draw(maybe(st.just(day(60)))),
         "sex": draw(st.sampled_from(["female", "male"])),
         "race_ethnicity": draw(st.sampled_from(["white", "black", "hispanic", "unknown"])),
         "language": draw(st.sampled_from(["english", "spanish"])), "dual_eligible": draw(st.booleans()),
         "payer": "medicare", "zip": "00001", "rurality": draw(st.sampled_from(["urban", "rural"])),
         "attributed_practice_id": draw(maybe(st.sampled_from(PRACTICES + ["H1"])))} for p in pids])
    if not pids:
        return out
    patient = st.sampled_from(pids)
    offset = st.integers(0, 100)

    # encounters: a first batch, then visits and stays placed at the window edges after each stay
    enc = []

    def encounter(pid, cls, admit):
        los = draw(st.integers(0, 4)) if cls in ("inpatient", "snf") else 0
        enc.append({"encounter_id": f"E{len(enc) + 1:03d}", "patient_id": pid, "encounter_class": cls,
                    "provider_id": draw(st.sampled_from(HOSPITALS if cls == "inpatient" else PROVIDERS)),
                    "admit_date": admit, "discharge_date": admit + timedelta(days=los),
                    "primary_dx": draw(st.sampled_from(DX)), "planned": draw(st.booleans()),
                    "discharge_disposition": draw(maybe(st.sampled_from(DISPOSITIONS)))
                    if cls in ("inpatient", "snf") else None,
                    "cost": draw(money)})

    for _ in range(draw(st.integers(0, 10))):
        encounter(draw(patient), draw(st.sampled_from(["inpatient"] * 3 + CLASSES)), day(draw(offset)))
    for _ in range(draw(st.integers(0, 12))):
        stays = [e for e in enc if e["encounter_class"] == "inpatient"]
        if not stays:
            break
        stay = draw(st.sampled_from(stays))
        encounter(stay["patient_id"], draw(st.sampled_from(["inpatient", "primary_care", "outpatient"] * 2 + CLASSES)),
                  stay["discharge_date"] + timedelta(days=draw(st.sampled_from(AFTER_DISCHARGE))))
    stays = [e for e in enc if e["encounter_class"] == "inpatient"]
    if stays and draw(st.booleans()):  # the data cut ends 29, 30 or 31 days after the last discharge
        last = max(e["discharge_date"] for e in stays)
        encounter(draw(patient), "ed", last + timedelta(days=draw(st.sampled_from([29, 30, 31]))))
    out["encounters"] = frame("encounters", enc)

    recs = [{"patient_id": draw(patient), "rec_date": day(draw(offset))} for _ in range(draw(st.integers(0, 2)))]
    for _ in range(draw(st.integers(0, 5)) if stays else 0):
        stay = draw(st.sampled_from(stays))
        recs.append({"patient_id": stay["patient_id"], "rec_date": stay["discharge_date"] + timedelta(
            days=draw(st.sampled_from([-1, 0, 1, 30, 31])))})
    out["medication_reconciliations"] = frame("medication_reconciliations", [
        {"medrec_id": f"MR{i}", "provider_id": "PC1", **r} for i, r in enumerate(recs)])

    procs = []
    for _ in range(draw(st.integers(0, 10))):
        procs.append({"patient_id": draw(patient), "provider_id": draw(st.sampled_from(PROVIDERS)),
                      "procedure_date": day(draw(offset)),
                      "category": draw(st.sampled_from(["imaging"] * 4 + ["lab", "surgery", "other"])),
                      "modality": draw(maybe(st.sampled_from(["ct", "mri", "xray"]))),
                      "body_region": draw(maybe(st.sampled_from(["head", "lumbar_spine"]))),
                      "indication_dx": draw(maybe(st.sampled_from(["M54.5", "S06.0X0A", "M54.16"]))),
                      "cost": draw(money)})
    for _ in range(draw(st.integers(0, 10))):
        studies = [p for p in procs if p["category"] == "imaging"]
        if not studies:
            break
        first = draw(st.sampled_from(studies))
        procs.append({**first, "provider_id": draw(st.sampled_from(PROVIDERS)),
                      "procedure_date": first["procedure_date"] + timedelta(days=draw(st.sampled_from(REPEAT_GAP))),
                      "indication_dx": draw(maybe(st.sampled_from(["M54.5", "S06.0X0A"])))})
    # ids in an order unrelated to dates, so a same-day tie is broken by id, not by position
    order = draw(st.permutations(range(len(procs))))
    out["procedures"] = frame("procedures", [{**p, "procedure_id": f"PX{order[i]:02d}", "encounter_id": None}
                                             for i, p in enumerate(procs)])

    item = lambda lo, hi: draw(maybe(st.integers(lo, hi)))
    out["surveys"] = frame("surveys", [
        {"survey_id": f"SV{i}", "patient_id": draw(patient), "provider_id": draw(st.sampled_from(PROVIDERS)),
         "survey_date": day(draw(offset)), "setting": draw(st.sampled_from(["hospital", "hospital", "primary_care"])),
         "nurse_communication": item(1, 4), "doctor_communication": item(1, 4),
         "discharge_information": item(0, 1), "overall_rating": item(0, 10), "would_recommend": item(1, 4)}
        for i in range(draw(st.integers(0, 8)))])

    out["sdoh_screenings"] = frame("sdoh_screenings", [
        {"screening_id": f"SD{i}", "patient_id": draw(patient), "provider_id": draw(st.sampled_from(PRACTICES)),
         "screening_date": day(draw(offset)),
         "domain": draw(st.sampled_from(["food", "housing", "transportation", "utilities"])),
         "positive": draw(st.booleans()), "referred": draw(st.booleans()), "resolved": draw(maybe(st.booleans()))}
        for i in range(draw(st.integers(0, 6)))])

    months = sorted({month_start(day(k)) for k in range(0, 101, 10)})
    cells = draw(st.lists(st.tuples(st.sampled_from(HOSPITALS), st.sampled_from(months)), unique=True, max_size=6))
    out["unit_days"] = frame("unit_days", [
        {"provider_id": p, "month": m, "patient_days": draw(st.integers(0, 400)),
         "central_line_days": draw(st.integers(0, 60)), "catheter_days": draw(st.integers(0, 60))} for p, m in cells])
    out["safety_events"] = frame("safety_events", [
        {"event_id": f"SE{i}", "provider_id": draw(st.sampled_from(HOSPITALS)), "patient_id": draw(maybe(patient)),
         "event_date": day(draw(offset)),
         "event_type": draw(st.sampled_from(["fall_with_injury", "clabsi", "cauti", "pressure_injury",
                                             "adverse_drug_event"]))}
        for i in range(draw(st.integers(0, 8)))])

    spans = []  # one person's spans never overlap (enrollment contract); adjacent ones may touch
    for pid in pids:
        start = add_months(date(2024, 11, 1), draw(st.integers(-3, 4)))
        for _ in range(draw(st.integers(0, 2))):
            months = draw(st.integers(1, 15))
            spans.append({"patient_id": pid, "payer": "medicare", "start_date": start,
                          "end_date": month_end(add_months(start, months - 1))})
            start = add_months(start, months + draw(st.integers(0, 3)))
    out["enrollment"] = frame("enrollment", spans)
    return out
