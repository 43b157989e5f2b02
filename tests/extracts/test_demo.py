"""The demo generator: contracts, integrity, determinism, and the planted effects read back
from the raw tables with independent Polars code."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from ruamel.yaml import YAML

from carescore.extracts import demo
from carescore.issues import ExtractError

CONTRACTS = Path(__file__).resolve().parents[2] / "data" / "contracts"
TYPES = {"varchar": pl.Utf8, "integer": pl.Int64, "double": pl.Float64, "date": pl.Date,
         "boolean": pl.Boolean}
FIRST, CUT = date(2024, 1, 1), date(2025, 12, 31)
TABLES = sorted(p.stem for p in CONTRACTS.glob("*.yaml"))


def contract(table: str) -> dict:
    return YAML(typ="safe").load((CONTRACTS / f"{table}.yaml").read_text())  # read apart from carescore's reader


def references() -> list[tuple[str, str, str, str]]:
    return [
        (table, column, *spec["references"].split("."))
        for table in TABLES
        for column, spec in contract(table)["columns"].items()
        if "references" in spec
    ]


@pytest.fixture(scope="module")
def small() -> dict[str, pl.DataFrame]:
    return demo.generate(5_000, seed=7)


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    return demo.generate(20_000, seed=7)


# --------------------------------------------------------------------------- independent oracles


def index_discharges(d: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Live, non-transfer inpatient discharges with 30-day unplanned readmission and 7-day follow-up."""
    enc = d["encounters"]
    ip = enc.filter(pl.col("encounter_class") == "inpatient")
    index = ip.filter(~pl.col("discharge_disposition").is_in(["expired", "transfer"]))
    readmits = index.join(
        ip.filter(~pl.col("planned")).select("patient_id", later="admit_date"), on="patient_id"
    ).filter(
        (pl.col("later") > pl.col("discharge_date"))
        & (pl.col("later") <= pl.col("discharge_date") + pl.duration(days=30))
    )
    visits = index.join(
        enc.filter(pl.col("encounter_class").is_in(["primary_care", "outpatient"])).select(
            "patient_id", visit="admit_date"),
        on="patient_id",
    ).filter(
        (pl.col("visit") > pl.col("discharge_date"))
        & (pl.col("visit") <= pl.col("discharge_date") + pl.duration(days=7))
    )
    return index.join(
        d["patients"].select("patient_id", "dual_eligible", "attributed_practice_id"), on="patient_id"
    ).with_columns(
        readmitted=pl.col("encounter_id").is_in(readmits["encounter_id"].implode()),
        followed_up=pl.col("encounter_id").is_in(visits["encounter_id"].implode()),
    )


