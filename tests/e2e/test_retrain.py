"""`mlops monitor retrain` end to end in a trained copy whose source is a file (`file_sourced`): drifted traffic
served and logged, outcomes recorded, then a dry run (changes nothing), no drift (no retrain), and a retrain that
commits on a new branch `retrain/<UTC time>` with the gate's comparison in the message, leaving the workspace as
it was."""

import json

import pandas as pd
import pytest

from tests.conftest import anonymous_env, run
from tests.e2e.data_helpers import mlops, snapshot
from tests.e2e.test_serve import Server

WINDOW = 1000  # monitor.min_window


def held_out(repo) -> pd.DataFrame:
    """Held-out loans (validation + test splits) with ids, their outcome in `Class`."""
    frame = pd.concat([pd.read_parquet(repo / f"data/split/{name}.parquet") for name in ("validation", "test")])
    frame = frame.head(WINDOW).reset_index(drop=True)
    return frame.assign(id=[f"loan-{i}" for i in range(len(frame))])


def serve_and_record(repo, frame: pd.DataFrame, log_dir: str, tmp_path) -> None:
    """Send the loans to a real server logging into `log_dir`, then record their outcomes."""
    body = json.loads(frame.drop(columns=["Class"]).to_json(orient="records"))
    server = Server(repo, "--log-dir", log_dir)
    try:
        assert server.post(body)[0] == 200
    finally:
        server.stop()
    outcomes = tmp_path / f"{log_dir.replace('/', '-')}.csv"
    frame[["id", "Class"]].to_csv(outcomes, index=False)
    mlops(repo, "monitor", "outcomes", str(outcomes), "--log-dir", log_dir)


def branches(repo) -> list[str]:
    return run(["git", "branch", "--format=%(refname:short)"], repo).stdout.split()


@pytest.mark.slow
def test_retrain_dry_run_no_drift_and_a_new_branch(file_sourced, tmp_path):
    repo = file_sourced
    loans = held_out(repo)
    shifted = loans.assign(int_rate=loans["int_rate"] * 1.6, annual_inc=loans["annual_inc"] * 0.5)
    serve_and_record(repo, loans, "logs/same", tmp_path)
    serve_and_record(repo, shifted, "logs/shifted", tmp_path)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    before = snapshot(repo)

    same = mlops(repo, "monitor", "retrain", "--log-dir", "logs/same")
    assert "no drift" in same.stdout and "not retraining" in same.stdout

    dry = mlops(repo, "monitor", "retrain", "--dry-run", "--log-dir", "logs/shifted")
    assert "drift: int_rate" in dry.stdout and "Dry run: would retrain" in dry.stdout
    assert f"append {WINDOW} logged loans with outcomes" in dry.stdout
    assert branches(repo) == ["main"] and snapshot(repo) == before

    # where git knows no one, the retrain's commit would fail at its end: refused before it starts
    anonymous = anonymous_env(tmp_path / "home")
    refused = mlops(repo, "monitor", "retrain", "--log-dir", "logs/shifted", check=False, env=anonymous)
    assert refused.returncode == 2 and "error: git does not know who you are" in refused.stderr, refused.stderr
    assert branches(repo) == ["main"] and snapshot(repo) == before

    result = mlops(repo, "monitor", "retrain", "--log-dir", "logs/shifted", "--tolerance", "0.5")
    assert "gate passes" in result.stdout, result.stdout
    [branch] = [name for name in branches(repo) if name.startswith("retrain/")]
    message = run(["git", "log", "-1", "--format=%B", branch], repo).stdout
    assert message.startswith(f"retrain: {WINDOW} logged loans with outcomes appended to data/external/loans.csv")
    assert "int_rate: PSI" in message and "roc_auc" in message and "gate passes" in message
    assert run(["git", "rev-parse", f"{branch}~1"], repo).stdout.strip() == head
    changed = run(["git", "diff", "--name-only", "main", branch], repo).stdout.split()
    assert {"dvc.lock", "data/external/loans.csv.dvc", "reports/metrics.json"} <= set(changed)
    assert "params.yaml" not in changed  # same params, more data

    # the workspace is as it was (same commit, files and index; no worktree left); only the DVC cache grew
    assert run(["git", "rev-parse", "HEAD"], repo).stdout.strip() == head
    assert without_cache(snapshot(repo)) == without_cache(before)
    assert len(run(["git", "worktree", "list"], repo).stdout.splitlines()) == 1
    # the new model is in this repo's DVC cache: it can be scored (or served) by revision
    shifted.drop(columns=["Class"]).head(20).to_csv(tmp_path / "some.csv", index=False)
    mlops(repo, "predict", "--rev", branch, str(tmp_path / "some.csv"), "--out", str(tmp_path / "scores.csv"))

    # promoting it judges both models on the retrained test split, as retrain did, and makes it the champion
    promoted = mlops(repo, "deploy", "promote", branch)
    assert "champion" in promoted.stdout
    prod = run(["gto", "show", "lending-risk#prod", "--ref"], repo).stdout.strip()  # e.g. lending-risk@v1.1.0
    assert run(["git", "rev-parse", prod + "^{commit}"], repo).stdout == run(["git", "rev-parse", branch], repo).stdout


