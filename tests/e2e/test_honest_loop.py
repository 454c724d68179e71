"""The serve -> outcomes -> drift -> retrain -> promote loop closes honestly, in temporary clones with real git, DVC,
hooks and a server on 127.0.0.1: a loan never changes side as data grows, retraining leaves out loans already in
the data (its dry run says so, as the real run does), the documented source switch ends in a commit, and drift
says which model it judges, what it could not check, and sees loans refused for unseen categories."""

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, run
from tests.e2e.data_helpers import lending_frame, mlops
from tests.e2e.test_retrain import branches, held_out, serve_and_record
from tests.e2e.test_serve import Server

SPLITS = ("train", "validation", "test")


def loan_key(row: tuple) -> tuple:
    """A loan by its values (numbers as floats: an appended CSV may turn a column of ints into floats)."""
    return tuple(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in row)


def sides(repo) -> dict[tuple, str]:
    result = {}
    for name in SPLITS:
        frame = pd.read_parquet(repo / f"data/split/{name}.parquet")
        result.update({loan_key(row): name for row in frame[sorted(frame.columns)].itertuples(index=False)})
    return result


@pytest.mark.slow
def test_appended_batches_never_move_a_loan_and_an_old_revision_reproduces_its_split(repo, tmp_path):
    loans = lending_frame()
    first, second, third = loans.iloc[:6000], loans.iloc[6000:8000], loans.iloc[8000:]
    first.to_csv(tmp_path / "loans.csv", index=False)
    second.to_csv(tmp_path / "batch-2.csv", index=False)
    third.to_csv(tmp_path / "batch-3.csv", index=False)
    mlops(repo, "data", "add", str(tmp_path / "loans.csv"), "--drop", "rownames")
    run(["dvc", "repro", "split"], repo)
    run("git add -A && git commit -q --no-verify -m v1 && git tag v1", repo)
    before = sides(repo)
    assert len(before) == 6000

    for batch in ("batch-2.csv", "batch-3.csv"):
        mlops(repo, "data", "add", str(tmp_path / batch), "--append")
        run(["dvc", "repro", "split"], repo)
        after = sides(repo)
        moved = [key for key, side in before.items() if after[key] != side]
        assert moved == [], f"{len(moved)} loans changed side after appending {batch}"
        before = after
    run("git add -A && git commit -q --no-verify -m v2", repo)
    test_share = sum(side == "test" for side in before.values()) / len(before)
    assert len(before) == len(loans) and abs(test_share - 0.2) < 0.02

    # an old revision re-runs its own split to the same bytes (its dvc.lock stays as committed)
    mlops(repo, "checkout", "v1")
    run(["dvc", "repro", "--force", "--single-item", "split"], repo)
    assert run(["git", "status", "--porcelain", "dvc.lock"], repo).stdout == ""


@pytest.mark.slow
def test_retrain_dry_run_and_real_run_agree_on_a_batch_repeating_known_loans(file_sourced, tmp_path):
    repo = file_sourced
    loans = held_out(repo)
    shifted = loans.assign(int_rate=loans["int_rate"] * 1.6, annual_inc=loans["annual_inc"] * 0.5)
    replayed = loans.head(300).assign(id=[f"replay-{i}" for i in range(300)])  # loans already in the data
    serve_and_record(repo, pd.concat([shifted, replayed], ignore_index=True), "logs/mixed", tmp_path)

    dry = mlops(repo, "monitor", "retrain", "--dry-run", "--log-dir", "logs/mixed")
    assert "300 of 1300 logged loans with outcomes are already in data/external/loans.csv" in dry.stdout
    assert "append 1000 logged loans with outcomes" in dry.stdout and "checks passed" in dry.stdout
    assert branches(repo) == ["main"]

    real = mlops(repo, "monitor", "retrain", "--log-dir", "logs/mixed", "--tolerance", "0.5")
    assert "300 of 1300 logged loans with outcomes are already in" in real.stdout
    assert "neither model trained on" in real.stdout and "interval" in real.stdout, real.stdout
    # with the stable split no loan of the retrained test split was in the champion's training data
    assert "left out because one of the models trained on them" not in real.stdout
    [branch] = [name for name in branches(repo) if name.startswith("retrain/")]
    message = run(["git", "log", "-1", "--format=%B", branch], repo).stdout
    assert message.startswith("retrain: 1000 logged loans with outcomes appended")
    assert "300 logged loans already in the data left out" in message


