"""dvc-lock-sync through real commits: a params change is refused (check) or retrains (repro)."""

from __future__ import annotations

import json

from hooks.dvc_lock_sync import stale_stages, subset_lock
from tests.conftest import run
from tests.hooks.conftest import commit, head_files, output


def set_param(repo, old: str, new: str) -> None:
    params = repo / "params.yaml"
    text = params.read_text()
    assert old in text
    params.write_text(text.replace(old, new, 1))


def use_check_mode(repo) -> None:
    config = repo / ".pre-commit-config.yaml"
    config.write_text(config.read_text().replace("hooks.dvc_lock_sync repro", "hooks.dvc_lock_sync check"))
    run(["git", "commit", "-q", "--no-verify", "-m", "check mode", "--", ".pre-commit-config.yaml"], repo)


def test_check_mode_refuses_a_params_change(hooked):
    use_check_mode(hooked)
    set_param(hooked, "model: logreg", "model: hgb")
    result = commit(hooked, "params.yaml")
    assert result.returncode != 0
    text = output(result)
    assert "train:" in text and "param train.model changed ('logreg' -> 'hgb')" in text and "mlops repro" in text
    assert "SKIP=dvc-lock-sync" in text


def test_check_mode_refuses_a_type_only_change(hooked):
    use_check_mode(hooked)
    set_param(hooked, "sample_frac: 1.0", "sample_frac: 1")
    result = commit(hooked, "params.yaml")
    assert result.returncode != 0
    assert "param data.sample_frac changed type only (1.0 -> 1)" in output(result)


def test_repro_mode_retrains_and_the_repeated_commit_records_everything(hooked):
    before = json.loads((hooked / "reports/metrics.json").read_text())
    set_param(hooked, "model: logreg", "model: hgb")
    first = commit(hooked, "params.yaml")
    assert first.returncode != 0
    assert "retrained" in output(first) and "roc_auc" in output(first) and "git commit` again" in output(first)
    second = commit(hooked)
    assert second.returncode == 0, output(second)
    assert {"params.yaml", "dvc.lock", "reports/metrics.json"} <= head_files(hooked)
    assert json.loads((hooked / "reports/metrics.json").read_text()) != before
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")


def test_repro_mode_refuses_without_retraining_when_reports_hold_unstaged_edits(hooked):
    lock_before = (hooked / "dvc.lock").read_text()
    card = hooked / "reports/model_card.md"
    card.write_text(card.read_text() + "\nmy own note\n")
    set_param(hooked, "model: logreg", "model: hgb")
    result = commit(hooked, "params.yaml")
    assert result.returncode != 0
    assert "unstaged edits" in output(result) and "reports/model_card.md" in output(result)
    assert (hooked / "dvc.lock").read_text() == lock_before
    assert card.read_text().endswith("my own note\n")


def test_repro_mode_keeps_the_commit_blocked_when_params_are_invalid(hooked):
    lock_before = (hooked / "dvc.lock").read_text()
    set_param(hooked, "sample_frac: 1.0", "sample_frac: 1")  # the schema wants a float: the run fails
    result = commit(hooked, "params.yaml")
    assert result.returncode != 0
    assert "a float is needed" in output(result)
    assert (hooked / "dvc.lock").read_text() == lock_before


def reader(files: dict[str, str]):
    return lambda path: files[path].encode() if path in files else None


def test_pure_check_of_a_subset_lock():
    lock = "stages:\n  train:\n    params:\n      params.yaml:\n        data.sample_frac: 0.1\n"
    assert subset_lock(reader({"dvc.lock": lock})) == 0.1
    assert subset_lock(reader({"dvc.lock": lock.replace("0.1", "1.0")})) is None
    dvc_yaml = "stages:\n  train:\n    cmd: x\n    params: [data.sample_frac]\n"
    stale = stale_stages(reader({"dvc.yaml": dvc_yaml, "dvc.lock": lock, "params.yaml": "data:\n  sample_frac: 1.0\n"}))
    assert [state.name for state in stale] == ["train"]