def without_cache(state: dict) -> dict:
    return {name: value for name, value in state.items() if name != ".dvc/cache"}


def test_a_logged_loan_the_schema_refuses_is_named_by_its_logged_id_not_a_row_of_the_batch(file_sourced, tmp_path):
    """The refusal named 'rows 10' of the batch retrain builds in memory, which the user cannot open, and its hint
    was `mlops data add --append`'s: fix the data or infer a new schema with `mlops data add FILE`, for loans that
    are no file and whose schema a data add would replace."""
    repo = file_sourced
    loans = held_out(repo)
    shifted = loans.assign(int_rate=loans["int_rate"] * 1.6, annual_inc=loans["annual_inc"] * 0.5)
    shifted.loc[8, "term"] = "term_48"  # a category the schema does not have: logged by another serving setup
    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    features = json.loads(shifted.drop(columns=["Class", "id"]).to_json(orient="records"))
    lines = [
        logged | {"id": loan, "p_default": 0.1, "features": f} for loan, f in zip(shifted["id"], features, strict=True)
    ]
    (repo / "logs").mkdir()
    (repo / "logs/predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    shifted[["id", "Class"]].to_csv(tmp_path / "outcomes.csv", index=False)
    mlops(repo, "monitor", "outcomes", str(tmp_path / "outcomes.csv"))

    result = mlops(repo, "monitor", "retrain", "--dry-run", check=False)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "the retrain batch (loans logged in logs) does not match its schema" in result.stderr, result.stderr
    assert "column 'term', rule isin(['term_36', 'term_60']): 1 failing (logged ids 'loan-8'; values 'term_48')" in (
        result.stderr
    )
    [hint] = [line for line in result.stderr.splitlines() if line.strip().startswith("hint:")]
    assert "add them to reports/schema.json" in hint and "--since" in hint and "mlops data add" not in hint, hint
    assert branches(repo) == ["main"]


def test_a_window_below_the_minimum_is_nothing_to_do_yet_while_a_real_error_still_fails(repo):
    """Run from cron, a quiet hour (fewer logged loans than monitor.min_window) exited 2 as a refusal would, so
    it read as a failure; it is nothing to do yet, exit 0. A log folder that does not exist is still an error."""
    (repo / "logs").mkdir()
    line = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "workspace"}
    lines = [line | {"id": f"loan-{n}", "p_default": 0.1, "features": {}} for n in range(3)]
    (repo / "logs/predictions.jsonl").write_text("".join(json.dumps(one) + "\n" for one in lines))

    quiet = mlops(repo, "monitor", "retrain", check=False)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert quiet.stdout == (
        "nothing to do yet: the window holds 3 logged loans; at least 1000 are needed to tell drift from noise "
        "(monitor.min_window); not retraining\n"
    ), quiet.stdout
    assert quiet.stderr == "" and branches(repo) == ["main"]

    typo = mlops(repo, "monitor", "retrain", "--log-dir", "log", check=False)
    assert typo.returncode == 2 and "--log-dir log" in typo.stderr, typo.stderr
