"""The command line, run as a user would run it (a real subprocess, real files)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(*args, cwd=REPO, env=None):
    return subprocess.run([sys.executable, "-m", "carescore.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_check_clean_catalog():
    out = cli("check", "metrics")
    assert out.returncode == 0 and out.stdout.startswith("ok: 26 metrics")


def test_check_reports_every_problem_located(tmp_path):
    root = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", root)
    text = (root / "quality" / "followup_7d.yaml").read_text()
    (root / "quality" / "followup_7d.yaml").write_text(text.replace("numerator: followup_7d",
                                                                    "numerator: folowup_7d"))
    text = (root / "cost" / "cost_pmpm.yaml").read_text()
    (root / "cost" / "cost_pmpm.yaml").write_text(text.replace("direction: lower_is_better",
                                                               "direction: down"))
    out = cli("check", str(root))
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert f"{root}/cost/cost_pmpm.yaml:7:12: error[M005] direction must be one of lower_is_better, " \
           "higher_is_better, neutral; got 'down'" in lines
    assert f"{root}/quality/followup_7d.yaml:14:12: error[M012] unknown column 'folowup_7d' in fact " \
           "index_discharges; did you mean 'followup_7d'?" in lines
    assert lines[-1] == "2 error(s)"


def test_sql_prints_readable_query():
    out = cli("sql", "readmission_30d")
    assert out.returncode == 0
    assert "/* metric: readmission_30d v1 (" in out.stdout and "GROUPING SETS" in out.stdout
    wrong = cli("sql", "readmision_30d")
    assert wrong.returncode == 1 and "did you mean 'readmission_30d'?" in wrong.stderr


def test_run_and_results(demo_dir, tmp_path):
    env = {"CARESCORE_STORE": str(tmp_path / "pub")}
    out = cli("run", "--data", str(demo_dir), env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("published run ")
    assert "small-number audit" not in out.stdout  # on the demo every group is solved together
    csv = cli("results", "--metric", "followup_7d", "--level", "network", env=env)
    assert csv.returncode == 0
    header, *rows = csv.stdout.strip().splitlines()
    assert header.startswith("run_id,metric_id,metric_version,level,unit_id")
    assert rows and all(",followup_7d,1,network," in r for r in rows)
    target = tmp_path / "out.parquet"
    assert cli("results", "--format", "parquet", "--out", str(target), env=env).returncode == 0
    assert target.stat().st_size > 1000
    again = cli("run", "--data", str(demo_dir), env=env)  # the same data again: the same publication
    assert again.returncode == 0, again.stderr
    assert ("0 result(s) changed status, 0 moved outside the earlier interval, 0 added, 0 removed"
            in again.stdout), again.stdout
    assert "changed by 1 to 10" not in again.stdout  # no differencing warning for a rerun on the same data


def test_audit_limit_says_which_groups_were_protected_sum_by_sum(demo_dir, tmp_path):
    import json
    import re

    env = {"CARESCORE_STORE": str(tmp_path / "pub")}
    out = cli("run", "--data", str(demo_dir), "--audit-limit", "40", env=env)
    assert out.returncode == 0, out.stderr
    said = re.search(r"small-number audit: (\d+) of (\d+) metric-period groups were protected sum by sum only", out.stdout)
    assert said, out.stdout
    run = (tmp_path / "pub" / "CURRENT").read_text().strip()
    audit = json.loads((tmp_path / "pub" / "runs" / run / "manifest.json").read_text())["suppression_audit"]
    assert 0 < audit["groups_too_large_to_audit"] == int(said[1]) < audit["groups"] == int(said[2])
    assert audit["audit_limit"] == 40


def test_run_on_missing_folder_is_one_clear_error(tmp_path):
    out = cli("run", "--data", str(tmp_path / "nope"), env={"CARESCORE_STORE": str(tmp_path / "pub")})
    assert out.returncode == 1
    assert out.stderr.startswith(f"{tmp_path / 'nope'}:1:1: error[L000] data folder does not exist")


def test_incentives_and_stars_run_on_a_carescore_publication(published, tmp_path):
    from carescore.publish import store

    public = store.run_dir(published[0]) / "public.parquet"
    out = cli("incentives", "--scenario", "scenarios/network_hospital_program.yaml", "--measures", str(public),
              "--out", str(tmp_path / "pay.csv"))
    assert out.returncode == 0, out.stderr
    import polars as pl

    pay = pl.read_csv(tmp_path / "pay.csv")
    scored = pay.filter(pl.col("total_score").is_not_null())
    assert scored.height >= 5
    assert round(scored["withheld"].sum(), 2) == round(scored["incentive"].sum(), 2) > 0  # budget neutral
    assert set(scored["provider_id"]) <= set(store.read_units(published[0])["unit_id"])


def test_explain_traces_a_published_number_to_its_definition_run_and_data(published):
    import polars as pl

    from carescore.publish import store

    root, bundle = published
    env = {"CARESCORE_STORE": str(root)}
    row = store.read_public(root, metric_id="readmission_30d").filter(
        pl.col("unit_id") == "HOSP-003", pl.col("period") == "2025", pl.col("stratum") == "all").row(0, named=True)
    out = cli("explain", "readmission_30d", "--unit", "HOSP-003", "--period", "2025", env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    # as every page writes it, then unrounded for whoever recomputes it
    assert (f"value      {row['value']:.2f}× [{row['value']:.6g}] (95% interval {row['ci_low']:.2f}× "
            f"[{row['ci_low']:.6g}] to {row['ci_high']:.2f}× [{row['ci_high']:.6g}])") in text
    assert f"numerator {row['numerator']:,.0f}, denominator {row['denominator']:,.0f}" in text
    assert "worse than the network" in text  # the planted high-readmission hospital
    assert f"Run {store.current_run_id(root)}" in text
    sha = bundle.manifest["metrics"]["readmission_30d"]["sha256"]
    assert f"{REPO}/metrics/quality/readmission_30d.yaml:1 (sha256 {sha})" in text
    for f in bundle.manifest["data_cut"]["files"]:
        assert f"{f['table']}: {f['rows']:,} rows, sha256 {f['sha256'][:16]}" in text
    died = bundle.exclusions.filter(pl.col("metric_id") == "readmission_30d", pl.col("period") == "2025",
                                    pl.col("exclusion") == "died_in_hospital")["excluded"].item()
    assert f"died_in_hospital (discharge_disposition = 'expired'): {died:,} excluded network-wide in 2025" in text


def test_explain_a_hidden_result_gives_the_reason_and_no_numbers(published):
    import polars as pl

    from carescore.publish import store

    root, _ = published
    hidden = store.read_public(root).filter(pl.col("status") == "suppressed", pl.col("stratum") != "all").row(0, named=True)
    out = cli("explain", hidden["metric_id"], "--unit", hidden["unit_id"], "--period", hidden["period"], "--stratum",
              hidden["stratum"], "--value", hidden["stratum_value"], env={"CARESCORE_STORE": str(root)})
    assert out.returncode == 0, out.stderr
    result = out.stdout.split("\nResult: ")[1]
    assert f"status     suppressed: {hidden['footnote']}" in result
    assert "value" not in result and "numerator" not in result


def test_explain_unknown_metric_is_one_sentence_with_a_suggestion(published):
    out = cli("explain", "readmision_30d", env={"CARESCORE_STORE": str(published[0])})
    assert out.returncode == 1
    assert out.stderr.strip() == "unknown metric 'readmision_30d'; did you mean 'readmission_30d'?"


def test_diff_reports_exactly_what_changed_between_two_runs(published, tmp_path):
    import json

    import polars as pl

    from carescore.publish import store

    root, _ = published
    target = tmp_path / "pub"
    run = store.current_run_id(root)
    shutil.copytree(root / "runs" / run, target / "runs" / run)
    later = run[:-8] + "ffffffff"  # sorts after the first run
    shutil.copytree(root / "runs" / run, target / "runs" / later)
    (target / "CURRENT").write_text(later + "\n")
    public = pl.read_parquet(target / "runs" / later / "public.parquet")
    ok = (pl.col("status") == "ok") & (pl.col("stratum") == "all") & (pl.col("level") == "provider")
    moved = public.filter(ok, pl.col("ci_high") < 0.9 * pl.col("ci_high").max()).row(0, named=True)
    hidden = public.filter(ok, pl.col("unit_id") != moved["unit_id"]).row(0, named=True)
    # one more: its count moves by 3 for the same period, its rounded value does not (a differencing risk)
    recount = public.filter(ok, ~pl.col("unit_id").is_in([moved["unit_id"], hidden["unit_id"]])).row(0, named=True)
    key = ["metric_id", "period", "level", "unit_id", "stratum", "stratum_value"]
    is_row = lambda r: pl.all_horizontal(pl.col(k) == r[k] for k in key)  # noqa: E731
    public = public.with_columns(
        value=pl.when(is_row(moved)).then(pl.col("ci_high") * 1.05 + 0.01).otherwise(pl.col("value")),
        status=pl.when(is_row(hidden)).then(pl.lit("suppressed")).otherwise(pl.col("status")),
        cases=pl.when(is_row(recount)).then(pl.col("cases") + 3).otherwise(pl.col("cases")))
    public.write_parquet(target / "runs" / later / "public.parquet")
    manifest = json.loads((target / "runs" / later / "manifest.json").read_text())
    manifest["metrics"]["followup_7d"]["sha256"] = "0" * 16
    (target / "runs" / later / "manifest.json").write_text(json.dumps(manifest))

    out = cli("diff", "--out", str(tmp_path / "changes.csv"), env={"CARESCORE_STORE": str(target)})
    assert out.returncode == 0, out.stderr
    assert f"from {run} " in out.stdout and f"to   {later} " in out.stdout
    assert "definitions changed: followup_7d" in out.stdout
    assert ("results added 0, removed 0, status changed 1, moved outside the earlier 95% interval 1, "
            "moved within it 0") in out.stdout
    assert "status changes: ok → suppressed: 1" in out.stdout
    changes = pl.read_csv(tmp_path / "changes.csv", infer_schema=False)
    assert sorted(changes["unit_id"].to_list()) == sorted([moved["unit_id"], hidden["unit_id"], recount["unit_id"]])
    assert "warning: 1 published result(s) for the same period changed by 1 to 10 people or events" in out.stdout
    assert changes.filter(pl.col("small_change") == "true")["unit_id"].to_list() == [recount["unit_id"]]

    same = cli("diff", "--from", run, "--to", run, env={"CARESCORE_STORE": str(target)})
    assert "status changed 0, moved outside the earlier 95% interval 0, moved within it 0" in same.stdout
    first = cli("diff", "--to", run, env={"CARESCORE_STORE": str(target)})
    assert first.returncode == 1 and "is the first published run" in first.stderr


def _bad_invocations(tmp_path):
    empty = tmp_path / "empty-store"
    empty.mkdir()
    garbled = tmp_path / "metrics"
    shutil.copytree(REPO / "metrics", garbled)
    (garbled / "quality" / "followup_7d.yaml").write_bytes(b"\xff\xfeid: x\n")
    nowhere = tmp_path / "no" / "such"
    return [
        ("demo", "--out", str(tmp_path / "d"), "--patients", "10", "--format", "xml"),
        ("demo", "--out", "/proc/no/such", "--patients", "10"),
        ("check", str(nowhere)),
        ("check", str(garbled)),
        ("sql", "no_such_metric"),
        ("sql", "no_such_fact", "--fused"),
        ("sql", "readmission_30d", "--metrics", str(garbled)),
        ("run", "--data", str(nowhere), "--store", str(empty)),
        ("run", "--data", str(tmp_path), "--metrics", str(nowhere), "--store", str(empty)),
        ("run", "--data", str(tmp_path), "--format", "xml", "--store", str(empty)),
        ("run", "--data", str(tmp_path), "--as-of", "yesterday", "--store", str(empty)),
        ("validate", "--data", str(nowhere)),
        ("validate", "--data", str(tmp_path), "--format", "xml"),
        ("results", "--store", str(empty)),
        ("results", "--store", str(empty), "--format", "xml"),
        ("explain", "readmission_30d", "--store", str(empty)),
        ("diff", "--store", str(empty)),
        ("stars", "--measures", str(nowhere), "--method", str(nowhere)),
        ("incentives", "--scenario", str(nowhere), "--measures", str(nowhere)),
        ("no-such-command",),
    ]


def test_every_command_with_bad_arguments_fails_in_a_sentence_not_a_traceback(tmp_path):
    for args in _bad_invocations(tmp_path):
        out = cli(*args)
        said = out.stdout + out.stderr
        assert out.returncode != 0 and out.stderr.strip(), (args, said)
        assert "Traceback" not in said and "internal error" not in said, (args, said)
    garbled = cli("check", str(tmp_path / "metrics"))
    assert (f"{tmp_path}/metrics/quality/followup_7d.yaml:1:1: error[M006] the file is not text: byte 0xff is not UTF-8"
            in garbled.stderr)


def test_bad_arguments_against_a_publication(published, tmp_path):
    env = {"CARESCORE_STORE": str(published[0])}
    for args in [("results", "--format", "xml"), ("results", "--format", "parquet"),
                 ("results", "--out", str(tmp_path / "no" / "such.csv")), ("explain", "no_such_metric"),
                 ("diff", "--from", "no-such-run"), ("diff", "--out", str(tmp_path / "no" / "such.csv"))]:
        out = cli(*args, env=env)
        assert out.returncode != 0 and out.stderr.strip(), args
        assert "Traceback" not in out.stdout + out.stderr, (args, out.stderr)
    out = cli("results", "--out", str(tmp_path / "no" / "such.csv"), env=env)
    assert out.stderr == f"{tmp_path}/no/such.csv: no such file or directory\n"


def test_a_bug_is_an_internal_error_and_debug_shows_its_traceback(monkeypatch, capsys):
    import pytest

    from carescore import cli as cli_mod
    from carescore.define import loader

    def broken(root):
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(loader, "load_catalog", broken)
    with pytest.raises(SystemExit) as done:
        cli_mod.main(["check", "metrics"])
    assert done.value.code == cli_mod.INTERNAL_ERROR != 0
    assert capsys.readouterr().err == ("internal error: RuntimeError: a bug; please report it (rerun with --debug "
                                       "for the traceback)\n")
    with pytest.raises(RuntimeError, match="a bug"):
        cli_mod.main(["check", "metrics", "--debug"])