def test_retrain_on_replayed_traffic_is_not_retrained_by_decision(file_sourced, tmp_path):
    repo = file_sourced
    serve_and_record(repo, held_out(repo), "logs/replay", tmp_path)  # every loan is already in the data
    # a threshold that noise crosses (monitor params retrain nothing), so that retraining is considered
    thresholds = (repo / "monitor.yaml").read_text().replace("psi_threshold: 0.2", "psi_threshold: 0.0001")
    (repo / "monitor.yaml").write_text(thresholds)
    for dry_run in (["--dry-run"], []):
        result = run(["mlops", "monitor", "retrain", *dry_run, "--log-dir", "logs/replay"], repo, check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "1000 of 1000 logged loans with outcomes are already in data/external/loans.csv" in result.stdout
        assert "not retrained: 0 new loans with a known outcome" in result.stdout
    assert branches(repo) == ["main"]


@pytest.mark.slow
def test_the_documented_source_switch_ends_in_one_commit_that_passes_the_hooks(repo):
    run(["git", "commit", "-q", "--no-verify", "-m", "trained", "--allow-empty", "--", "dvc.lock", "reports"], repo)
    run(["mlops", "hooks", "install"], repo)
    recipe = documented_source_switch()
    assert len(recipe) == 3 and "loans.csv" in recipe[0]
    results = [run(line, repo, check=False) for line in recipe]  # a shell: `#` starts a comment, as for the user
    assert all(result.returncode == 0 for result in results), [r.stdout + r.stderr for r in results]
    assert "Moved loans.csv to data/external/loans.csv" in results[1].stdout
    assert run(["git", "log", "-1", "--format=%s"], repo).stdout.strip() == "loans as a file"
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    tracked = run(["git", "ls-files"], repo).stdout.split()
    assert "data/external/loans.csv.dvc" in tracked and "loans.csv" not in tracked
    assert not (repo / "loans.csv").exists() and (repo / "data/external/loans.csv").is_file()


def documented_source_switch() -> list[str]:
    """The command lines of docs/serving.md that make the default data a file, as the user reads them."""
    text = (ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    block = text.split("To make the default data a file:\n\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines()]


def drift(repo, *args: str):
    return run(["mlops", "monitor", "drift", "--out", "logs/report", *args], repo, check=False)


def test_drift_names_both_models_warns_when_they_differ_and_says_what_it_could_not_check(two_models):
    repo = two_models
    old = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    traffic = held_out(repo)
    body = json.loads(traffic.drop(columns=["Class"]).to_json(orient="records"))
    server = Server(repo, "--log-dir", "logs/old", "--rev", old)
    try:
        assert server.post(body)[0] == 200
    finally:
        server.stop()

    # no outcome recorded: the live ROC AUC is not checked, and the report says so instead of "no drift" in it
    same = drift(repo, "--log-dir", "logs/old", "--rev", old)
    assert f"rev {old[:12]}" in same.stdout
    assert "not checked: live ROC AUC: 0 loans scored by the judged model have a recorded outcome" in same.stdout
    assert "live ROC AUC within" not in same.stdout and "warning" not in same.stdout

    # another model in the workspace: judged against a log scored by the old one, it warns and skips what it must
    run("git checkout -q candidate -- params.yaml dvc.lock reports && dvc checkout -q", repo)  # trained, C: 0.03
    other = drift(repo, "--log-dir", "logs/old")
    output = other.stdout
    assert "the training data of model" in output and "(the workspace)" in output
    assert "the log was scored by model" in output and f"(rev {old[:12]}): {len(traffic)} loans" in output
    assert "warning: 1000 loans were scored by another model than the one judged" in output
    assert "not checked: score PSI: 0 of the window's loans were scored by the judged model" in output
    report = json.loads((repo / "logs/report/drift.json").read_text())
    assert report["score"] is None and report["scored_by"][0]["rev"] == old and report["not_run"]


def test_an_unseen_category_reaches_the_drift_report(repo):
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    traffic = held_out(repo)
    body = json.loads(traffic.drop(columns=["Class"]).to_json(orient="records"))
    unseen = [dict(loan, id=f"new-state-{i}", addr_state="ZZ") for i, loan in enumerate(body[:50])]
    server = Server(repo, "--log-dir", "logs/unseen")
    try:
        assert server.post(body)[0] == 200
        status, answer = server.post(unseen)
        assert status == 422 and answer["detail"][0]["loc"][-1] == "addr_state"
    finally:
        server.stop()
    result = drift(repo, "--log-dir", "logs/unseen")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "50 loans were refused (422) for categories the model never saw" in result.stdout
    assert "drift: addr_state: 4.8% unseen categories > 1.0%" in result.stdout
    report = json.loads((repo / "logs/report/drift.json").read_text())
    [state] = [row for row in report["features"] if row["name"] == "addr_state"]
    assert state["unseen_share"] == pytest.approx(50 / 1050, abs=1e-4)


def test_gate_without_the_revisions_model_uses_recorded_metrics_only_when_the_split_is_the_same(repo):
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    model_md5 = next(out["md5"] for out in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"])
    (repo / ".dvc/cache/files/md5" / model_md5[:2] / model_md5[2:]).unlink()  # HEAD's model: not in the cache
    result = run(["mlops", "gate", "--against", "HEAD"], repo)
    assert "HEAD's model is not readable here" in result.stdout and "same split" in result.stdout
    assert "gate passes: roc_auc" in result.stdout and "unchanged" in result.stdout

    # another split (another seed): the recorded metrics would judge other loans, so the gate refuses
    params = (repo / "params.yaml").read_text().replace("seed: 42", "seed: 43")
    (repo / "params.yaml").write_text(params)
    run(["dvc", "repro"], repo)
    refused = run(["mlops", "gate", "--against", "HEAD"], repo, check=False)
    assert refused.returncode == 2 and "cannot read models/model.skops" in refused.stderr


def test_gate_report_and_promote_name_a_revision_as_typed_not_by_its_40_character_commit(repo, tmp_path):
    """A revision without dvc.lock, or whose test split is nowhere here, was named by its full commit id in the
    refusals of mlops gate, report and deploy promote, where the user typed a tag."""
    from pipeline import paths

    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    empty_tree = run(["git", "mktree"], repo, input="").stdout.strip()
    orphan = run(["git", "commit-tree", "-m", "no pipeline here", empty_tree], repo).stdout.strip()
    run(["git", "tag", "nolock", orphan], repo)
    for command in (["gate", "--against", "nolock"], ["deploy", "promote", "nolock"]):
        refused = mlops(repo, *command, check=False)
        assert refused.returncode == 2 and orphan not in refused.stderr, (command, refused.stderr)
        assert refused.stderr.startswith("error: revision 'nolock' has no dvc.lock"), (command, refused.stderr)
    mlops(repo, "report", "--against", "nolock", "--out", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert "revision &#x27;nolock&#x27; has no dvc.lock" in page and orphan not in page

    run(["git", "tag", "v1"], repo)
    stages = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    test_md5 = next(
        out["md5"] for stage in stages.values() for out in stage.get("outs", []) if out["path"] == paths.TEST
    )
    (repo / ".dvc/cache/files/md5" / test_md5[:2] / test_md5[2:]).rename(tmp_path / "aside")
    mlops(repo, "report", "--against", "v1", "--out", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    assert f"cannot read {paths.TEST} at revision &#x27;v1&#x27;" in page and head not in page
    gated = mlops(repo, "gate", "--against", "v1")
    assert f"cannot read {paths.TEST} at revision 'v1'" in gated.stdout and head not in gated.stdout
