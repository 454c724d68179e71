"""The README's main job end to end, in temporary copies of the repo with real git and real DVC."""

import hashlib
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from pipeline.cli.commands import app
from tests.conftest import run

EXPECTED_METRICS = {
    "roc_auc",
    "roc_auc_ci_low",
    "roc_auc_ci_high",
    "pr_auc",
    "brier",
    "log_loss",
    "ks",
    "gini",
    "expected_cost",
    "threshold",
}
PLOTS = ("roc", "precision_recall", "calibration", "confusion_matrix", "importance")


def digest(repo: Path) -> dict[str, str]:
    """Hashes of everything a run may write."""
    files = [
        repo / "dvc.lock",
        repo / "params.yaml",
        *sorted((repo / "models").glob("*.skops")),
        *sorted((repo / "reports").rglob("*.json")),
        *sorted((repo / "data").rglob("*.parquet")),
    ]
    return {str(p.relative_to(repo)): hashlib.md5(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def lock_stages(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


def test_repro_builds_model_metrics_and_plots(repo):
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    assert metrics.keys() >= EXPECTED_METRICS
    assert metrics["roc_auc_ci_low"] < metrics["roc_auc"] < metrics["roc_auc_ci_high"]
    assert 0.6 < metrics["roc_auc"] < 0.95
    for name in PLOTS:
        assert json.loads((repo / "reports" / "plots" / f"{name}.json").read_text())[name]
    shown = run(["dvc", "plots", "show", "--json"], repo).stdout
    assert "ROC" in shown and "Permutation importance" in shown
    assert "Intended use" in (repo / "reports" / "model_card.md").read_text()


def test_git_keeps_no_data(repo):
    tracked = run(["git", "ls-files", "data", "models"], repo).stdout.split()
    assert tracked and all(Path(p).name in (".gitignore", "README.md") or p.endswith(".dvc") for p in tracked)


def test_second_run_executes_nothing_and_changes_no_byte(repo):
    before = digest(repo)
    result = run(["mlops", "repro"], repo)
    assert "Running stage" not in result.stdout
    assert result.stdout.count("skipped (up to date)") == 5
    assert digest(repo) == before


def test_model_change_reruns_only_train_and_evaluate(repo):
    before = lock_stages(repo)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.1"))
    status = run(["mlops", "status"], repo).stdout
    assert "param train.logreg.C changed (0.01 -> 0.1)" in status
    result = run(["mlops", "repro"], repo)
    after = lock_stages(repo)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"train", "evaluate"}
    assert "Running stage 'train'" in result.stdout and "Running stage 'split'" not in result.stdout
    assert run(["dvc", "status", "--json"], repo).stdout.strip() == "{}"


def test_subset_run_is_a_temporary_experiment(repo):
    before = digest(repo)
    result = run(["mlops", "repro", "--subset", "0.1"], repo)
    assert digest(repo) == before
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    name = next(word for word in result.stdout.split() if word.startswith("subset-"))
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    experiments = {
        rev["name"]: rev["data"]["params"]["params.yaml"]["data"]["data"]["sample_frac"]
        for baseline in shown
        for exp in baseline.get("experiments") or []
        for rev in exp["revs"]
    }
    assert experiments.get(name) == 0.1


def test_bad_param_refused_before_any_stage(repo):
    before = digest(repo)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("sample_frac: 1.0", "sample_frac: 1"))
    result = run(["mlops", "repro"], repo, check=False)
    assert result.returncode == 2
    assert "data.sample_frac = 1 (int)" in result.stderr and "Traceback" not in result.stderr
    assert "Running stage" not in result.stdout
    status = run(["mlops", "status"], repo, check=False)  # says it as repro does, not "run mlops repro"
    assert status.returncode == 2 and "data.sample_frac = 1 (int)" in status.stderr
    params.write_text(params.read_text().replace("sample_frac: 1", "sample_frac: 1.0"))
    assert digest(repo) == before
    params.write_text(params.read_text() + "unknown: 1\n")  # read by no stage: nothing is stale
    status = run(["mlops", "status"], repo, check=False)
    assert status.returncode == 2 and "unknown: unknown key" in status.stderr


def test_bad_data_fails_the_run_and_loses_nothing(repo):
    before = digest(repo)
    schema_path = repo / "reports" / "schema.json"
    schema = json.loads(schema_path.read_text())
    schema["columns"]["term"]["categories"] = ["term_36"]  # the data also holds term_60
    schema_path.write_text(json.dumps(schema, indent=2) + "\n")
    result = run(["mlops", "repro"], repo, check=False)
    assert result.returncode == 2
    assert "column 'term', rule isin" in result.stderr and "'term_60'" in result.stderr
    assert "Traceback" not in result.stderr
    after = digest(repo)
    del before["reports/schema.json"], after["reports/schema.json"]  # the edit itself is the user's
    assert after == before


def test_python_dash_m_and_cli_runner(repo, monkeypatch):
    assert "repro" in run(["python", "-m", "pipeline", "--help"], repo).stdout
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(app, ["status"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "up to date" in result.stdout
    result = CliRunner().invoke(app, ["status", "--json"], catch_exceptions=False)
    assert [entry["stage"] for entry in json.loads(result.stdout)] == [
        "ingest",
        "validate",
        "split",
        "train",
        "evaluate",
    ]


def test_outside_the_project_is_a_clear_error(tmp_path):
    result = run(["mlops", "status"], tmp_path, check=False)
    assert result.returncode == 2 and "not in the project's root" in result.stderr


def test_a_copy_of_the_project_without_git_is_one_clear_error(repo, tmp_path):
    """The project's files without their git repository (a downloaded archive, a copy without `.git`): `mlops status`
    ended in a traceback (git's 'not a git repository' raised from the merge check), `mlops data add` in "DVC's message
    above says why" with no message above and an empty data/external/ left behind."""
    copy = tmp_path / "copy"
    run(["cp", "-r", str(repo), str(copy)], tmp_path)
    run(["rm", "-rf", str(copy / ".git"), str(copy / "data/external")], tmp_path)
    (tmp_path / "loans.csv").write_text((repo / "README.md").read_text())  # never read: refused before
    before = sorted(str(path.relative_to(copy)) for path in copy.rglob("*"))
    for command in (["status"], ["repro"], ["data", "status"], ["data", "add", str(tmp_path / "loans.csv")]):
        result = run(["mlops", *command], copy, check=False)
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.splitlines() == [
            f"error: {copy}: not a git repository (dvc.yaml and .dvc/ are here, but no .git)",
            "  hint: work in a git clone of the project (`git clone URL`), or make this folder one: `git init`, then "
            "commit it",
        ], (command, result.stderr)
    assert sorted(str(path.relative_to(copy)) for path in copy.rglob("*")) == before
