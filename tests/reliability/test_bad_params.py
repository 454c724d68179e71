"""Bad params: every field of the schema with a wrong type and an out-of-range value, unknown keys, and broken
YAML. `mlops repro` refuses before DVC runs, names the key and the value, and changes nothing.

The full matrix runs `mlops` in this process (quick); a few cases run the real command as a user would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main as mlops_main
from pipeline.params import read_params_yaml, with_overrides
from pipeline.versioning import dvc_seam
from tests.conftest import clone_repo, run
from tests.reliability.helpers import Snapshot, assert_clear_error

# field: (a value of the wrong type, a value out of range or None when the type has no range)
FIELDS = {
    "seed": ("42", -1),
    "data.source": (5, ""),
    "data.target": (["Class"], ""),
    "data.positive_label": (1, ""),
    "data.drop": ("rownames", None),
    "data.schema": (None, ""),
    "data.sample_frac": ("half", 1.5),
    "split.test_size": (1, 0.6),
    "split.validation_size": ("0.2", 0.0),
    "decision.cost_bad_approved": (True, -5.0),
    "decision.cost_good_rejected": ([1.0], -1.0),
    "train.model": (3, "xgboost"),
    "train.logreg.C": ("small", 0.0),
    "train.logreg.max_iter": (2000.0, 0),
    "train.hgb.learning_rate": ("fast", 2.0),
    "train.hgb.max_iter": ("300", 0),
    "train.hgb.max_leaf_nodes": (4.5, 1),
    "train.hgb.min_samples_leaf": ([100], 0),
    "train.hgb.l2_regularization": ("none", -1.0),
    "evaluate.importance_rows": ("all", 9),
    "evaluate.importance_repeats": (None, 0),
}
# A data file DVC does not version: a change to it would retrain nothing, and a clone would not have it.
UNVERSIONED_SOURCES = ("/home/me/loans.csv", "loans.csv", "data/external/../loans.csv", "data/loans.csv")
UNKNOWN_KEYS = {"extra_section": 1, "train.logreg.penalty": "l2", "data.sourse": "typo.csv"}
# A value fine alone that contradicts another key: the target (`data.target: Class`) listed among the dropped columns.
CONTRADICTIONS = {
    "target dropped": {"data.drop": ["rownames", "Class"]},
    "a column dropped twice": {"data.drop": ["rownames", "rownames"]},  # passed, and only rewrote dvc.lock
}
CASES = (
    [(f"{key} wrong type", {key: bad}) for key, (bad, _) in FIELDS.items()]
    + [(f"{key} out of range", {key: bad}) for key, (_, bad) in FIELDS.items() if bad is not None]
    + [(f"unknown key {key}", {key: value}) for key, value in UNKNOWN_KEYS.items()]
    + [(f"unversioned source {source}", {"data.source": source}) for source in UNVERSIONED_SOURCES]
    + list(CONTRADICTIONS.items())
)


@pytest.fixture(scope="module")
def params_repo(tmp_path_factory, trained_template) -> Path:
    """One trained copy for every case here: each case must leave it exactly as it was."""
    return clone_repo(trained_template, tmp_path_factory.mktemp("params") / "repo")


def write_params(repo: Path, overrides: dict) -> None:
    raw = with_overrides(read_params_yaml(repo / "params.yaml"), overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def mlops_in_process(repo: Path, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run `mlops ARGS` in this process, in `repo`; (exit status, output). Fails the test if DVC would run."""
    monkeypatch.chdir(repo)
    monkeypatch.setattr(sys, "argv", ["mlops", *args])
    monkeypatch.setattr(dvc_seam, "repro", lambda **_: pytest.fail("DVC ran despite bad params"))
    with pytest.raises(SystemExit) as exit_info:
        mlops_main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out + captured.err


@pytest.mark.parametrize(("case", "overrides"), CASES, ids=[case for case, _ in CASES])
def test_bad_param_is_refused_before_dvc_runs(params_repo, monkeypatch, capsys, case, overrides):
    snapshot = Snapshot(params_repo)
    original = (params_repo / "params.yaml").read_text()
    write_params(params_repo, overrides)
    try:
        status, output = mlops_in_process(params_repo, monkeypatch, capsys, "repro")
    finally:
        (params_repo / "params.yaml").write_text(original)
    ((key, value),) = overrides.items()
    assert status == 2, output
    assert "Traceback" not in output
    assert key in output, f"the message does not name {key}:\n{output}"
    if "unknown" not in case:
        assert repr(value) in output, f"the message does not show the value {value!r}:\n{output}"
    assert "nothing was run" in output
    snapshot.assert_unchanged()


