"""Seeded synthetic demo data for the canonical tables.

The population is simulated, not sampled: every person gets a latent health state that
drives chronic conditions, utilisation, readmission and death, so risk adjustment has
something real to adjust for. On top of that, a handful of provider- and group-level
effects are planted on purpose (see ``PLANTED``) so that the metric pipeline can be
checked end to end: a correct pipeline must find them, a broken one will not.

Everything is vectorised over people and events; the only Python loops run over
providers, networks or simulation rounds. Days are plain integers counted from
2024-01-01 until the very end, where they become dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from ..issues import ExtractError

START = date(2024, 1, 1)
DATA_CUT = date(2025, 12, 31)
_LAST_DAY = (DATA_CUT - START).days  # 730: day numbers run 0..730
_ALIVE = _LAST_DAY + 1  # death day of people who did not die
_EPOCH_OFFSET = (START - date(1970, 1, 1)).days
_MONTH_STARTS = (
    (np.arange("2024-01", "2026-02", dtype="datetime64[M]").astype("datetime64[D]") - np.datetime64(START))
    .astype(np.int64)
)  # 25 entries: the 24 months of the window plus the day after it

NETWORKS = {
    "N1": "Northbridge Health Partners",
    "N2": "Riverside Care Alliance",
    "N3": "Valley Community Network",
}

# Planted effects. The generator reads its knobs from here, so this is both the
# documentation and the single source of the numbers. "expect" is what the raw tables
# show at 50,000 patients (seed 7); metric tests can lean on it.
PLANTED = {
    "high_readmission": {
        "provider_id": "HOSP-003",
        "readmission_multiplier": 2.0,
        "how": "the probability that a discharge from HOSP-003 is followed by an unplanned "
        "readmission within 1-30 days is doubled (base 0.075 x frailty^0.4, capped at 0.6)",
        "expect": "30-day unplanned readmission about 24% at HOSP-003 vs about 12-13% elsewhere",
    },
    "poor_followup": {
        "provider_id": "PRAC-007",
        "followup_7d": 0.18,
        "min_size_share": 2.0,
        "how": "discharged patients attributed to PRAC-007 get a primary-care or outpatient visit "
        "1-7 days after discharge with probability 0.18 (0.03 for duals) instead of about 0.56; "
        "its practice weight is forced to twice the mean, so it is one of the larger practices",
        "expect": "7-day follow-up about 14% for PRAC-007's patients vs about 50% for others; "
        "about 1,850 attributed patients",
    },
    "dual_eligible": {
        "followup_7d_difference": -0.15,
        "readmission_multiplier": 1.3,
        "how": "dual-eligible patients lose 15 points of 7-day follow-up probability and have "
        "1.3x the readmission probability at equal frailty, at every provider",
        "expect": "7-day follow-up about 38% vs 53%; readmission about 20% vs 12% crude (duals "
        "are also older and sicker), O/E ratio about 1.3 after adjusting for age, sex and the "
        "number of chronic codes",
    },
    "duplicate_imaging": {
        "network_id": "N2",
        "repeat_probability": 0.015,
        "network_multiplier": 8.0,
        "how": "each imaging study is repeated (same patient, modality, body region and provider, "
        "1-30 days later, no encounter) with probability 0.015, or 0.12 at providers in N2",
        "expect": "share of imaging with the same study in the previous 30 days about 12% at N2 "
        "providers vs about 3% at N1 and N3",
    },
    "too_small": {
        "hospital": "HOSP-012",
        "hospital_discharges_per_year": 8,
        "practices": {"PRAC-039": 12, "PRAC-040": 6},
        "home_health": "HHA-006",
        "home_health_episodes": 5,
        "how": "these providers never win a random choice; instead they get a fixed number of "
        "index admissions per discharge year, attributed patients, or home-health episodes "
        "(each surveyed), whatever the population size",
        "expect": "HOSP-012: 8 discharges a year; PRAC-039/PRAC-040: 12 and 6 attributed "
        "patients; HHA-006: at most 5 surveys",
    },
    "high_clabsi": {
        "provider_id": "HOSP-005",
        "clabsi_multiplier": 4.0,
        "how": "HOSP-005's CLABSI count per central-line day is Poisson with 4x the base "
        "0.8 per 1,000; it is also the largest hospital (450 beds)",
        "expect": "about 3.4 CLABSI per 1,000 central-line days vs about 0.8 elsewhere",
    },
    "better_experience": {
        "provider_id": "HOSP-002",
        "logit_shift": 1.05,
        "how": "every survey item at HOSP-002 gets +1.05 on the logit of its top-box "
        "probability (other providers: a small random shift)",
        "expect": "would-recommend top box about 88-91% at HOSP-002 vs about 71% at other hospitals",
    },
}

# Column order and types of every table, as data/contracts/*.yaml declares them.
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "networks": {"network_id": pl.Utf8, "name": pl.Utf8},
    "providers": {
        "provider_id": pl.Utf8, "name": pl.Utf8, "provider_type": pl.Utf8, "network_id": pl.Utf8,
        "town": pl.Utf8, "zip": pl.Utf8, "rurality": pl.Utf8, "pcmh": pl.Boolean, "beds": pl.Int64,
    },
    "patients": {
        "patient_id": pl.Utf8, "birth_date": pl.Date, "death_date": pl.Date, "sex": pl.Utf8,
        "race_ethnicity": pl.Utf8, "language": pl.Utf8, "dual_eligible": pl.Boolean, "payer": pl.Utf8,
        "zip": pl.Utf8, "rurality": pl.Utf8, "attributed_practice_id": pl.Utf8,
    },
    "enrollment": {"patient_id": pl.Utf8, "payer": pl.Utf8, "start_date": pl.Date, "end_date": pl.Date},
    "encounters": {
        "encounter_id": pl.Utf8, "patient_id": pl.Utf8, "provider_id": pl.Utf8, "encounter_class": pl.Utf8,
        "admit_date": pl.Date, "discharge_date": pl.Date, "primary_dx": pl.Utf8, "planned": pl.Boolean,
        "discharge_disposition": pl.Utf8, "cost": pl.Float64,
    },
    "procedures": {
        "procedure_id": pl.Utf8, "patient_id": pl.Utf8, "encounter_id": pl.Utf8, "provider_id": pl.Utf8,
        "procedure_date": pl.Date, "category": pl.Utf8, "modality": pl.Utf8, "body_region": pl.Utf8,
        "indication_dx": pl.Utf8, "cost": pl.Float64,
    },
    "medication_reconciliations": {
        "medrec_id": pl.Utf8, "patient_id": pl.Utf8, "provider_id": pl.Utf8, "rec_date": pl.Date,
    },
    "surveys": {
        "survey_id": pl.Utf8, "patient_id": pl.Utf8, "provider_id": pl.Utf8, "survey_date": pl.Date,
        "setting": pl.Utf8, "nurse_communication": pl.Int64, "doctor_communication": pl.Int64,
        "discharge_information": pl.Int64, "overall_rating": pl.Int64, "would_recommend": pl.Int64,
    },
    "safety_events": {
        "event_id": pl.Utf8, "provider_id": pl.Utf8, "patient_id": pl.Utf8, "event_date": pl.Date,
        "event_type": pl.Utf8,
    },
    "unit_days": {
        "provider_id": pl.Utf8, "month": pl.Date, "patient_days": pl.Int64, "central_line_days": pl.Int64,
        "catheter_days": pl.Int64,
    },
    "sdoh_screenings": {
        "screening_id": pl.Utf8, "patient_id": pl.Utf8, "provider_id": pl.Utf8, "screening_date": pl.Date,
        "domain": pl.Utf8, "positive": pl.Boolean, "referred": pl.Boolean, "resolved": pl.Boolean,
    },
}

# (name, network index, first zip, rurality, relative population)
_TOWNS = [
    ("Northbridge", 0, 4101, "urban", 5), ("Ashford", 0, 4210, "urban", 3),
    ("Bellmont", 0, 4224, "urban", 2), ("Harlow", 0, 4238, "rural", 1),
    ("Pine Hollow", 0, 4256, "rural", 1),
    ("Riverside", 1, 4401, "urban", 5), ("Easton", 1, 4412, "urban", 3),
    ("Millbrook", 1, 4428, "urban", 2), ("Cedar Falls", 1, 4443, "rural", 1),
    ("Kingsport", 1, 4460, "rural", 1),
    ("Granite City", 2, 4730, "urban", 3), ("Valley Springs", 2, 4742, "rural", 2),
    ("Fairview", 2, 4751, "rural", 2), ("Oak Ridge", 2, 4765, "rural", 1),
    ("Willow Creek", 2, 4776, "rural", 1),
]
_ZIPS_PER_TOWN = 3

# The first twelve hospitals are fixed so the planted ones keep their character at any size.
_HOSPITAL_BEDS = [420, 310, 380, 160, 450, 95, 230, 60, 180, 40, 140, 10]
_HOSPITAL_NAMES = [
    "{town} Medical Center", "St. {saint} Regional Hospital", "{town} General Hospital",
    "{town} Memorial Hospital", "Mercy Hospital of {town}", "{town} Community Hospital",
]
_SAINTS = ["Anne", "Luke", "Joseph", "Mary", "Francis", "Vincent", "Elizabeth", "Jude", "Clare", "Mark"]
_PRACTICE_STEMS = [
    "Maple Street", "Oak Hill", "Cedar Lane", "Birch Road", "Elm Park", "Willow Bend", "Chestnut",
    "Harbor View", "Lakeside", "Pinecrest", "Summit", "Meadowbrook", "Brookside", "Hillcrest",
    "Riverbend", "Juniper", "Spruce Hill", "Aspen Grove", "Sycamore", "Magnolia", "Laurel",
    "Hawthorn", "Orchard Park", "Stonebridge", "Fairmont", "Greenfield", "Kingsley", "Parkside",
    "Westgate", "Main Street",
]
_PRACTICE_SUFFIXES = [
    "Family Practice", "Primary Care", "Family Medicine", "Internal Medicine", "Health Center",
    "Medical Group", "Pediatrics & Family Care", "Community Clinic",
]
_HOME_HEALTH_NAMES = [
    "{town} Visiting Nurse Association", "{town} Home Health", "Caring Hands Home Care of {town}",
    "{stem} Home Health Services",
]
_COMMUNITY_NAMES = [
    "{town} Food Pantry", "{town} Housing Coalition", "Meals on Wheels of {town}",
    "{town} Area Agency on Aging", "{town} Community Action Partnership", "{town} Rides Program",
]

CLASSES = ["inpatient", "ed", "outpatient", "primary_care", "home_health", "snf"]
_IP, _ED, _OP, _PC, _HH, _SNF = range(6)
DISPOSITIONS = ["home", "home_health", "snf", "transfer", "expired", "left_against_advice"]
_HOME, _TO_HH, _TO_SNF, _TRANSFER, _EXPIRED, _AMA = range(6)
_DISPOSITION_P = {  # by age band (<65, 65+)
    False: [0.84, 0.07, 0.02, 0.03, 0.012, 0.028],
    True: [0.60, 0.18, 0.14, 0.03, 0.03, 0.02],
}

# (code, logit intercept, slope per decade of age around 65)
CHRONIC = [("E11.9", -1.1, 0.35), ("I10", 0.1, 0.6), ("I50.9", -2.6, 0.6),
           ("J44.1", -2.4, 0.35), ("N18.3", -2.2, 0.6), ("F32.9", -1.9, -0.05)]
AVOIDABLE_ED = {"J06.9": 0.2, "N39.0": 0.2, "J02.9": 0.15, "M54.5": 0.2, "R51.9": 0.15, "H66.90": 0.1}
_ED_AVOIDABLE_SHARE = 0.30
_SERIOUS_ED = {"I21.4": 0.08, "S72.001A": 0.06, "I63.9": 0.07, "J18.9": 0.12, "R07.9": 0.22,
               "S52.501A": 0.12, "S06.0X0A": 0.10, "K35.80": 0.06, "A41.9": 0.05, "R10.9": 0.12}
_UNPLANNED_IP = {"I50.9": 0.15, "J18.9": 0.13, "A41.9": 0.12, "J44.1": 0.09, "I21.4": 0.06,
                 "S72.001A": 0.05, "I63.9": 0.06, "N39.0": 0.06, "N17.9": 0.06, "K92.2": 0.05,
                 "R55": 0.04, "E11.65": 0.04, "K56.60": 0.03, "I48.91": 0.06}
_PLANNED_IP = {"M17.11": 0.35, "M16.11": 0.25, "I25.10": 0.20, "K80.20": 0.10, "C18.9": 0.10}
_PRIMARY_CARE_ACUTE = {"Z00.00": 0.34, "Z23": 0.12, "J06.9": 0.14, "M54.5": 0.12, "J02.9": 0.08,
                       "N39.0": 0.06, "R51.9": 0.05, "H66.90": 0.04, "E78.5": 0.05}
_OUTPATIENT = {"Z12.11": 0.15, "M17.11": 0.15, "R10.9": 0.12, "Z01.818": 0.12, "I25.10": 0.10,
               "M54.5": 0.10, "R07.9": 0.08, "H25.9": 0.10, "Z09": 0.08}
LOW_BACK_PAIN = "M54.5"
_DX = list(dict.fromkeys(
    [c for c, _, _ in CHRONIC] + [c for d in (AVOIDABLE_ED, _SERIOUS_ED, _UNPLANNED_IP, _PLANNED_IP,
                                               _PRIMARY_CARE_ACUTE, _OUTPATIENT) for c in d]
))
_DX_INDEX = {c: i for i, c in enumerate(_DX)}

CATEGORIES = ["imaging", "lab", "surgery", "other"]
MODALITIES = ["ct", "mri", "xray", "ultrasound"]
REGIONS = ["head", "chest", "abdomen", "lumbar_spine", "extremity"]
_IMAGING_MIX = {  # (modality, region) -> weight, by encounter class
    _ED: {("xray", "chest"): 0.30, ("ct", "head"): 0.25, ("xray", "extremity"): 0.20,
          ("ct", "abdomen"): 0.15, ("ultrasound", "abdomen"): 0.10},
    _IP: {("xray", "chest"): 0.35, ("ct", "head"): 0.15, ("ct", "abdomen"): 0.15, ("ct", "chest"): 0.10,
          ("mri", "head"): 0.08, ("ultrasound", "abdomen"): 0.10, ("xray", "extremity"): 0.07},
    _OP: {("mri", "lumbar_spine"): 0.10, ("mri", "extremity"): 0.15, ("ultrasound", "abdomen"): 0.20,
          ("ct", "chest"): 0.15, ("xray", "chest"): 0.15, ("xray", "extremity"): 0.15,
          ("ct", "abdomen"): 0.10},
    _PC: {("xray", "chest"): 0.5, ("xray", "extremity"): 0.3, ("ultrasound", "abdomen"): 0.2},
}
_IMAGING_P = {_ED: 0.5, _IP: 0.65, _OP: 0.35, _PC: 0.05}
_LAB_P = {_ED: 0.7, _IP: 1.0, _OP: 0.3, _PC: 0.5}

SETTINGS = ["hospital", "primary_care", "home_health"]
SURVEY_ITEMS = ["nurse_communication", "doctor_communication", "discharge_information",
                "overall_rating", "would_recommend"]
# Top-box probability of each item by setting; None where the item is not asked.
_TOP_BOX = {
    "hospital": [0.80, 0.80, 0.87, 0.72, 0.72],
    "primary_care": [None, 0.82, None, 0.75, 0.78],
    "home_health": [0.84, None, None, 0.78, 0.76],
}

EVENT_TYPES = ["fall_with_injury", "clabsi", "cauti", "pressure_injury", "adverse_drug_event"]
# Events per 1,000 exposure days and the exposure each is counted against.
_EVENT_RATES = [(0.5, "patient_days"), (0.8, "central_line_days"), (1.0, "catheter_days"),
                (0.6, "patient_days"), (1.2, "patient_days")]
SDOH_DOMAINS = ["food", "housing", "transportation", "utilities"]
PAYERS = ["medicare", "medicare_advantage", "medicaid", "commercial", "uninsured"]
_MEDICARE, _MA, _MEDICAID, _COMMERCIAL, _UNINSURED = range(5)
RACES = ["white", "black", "hispanic", "asian", "native_american", "other", "unknown"]
LANGUAGES = ["english", "spanish", "chinese", "vietnamese", "other"]


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1.0 - p))


def _rows(rng, p):
    """One categorical draw per row of a (n, k) probability matrix."""
    u = rng.random(p.shape[0])[:, None]
    return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)


def _pick(rng, mapping: dict, n: int) -> np.ndarray:
    """Draw n keys of mapping with its values as weights; returns the keys' positions."""
    w = np.array(list(mapping.values()), dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _dx(mapping: dict, rng, n: int) -> np.ndarray:
    codes = np.array([_DX_INDEX[c] for c in mapping])
    return codes[_pick(rng, mapping, n)]


def _within(rng, group: np.ndarray, item_group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For every element, an item of the same group, chosen with probability ∝ weight."""
    out = np.full(group.shape, -1, dtype=np.int64)
    for g in np.unique(group):
        items = np.flatnonzero((item_group == g) & (weight > 0))
        rows = group == g
        out[rows] = items[rng.choice(items.size, size=rows.sum(), p=weight[items] / weight[items].sum())]
    return out


def _lognormal(rng, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _uniform(rng, first, length) -> np.ndarray:
    """A uniform integer in [first, first + length) for each element."""
    shape = np.broadcast(first, length).shape
    return first + np.floor(rng.random(shape) * length).astype(np.int64)


def _month_of(day: np.ndarray) -> np.ndarray:
    return np.searchsorted(_MONTH_STARTS, day, side="right") - 1


# --------------------------------------------------------------------------- providers


@dataclass(frozen=True)
class _Providers:
    frame: pl.DataFrame
    ids: np.ndarray  # provider_id by global provider index
    network: np.ndarray  # network index by global provider index
    hospitals: np.ndarray  # global indices of each kind
    practices: np.ndarray
    agencies: np.ndarray
    beds: np.ndarray  # by hospital position
    practice_weight: np.ndarray  # by practice position; 0 for the planted tiny ones
    agency_weight: np.ndarray

    def index(self, provider_id: str) -> int:
        return int(np.flatnonzero(self.ids == provider_id)[0])


def _provider_counts(patients: int) -> dict[str, int]:
    return {
        "hospital": max(12, patients // 25_000),
        "primary_care": max(40, patients // 1_000),
        "home_health": max(6, patients // 10_000),
        "community": max(6, patients // 10_000),
    }


def _providers(patients: int, rng: np.random.Generator) -> _Providers:
    counts = _provider_counts(patients)
    town_net = np.array([t[1] for t in _TOWNS])
    town_pop = np.array([t[4] for t in _TOWNS], dtype=float)
    rows, used = [], set()

    def add(prefix, kind, i, network, town, name, pcmh=None, beds=None):
        # Large populations exhaust the name patterns; a site number keeps names distinct.
        base, k = name, 1
        while name in used:
            k += 1
            name = f"{base} (site {k})"
        used.add(name)
        t = _TOWNS[town]
        rows.append({
            "provider_id": f"{prefix}-{i + 1:03d}", "name": name, "provider_type": kind,
            "network_id": list(NETWORKS)[network], "town": t[0],
            "zip": f"{t[2] + int(rng.integers(_ZIPS_PER_TOWN)):05d}", "rurality": t[3],
            "pcmh": pcmh, "beds": beds,
        })

    extra_beds = np.clip(_lognormal(rng, 140, 0.7, counts["hospital"]), 25, 600).astype(np.int64)
    beds = np.concatenate([_HOSPITAL_BEDS, extra_beds[len(_HOSPITAL_BEDS):]])
    for i in range(counts["hospital"]):
        # Round-robin over networks and their towns keeps the planted hospitals where
        # they are described: HOSP-012 lands in rural Oak Ridge.
        net = i % 3
        town = int(np.flatnonzero(town_net == net)[(i // 3) % 5])
        name = _HOSPITAL_NAMES[i % len(_HOSPITAL_NAMES)].format(
            town=_TOWNS[town][0], saint=_SAINTS[(i // len(_HOSPITAL_NAMES)) % len(_SAINTS)])
        add("HOSP", "hospital", i, net, town, name, beds=int(beds[i]))

    combos = [f"{s} {x}" for s in _PRACTICE_STEMS for x in _PRACTICE_SUFFIXES]
    combos = [combos[j] for j in rng.permutation(len(combos))]
    for i in range(counts["primary_care"]):
        net = i % 3
        town = int(_within(rng, np.array([net]), town_net, town_pop)[0])
        name = combos[i % len(combos)]
        if i >= len(combos):
            name = f"{_TOWNS[town][0]} {name}"
        add("PRAC", "primary_care", i, net, town, name, pcmh=bool(rng.random() < 0.45))

    for prefix, kind, patterns in (("HHA", "home_health", _HOME_HEALTH_NAMES),
                                   ("CBO", "community", _COMMUNITY_NAMES)):
        for i in range(counts[kind]):
            net = i % 3
            town = int(_within(rng, np.array([net]), town_net, town_pop)[0])
            name = patterns[i % len(patterns)].format(
                town=_TOWNS[town][0], stem=_PRACTICE_STEMS[i % len(_PRACTICE_STEMS)])
            add(prefix, kind, i, net, town, name)

    frame = pl.DataFrame(rows, schema=SCHEMAS["providers"], orient="row")
    ids = frame["provider_id"].to_numpy()
    kinds = frame["provider_type"].to_numpy()
    network = frame["network_id"].replace_strict(list(NETWORKS), range(3), return_dtype=pl.Int64).to_numpy()

    # Uneven volumes: lognormal practice sizes, with PRAC-007 forced large enough to be
    # reportable and the planted tiny practices left to fixed head counts.
    practice_weight = np.exp(1.0 * rng.standard_normal(counts["primary_care"]))
    poor = PLANTED["poor_followup"]
    practice_weight[int(poor["provider_id"][-3:]) - 1] = poor["min_size_share"] * practice_weight.mean()
    for pid in PLANTED["too_small"]["practices"]:
        practice_weight[int(pid[-3:]) - 1] = 0.0
    agency_weight = np.exp(0.6 * rng.standard_normal(counts["home_health"]))
    agency_weight[int(PLANTED["too_small"]["home_health"][-3:]) - 1] = 0.0
    return _Providers(
        frame=frame, ids=ids, network=network,
        hospitals=np.flatnonzero(kinds == "hospital"), practices=np.flatnonzero(kinds == "primary_care"),
        agencies=np.flatnonzero(kinds == "home_health"),
        beds=beds.astype(float), practice_weight=practice_weight, agency_weight=agency_weight,
    )


# --------------------------------------------------------------------------- people


@dataclass
class _People:
    age: np.ndarray  # years at the data cut, fractional
    birth_day: np.ndarray
    female: np.ndarray
    race: np.ndarray
    language: np.ndarray
    dual: np.ndarray
    payer: np.ndarray
    network: np.ndarray
    practice: np.ndarray  # global provider index, -1 when unattributed
    home_hospital: np.ndarray
    town: np.ndarray
    zip: np.ndarray
    conditions: np.ndarray  # (n, len(CHRONIC)) booleans
    risk: np.ndarray  # utilisation multiplier, mean 1
    deprivation: np.ndarray
    death_day: np.ndarray  # _ALIVE when the person survives the window; updated by in-hospital deaths


def _people(n: int, prov: _Providers, rng: np.random.Generator) -> _People:
    # Age bands skewed old: about 35% are 65+.
    bands = np.array([[2, 18], [18, 45], [45, 65], [65, 75], [75, 85], [85, 100]])
    band = rng.choice(len(bands), size=n, p=[0.15, 0.27, 0.23, 0.18, 0.12, 0.05])
    age = rng.uniform(bands[band, 0], bands[band, 1])
    birth_day = _LAST_DAY - np.floor(age * 365.25).astype(np.int64)
    female = rng.random(n) < np.where(age >= 75, 0.60, 0.53)

    # Attribution first: it decides the network, the town and through it rurality.
    attributed = rng.random(n) < 0.90
    practice = np.full(n, -1, dtype=np.int64)
    w = prov.practice_weight
    practice[attributed] = prov.practices[rng.choice(w.size, size=attributed.sum(), p=w / w.sum())]
    taken = rng.permutation(np.flatnonzero(attributed))
    for pid, size in PLANTED["too_small"]["practices"].items():
        practice[taken[:size]] = prov.index(pid)
        taken = taken[size:]
    net_weight = np.bincount(prov.network[prov.practices], weights=w, minlength=3)
    network = np.where(attributed, prov.network[np.maximum(practice, 0)],
                       rng.choice(3, size=n, p=net_weight / net_weight.sum()))

    town_net = np.array([t[1] for t in _TOWNS])
    town_pop = np.array([t[4] for t in _TOWNS], dtype=float)
    practice_town = np.array([[t[0] for t in _TOWNS].index(x) for x in prov.frame["town"]])
    town = np.where(attributed & (rng.random(n) < 0.8), practice_town[np.maximum(practice, 0)],
                    _within(rng, network, town_net, town_pop))
    zips = np.array([t[2] for t in _TOWNS])[town] + rng.integers(_ZIPS_PER_TOWN, size=n)
    rural = np.array([t[3] == "rural" for t in _TOWNS])[town]

    p_race = np.array([0.55, 0.14, 0.17, 0.06, 0.015, 0.025, 0.04])
    p_rural = p_race * np.array([1.6, 0.6, 0.7, 0.4, 2.0, 1.0, 1.0])
    p = np.where(rural[:, None], p_rural / p_rural.sum(), p_race)
    race = _rows(rng, p)
    language_p = np.tile([0.98, 0.01, 0.0, 0.0, 0.01], (n, 1))
    language_p[race == 2] = [0.26, 0.74, 0.0, 0.0, 0.0]
    language_p[race == 3] = [0.40, 0.0, 0.30, 0.20, 0.10]
    language = _rows(rng, language_p)

    # Deprivation is the social gradient behind dual eligibility, Medicaid and social needs.
    deprivation = rng.standard_normal(n) + 0.3 * rural + 0.5 * np.isin(race, [1, 2, 4])
    health = rng.standard_normal(n)
    old = age >= 65
    adult = (age >= 18) & ~old
    dual = rng.random(n) < np.where(old, _expit(-1.2 + 0.9 * deprivation + 0.15 * health),
                                    np.where(adult, _expit(-3.0 + 0.9 * deprivation + 0.15 * health), 0.0))
    u = rng.random(n)
    medicaid = u < np.where(adult, _expit(-1.8 + deprivation), _expit(-0.5 + deprivation))
    uninsured = ~medicaid & (rng.random(n) < np.where(adult, 0.08, 0.03))
    payer = np.select(
        [old & dual, old, dual, medicaid, uninsured],
        [np.where(u < 0.6, _MEDICARE, _MA), np.where(u < 0.52, _MEDICARE, _MA), _MEDICARE, _MEDICAID,
         _UNINSURED],
        _COMMERCIAL,
    )

    decades = (age - 65) / 10
    conditions = np.column_stack([
        rng.random(n) < _expit(a + b * decades + 0.9 * health + 0.3 * deprivation) for _, a, b in CHRONIC
    ])
    frailty = 0.35 * conditions.sum(axis=1) + 0.02 * (age - 50) + 0.3 * health
    risk = np.exp(frailty)
    risk /= risk.mean()

    dies = rng.random(n) < _expit(-5.9 + 0.075 * (age - 50) + 0.5 * frailty)
    death_day = np.where(dies, rng.integers(0, _LAST_DAY + 1, size=n), _ALIVE)

    return _People(
        age=age, birth_day=birth_day, female=female, race=race, language=language, dual=dual, payer=payer,
        network=network, practice=practice,
        home_hospital=_within(rng, network, prov.network, _admission_weight(prov)),
        town=town, zip=zips, conditions=conditions, risk=risk, deprivation=deprivation, death_day=death_day,
    )


def _admission_weight(prov: _Providers) -> np.ndarray:
    """Hospital volume ∝ beds; the planted tiny hospital only gets its fixed quota."""
    w = np.zeros(prov.ids.size)
    w[prov.hospitals] = prov.beds
    w[prov.index(PLANTED["too_small"]["hospital"])] = 0.0
    return w


# --------------------------------------------------------------------------- inpatient stays


def _stays(people: _People, prov: _Providers, rng: np.random.Generator) -> pl.DataFrame:
    """Admissions as a renewal process per person, simulated in rounds over all people.

    Each round gives every still-active person their next admission: a transfer on the
    day of a transfer-out, a readmission 1-30 days after the last discharge, or a fresh
    admission after an exponential wait. Death (random, or in hospital) ends a person;
    in-hospital deaths are written back to people.death_day.
    """
    n = people.age.size
    lam = 0.12 * people.risk / 365
    p_readmit = 0.075 * people.risk ** 0.4 * np.where(
        people.dual, PLANTED["dual_eligible"]["readmission_multiplier"], 1.0)
    hospital_mult = np.ones(prov.ids.size)
    hospital_mult[prov.index(PLANTED["high_readmission"]["provider_id"])] = PLANTED["high_readmission"][
        "readmission_multiplier"]
    weight = _admission_weight(prov)
    # A transfer goes to the biggest other hospital of the network.
    transfer_to = np.full(prov.ids.size, -1)
    for h in prov.hospitals:
        peers = prov.hospitals[(prov.network[prov.hospitals] == prov.network[h]) & (prov.hospitals != h)]
        transfer_to[h] = peers[np.argmax(weight[peers])]

    n_chronic = people.conditions.sum(axis=1)
    old = people.age >= 65
    death = people.death_day
    pid = np.arange(n)
    last_out = np.full(n, -1)
    last_hosp = np.full(n, -1)
    last_disp = np.full(n, -1)
    parts = []
    while pid.size:
        k = pid.size
        transfer_in = last_disp == _TRANSFER
        # Capped so that the frailest are not caught in an endless readmission loop.
        p = np.minimum(p_readmit[pid] * hospital_mult[np.maximum(last_hosp, 0)], 0.6)
        readmit = (last_hosp >= 0) & ~transfer_in & (rng.random(k) < p)
        wait = np.where(readmit, 1 + np.floor(30 * rng.random(k) ** 1.6),
                        1 + np.floor(rng.exponential(1 / lam[pid])))
        admit = last_out + np.where(transfer_in, 0, wait).astype(np.int64)
        go = admit <= np.minimum(death[pid], _LAST_DAY)
        pid, admit, last_hosp = pid[go], admit[go], last_hosp[go]
        transfer_in, readmit = transfer_in[go], readmit[go]
        k = pid.size

        planned = ~transfer_in & ~readmit & (rng.random(k) < 0.18)
        fresh = np.where(rng.random(k) < 0.85, people.home_hospital[pid],
                         rng.choice(weight.size, size=k, p=weight / weight.sum()))
        back = np.where(rng.random(k) < 0.8, last_hosp, people.home_hospital[pid])
        hosp = np.where(transfer_in, transfer_to[np.maximum(last_hosp, 0)], np.where(readmit, back, fresh))
        los = np.where(planned, 1 + rng.poisson(1.6, k), 1 + rng.poisson(2.0 + 0.35 * n_chronic[pid]))
        out = admit + np.minimum(los, 12)
        died = death[pid] <= out
        out = np.where(died, np.maximum(death[pid], admit + 1), out)
        disp = _rows(rng, np.where(old[pid][:, None], _DISPOSITION_P[True], _DISPOSITION_P[False]))
        disp = np.where(transfer_in & (disp == _TRANSFER), _HOME, disp)
        disp = np.where(died, _EXPIRED, disp)
        # Still in hospital at the data cut: not discharged, so not in the extract.
        done = out <= _LAST_DAY
        death[pid[done & (disp == _EXPIRED)]] = out[done & (disp == _EXPIRED)]
        kind = np.select([transfer_in, readmit], [2, 1], 0)
        parts.append((pid[done], hosp[done], admit[done], out[done], planned[done], disp[done], kind[done]))

        more = done & (disp != _EXPIRED)
        pid, last_out, last_hosp, last_disp = pid[more], out[more], hosp[more], disp[more]

    cols = ["patient", "provider", "admit", "discharge", "planned", "disp", "kind"]
    stays = pl.DataFrame({c: np.concatenate([p[i] for p in parts]) for i, c in enumerate(cols)})
    stays = stays.sort("patient", "admit", maintain_order=True)

    # The planted tiny hospital takes a fixed number of fresh admissions per year.
    provider = stays["provider"].to_numpy().copy()
    kind = stays["kind"].to_numpy()
    year = stays["discharge"].to_numpy() >= _MONTH_STARTS[12]
    quota = PLANTED["too_small"]["hospital_discharges_per_year"]
    for y in (False, True):
        pool = np.flatnonzero((kind == 0) & (year == y))
        provider[rng.choice(pool, size=min(quota, pool.size), replace=False)] = prov.index(
            PLANTED["too_small"]["hospital"])

    k = stays.height
    planned = stays["planned"].to_numpy()
    los = (stays["discharge"] - stays["admit"]).to_numpy()
    dx = np.where(planned, _dx(_PLANNED_IP, rng, k), _dx(_UNPLANNED_IP, rng, k))
    cost = (5500 + 1800 * los) * np.exp(0.35 * rng.standard_normal(k)) + 7000 * planned
    return stays.with_columns(provider=provider, dx=dx, cost=cost)


# --------------------------------------------------------------------------- care around discharges


def _after_discharge(stays: pl.DataFrame, people: _People, prov: _Providers, rng: np.random.Generator):
    """Follow-up visits, SNF stays, home-health episodes, medication reconciliations and
    the hospital surveys that hang off discharges."""
    patient = stays["patient"].to_numpy()
    hosp = stays["provider"].to_numpy()
    out = stays["discharge"].to_numpy()
    disp = stays["disp"].to_numpy()
    dx = stays["dx"].to_numpy()
    alive = (disp != _EXPIRED) & (disp != _TRANSFER)
    practice = people.practice[patient]
    attributed = practice >= 0

    # Follow-up: the planted practice and dual eligibility move the 7-day probability.
    poor = PLANTED["poor_followup"]
    practice_fu = np.full(prov.ids.size, 0.56) + 0.04 * rng.standard_normal(prov.ids.size)
    practice_fu[prov.index(poor["provider_id"])] = poor["followup_7d"]
    p7 = np.where(attributed, practice_fu[np.maximum(practice, 0)], 0.40)
    p7 = np.clip(p7 + PLANTED["dual_eligible"]["followup_7d_difference"] * people.dual[patient], 0.03, 0.95)
    within7 = rng.random(out.size) < p7
    later = ~within7 & (rng.random(out.size) < 0.4)
    gap = np.where(within7, rng.integers(1, 8, out.size), rng.integers(8, 31, out.size))
    fu = alive & (within7 | later)
    at_practice = attributed & (rng.random(out.size) < 0.8)
    followups = _encounter_frame(
        patient[fu], np.where(at_practice, practice, hosp)[fu], np.where(at_practice, _PC, _OP)[fu],
        (out + gap)[fu], None, dx[fu], True, _ambulatory_cost(rng, np.where(at_practice, _PC, _OP)[fu]),
    ).with_columns(followup=True)

    # SNF stays, in the hospital's skilled-nursing unit, end early if the patient is readmitted.
    # A stay still open at the data cut is not in the extract, as for hospital stays.
    next_admit = np.where(np.roll(patient, -1) == patient, np.roll(stays["admit"].to_numpy(), -1), _ALIVE)
    snf_end = np.minimum.reduce([out + rng.integers(7, 31, out.size), next_admit, people.death_day[patient]])
    snf = (disp == _TO_SNF) & (snf_end <= _LAST_DAY)
    snf_cost = 520 * np.maximum(snf_end - out, 1) * np.exp(0.25 * rng.standard_normal(out.size))
    snf_stays = _encounter_frame(
        patient[snf], hosp[snf], _SNF, out[snf], snf_end[snf], dx[snf], True, snf_cost[snf])

    # Home-health episodes: 3-9 visits over 30 days by an agency of the patient's network.
    hh = np.flatnonzero(disp == _TO_HH)
    agency_w = np.zeros(prov.ids.size)
    agency_w[prov.agencies] = prov.agency_weight
    agency = _within(rng, prov.network[hosp[hh]], prov.network, agency_w)
    tiny = PLANTED["too_small"]
    early = np.flatnonzero(out[hh] <= _LAST_DAY - 90)
    tiny_episodes = rng.choice(early, size=min(tiny["home_health_episodes"], early.size), replace=False)
    agency[tiny_episodes] = prov.index(tiny["home_health"])
    start = out[hh] + rng.integers(1, 4, hh.size)
    visits = rng.integers(3, 10, hh.size)
    episode = np.repeat(np.arange(hh.size), visits)
    day = start[episode] + rng.integers(0, 30, episode.size)
    hh_visits = _encounter_frame(
        patient[hh][episode], agency[episode], _HH, day, None, dx[hh][episode], True,
        _lognormal(rng, 190, 0.3, episode.size),
    )

    # Medication reconciliation by the practice after discharge, or by the hospital at discharge.
    rec = alive & (rng.random(out.size) < 0.60)
    by_practice = attributed & (rng.random(out.size) < 0.7)
    rec_day = out + np.where(by_practice, 1 + np.floor(30 * rng.random(out.size) ** 1.5), 0).astype(np.int64)
    medrec = pl.DataFrame({
        "patient": patient[rec], "provider": np.where(by_practice, practice, hosp)[rec], "day": rec_day[rec],
    })

    surveyed = alive & (rng.random(out.size) < 0.25)
    hospital_surveys = pl.DataFrame({
        "patient": patient[surveyed], "provider": hosp[surveyed],
        "day": (out + rng.integers(14, 57, out.size))[surveyed],
        "setting": np.zeros(surveyed.sum(), np.int64),
    })
    hh_surveyed = rng.random(hh.size) < 0.25
    hh_surveyed[agency == prov.index(tiny["home_health"])] = True
    hh_end = start + 29
    hh_surveys = pl.DataFrame({
        "patient": patient[hh][hh_surveyed], "provider": agency[hh_surveyed],
        "day": (hh_end + rng.integers(14, 46, hh.size))[hh_surveyed],
        "setting": np.full(hh_surveyed.sum(), 2),
    })
    return (pl.concat([followups, hh_visits]), snf_stays, medrec, pl.concat([hospital_surveys, hh_surveys]))


def _encounter_frame(patient, provider, cls, admit, discharge, dx, planned, cost) -> pl.DataFrame:
    n = len(patient)
    admit = np.asarray(admit, dtype=np.int64)
    return pl.DataFrame({
        "patient": np.asarray(patient, dtype=np.int64),
        "provider": np.asarray(provider, dtype=np.int64),
        "cls": np.broadcast_to(cls, n).astype(np.int64),
        "admit": admit,
        "discharge": admit if discharge is None else np.asarray(discharge, dtype=np.int64),
        "dx": np.asarray(dx, dtype=np.int64),
        "planned": np.broadcast_to(planned, n).astype(bool),
        "disp": np.full(n, -1, dtype=np.int64),
        "cost": np.asarray(cost, dtype=float),
        "followup": np.zeros(n, dtype=bool),
    })


def _ambulatory_cost(rng, cls: np.ndarray) -> np.ndarray:
    median = np.select([cls == _PC, cls == _OP, cls == _ED], [140.0, 320.0, 1150.0], 200.0)
    sigma = np.select([cls == _PC, cls == _OP, cls == _ED], [0.35, 0.7, 0.6], 0.4)
    return median * np.exp(sigma * rng.standard_normal(cls.size))


# --------------------------------------------------------------------------- everyday care


def _ambulatory(people: _People, prov: _Providers, rng: np.random.Generator) -> pl.DataFrame:
    """Primary-care, outpatient and ED visits at random days while alive."""
    n = people.age.size
    attributed = people.practice >= 0
    years = (np.minimum(people.death_day, _LAST_DAY) + 1) / 365
    rates = {
        _PC: np.where(attributed, 3.2, 0.4) * people.risk ** 0.4,
        _OP: 1.3 * people.risk ** 0.7,
        _ED: 0.33 * people.risk ** 0.8 * np.where(people.payer == _MEDICAID, 1.3, 1.0),
    }
    hosp_w = _admission_weight(prov)
    frames = []
    for cls, rate in rates.items():
        visits = rng.poisson(rate * years)
        patient = np.repeat(np.arange(n), visits)
        k = patient.size
        day = _uniform(rng, 0, (np.minimum(people.death_day, _LAST_DAY) + 1)[patient])
        if cls == _PC:
            own = attributed[patient] & (rng.random(k) < 0.9)
            other = _within(rng, people.network[patient], prov.network, _practice_weight(prov))
            provider = np.where(own, people.practice[patient], other)
            dx = _primary_care_dx(people, patient, visits, rng)
        else:
            home = rng.random(k) < (0.75 if cls == _OP else 0.8)
            provider = np.where(home, people.home_hospital[patient],
                                _within(rng, people.network[patient], prov.network, hosp_w))
            if cls == _OP:
                dx = np.where(rng.random(k) < 0.6, _dx(_OUTPATIENT, rng, k),
                              _primary_care_dx(people, patient, visits, rng))
            else:
                avoidable = rng.random(k) < _ED_AVOIDABLE_SHARE
                dx = np.where(avoidable, _dx(AVOIDABLE_ED, rng, k), _dx(_SERIOUS_ED, rng, k))
        cls_arr = np.full(k, cls)
        frames.append(_encounter_frame(patient, provider, cls, day, None, dx, cls != _ED,
                                       _ambulatory_cost(rng, cls_arr)))
    return pl.concat(frames)


def _practice_weight(prov: _Providers) -> np.ndarray:
    w = np.zeros(prov.ids.size)
    w[prov.practices] = prov.practice_weight
    return w


def _primary_care_dx(people: _People, patient: np.ndarray, visits: np.ndarray, rng) -> np.ndarray:
    """Cycle visits through each person's chronic conditions so that comorbidity can be
    read back as the number of distinct chronic codes; the rest are acute or preventive."""
    rank = np.arange(patient.size) - np.repeat(np.cumsum(visits) - visits, visits)
    n_cond = people.conditions.sum(axis=1)[patient]
    # Present conditions first, in code order, so column rank % n_cond walks through them.
    order = np.argsort(~people.conditions, axis=1, kind="stable")
    chronic_code = np.array([_DX_INDEX[c] for c, _, _ in CHRONIC])[
        order[patient, rank % np.maximum(n_cond, 1)]]
    chronic = (n_cond > 0) & ((rank < n_cond) | (rng.random(patient.size) < 0.5))
    return np.where(chronic, chronic_code, _dx(_PRIMARY_CARE_ACUTE, rng, patient.size))


def _drop_during_stays(visits: pl.DataFrame, stays: pl.DataFrame) -> pl.DataFrame:
    """Nobody visits a clinic while in hospital. Routine visits are also kept out of the
    7 days after a discharge, so 7-day follow-up is exactly the planted follow-up."""
    # Stays are sorted by patient and admission, so one binary search on (patient, day)
    # finds the latest stay that began on or before each visit.
    key = 2048  # more than any day number
    stay_patient, s_admit = stays["patient"].to_numpy(), stays["admit"].to_numpy()
    patient, day = visits["patient"].to_numpy(), visits["admit"].to_numpy()
    i = np.maximum(np.searchsorted(stay_patient * key + s_admit, patient * key + day, side="right") - 1, 0)
    s_out = stays["discharge"].to_numpy()[i]
    window = np.where(stays["disp"].to_numpy()[i] == _TRANSFER, 0, 7)
    routine = ~visits["followup"].to_numpy() & np.isin(visits["cls"].to_numpy(), [_PC, _OP])
    after_admit = (stay_patient[i] == patient) & (s_admit[i] < day)
    busy = after_admit & ((day < s_out) | (routine & (day <= s_out + window)))
    return visits.filter(pl.Series(~busy))


# --------------------------------------------------------------------------- procedures


def _procedures(enc: pl.DataFrame, people: _People, prov: _Providers, rng: np.random.Generator):
    cls = enc["cls"].to_numpy()
    dx = enc["dx"].to_numpy()
    admit = enc["admit"].to_numpy()
    los = enc["discharge"].to_numpy() - admit
    planned = enc["planned"].to_numpy()
    practice_low_value = rng.beta(2, 6, prov.ids.size)  # mean 0.25, varies by practice
    parts = []

    def add(rows, category, modality, region, day, indication, cost):
        codes = {"enc": rows, "category": category, "modality": modality, "region": region, "day": day,
                 "indication": indication}
        parts.append(pl.DataFrame({
            **{k: np.broadcast_to(v, rows.shape).astype(np.int64) for k, v in codes.items()}, "cost": cost,
        }))

    def during(rows):
        return _uniform(rng, admit[rows], los[rows] + 1)

    for c, mix in _IMAGING_MIX.items():
        rows = np.flatnonzero((cls == c) & (rng.random(cls.size) < _IMAGING_P[c]))
        if c == _PC:  # back pain is imaged too often: the low-value imaging measure's numerator
            back = np.flatnonzero((cls == c) & (dx == _DX_INDEX[LOW_BACK_PAIN]))
            back = back[rng.random(back.size) < practice_low_value[enc["provider"].to_numpy()[back]]]
            rows = np.setdiff1d(rows, back)
            xray = rng.random(back.size) < 0.7
            modality = np.where(xray, MODALITIES.index("xray"), MODALITIES.index("mri"))
            add(back, 0, modality, REGIONS.index("lumbar_spine"), admit[back], dx[back],
                _imaging_cost(rng, modality))
        studies = np.array([[MODALITIES.index(m), REGIONS.index(r)] for m, r in mix])
        combo = studies[_pick(rng, mix, rows.size)]
        add(rows, 0, combo[:, 0], combo[:, 1], during(rows), dx[rows], _imaging_cost(rng, combo[:, 0]))
    for c, p in _LAB_P.items():
        rows = np.flatnonzero((cls == c) & (rng.random(cls.size) < p))
        indication = np.where(rng.random(rows.size) < 0.3, -1, dx[rows])
        add(rows, 1, -1, -1, during(rows), indication, _lognormal(rng, 35, 0.5, rows.size))
    surgical = {_DX_INDEX["S72.001A"]: 0.9, _DX_INDEX["I21.4"]: 0.5}
    p_surgery = np.where(cls == _IP, np.where(planned, 1.0, 0.06), np.where(cls == _OP, 0.07, 0.0))
    for code, p in surgical.items():
        p_surgery = np.where((cls == _IP) & (dx == code), p, p_surgery)
    rows = np.flatnonzero(rng.random(cls.size) < p_surgery)
    add(rows, 2, -1, -1, admit[rows] + np.minimum(los[rows], rng.integers(0, 2, rows.size)), dx[rows],
        _lognormal(rng, 6000, 0.6, rows.size))
    rows = np.flatnonzero((cls == _OP) & (rng.random(cls.size) < 0.15))
    add(rows, 3, -1, -1, admit[rows], dx[rows], _lognormal(rng, 300, 0.6, rows.size))

    proc = pl.concat(parts).with_columns(
        patient=pl.lit(enc["patient"]).gather(pl.col("enc")),
        provider=pl.lit(enc["provider"]).gather(pl.col("enc")),
    )

    # Repeated imaging: same patient, study and provider within 30 days, planted in N2.
    dup = PLANTED["duplicate_imaging"]
    imaging = proc.filter(pl.col("category") == 0)
    p_dup = dup["repeat_probability"] * np.where(
        prov.network[imaging["provider"].to_numpy()] == list(NETWORKS).index(dup["network_id"]),
        dup["network_multiplier"], 1.0)
    again = imaging.filter(pl.Series(rng.random(imaging.height) < p_dup))
    again = again.with_columns(
        enc=pl.lit(None, pl.Int64), day=pl.col("day") + pl.Series(rng.integers(1, 31, again.height)),
        cost=pl.Series(_imaging_cost(rng, again["modality"].to_numpy())),
    )
    return pl.concat([proc, _alive(again, "day", people)])


def _imaging_cost(rng, modality: np.ndarray) -> np.ndarray:
    return np.array([450.0, 900.0, 90.0, 220.0])[modality] * np.exp(0.4 * rng.standard_normal(modality.size))


# --------------------------------------------------------------------------- surveys


def _survey_items(surveys: pl.DataFrame, prov: _Providers, rng: np.random.Generator) -> pl.DataFrame:
    """Top box with a per-item probability shifted on the logit scale by the provider;
    items of one return share a common draw half the time, so they correlate."""
    n = surveys.height
    setting = surveys["setting"].to_numpy()
    spread = np.where(np.isin(np.arange(prov.ids.size), prov.hospitals), 0.1, 0.2)
    shift = spread * rng.standard_normal(prov.ids.size)
    best = PLANTED["better_experience"]
    shift[prov.index(best["provider_id"])] = best["logit_shift"]
    s = shift[surveys["provider"].to_numpy()]
    common = rng.random(n)
    below_4 = np.array([3, 2, 1])[rng.choice(3, size=(n, 5), p=[0.65, 0.25, 0.10])]
    below_10 = rng.choice(9, size=(n, 5), p=[0.01, 0.02, 0.02, 0.03, 0.05, 0.10, 0.12, 0.25, 0.40])
    columns = {}
    for j, item in enumerate(SURVEY_ITEMS):
        asked = np.array([_TOP_BOX[st][j] is not None for st in SETTINGS])[setting]
        p = np.array([_TOP_BOX[st][j] or 0.5 for st in SETTINGS])[setting]
        u = np.where(rng.random(n) < 0.5, common, rng.random(n))
        top = u < _expit(_logit(p) + s)
        if item == "discharge_information":
            value = top.astype(np.int64)
        elif item == "overall_rating":
            value = np.where(top, np.where(rng.random(n) < 0.6, 10, 9), below_10[:, j])
        else:
            value = np.where(top, 4, below_4[:, j])
        missing = ~asked | (rng.random(n) < 0.02)
        columns[item] = pl.Series(item, value, dtype=pl.Int64).scatter(np.flatnonzero(missing), None)
    return surveys.with_columns(**columns)


# --------------------------------------------------------------------------- facilities


def _facility(stays: pl.DataFrame, prov: _Providers, rng: np.random.Generator):
    """Monthly exposure per hospital and Poisson safety events against it.

    Hospitals also treat people outside the network population, so the census is
    beds x occupancy, never below the days our own patients spent there. An event
    carries a patient id only when it falls on one of our patients' days.
    """
    hospitals = prov.hospitals
    n_h, n_m = hospitals.size, 24
    slot = np.full(prov.ids.size, -1)
    slot[hospitals] = np.arange(n_h)

    # Every midnight one of our patients spent in each hospital.
    los = (stays["discharge"] - stays["admit"]).to_numpy()
    stay = np.repeat(np.arange(stays.height), los)
    day = stays["admit"].to_numpy()[stay] + np.arange(stay.size) - np.repeat(np.cumsum(los) - los, los)
    cell = slot[stays["provider"].to_numpy()[stay]] * n_m + _month_of(day)
    order = np.argsort(cell, kind="stable")
    ours = np.bincount(cell, minlength=n_h * n_m)
    first = np.cumsum(ours) - ours
    # Nights grouped by cell; the sentinel at the end (index -1) stands for "no patient".
    night_patient = np.append(stays["patient"].to_numpy()[stay[order]], -1)
    night_day = np.append(day[order], 0)

    month_len = np.diff(_MONTH_STARTS)
    occupancy = rng.uniform(0.55, 0.85, n_h)
    census = prov.beds[:, None] * occupancy[:, None] * month_len[None, :] * rng.normal(1, 0.04, (n_h, n_m))
    patient_days = np.maximum(np.round(census).astype(np.int64).ravel(), ours)
    device = rng.uniform(0.8, 1.2, n_h).repeat(n_m)
    exposure = {
        "patient_days": patient_days,
        "central_line_days": rng.binomial(patient_days, 0.10 * device),
        "catheter_days": rng.binomial(patient_days, np.minimum(0.15 * device, 1)),
    }
    hospital_of_cell = hospitals.repeat(n_m)
    unit_days = pl.DataFrame(
        {"provider": hospital_of_cell, "month": np.tile(np.arange(n_m), n_h), **exposure})

    clabsi = PLANTED["high_clabsi"]
    parts = []
    for t, (rate, basis) in enumerate(_EVENT_RATES):
        mult = np.exp(0.15 * rng.standard_normal(n_h)).repeat(n_m)
        if EVENT_TYPES[t] == "clabsi":
            mult[hospital_of_cell == prov.index(clabsi["provider_id"])] = clabsi["clabsi_multiplier"]
        counts = rng.poisson(rate / 1000 * exposure[basis] * mult)
        cells = np.repeat(np.arange(n_h * n_m), counts)
        linked = rng.random(cells.size) < ours[cells] / patient_days[cells]
        night = np.where(linked, _uniform(rng, first[cells], ours[cells]), -1)
        month = cells % n_m
        random_day = _uniform(rng, _MONTH_STARTS[month], month_len[month])
        parts.append(pl.DataFrame({
            "provider": hospital_of_cell[cells],
            "patient": night_patient[night],
            "day": np.where(linked, night_day[night], random_day),
            "event_type": np.full(cells.size, t),
        }))
    events = pl.concat(parts).with_columns(patient=pl.when(pl.col("patient") >= 0).then(pl.col("patient")))
    return unit_days, events


# --------------------------------------------------------------------------- social needs


def _sdoh(pc: pl.DataFrame, people: _People, prov: _Providers, rng: np.random.Generator) -> pl.DataFrame:
    """About 40% of people screened each year, at one of their primary-care visits."""
    # Visits come sorted by patient and day, so each person-year is a contiguous run.
    patient = pc["patient"].to_numpy()
    year = pc["admit"].to_numpy() >= _MONTH_STARTS[12]
    first = np.flatnonzero(np.r_[True, (patient[1:] != patient[:-1]) | (year[1:] != year[:-1])])
    one = pc[_uniform(rng, first, np.diff(np.r_[first, patient.size]))]
    practice_rate = np.clip(0.45 + 0.12 * rng.standard_normal(prov.ids.size), 0.05, 0.95)
    one = one.filter(rng.random(one.height) < practice_rate[one["provider"].to_numpy()])
    n_domains = 1 + rng.choice(4, size=one.height, p=[0.15, 0.15, 0.15, 0.55])
    domain_order = np.argsort(rng.random((one.height, 4)), axis=1)
    row = np.repeat(np.arange(one.height), n_domains)
    pos = np.arange(row.size) - np.repeat(np.cumsum(n_domains) - n_domains, n_domains)
    patient = one["patient"].to_numpy()[row]
    positive = rng.random(row.size) < _expit(-1.75 + 0.8 * people.deprivation[patient])
    referred = positive & (rng.random(row.size) < 0.7)
    resolved = rng.random(row.size) < 0.5
    return pl.DataFrame({
        "patient": patient, "provider": one["provider"].to_numpy()[row], "day": one["admit"].to_numpy()[row],
        "domain": domain_order[row, pos], "positive": positive, "referred": referred,
        "resolved": pl.Series(resolved).scatter(np.flatnonzero(~referred), None),
    })


# --------------------------------------------------------------------------- coverage


def _enrollment(people: _People, rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray]:
    """Monthly coverage spans: mostly one span for the whole window; people turning 65
    move to Medicare in their birthday month; some switch payer, some have a gap.
    Returns the spans and the payer of each person at the end of the window."""
    n = people.age.size
    last = _month_of(np.minimum(people.death_day, _LAST_DAY))
    payer = people.payer.copy()
    before = payer.copy()
    cut = np.full(n, 24)  # first month of the second span; 24 = no second span
    gap = np.zeros(n, dtype=np.int64)

    turns_65 = _month_of(people.birth_day + np.floor(65 * 365.25).astype(np.int64))
    aged_in = np.isin(payer, [_MEDICARE, _MA]) & (turns_65 >= 1) & (turns_65 <= 23) & ~people.dual
    before[aged_in] = _COMMERCIAL
    cut[aged_in] = turns_65[aged_in]

    u = rng.random(n)
    switch = ~aged_in & (u < 0.06)
    medicare = np.isin(payer, [_MEDICARE, _MA])
    # Medicare members change plan at open enrolment; others whenever their job or income changes.
    before[switch] = np.where(medicare[switch], np.where(payer[switch] == _MEDICARE, _MA, _MEDICARE),
                              np.where(payer[switch] == _COMMERCIAL, _MEDICAID, _COMMERCIAL))
    cut[switch] = np.where(medicare[switch], 12, rng.integers(1, 24, n)[switch])
    lapse = ~aged_in & ~switch & (u < 0.10)
    cut[lapse] = rng.integers(1, 24, n)[lapse]
    gap[lapse] = rng.integers(1, 7, n)[lapse]

    # Someone who died before their second span never had it.
    payer = np.where(cut > last, before, payer)
    first_end = np.minimum(cut - 1, last)
    second = cut + gap <= last
    spans = pl.concat([
        pl.DataFrame(
            {"patient": np.arange(n), "payer": before, "start": np.zeros(n, np.int64), "end": first_end}),
        pl.DataFrame({"patient": np.arange(n)[second], "payer": payer[second], "start": (cut + gap)[second],
                      "end": last[second]}),
    ]).sort("patient", "start", maintain_order=True)
    return spans, payer


# --------------------------------------------------------------------------- assembly

_STAGES = ["providers", "people", "stays", "after_discharge", "ambulatory", "procedures", "surveys",
           "facility", "sdoh", "enrollment"]


def generate(patients: int = 50_000, seed: int = 7) -> dict[str, pl.DataFrame]:
    """All canonical tables for a synthetic population; the same arguments give the same data."""
    if patients < 100:
        raise ExtractError(f"a demo network needs at least 100 patients, got {patients}")
    # One independent stream per stage: tuning one stage leaves the others' draws alone.
    rng = dict(zip(_STAGES, map(np.random.default_rng, np.random.SeedSequence(seed).spawn(len(_STAGES)))))
    prov = _providers(patients, rng["providers"])
    people = _people(patients, prov, rng["people"])
    stays = _stays(people, prov, rng["stays"])
    visits, snf, medrec, surveys = _after_discharge(stays, people, prov, rng["after_discharge"])
    visits = _drop_during_stays(pl.concat([_ambulatory(people, prov, rng["ambulatory"]), visits]), stays)
    inpatient = stays.with_columns(cls=pl.lit(_IP, pl.Int64), followup=pl.lit(False)).select(snf.columns)
    # Stable sorts throughout: ties keep their (deterministic) generation order.
    enc = pl.concat([inpatient, snf, _alive(visits, "admit", people)]).sort(
        "patient", "admit", "cls", maintain_order=True)
    pc = enc.filter(pl.col("cls") == _PC)
    surveys = pl.concat([surveys, _primary_care_surveys(pc, rng["surveys"])])
    surveys = _survey_items(_alive(surveys, "day", people).sort("patient", "day", maintain_order=True),
                            prov, rng["surveys"])
    unit_days, events = _facility(stays, prov, rng["facility"])
    spans, payer = _enrollment(people, rng["enrollment"])
    return _tables(
        prov, people, payer, spans, enc, _procedures(enc, people, prov, rng["procedures"]),
        _alive(medrec, "day", people).sort("patient", "day", maintain_order=True),
        surveys, events, unit_days, _sdoh(pc, people, prov, rng["sdoh"]),
    )


def _alive(frame: pl.DataFrame, day: str, people: _People) -> pl.DataFrame:
    """Rows dated no later than the person's death and the data cut."""
    last = pl.Series(np.minimum(people.death_day, _LAST_DAY))
    return frame.filter(pl.col(day) <= pl.lit(last).gather(pl.col("patient")))


def _primary_care_surveys(pc: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    returned = pc.filter(pl.Series(rng.random(pc.height) < 0.08))
    return returned.select(
        "patient", "provider", day=pl.col("admit") + pl.Series(rng.integers(7, 41, returned.height)),
        setting=pl.lit(1, pl.Int64),
    )


def _date(days: pl.Expr) -> pl.Expr:
    return (days + _EPOCH_OFFSET).cast(pl.Int32).cast(pl.Date)


def _month(col: str, end: bool = False) -> pl.Expr:
    """First day of month number col, or its last day."""
    starts = pl.lit(pl.Series(_MONTH_STARTS))
    return _date(starts.gather(pl.col(col) + 1) - 1) if end else _date(starts.gather(pl.col(col)))


def _ids(prefix: str, width: int, n: int) -> pl.Series:
    """Readable ids for rows 0..n-1: E000000001, E000000002, ..."""
    digits = (pl.int_range(1, n + 1, dtype=pl.Int64) + 10**width).cast(pl.Utf8).str.slice(1)
    return pl.select(pl.format(prefix + "{}", digits)).to_series()


def _label(col: str, values) -> pl.Expr:
    """Code -> text by position in values; negative codes mean null."""
    code = pl.col(col)
    return pl.lit(pl.Series(values, dtype=pl.Utf8)).gather(pl.when(code >= 0).then(code))


def _tables(prov, people, payer, spans, enc, proc, medrec, surveys, events, unit_days, sdoh):
    """Turn the integer-coded frames into the canonical tables, in contract order and types."""
    # Ids are built once per entity and looked up by position, which is far cheaper than
    # formatting them again in every table.
    patient_id = _label("patient", _ids("P", 7, people.age.size))
    provider_id = _label("provider", list(prov.ids))
    encounter_ids = _ids("E", 9, enc.height)
    rural_towns = [i for i, t in enumerate(_TOWNS) if t[3] == "rural"]
    people_frame = pl.DataFrame({
        "patient": np.arange(people.age.size), "birth": people.birth_day, "death": people.death_day,
        "sex": people.female.astype(np.int64), "race": people.race, "language": people.language,
        "dual_eligible": people.dual, "payer": payer, "zip": people.zip,
        "rural": np.isin(people.town, rural_towns).astype(np.int64), "provider": people.practice,
    })
    by_patient = ["patient", "day"]
    tables = {
        "networks": pl.DataFrame({"network_id": list(NETWORKS), "name": list(NETWORKS.values())}),
        "providers": prov.frame,
        "patients": people_frame.select(
            patient_id=patient_id, birth_date=_date(pl.col("birth")),
            death_date=pl.when(pl.col("death") < _ALIVE).then(_date(pl.col("death"))),
            sex=_label("sex", ["male", "female"]), race_ethnicity=_label("race", RACES),
            language=_label("language", LANGUAGES), dual_eligible="dual_eligible",
            payer=_label("payer", PAYERS),
            zip=pl.col("zip").cast(pl.Utf8).str.zfill(5), rurality=_label("rural", ["urban", "rural"]),
            attributed_practice_id=provider_id,
        ),
        "enrollment": spans.select(
            patient_id=patient_id, payer=_label("payer", PAYERS), start_date=_month("start"),
            end_date=_month("end", end=True),
        ),
        "encounters": enc.select(
            encounter_id=encounter_ids, patient_id=patient_id, provider_id=provider_id,
            encounter_class=_label("cls", CLASSES), admit_date=_date(pl.col("admit")),
            discharge_date=_date(pl.col("discharge")), primary_dx=_label("dx", _DX), planned="planned",
            discharge_disposition=_label("disp", DISPOSITIONS), cost=pl.col("cost").round(2),
        ),
        "procedures": proc.sort(by_patient, maintain_order=True).select(
            procedure_id=_ids("PX", 9, proc.height), patient_id=patient_id,
            encounter_id=_label("enc", encounter_ids), provider_id=provider_id,
            procedure_date=_date(pl.col("day")),
            category=_label("category", CATEGORIES), modality=_label("modality", MODALITIES),
            body_region=_label("region", REGIONS), indication_dx=_label("indication", _DX),
            cost=pl.col("cost").round(2),
        ),
        "medication_reconciliations": medrec.select(
            medrec_id=_ids("MR", 9, medrec.height), patient_id=patient_id, provider_id=provider_id,
            rec_date=_date(pl.col("day")),
        ),
        "surveys": surveys.select(
            *SURVEY_ITEMS, survey_id=_ids("SV", 9, surveys.height), patient_id=patient_id,
            provider_id=provider_id, survey_date=_date(pl.col("day")), setting=_label("setting", SETTINGS),
        ),
        "safety_events": events.sort("provider", "day", "event_type", "patient", maintain_order=True).select(
            event_id=_ids("SE", 9, events.height), provider_id=provider_id, patient_id=patient_id,
            event_date=_date(pl.col("day")), event_type=_label("event_type", EVENT_TYPES),
        ),
        "unit_days": unit_days.select(
            "patient_days", "central_line_days", "catheter_days", provider_id=provider_id,
            month=_month("month"),
        ),
        "sdoh_screenings": sdoh.sort(*by_patient, "domain", maintain_order=True).select(
            "positive", "referred", "resolved", screening_id=_ids("SD", 9, sdoh.height),
            patient_id=patient_id, provider_id=provider_id, screening_date=_date(pl.col("day")),
            domain=_label("domain", SDOH_DOMAINS),
        ),
    }
    return {name: tables[name].select([pl.col(c).cast(t) for c, t in SCHEMAS[name].items()])
            for name in SCHEMAS}


def write_demo(out: Path, patients: int = 50_000, seed: int = 7, fmt: str = "parquet") -> dict[str, Path]:
    """Write every table to out/<table>.<fmt>; CSV uses ISO dates, true/false and empty for null."""
    if fmt not in ("parquet", "csv"):
        raise ExtractError(f"unknown format '{fmt}'; use parquet or csv")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in generate(patients, seed).items():
        paths[name] = out / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(paths[name])
        else:
            frame.write_csv(paths[name])
    return paths
