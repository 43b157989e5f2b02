"""The same six metrics as handwritten.sql, written the straightforward pandas way (the slow baseline)."""

from __future__ import annotations

import pandas as pd

CHRONIC = ["E11.9", "I10", "I50.9", "J44.1", "N18.3", "F32.9"]
STRATA = ["race_ethnicity", "sex", "age_band", "dual_eligible", "rurality", "language"]
UNITS = {"provider": "provider_id", "practice": "attributed_practice_id", "network": "network_id"}


def index_discharges(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    enc, pat, prov, medrec = t["encounters"], t["patients"], t["providers"], t["medication_reconciliations"]
    cut = enc["discharge_date"].max()
    chronic = enc[enc["primary_dx"].isin(CHRONIC)].groupby("patient_id")["primary_dx"].nunique().rename("n_chronic")
    stays = enc[enc["encounter_class"] == "inpatient"]
    pairs = stays[["encounter_id", "patient_id", "discharge_date"]].merge(
        enc[["encounter_id", "patient_id", "encounter_class", "admit_date", "planned", "cost"]],
        on="patient_id", suffixes=("", "_e"))
    pairs = pairs[(pairs["encounter_id"] != pairs["encounter_id_e"]) & (pairs["admit_date"] >= pairs["discharge_date"])
                  & (pairs["admit_date"] <= pairs["discharge_date"] + pd.Timedelta(days=30))]
    visit = pairs["encounter_class"].isin(["primary_care", "outpatient"])
    after = pd.DataFrame({
        "readmitted": (pairs["encounter_class"].eq("inpatient") & ~pairs["planned"]
                       & (pairs["admit_date"] > pairs["discharge_date"])),
        "fu7": visit & (pairs["admit_date"] <= pairs["discharge_date"] + pd.Timedelta(days=7)),
        "fu30": visit,
        "post_cost": pairs["cost"].where(pairs["admit_date"] > pairs["discharge_date"], 0.0),
        "encounter_id": pairs["encounter_id"],
    }).groupby("encounter_id").agg(readmitted=("readmitted", "any"), fu7=("fu7", "any"), fu30=("fu30", "any"),
                                   post_cost=("post_cost", "sum"))
    mr = stays[["encounter_id", "patient_id", "discharge_date"]].merge(medrec[["patient_id", "rec_date"]], on="patient_id")
    mr = mr[(mr["rec_date"] >= mr["discharge_date"]) & (mr["rec_date"] <= mr["discharge_date"] + pd.Timedelta(days=30))]
    f = (stays.merge(pat, on="patient_id").merge(prov[["provider_id", "network_id"]], on="provider_id")
         .merge(chronic, left_on="patient_id", right_index=True, how="left")
         .merge(after, left_on="encounter_id", right_index=True, how="left"))
    years = f["discharge_date"].dt.year - f["birth_date"].dt.year
    f["period"] = f["discharge_date"].dt.year.astype(str)
    f["age_band"] = pd.cut(years, [-1, 17, 44, 64, 74, 1000], labels=["0-17", "18-44", "45-64", "65-74", "75+"]).astype(str)
    n = f["n_chronic"].fillna(0)
    f["comorbidity_band"] = "3+"
    f.loc[n <= 2, "comorbidity_band"] = "1-2"
    f.loc[n == 0, "comorbidity_band"] = "0"
    f["window_complete"] = f["discharge_date"] + pd.Timedelta(days=30) <= cut
    for c in ("readmitted", "fu7", "fu30"):
        f[c] = f[c].fillna(False).astype(bool)
    f["med_rec"] = f["encounter_id"].isin(mr["encounter_id"])
    f["episode_cost"] = f["cost"] + f["post_cost"].fillna(0)
    f["dual_eligible"] = f["dual_eligible"].astype(str).str.lower()
    return f


def metrics(f: pd.DataFrame) -> pd.DataFrame:
    disp = f["discharge_disposition"]
    f["r_in"] = f["window_complete"] & ~disp.isin(["expired", "transfer", "left_against_advice"])
    f["f_in"] = f["window_complete"] & disp.isin(["home", "home_health"])
    f["m_in"] = f["window_complete"] & ~disp.eq("expired")
    f["r_num"] = f["r_in"] & f["readmitted"]
    cell = f[f["r_in"]].groupby(["period", "age_band", "sex", "comorbidity_band"])["r_num"].mean().rename("ref")
    f = f.merge(cell, left_on=["period", "age_band", "sex", "comorbidity_band"], right_index=True, how="left")
    f["r_expected"] = f["ref"].where(f["r_in"], 0.0)
    f["f7"] = f["f_in"] & f["fu7"]
    f["f30"] = f["f_in"] & f["fu30"]
    f["mr"] = f["m_in"] & f["med_rec"]
    f["episode_in"] = f["episode_cost"].where(f["m_in"], 0.0)
    parts = []
    for level, unit in [("all", None), *UNITS.items()]:
        for stratum in [None, *STRATA]:
            keys = ["period"] + [k for k in (unit, stratum) if k]
            g = f.groupby(keys, dropna=False).agg(
                readmit_den=("r_in", "sum"), readmit_num=("r_num", "sum"), readmit_expected=("r_expected", "sum"),
                followup_den=("f_in", "sum"), followup7_num=("f7", "sum"), followup30_num=("f30", "sum"),
                medrec_den=("m_in", "sum"), medrec_num=("mr", "sum"), stay_cost_sum=("cost", "sum"),
                stays=("cost", "size"), episode_sum=("episode_in", "sum")).reset_index()
            g["level"], g["stratum"] = level, stratum or "all"
            parts.append(g)
    return pd.concat(parts, ignore_index=True)
