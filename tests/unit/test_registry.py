"""The registry's reading of GTO tags: versions, the prod stage and its history, references, version numbers."""

import pytest
from gto.constants import tag_re

from pipeline.serving import registry
from pipeline.serving.registry import Event, in_stage, next_version, registered_versions


def event(tag: str, commit: str) -> Event:
    match = tag_re.match(tag)
    return Event(tag, commit, match["version"], match["stage"], bool(match["cancel"]), int(match["counter"] or 0))


PROMOTED_TWICE = [
    event("lending-risk@v1.0.0", "aaa"),
    event("lending-risk#prod#1", "aaa"),
    event("lending-risk@v1.1.0", "bbb"),
    event("lending-risk#prod#2", "bbb"),
]


def test_the_last_assignment_is_the_champion_and_the_earlier_one_its_history():
    assert in_stage(PROMOTED_TWICE) == ["bbb", "aaa"]
    assert registered_versions(PROMOTED_TWICE) == {"v1.0.0": "aaa", "v1.1.0": "bbb"}


def test_a_rollback_unassigns_the_champion_and_assigns_the_previous_one_again():
    rolled_back = [*PROMOTED_TWICE, event("lending-risk#prod!#3", "bbb"), event("lending-risk#prod#4", "aaa")]
    assert in_stage(rolled_back) == ["aaa"]
    repromoted = [*rolled_back, event("lending-risk#prod#5", "bbb")]
    assert in_stage(repromoted) == ["bbb", "aaa"]
    assert in_stage(repromoted, "staging") == []


def test_versions_count_up_by_minor_from_v1():
    assert next_version([]) == "v1.0.0"
    assert next_version(["v1.0.0", "v1.9.0", "v1.10.0"]) == "v1.11.0"
    assert next_version(["v2.3.4", "v1.0.0"]) == "v2.4.0"


@pytest.mark.parametrize("reference", ["HEAD", "main", "v1", "abc123", "retrain/2026-01-01T00-00-00Z", "HEAD@{1}"])
def test_git_revisions_are_not_registry_references(reference, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no dvc.yaml needed: nothing to resolve
    assert registry.resolve(reference) == reference


def test_a_reference_to_an_unknown_version_names_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        "artifacts:\n  lending-risk:\n    path: models/model.skops\n    type: model\n", encoding="utf-8"
    )
    monkeypatch.setattr(registry, "read_events", lambda name: PROMOTED_TWICE)
    assert registry.resolve("lending-risk@v1.0.0") == "aaa"
    assert registry.resolve("lending-risk@prod") == registry.resolve("lending-risk#prod") == "bbb"
    assert registry.resolve("lending-risk@latest") == "bbb"
    with pytest.raises(registry.UserError, match=r"declares no model artifact 'other-model' \(its artifacts: lending-"):
        registry.resolve("other-model@prod")  # git knows no revision of that name either
    with pytest.raises(registry.UserError, match=r"no version v9.0.0 of lending-risk \(versions: v1.0.0, v1.1.0\)"):
        registry.resolve("lending-risk@v9.0.0")
    with pytest.raises(registry.UserError, match="no version of lending-risk is in stage staging"):
        registry.resolve("lending-risk#staging")


def test_without_a_model_artifact_there_is_no_champion_and_a_promotion_says_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    assert registry.champion_commit() is None
    with pytest.raises(registry.UserError, match="dvc.yaml declares no artifact of type model"):
        registry.promote("aaa", None, "promote")


def test_a_registry_tag_on_a_file_is_refused_by_name_before_gto_reads_it(tmp_path, monkeypatch):
    """`git tag -a lending-risk@v1.1.0 HEAD:dvc.yaml` (a version's tag on a file) made `mlops deploy promote` end in
    GTO's traceback ('Blob' object has no attribute 'commit_time') and `lending-risk@v1.1.0` "not a commit here"."""
    from tests.conftest import run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        "artifacts:\n  lending-risk:\n    path: models/model.skops\n    type: model\n", encoding="utf-8"
    )
    run(["git", "init", "-q"], tmp_path)
    run(["git", "add", "dvc.yaml"], tmp_path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first"], tmp_path)
    for tag, target in (("lending-risk@v1.0.0", "HEAD"), ("lending-risk#prod#1", "HEAD")):
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "tag", "-a", "-m", "gto", tag, target], tmp_path)
    commit = run(["git", "rev-parse", "HEAD"], tmp_path).stdout.strip()
    assert registry.champion_commit() == commit
    run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "tag",
            "-a",
            "-m",
            "m",
            "lending-risk@v1.1.0",
            "HEAD:dvc.yaml",
        ],
        tmp_path,
    )
    for read in (registry.champion_commit, lambda: registry.resolve("lending-risk@v1.1.0")):
        with pytest.raises(registry.UserError) as refused:
            read()
        assert refused.value.message == (
            "the registry's tag lending-risk@v1.1.0 is on a file (blob), not a commit: GTO cannot read the registry "
            "with it"
        )
        assert refused.value.hint.startswith("delete it (`git tag -d lending-risk@v1.1.0`)")