def repeat_imaging(d: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Imaging studies flagged when the same patient had the same study in the 30 days before."""
    img = d["procedures"].filter(pl.col("category") == "imaging").join(
        d["providers"].select("provider_id", "network_id"), on="provider_id")
    key = ["patient_id", "modality", "body_region"]
    repeats = img.join(img.select(*key, earlier="procedure_date"), on=key).filter(
        (pl.col("earlier") < pl.col("procedure_date"))
        & (pl.col("earlier") >= pl.col("procedure_date") - pl.duration(days=30))
    )
    return img.with_columns(repeat=pl.col("procedure_id").is_in(repeats["procedure_id"].implode()))


# --------------------------------------------------------------------------- determinism and files


def test_same_seed_gives_identical_tables():
    a, b = demo.generate(5_000, seed=3), demo.generate(5_000, seed=3)
    assert list(a) == list(b)
    for table in a:
        assert a[table].equals(b[table], null_equal=True), table


def test_different_seed_gives_different_tables():
    a, b = demo.generate(5_000, seed=3), demo.generate(5_000, seed=4)
    for table in ("patients", "encounters", "procedures", "surveys", "safety_events"):
        assert not a[table].equals(b[table], null_equal=True), table


def test_parquet_files_are_byte_identical(tmp_path, small):
    first = demo.write_demo(tmp_path / "a", patients=5_000, seed=7)
    second = demo.write_demo(tmp_path / "b", patients=5_000, seed=7)
    assert set(first) == set(TABLES)
    for table, path in first.items():
        assert path == tmp_path / "a" / f"{table}.parquet"
        assert path.read_bytes() == second[table].read_bytes(), table
        assert pl.read_parquet(path).equals(small[table], null_equal=True), table


def test_csv_round_trip(tmp_path, small):
    paths = demo.write_demo(tmp_path, patients=5_000, seed=7, fmt="csv")
    for table, path in paths.items():
        schema = {c: TYPES[s["type"]] for c, s in contract(table)["columns"].items()}
        back = pl.read_csv(path, schema=schema)
        assert back.equals(small[table], null_equal=True), table
    header = (tmp_path / "encounters.csv").read_text().splitlines()[:2]
    assert header[0].startswith("encounter_id,patient_id,")
    assert ",2024-" in header[1] or ",2025-" in header[1]
    assert ",true," in (tmp_path / "patients.csv").read_text()


def test_write_demo_rejects_unknown_format(tmp_path):
    with pytest.raises(ExtractError, match="unknown format 'xlsx'; use parquet or csv"):
        demo.write_demo(tmp_path, patients=1_000, fmt="xlsx")


# --------------------------------------------------------------------------- contracts and integrity


def test_generates_exactly_the_contract_tables(small):
    assert sorted(small) == TABLES


@pytest.mark.parametrize("table", TABLES)
def test_table_matches_its_contract(small, table):
    spec = contract(table)
    frame = small[table]
    assert frame.height > 0
    assert frame.columns == list(spec["columns"])
    for column, rule in spec["columns"].items():
        values = frame[column]
        assert values.dtype == TYPES[rule["type"]], column
        if not rule["nullable"]:
            assert values.null_count() == 0, column
        present = values.drop_nulls()
        if "allowed" in rule:
            assert set(present.unique()) <= set(rule["allowed"]), column
        if "min" in rule:
            assert present.min() >= rule["min"], column
        if "max" in rule:
            assert present.max() <= rule["max"], column
    assert frame.select(spec["primary_key"]).is_duplicated().sum() == 0


@pytest.mark.parametrize(("table", "column", "target", "key"), references())
def test_references_resolve(small, table, column, target, key):
    values = small[table][column].drop_nulls()
    assert values.len() > 0
    assert values.is_in(small[target][key].implode()).all(), f"{table}.{column} -> {target}.{key}"


def test_all_event_dates_inside_the_window(small):
    for table, frame in small.items():
        for column, dtype in frame.schema.items():
            if dtype == pl.Date and column not in ("birth_date", "death_date"):
                assert frame[column].min() >= FIRST, (table, column)
                assert frame[column].max() <= CUT, (table, column)
    births = small["patients"]["birth_date"]
    assert births.max() < FIRST
    assert births.min() > date(1925, 12, 31)
    assert small["patients"]["death_date"].drop_nulls().is_between(FIRST, CUT).all()


def test_encounter_dates_and_dispositions_hang_together(small):
    enc = small["encounters"].with_columns(
        days=(pl.col("discharge_date") - pl.col("admit_date")).dt.total_days())
    stays = pl.col("encounter_class").is_in(["inpatient", "snf"])
    assert enc.filter(pl.col("days") < 0).is_empty()
    assert enc.filter(~stays & (pl.col("days") != 0)).is_empty()
    assert enc.filter(pl.col("encounter_class") == "inpatient")["days"].is_between(1, 12).all()
    inpatient = pl.col("encounter_class") == "inpatient"
    assert enc.filter(inpatient & pl.col("discharge_disposition").is_null()).is_empty()
    assert enc.filter(~inpatient & pl.col("discharge_disposition").is_not_null()).is_empty()
    assert enc.filter(pl.col("encounter_class") == "ed")["planned"].sum() == 0


def test_stays_of_a_person_never_overlap(small):
    """A hospital or SNF stay ends before the next one begins (the same day at the latest)."""
    stays = small["encounters"].filter(pl.col("encounter_class").is_in(["inpatient", "snf"]))
    nxt = stays.sort("patient_id", "admit_date", "discharge_date").with_columns(
        next_admit=pl.col("admit_date").shift(-1).over("patient_id"))
    assert stays.filter(pl.col("encounter_class") == "snf").height > 0
    assert nxt.filter(pl.col("next_admit") < pl.col("discharge_date")).is_empty()


def test_nothing_happens_after_death(small):
    deaths = small["patients"].select("patient_id", "death_date").drop_nulls()
    dated = {
        "encounters": "discharge_date", "procedures": "procedure_date",
        "medication_reconciliations": "rec_date", "surveys": "survey_date",
        "sdoh_screenings": "screening_date", "safety_events": "event_date",
    }
    for table, column in dated.items():
        late = small[table].join(deaths, on="patient_id").filter(pl.col(column) > pl.col("death_date"))
        assert late.is_empty(), table
    expired = small["encounters"].filter(pl.col("discharge_disposition") == "expired").join(
        deaths, on="patient_id", how="left")
    assert expired.height > 0
    assert (expired["discharge_date"] == expired["death_date"]).fill_null(False).all()


def test_enrollment_spans_are_whole_months_and_consistent(small):
    spans = small["enrollment"].sort("patient_id", "start_date")
    assert (spans["start_date"].dt.day() == 1).all()
    assert (spans["end_date"] == spans["end_date"].dt.month_end()).all()
    assert (spans["start_date"] <= spans["end_date"]).all()
    gaps = spans.with_columns(prev_end=pl.col("end_date").shift(1).over("patient_id"))
    assert gaps.filter(pl.col("start_date") <= pl.col("prev_end")).is_empty()
    assert spans["patient_id"].n_unique() == small["patients"].height
    last = spans.group_by("patient_id").agg(pl.col("payer").last()).join(
        small["patients"].select("patient_id", current="payer"), on="patient_id")
    assert (last["payer"] == last["current"]).all()


def test_providers_ids_counts_and_attributes(small):
    prov = small["providers"]
    counts = prov["provider_type"].value_counts()
    assert dict(zip(counts["provider_type"], counts["count"])) == {
        "hospital": 12, "primary_care": 40, "home_health": 6, "community": 6}
    assert prov.filter(pl.col("provider_type") == "hospital")["provider_id"].to_list()[:3] == [
        "HOSP-001", "HOSP-002", "HOSP-003"]
    is_practice = pl.col("provider_type") == "primary_care"
    assert prov.filter(is_practice)["pcmh"].null_count() == 0
    assert prov.filter(~is_practice)["pcmh"].null_count() == prov.filter(~is_practice).height
    assert prov.filter(pl.col("provider_type") != "hospital")["beds"].null_count() == prov.height - 12
    assert prov["zip"].str.contains(r"^\d{5}$").all()
    assert set(prov["rurality"]) == {"urban", "rural"}
    assert prov["name"].n_unique() == prov.height
    assert demo._provider_counts(1_000_000) == {
        "hospital": 40, "primary_care": 1000, "home_health": 100, "community": 100}


# --------------------------------------------------------------------------- realistic shape


def test_population_looks_like_the_brief(data):
    pat, enc = data["patients"], data["encounters"]
    n = pat.height
    age = (CUT - pat["birth_date"]).dt.total_days() / 365.25
    assert 0.30 < (age >= 65).mean() < 0.40
    assert 0.12 < pat["dual_eligible"].mean() < 0.18
    assert 0.87 < pat["attributed_practice_id"].is_not_null().mean() < 0.93
    assert 0.09 < (pat["language"] == "spanish").mean() < 0.15
    assert 0.01 < (pat["race_ethnicity"] == "unknown").mean() < 0.07
    assert 0.01 < pat["death_date"].is_not_null().mean() < 0.05
    duals = pat.filter("dual_eligible")
    assert duals["payer"].is_in(["medicare", "medicare_advantage"]).all()
    assert (age.filter(pat["payer"] == "medicare_advantage") >= 18).all()

    assert 8 <= enc.height / n <= 10
    ip = enc.filter(pl.col("encounter_class") == "inpatient")
    per_year = ip.group_by(pl.col("discharge_date").dt.year()).agg(pl.col("patient_id").n_unique() / n)
    assert per_year["patient_id"].is_between(0.08, 0.12).all()
    assert 0.015 < (ip["discharge_disposition"] == "expired").mean() < 0.035
    assert 0.12 < ip["planned"].mean() < 0.18
    ed = enc.filter(pl.col("encounter_class") == "ed")
    assert 0.25 < ed["primary_dx"].is_in(list(demo.AVOIDABLE_ED)).mean() < 0.35
    mean_cost = dict(enc.group_by("encounter_class").agg(pl.col("cost").mean()).iter_rows())
    assert mean_cost["inpatient"] > 12_000 > mean_cost["ed"] > 1_000 > mean_cost["primary_care"]

    index = index_discharges(data)
    assert 0.11 < index["readmitted"].mean() < 0.17
    assert 0.42 < index["followed_up"].mean() < 0.56

    tiny = list(demo.PLANTED["too_small"]["practices"])
    sizes = pat.filter(~pl.col("attributed_practice_id").is_in(tiny)).drop_nulls(
        "attributed_practice_id").group_by("attributed_practice_id").len()["len"]
    assert sizes.max() > 2 * sizes.median()
    assert sizes.max() > 8 * sizes.min()


def test_sdoh_screening_rates(data):
    sdoh = data["sdoh_screenings"]
    screened = sdoh.group_by(pl.col("screening_date").dt.year()).agg(pl.col("patient_id").n_unique())
    assert (screened["patient_id"] / data["patients"].height).is_between(0.33, 0.47).all()
    assert 0.15 < sdoh["positive"].mean() < 0.25
    assert 0.6 < sdoh.filter("positive")["referred"].mean() < 0.8
    assert sdoh.filter(~pl.col("positive"))["referred"].sum() == 0
    not_referred = sdoh.filter(~pl.col("referred"))
    assert not_referred["resolved"].null_count() == not_referred.height
    assert 0.4 < sdoh.filter("referred")["resolved"].mean() < 0.6
    per_visit = sdoh.group_by("patient_id", "screening_date").len()["len"]
    assert per_visit.min() >= 1 and per_visit.max() <= 4


def test_comorbidity_is_visible_and_predicts_admission(data):
    """Risk adjustment needs the latent frailty to show through observable diagnoses."""
    chronic = [code for code, _, _ in demo.CHRONIC]
    burden = data["encounters"].filter(
        (pl.col("encounter_class") == "primary_care") & pl.col("primary_dx").is_in(chronic)
    ).group_by("patient_id").agg(n_chronic=pl.col("primary_dx").n_unique())
    admitted = data["encounters"].filter(pl.col("encounter_class") == "inpatient")["patient_id"].unique()
    people = data["patients"].select("patient_id").join(burden, on="patient_id", how="left").with_columns(
        n_chronic=pl.col("n_chronic").fill_null(0), admitted=pl.col("patient_id").is_in(admitted.implode()))
    rate = dict(people.group_by(pl.col("n_chronic").clip(0, 3)).agg(pl.col("admitted").mean()).iter_rows())
    assert rate[0] < rate[1] < rate[2] < rate[3]
    assert rate[3] > 2.5 * rate[0]


def test_low_value_back_imaging_exists(data):
    lumbar = data["procedures"].filter(
        (pl.col("body_region") == "lumbar_spine") & (pl.col("indication_dx") == demo.LOW_BACK_PAIN))
    at_practices = lumbar.join(data["providers"], on="provider_id").filter(
        pl.col("provider_type") == "primary_care")
    assert at_practices.height > 100


def test_surveys_top_box_rates(data):
    planted = demo.PLANTED["better_experience"]["provider_id"]
    hospital = data["surveys"].filter((pl.col("setting") == "hospital") & (pl.col("provider_id") != planted))
    assert 0.74 < (hospital["nurse_communication"].drop_nulls() == 4).mean() < 0.86
    assert 0.82 < (hospital["discharge_information"].drop_nulls() == 1).mean() < 0.92
    assert 0.66 < (hospital["overall_rating"].drop_nulls() >= 9).mean() < 0.78
    assert 0.66 < (hospital["would_recommend"].drop_nulls() == 4).mean() < 0.78
    assert 0 < hospital["would_recommend"].null_count() < 0.05 * hospital.height
    practice = data["surveys"].filter(pl.col("setting") == "primary_care")
    assert practice["discharge_information"].null_count() == practice.height


# --------------------------------------------------------------------------- planted effects


def test_planted_providers_exist_at_the_smallest_size(small):
    ids = set(small["providers"]["provider_id"])
    p = demo.PLANTED
    planted = {p["high_readmission"]["provider_id"], p["poor_followup"]["provider_id"],
               p["too_small"]["hospital"], p["too_small"]["home_health"], *p["too_small"]["practices"],
               p["high_clabsi"]["provider_id"], p["better_experience"]["provider_id"]}
    assert planted <= ids
    assert p["duplicate_imaging"]["network_id"] in set(small["networks"]["network_id"])


def test_hosp_003_readmits_about_twice_as_often(data):
    index = index_discharges(data)
    hosp = demo.PLANTED["high_readmission"]["provider_id"]
    at = index.filter(pl.col("provider_id") == hosp)["readmitted"]
    others = index.filter(pl.col("provider_id") != hosp)["readmitted"]
    assert at.len() > 300
    assert at.mean() > 1.6 * others.mean()


def test_prac_007_follows_up_poorly_and_is_big_enough(data):
    index = index_discharges(data)
    prac = demo.PLANTED["poor_followup"]["provider_id"]
    at = index.filter(pl.col("attributed_practice_id") == prac)["followed_up"]
    others = index.filter(pl.col("attributed_practice_id") != prac)["followed_up"]
    assert at.len() > 50
    assert at.mean() < 0.25
    assert others.mean() > 0.45
    assert (data["patients"]["attributed_practice_id"] == prac).sum() >= 150


def test_dual_eligible_worse_followup_and_readmission(data):
    rates = index_discharges(data).group_by("dual_eligible").agg(
        pl.col("followed_up").mean(), pl.col("readmitted").mean())
    dual = rates.filter("dual_eligible").row(0, named=True)
    other = rates.filter(~pl.col("dual_eligible")).row(0, named=True)
    assert 0.10 < other["followed_up"] - dual["followed_up"] < 0.20
    assert dual["readmitted"] > 1.2 * other["readmitted"]


def test_duplicate_imaging_concentrated_in_n2(data):
    share = dict(repeat_imaging(data).group_by("network_id").agg(pl.col("repeat").mean()).iter_rows())
    n2 = demo.PLANTED["duplicate_imaging"]["network_id"]
    others = [v for k, v in share.items() if k != n2]
    assert all(0.015 < v < 0.05 for v in others)
    assert share[n2] > 3 * max(others)


@pytest.mark.parametrize("size", ["small", "data"])
def test_too_small_providers_stay_small(request, size):
    d = request.getfixturevalue(size)
    tiny = demo.PLANTED["too_small"]
    per_year = d["encounters"].filter(
        (pl.col("provider_id") == tiny["hospital"]) & (pl.col("encounter_class") == "inpatient")
    ).group_by(pl.col("discharge_date").dt.year()).len()
    assert per_year.height == 2 and per_year["len"].is_between(1, 19).all()
    attributed = d["patients"]["attributed_practice_id"]
    for practice in tiny["practices"]:
        assert 0 < (attributed == practice).sum() < 20
    surveys = (d["surveys"]["provider_id"] == tiny["home_health"]).sum()
    assert 1 <= surveys <= 5


def test_hosp_005_has_high_clabsi(data):
    hosp = demo.PLANTED["high_clabsi"]["provider_id"]
    events = data["safety_events"].filter(pl.col("event_type") == "clabsi").group_by("provider_id").len()
    rates = data["unit_days"].group_by("provider_id").agg(pl.col("central_line_days").sum()).join(
        events, on="provider_id", how="left").with_columns(pl.col("len").fill_null(0))
    at = rates.filter(pl.col("provider_id") == hosp)
    others = rates.filter(pl.col("provider_id") != hosp)
    rate = at["len"].sum() / at["central_line_days"].sum()
    assert rate > 3 * others["len"].sum() / others["central_line_days"].sum()


def test_hosp_002_has_better_experience(data):
    hosp = demo.PLANTED["better_experience"]["provider_id"]
    top_box = [pl.col("nurse_communication") == 4, pl.col("doctor_communication") == 4,
               pl.col("discharge_information") == 1, pl.col("overall_rating") >= 9,
               pl.col("would_recommend") == 4]
    rates = data["surveys"].filter(pl.col("setting") == "hospital").group_by(
        at=pl.col("provider_id") == hosp).agg(
        recommend=top_box[-1].mean(), composite=pl.mean_horizontal([t.mean() for t in top_box]))
    at, others = rates.filter("at").row(0, named=True), rates.filter(~pl.col("at")).row(0, named=True)
    assert at["recommend"] > others["recommend"] + 0.07
    assert at["composite"] > others["composite"] + 0.07
    assert others["recommend"] < 0.78


def test_unit_days_are_consistent_with_stays(data):
    """Census covers at least the midnights our own patients spent in each hospital-month."""
    ip = data["encounters"].filter(pl.col("encounter_class") == "inpatient")
    nights = ip.select("provider_id", day=pl.date_ranges("admit_date", "discharge_date", closed="left"))
    nights = nights.explode("day").group_by("provider_id", month=pl.col("day").dt.month_start()).len()
    units = data["unit_days"].join(nights, on=["provider_id", "month"], how="left").with_columns(
        pl.col("len").fill_null(0))
    assert (units["patient_days"] >= units["len"]).all()
    assert units.height == 12 * 24
    ratio = units.select(cl=pl.col("central_line_days").sum() / pl.col("patient_days").sum(),
                         cath=pl.col("catheter_days").sum() / pl.col("patient_days").sum()).row(0)
    assert 0.08 < ratio[0] < 0.12 and 0.12 < ratio[1] < 0.18