REAL_COMMAND_CASES = {
    "wrong type": ({"split.test_size": 1}, ("split.test_size", "1")),
    "out of range": ({"data.sample_frac": 1.5}, ("data.sample_frac", "1.5")),
    "unknown key": ({"train.logreg.penalty": "l2"}, ("train.logreg.penalty", "unknown key")),
}


@pytest.mark.parametrize("case", list(REAL_COMMAND_CASES))
def test_real_command_refuses_bad_params(params_repo, case):
    overrides, words = REAL_COMMAND_CASES[case]
    snapshot = Snapshot(params_repo)
    original = (params_repo / "params.yaml").read_text()
    write_params(params_repo, overrides)
    try:
        result = run(["mlops", "repro"], params_repo, check=False)
    finally:
        (params_repo / "params.yaml").write_text(original)
    output = assert_clear_error(result, *words)
    assert "Running stage" not in output
    snapshot.assert_unchanged()


def test_yaml_syntax_error_names_the_line(params_repo):
    snapshot = Snapshot(params_repo)
    original = (params_repo / "params.yaml").read_text()
    (params_repo / "params.yaml").write_text(original.replace("seed: 42", "seed: [42", 1))
    try:
        result = run(["mlops", "repro"], params_repo, check=False)
    finally:
        (params_repo / "params.yaml").write_text(original)
    output = assert_clear_error(result, "params.yaml", "not valid YAML", "line")
    assert "Running stage" not in output
    snapshot.assert_unchanged()


def test_good_params_run_after_the_bad_ones(params_repo):
    run(["mlops", "repro"], params_repo)
    assert "up to date" in run(["dvc", "status"], params_repo).stdout.lower()


BROKEN_YAML_COMMANDS = (
    ("status",),
    ("status", "--json"),
    ("repro",),
    ("repro", "--subset", "0.1"),
    ("data", "status"),
    ("data", "pull"),
    ("exp", "run", "-S", "seed=1"),
    ("gate",),
    ("predict", "data/split/test.parquet", "--out", "scores.csv"),
    ("deploy", "promote", "HEAD"),
)


