"""A no-op `mlops repro` is answered without Typer, pydantic or DVC (pipeline.versioning.up_to_date): the same
answer as the full command and as `dvc status`, and never a way around the params schema."""

import json

from typer.testing import CliRunner

from pipeline.cli.commands import app
from pipeline.versioning.up_to_date import _covered, _leaf_keys
from tests.conftest import add_stages, run
from tests.e2e.test_foundation import digest


def test_leaf_keys_and_what_a_recorded_key_covers():
    assert _leaf_keys({"seed": 1, "data": {"drop": ["id"], "extra": {}}}) == ["seed", "data.drop", "data.extra"]
    assert _covered("train.logreg.C", {"train"}) and _covered("data.drop", {"data.drop"})
    assert not _covered("data.dropped", {"data.drop"}) and not _covered("extra", {"data.drop"})


def test_noop_repro_says_what_the_full_command_says(repo, monkeypatch):
    before = digest(repo)
    fast = run(["mlops", "repro"], repo)
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}
    monkeypatch.chdir(repo)
    full = CliRunner().invoke(app, ["repro"], catch_exceptions=False)  # Typer's parsing: the full path
    assert full.exit_code == 0
    assert fast.stdout.split() == full.stdout.split()
    assert fast.stdout.count("skipped (up to date)") == 5
    assert digest(repo) == before


def test_noop_repro_defers_to_the_full_path_on_a_change_or_an_unknown_key(repo):
    params = repo / "params.yaml"
    original = params.read_text()
    params.write_text(original.replace("C: 0.01", "C: 0.02"))
    assert "train" in json.loads(run(["dvc", "status", "--json"], repo).stdout)
    assert "train     ran" in run(["mlops", "repro"], repo).stdout

    params.write_text(params.read_text() + "unknown_key: 1\n")  # no stage reads it: only the schema can refuse it
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}
    refused = run(["mlops", "repro"], repo, check=False)
    assert refused.returncode == 2 and "unknown_key" in refused.stderr


def test_stages_only_dvc_can_judge_are_judged_by_dvc(repo):
    """A `wdir` or templated (`foreach`) stage added to dvc.yaml: `mlops status` and `mlops repro` said "up to
    date" and ran nothing while `dvc status` called it stale."""
    (repo / "extra").mkdir()
    (repo / "extra" / "in.txt").write_text("a\n")
    add_stages(
        repo,
        "  copy:\n    wdir: extra\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n"
        "  each:\n    foreach: [x, y]\n    do:\n      cmd: echo ${item} > extra/${item}.txt\n"
        '      outs: ["extra/${item}.txt"]\n',
    )
    assert run(["mlops", "status"], repo).stdout.startswith("Pipeline is up to date")

    (repo / "extra" / "in.txt").write_text("b\n")
    (repo / "extra" / "x.txt").unlink()
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {"copy", "each@x"}
    status = run(["mlops", "status"], repo).stdout
    assert "copy: stale\n    changed deps: extra/in.txt (modified)" in status
    assert "each@x: stale\n    changed outs: extra/x.txt (deleted)" in status
    assert "train: up to date" in status
    listed = json.loads(run(["mlops", "status", "--json"], repo).stdout)
    assert {entry["stage"] for entry in listed if entry["stale"]} == {"copy", "each@x"}

    ran = run(["mlops", "repro"], repo).stdout
    assert "copy      ran" in ran and "train     skipped (up to date)" in ran
    assert (repo / "extra" / "out.txt").read_text() == "b\n" and (repo / "extra" / "x.txt").read_text() == "x\n"
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}
    assert run(["mlops", "status"], repo).stdout.startswith("Pipeline is up to date")