BROKEN_FILES = {  # name: (what the edit does to the file's text, how the error line starts)
    "params.yaml not YAML": (
        "params.yaml",
        lambda text: text + "  broken: [\n",
        "params.yaml is not valid YAML at line ",
    ),
    "dvc.yaml not YAML": ("dvc.yaml", lambda text: text + "  broken: [\n", "dvc.yaml is not valid YAML at line "),
    "dvc.lock not YAML": ("dvc.lock", lambda text: text + "  broken: [\n", "dvc.lock is not valid YAML at line "),
    # YAML's grammar allows them, Python refuses them: a ValueError's traceback from every command
    "params.yaml number too long": (
        "params.yaml",
        lambda text: text.replace("seed: 42", "seed: " + "9" * 5_000, 1),
        "params.yaml is not valid YAML at line 2, column 7: 9999999999999999999999999999999999999999... (5,000 "
        "characters) cannot be read (Exceeds the limit (4300 digits) for integer string conversion: value has 5000",
    ),
    "dvc.lock empty": ("dvc.lock", lambda text: "", "dvc.lock is empty, and DVC cannot read it"),
    "dvc.lock impossible date": (
        "dvc.lock",
        lambda text: text.replace("schema: '2.0'", "schema: 2020-13-45", 1),
        "dvc.lock is not valid YAML at line 1, column 9: 2020-13-45 cannot be read (month must be in 1..12)",
    ),
    # PyYAML said it over two lines, the second naming "<byte string>", not the file
    "params.yaml control character": (
        "params.yaml",
        lambda text: text.replace("seed: 42", "seed: 42\x07", 1),
        "params.yaml is not valid YAML at line 2: control characters are not allowed (#x07)",
    ),
    "params.yaml alias": (
        "params.yaml",
        lambda text: text.replace("seed: 42", "seed: &s 42\nextra: *s", 1),
        "params.yaml, line 3, column 8: YAML aliases (*s) are not allowed here; write the value out",
    ),
    # Python's recursion ran out in a reader (a traceback) where the pipeline was up to date
    "params.yaml nested 600 deep": (
        "params.yaml",
        lambda text: text.replace("seed: 42", "seed: 42\nextra: " + "{a: " * 600 + "1" + "}" * 600, 1),
        "params.yaml, line 3: extra.a.a.a",
    ),
    "params.yaml lists nested 600 deep": (
        "params.yaml",
        lambda text: text.replace("drop: [rownames]", "drop: " + "[" * 600 + "rownames" + "]" * 600, 1),
        "params.yaml, line ",
    ),
    "dvc.yaml outs not a list": (
        "dvc.yaml",
        lambda text: text.replace("    outs:\n      - models/model.skops", "    outs: models/model.skops", 1),
        "dvc.yaml: stages.train.outs must be a list of paths, not 'models/model.skops'",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_a_broken_project_file_is_named_in_one_line_by_every_command(params_repo, monkeypatch, capsys, case):
    name, edit, expected = BROKEN_FILES[case]
    snapshot = Snapshot(params_repo)
    path = params_repo / name
    original = path.read_text()
    path.write_text(edit(original))
    assert path.read_text() != original
    try:
        for args in BROKEN_YAML_COMMANDS:
            status, output = mlops_in_process(params_repo, monkeypatch, capsys, *args)
            errors = [line for line in output.splitlines() if line.startswith("error:")]
            assert status == 2 and len(errors) == 1, f"mlops {' '.join(args)}:\n{output}"
            assert errors[0].startswith(f"error: {expected}"), f"mlops {' '.join(args)}:\n{output}"
    finally:
        path.write_text(original)
    snapshot.assert_unchanged()


@pytest.mark.parametrize("name", ["params.yaml", "dvc.lock"])
def test_a_folder_in_place_of_a_project_file_is_named_in_one_line(params_repo, monkeypatch, capsys, tmp_path, name):
    """A folder where params.yaml or dvc.lock belongs (a `mkdir` slip, an unzip): every command ended in
    IsADirectoryError, or called every stage stale."""
    snapshot = Snapshot(params_repo)
    path = params_repo / name
    path.rename(tmp_path / name)
    path.mkdir()
    try:
        for args in (("status",), ("repro",), ("exp", "run", "-S", "seed=1"), ("gate",)):
            status, output = mlops_in_process(params_repo, monkeypatch, capsys, *args)
            assert status == 2 and output.startswith(f"error: {name}: is a folder, not a file\n"), output
            assert f"git checkout -- {name}" in output.splitlines()[1], output
    finally:
        path.rmdir()
        (tmp_path / name).rename(path)
    snapshot.assert_unchanged()


MONITOR_YAML_GONE = {  # case: (where monitor.yaml goes, what the hint says)
    "deleted": (None, "`git checkout HEAD -- monitor.yaml` brings back the committed file"),
    "misnamed": ("monitor.yml", "rename monitor.yml to monitor.yaml"),
    "a folder in its place": ("folder", "rename the folder, then `git checkout -- monitor.yaml`"),
}


@pytest.mark.parametrize("case", list(MONITOR_YAML_GONE))
def test_monitor_yaml_gone_is_named_by_the_monitoring_commands_not_replaced_by_the_defaults(
    fresh_repo, monkeypatch, capsys, tmp_path, case
):
    """With monitor.yaml deleted, misnamed or a folder, drift and retrain judged the traffic by the default
    thresholds, saying nothing: a user's own thresholds (which decide drift's exit status and a retrain) were gone.
    They are read first, so an untrained copy shows it."""
    moved_to, hint = MONITOR_YAML_GONE[case]
    path = fresh_repo / "monitor.yaml"
    aside = fresh_repo / moved_to if moved_to == "monitor.yml" else tmp_path / "monitor.yaml"
    path.rename(aside)
    if moved_to == "folder":
        path.mkdir()
    try:
        for args in (("monitor", "drift"), ("monitor", "retrain", "--dry-run")):
            status, output = mlops_in_process(fresh_repo, monkeypatch, capsys, *args)
            lines = output.splitlines()
            assert status == 2 and len(lines) == 2, f"mlops {' '.join(args)}:\n{output}"
            assert lines[0].startswith("error: monitor.yaml"), f"mlops {' '.join(args)}:\n{output}"
            assert hint in lines[1], f"mlops {' '.join(args)}:\n{output}"
    finally:
        if path.is_dir():
            path.rmdir()
        aside.rename(path)
    assert run(["git", "status", "--porcelain"], fresh_repo).stdout == ""


def test_a_dvc_config_dvc_cannot_read_ends_in_one_error_line(params_repo, monkeypatch, capsys, tmp_path):
    snapshot = Snapshot(params_repo)
    config = params_repo / ".dvc/config"
    original = config.read_text()
    config.write_text(original + "[core\n")
    try:
        for args in (("remote", "set", str(tmp_path / "store")), ("data", "status"), ("data", "push")):
            status, output = mlops_in_process(params_repo, monkeypatch, capsys, *args)
            errors = [line for line in output.splitlines() if line.startswith("error:")]
            assert status == 2 and len(errors) == 1, f"mlops {' '.join(args)}:\n{output}"
    finally:
        config.write_text(original)
    snapshot.assert_unchanged()
