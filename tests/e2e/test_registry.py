"""The model registry with the ecosystem's own clients: `mlops deploy` writes GTO tags, `gto show` and
`dvc artifacts get` read them, `mlops predict --model` resolves them; a first promotion can be rolled back."""

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import anonymous_env, clone_repo, run, shared_template, test_env


def gto_state(repo) -> dict:
    return json.loads(run(["gto", "show", "--json"], repo).stdout)["lending-risk"]


def model_md5(repo, rev: str = "HEAD") -> str:
    lock = yaml.safe_load(run(["git", "show", f"{rev}:dvc.lock"], repo).stdout)
    return next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model.skops")


@pytest.fixture(scope="session")
def promoted_template(tmp_path_factory, two_models_template) -> Path:
    """two_models after `mlops deploy promote candidate`: v1.0.0 (main) recorded for a rollback, v1.1.0 in prod."""

    def build(repo: Path) -> None:
        clone_repo(two_models_template, repo)
        run(["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"], repo)

    return shared_template(tmp_path_factory, "promoted", build)


@pytest.fixture
def promoted(tmp_path, promoted_template) -> Path:
    """This test's own copy of `promoted_template`."""
    return clone_repo(promoted_template, tmp_path / "repo")


@pytest.fixture(scope="session")
def first_champion_template(tmp_path_factory, trained_template) -> Path:
    """The trained copy committed and promoted: HEAD is lending-risk@v1.0.0, in prod (lending-risk#prod#1)."""

    def build(repo: Path) -> None:
        clone_repo(trained_template, repo)
        run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
        run(["mlops", "deploy", "promote", "HEAD"], repo)

    return shared_template(tmp_path_factory, "first-champion", build)


@pytest.fixture
def first_champion(tmp_path, first_champion_template) -> Path:
    """This test's own copy of `first_champion_template`."""
    return clone_repo(first_champion_template, tmp_path / "repo")


@pytest.mark.slow
def test_promote_then_rollback_right_away_seen_by_gto_and_dvc_artifacts_get(two_models, tmp_path):
    repo = two_models
    first = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    second = run(["git", "rev-parse", "candidate"], repo).stdout.strip()

    promoted = run(["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"], repo)
    assert f"served before, lending-risk@v1.0.0 (commit {first[:12]}), is recorded for a rollback" in promoted.stdout
    assert f"lending-risk@v1.1.0 (commit {second[:12]}) is the champion" in promoted.stdout
    assert gto_state(repo) == {"version": "v1.1.0", "stage": {"prod": "v1.1.0"}, "registered": True, "active": True}
    tags = run(["git", "tag", "-l"], repo).stdout.split()
    assert sorted(tags) == ["lending-risk#prod#1", "lending-risk#prod#2", "lending-risk@v1.0.0", "lending-risk@v1.1.0"]
    assert run(["git", "rev-parse", "lending-risk@v1.0.0^{commit}"], repo).stdout.strip() == first
    assert run(["git", "status", "--porcelain"], repo).stdout == ""  # tags only: no commit, nothing to commit

    # DVC's own client fetches a version by name from the repository's path, offline
    got = tmp_path / "m.skops"
    run(["dvc", "artifacts", "get", str(repo), "lending-risk", "--rev", "v1.1.0", "-o", str(got)], repo)
    assert hashlib.md5(got.read_bytes()).hexdigest() == model_md5(repo, "candidate") != model_md5(repo, "main")

    loans = tmp_path / "loans.csv"
    run(f"python -c \"import pandas as p; p.read_parquet('data/split/test.parquet').head(5).to_csv('{loans}')\"", repo)
    scored = run(
        ["mlops", "predict", str(loans), "--out", str(tmp_path / "s.csv"), "--model", "lending-risk@prod"], repo
    )
    assert "lending-risk@prod" in scored.stdout and len((tmp_path / "s.csv").read_text().splitlines()) == 6

    back = run(["mlops", "deploy", "rollback"], repo)
    assert f"lending-risk@v1.0.0 (commit {first[:12]}) is the champion again" in back.stdout
    assert f"was lending-risk@v1.1.0 (commit {second[:12]})" in back.stdout
    assert gto_state(repo)["stage"] == {"prod": "v1.0.0"}
    assert run(["gto", "show", "lending-risk#prod", "--ref"], repo).stdout.strip() == "lending-risk@v1.0.0"

    again = run(["mlops", "deploy", "rollback"], repo, check=False)
    assert again.returncode == 2 and "no earlier champion of lending-risk" in again.stderr
    assert "Traceback" not in again.stderr
    unknown = run(
        ["mlops", "predict", str(loans), "--out", "x.csv", "--model", "lending-risk@v7.0.0"], repo, check=False
    )
    assert unknown.returncode == 2 and "versions: v1.0.0, v1.1.0" in unknown.stderr
    for command in (["predict", str(loans), "--out", "x.csv", "--model"], ["serve", "--model"], ["deploy", "promote"]):
        for version in ("v999", "v1.0"):
            wrong = run(["mlops", *command, f"lending-risk@{version}"], repo, check=False)
            assert wrong.returncode == 2, wrong.stdout + wrong.stderr
            assert f"no version {version} of lending-risk (versions: v1.0.0, v1.1.0)" in wrong.stderr, wrong.stderr


def test_a_version_tag_name_taken_by_a_stray_tag_is_refused_before_any_tag(two_models, tmp_path):
    """A lightweight `lending-risk@v1.1.0` (GTO reads no version from it) made GTO's register fail with a
    traceback, after the first promotion had registered and assigned prod to the model served before."""
    repo = two_models
    run(["git", "tag", "lending-risk@v1.1.0", "main"], repo)

    refused = run(["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"], repo, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "error: cannot register lending-risk@v1.1.0: a tag of that name exists already" in refused.stderr
    assert "no tag written" in refused.stderr and "git tag -d lending-risk@v1.1.0" in refused.stderr, refused.stderr
    assert run(["git", "tag", "-l"], repo).stdout.split() == ["lending-risk@v1.1.0"]

    run(["git", "tag", "-d", "lending-risk@v1.1.0"], repo)  # as the hint says
    run(["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"], repo)
    assert gto_state(repo)["stage"] == {"prod": "v1.1.0"}
    got = tmp_path / "prod.skops"
    run(["dvc", "artifacts", "get", str(repo), "lending-risk", "--stage", "prod", "-o", str(got)], repo)
    assert hashlib.md5(got.read_bytes()).hexdigest() == model_md5(repo, "candidate")


@pytest.mark.slow
def test_sigterm_during_a_promotion_never_leaves_half_its_tags(two_models):
    repo = two_models
    promote = subprocess.Popen(
        ["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"],
        cwd=repo,
        env=test_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not run(["git", "tag", "-l"], repo).stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.02)
    promote.send_signal(signal.SIGTERM)  # between the first tag and the last (GTO's tags are a second apart)
    promote.communicate(timeout=120)
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())
    assert tags == ["lending-risk#prod#1", "lending-risk#prod#2", "lending-risk@v1.0.0", "lending-risk@v1.1.0"]
    assert gto_state(repo)["stage"] == {"prod": "v1.1.0"}


@pytest.mark.slow
def test_rollback_to_a_model_missing_from_the_cache_is_refused_and_writes_no_tag(promoted):
    repo = promoted
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())
    md5 = model_md5(repo, "main")
    cached = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    cached.rename(cached.with_name("aside"))  # not pulled yet, and the test's remote never had it

    refused = run(["mlops", "deploy", "rollback"], repo, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "cannot roll back to lending-risk@v1.0.0" in refused.stderr and "no tag written" in refused.stderr
    assert "mlops data pull" in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == tags
    assert gto_state(repo)["stage"] == {"prod": "v1.1.0"}


def test_where_gto_could_not_sign_a_tag_promote_and_rollback_are_refused_before_any(promoted, tmp_path):
    """GTO writes its tags through pygit2, which takes the tagger from git's config or GIT_COMMITTER_NAME/EMAIL and
    never guesses one from the host as git may: with neither, `mlops deploy` ended in pygit2's traceback after the
    gate; with GIT_COMMITTER_DATE set, in another."""
    repo = promoted
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())
    anonymous = anonymous_env(tmp_path / "home")
    refusals = {
        "git's config has no user.name and user.email": anonymous,
        "GIT_COMMITTER_DATE is set": test_env(GIT_COMMITTER_DATE="2026-01-01T00:00:00"),
    }
    for says, env in refusals.items():
        for command in (["deploy", "promote", "main"], ["deploy", "rollback"]):
            refused = run(["mlops", *command], repo, check=False, env=env)
            assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
            assert refused.stderr.startswith(f"error: {says}") and "no tag written" in refused.stderr
            assert len(refused.stderr.splitlines()) == 2  # the line and its hint
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == tags

    bot = {"GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": "bot@example.invalid"}
    run(["mlops", "deploy", "rollback"], repo, env=anonymous | bot)  # the environment's identity is enough
    assert gto_state(repo)["stage"] == {"prod": "v1.0.0"}
    new_tags = set(run(["git", "tag", "-l"], repo).stdout.split()) - set(tags)
    taggers = {run(["git", "tag", "-l", "--format=%(taggername) %(taggeremail)", tag], repo).stdout for tag in new_tags}
    assert len(new_tags) == 2 and taggers == {"Release Bot <bot@example.invalid>\n"}


def test_a_rollback_through_version_tags_deleted_by_hand_says_which_and_writes_no_tag(promoted):
    """GTO (un)assigns a stage to a version only: with the version tags deleted by hand, a rollback wrote the
    unassignment of the champion, then died in a traceback (exit 1) before assigning prod to the previous one."""
    repo = promoted
    main, candidate = (run(["git", "rev-parse", rev], repo).stdout.strip() for rev in ("main", "candidate"))
    run(["git", "tag", "-d", "lending-risk@v1.0.0", "lending-risk@v1.1.0"], repo)
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())

    refused = run(["mlops", "deploy", "rollback"], repo, check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    registers = f"gto register lending-risk {candidate} && gto register lending-risk {main}"
    assert refused.stderr.splitlines() == [
        f"error: cannot roll back: stage prod of lending-risk is assigned to commits {candidate[:12]} and "
        f"{main[:12]} with no version tag (deleted by hand?); no tag written",
        f"  hint: register again: `{registers}`, then `mlops deploy rollback`",
    ], refused.stderr
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == tags

    run(registers, repo)
    back = run(["mlops", "deploy", "rollback"], repo)
    assert f"(commit {main[:12]}) is the champion again" in back.stdout, back.stdout
    assert run(["git", "rev-parse", "lending-risk#prod#4^{commit}"], repo).stdout.strip() == main


def test_a_stage_assigned_with_gto_assign_simple_is_the_champion_as_gto_show_says(first_champion):
    """GTO orders stage events by their tags' time; mlops ordered them by the counter, which a `--simple` tag
    (`lending-risk#prod`) lacks: the version `gto show` had in prod was, for mlops, the oldest assignment."""
    repo = first_champion  # HEAD: v1.0.0, lending-risk#prod#1
    first = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    run("git commit -q --no-verify --allow-empty -m next && gto register lending-risk HEAD --version v1.1.0", repo)
    second = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    run("sleep 1 && gto assign lending-risk --version v1.1.0 --stage prod --simple true", repo)
    assert run(["gto", "show", "lending-risk#prod", "--ref"], repo).stdout.strip() == "lending-risk@v1.1.0"

    again = run(["mlops", "deploy", "promote", "lending-risk@v1.1.0"], repo)
    assert again.stdout.splitlines() == [
        f"lending-risk@v1.1.0 (commit {second[:12]}) is already the champion: nothing to do."
    ], again.stdout
    back = run(["mlops", "deploy", "rollback"], repo)
    assert back.stdout.splitlines() == [
        f"lending-risk@v1.0.0 (commit {first[:12]}) is the champion again "
        f"(was lending-risk@v1.1.0 (commit {second[:12]}))."
    ], back.stdout
    assert run(["gto", "show", "lending-risk#prod", "--ref"], repo).stdout.strip() == "lending-risk@v1.0.0"


def test_a_lightweight_tag_named_as_a_version_is_no_version_as_for_gto(repo):
    """GTO reads annotated tags only; mlops took `git tag lending-risk@v3.0.0` for a version, so promoting its
    commit asked GTO to assign prod to a version GTO did not know: a traceback, exit 1."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty && git tag lending-risk@v3.0.0", repo)
    head = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()

    promoted = run(["mlops", "deploy", "promote", "HEAD"], repo, check=False)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert promoted.stdout.splitlines()[-1] == (
        f"lending-risk@v1.0.0 (commit {head[:12]}) is the champion (stage prod), model {model_md5(repo)}."
    ), promoted.stdout
    assert gto_state(repo) == {"version": "v1.0.0", "stage": {"prod": "v1.0.0"}, "registered": True, "active": True}
    refused = run(["mlops", "deploy", "promote", "lending-risk@v3.0.0"], repo, check=False)
    assert refused.returncode == 2 and "no version v3.0.0 of lending-risk (versions: v1.0.0)" in refused.stderr


def test_a_version_deregistered_with_gto_is_in_no_stage_as_gto_show_says(first_champion, tmp_path):
    """`gto deprecate NAME VERSION` deregisters a version and gto show then has no prod; mlops still took its
    commit for the champion: predict --model lending-risk@prod scored with it and promote said nothing to do."""
    repo = first_champion  # HEAD: v1.0.0 in prod
    run(["gto", "deprecate", "lending-risk", "v1.0.0"], repo)
    assert "prod" not in run(["gto", "show", "lending-risk"], repo).stdout
    loans = tmp_path / "loans.csv"
    run(f"python -c \"import pandas as p; p.read_parquet('data/split/test.parquet').head(5).to_csv('{loans}')\"", repo)

    refused = run(["mlops", "predict", str(loans), "--out", "x.csv", "--model", "lending-risk@prod"], repo, check=False)
    assert refused.returncode == 2 and "no version of lending-risk is in stage prod" in refused.stderr, refused.stderr
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())
    again = run(["mlops", "deploy", "promote", "HEAD"], repo, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr
    assert "it was lending-risk@v1.0.0, deregistered" in again.stderr and "no tag written" in again.stderr
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == tags
    run("git commit -q --no-verify --allow-empty -m re-release", repo)  # as the hint says
    promoted = run(["mlops", "deploy", "promote", "HEAD"], repo)  # the next version: v1.0.0's tag is still there
    assert "lending-risk@v1.1.0 (commit " in promoted.stdout and "is the champion" in promoted.stdout, promoted.stdout
    assert gto_state(repo)["stage"] == {"prod": "v1.1.0"}


def test_a_first_promotion_of_head_judges_no_model_against_itself_and_names_uncommitted_changes(repo):
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.03"))  # the workspace's next model, not HEAD's

    promoted = run(["mlops", "deploy", "promote", "HEAD"], repo)
    assert "No champion yet" in promoted.stdout and "Both models scored" not in promoted.stdout
    assert "uncommitted changes (params.yaml): what is promoted is HEAD as committed" in promoted.stdout
    assert gto_state(repo)["stage"] == {"prod": "v1.0.0"}

    again = run(["mlops", "deploy", "promote", "HEAD"], repo)  # a deploy script run twice: done, exit 0
    assert "HEAD: lending-risk@v1.0.0 (commit " in again.stdout
    assert "is already the champion: nothing to do" in again.stdout
    by_version = run(["mlops", "deploy", "promote", "lending-risk@v1.0.0"], repo)
    assert by_version.stdout.count("lending-risk@v1.0.0") == 1, by_version.stdout
    assert "is already the champion: nothing to do" in by_version.stdout
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == ["lending-risk#prod#1", "lending-risk@v1.0.0"]


def test_a_first_promotion_of_another_commit_of_heads_model_registers_that_model_once(repo):
    """With no champion yet, a commit whose model is HEAD's bytes (a README change on a branch) was gated against
    HEAD's model, then HEAD was registered as v1.0.0 (served before) and the commit as v1.1.0: one model, two
    versions, and a rollback between them. It is now one version, v1.0.0 at the commit promoted."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    run("git switch -q -c readme && echo more >> README.md && git commit -q --no-verify -am readme", repo)
    run("git switch -q -", repo)
    readme = run(["git", "rev-parse", "readme"], repo).stdout.strip()
    md5 = model_md5(repo)

    promoted = run(["mlops", "deploy", "promote", "readme"], repo)
    assert promoted.stdout.splitlines() == [
        "No champion yet, and readme's model is HEAD's (same bytes): no gate to pass.",
        f"lending-risk@v1.0.0 (commit {readme[:12]}) is the champion (stage prod), model {md5}.",
    ], promoted.stdout
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == ["lending-risk#prod#1", "lending-risk@v1.0.0"]
    assert run(["git", "rev-parse", "lending-risk@v1.0.0^{commit}"], repo).stdout.strip() == readme

    again = run(["mlops", "deploy", "promote", "HEAD"], repo)
    assert again.stdout.splitlines() == [
        f"lending-risk@v1.0.0 (commit {readme[:12]}) is already the champion: HEAD's model is the same bytes "
        f"(md5 {md5[:12]}): nothing to do."
    ], again.stdout
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == ["lending-risk#prod#1", "lending-risk@v1.0.0"]


def test_gate_and_report_against_a_registry_reference_judge_the_model_it_names(two_models, tmp_path):
    """`--against lending-risk@prod` (which `--model` of serve and predict takes) said "no such revision": only a
    version tag git happens to know by name (`lending-risk@v1.0.0`) worked."""
    repo = two_models
    run(["mlops", "deploy", "promote", "candidate", "--tolerance", "1.0"], repo)  # v1.0.0 main's, v1.1.0 in prod

    def basis_and_verdict(output: str) -> list[str]:
        return [output.splitlines()[0], output.splitlines()[-1]]

    by_branch = run(["mlops", "gate", "--against", "candidate", "--tolerance", "1.0"], repo).stdout
    assert "-> " in basis_and_verdict(by_branch)[1]
    for reference in ("lending-risk@prod", "lending-risk#prod", "lending-risk@latest"):
        gated = run(["mlops", "gate", "--against", reference, "--tolerance", "1.0"], repo, check=False)
        assert gated.returncode == 0, gated.stdout + gated.stderr
        assert basis_and_verdict(gated.stdout) == basis_and_verdict(by_branch), gated.stdout  # the candidate's model
        assert f"┃ {reference} ┃" in gated.stdout
    same = run(["mlops", "gate", "--against", "lending-risk@v1.0.0"], repo).stdout  # main's: the workspace's model
    assert "ROC AUC +0.0000, 95% interval +0.0000 to +0.0000: within noise" in same and "gate passes" in same

    page = tmp_path / "report.html"
    run(["mlops", "report", "--against", "lending-risk@prod", "--out", str(page)], repo)
    candidate = run(["git", "rev-parse", "--short=12", "candidate"], repo).stdout.strip()
    assert f"lending-risk@prod ({candidate})" in page.read_text()

    missing = run(["mlops", "gate", "--against", "lending-risk#staging"], repo, check=False)
    assert missing.returncode == 2 and missing.stderr.startswith(
        "error: lending-risk#staging: no version of lending-risk is in stage staging"
    ), missing.stderr


def test_a_first_promotion_that_fails_the_gate_says_it_was_judged_against_head(two_models):
    """Before any promotion a revision is judged against HEAD's model, but the table and the refusal called HEAD "the
    champion": there was none, and `gto show` showed none."""
    repo = two_models
    run("git switch -q candidate && dvc checkout -q", repo)
    head = run(["git", "rev-parse", "--short=12", "HEAD"], repo).stdout.strip()
    refused = run(["mlops", "deploy", "promote", "main", "--tolerance", "0"], repo, check=False)
    assert refused.returncode == 1, refused.stdout + refused.stderr  # C 0.01 is a little worse than C 0.03 here
    assert f"Not promoted: main against HEAD {head} (no champion yet): worse beyond the tolerance." in refused.stdout
    assert f"HEAD {head}" in refused.stdout.splitlines()[1] and "champion" not in refused.stdout.replace(
        "no champion yet", ""
    ), refused.stdout
    assert run(["git", "tag", "-l"], repo).stdout == ""


def test_an_experiment_name_given_to_deploy_promote_is_pointed_to_exp_promote(repo):
    refused = run(["mlops", "deploy", "promote", "C-0.05-f0b3"], repo, check=False)
    assert refused.returncode == 2 and "mlops exp promote NAME" in refused.stderr


def test_a_subset_runs_model_is_never_promoted_to_champion(repo):
    """`mlops exp promote` refuses a subset run, but its experiment's commit (or a tag on it) given to `mlops deploy
    promote` went through: with a tolerance, a model trained on 20% of the loans became the champion."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    run(["mlops", "repro", "--subset", "0.2"], repo)
    ref = run(["git", "for-each-ref", "--format=%(objectname)", "refs/exps"], repo).stdout.split()[0]
    run(["git", "tag", "quick", ref], repo)

    for rev in (ref[:12], "quick"):
        refused = run(["mlops", "deploy", "promote", rev, "--tolerance", "1.0"], repo, check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stdout + refused.stderr
        assert (
            f"error: {rev} is a subset run (data.sample_frac = 0.2): its model saw 20% of the training split; no "
            "tag written" in refused.stderr
        ), refused.stderr
        # the hint was `mlops exp run -S key=value`: placeholders, and this run sets nothing but its fraction
        assert "its other params are the workspace's: promote the workspace's own run on all the data" in (
            refused.stderr
        ), refused.stderr
    assert run(["git", "tag", "-l"], repo).stdout.split() == ["quick"]


def test_a_promotion_judged_against_a_champion_replaced_meanwhile_writes_no_tag(promoted, monkeypatch):
    """Two deploys at once (two CI jobs): each gated against the champion it read, and the later tags won, though
    judged against a model no longer serving; the second now refuses and says to run again."""
    from pipeline.errors import UserError
    from pipeline.serving import deploy

    repo = promoted  # v1.0.0 (main), v1.1.0 in prod
    run("git switch -q -c back && git commit -q --no-verify --allow-empty -m back && git switch -q -", repo)
    monkeypatch.chdir(repo)
    gate = deploy.compare_revisions
    tags = []

    def a_rollback_meanwhile(*args, **kwargs):  # another deploy finishes while this promotion's gate runs
        run(["mlops", "deploy", "rollback"], repo)
        tags.extend(run(["git", "tag", "-l"], repo).stdout.split())
        return gate(*args, **kwargs)

    monkeypatch.setattr(deploy, "compare_revisions", a_rollback_meanwhile)
    with pytest.raises(UserError, match="the champion changed while this promotion was being prepared") as refused:
        deploy.promote("back", tolerance=1.0)  # v1.0.0's model: prod assigned to v1.0.0, gated against v1.1.0
    assert "it is now lending-risk@v1.0.0" in refused.value.message and "no tag written" in refused.value.message
    assert gto_state(repo)["stage"] == {"prod": "v1.0.0"}
    assert run(["git", "tag", "-l"], repo).stdout.split() == tags


def test_a_name_that_is_both_a_branch_and_a_tag_is_refused_by_every_command_that_takes_a_revision(repo, tmp_path):
    """git reads such a name as the tag without a word: `mlops checkout same` brought the tag's data while
    `git checkout` switched to the branch, and promote, predict, serve, monitor and data pull took the tag."""
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    branch = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    run("git branch same && echo more >> README.md && git commit -q --no-verify -am readme && git tag same", repo)
    tag = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    loans = tmp_path / "loans.csv"
    run(f"python -c \"import pandas as p; p.read_parquet('data/split/test.parquet').head(5).to_csv('{loans}')\"", repo)
    scores = tmp_path / "scores.csv"
    commands = [
        ["checkout", "same"],
        ["deploy", "promote", "same"],
        ["predict", str(loans), "--out", str(scores), "--rev", "same"],
        ["serve", "--rev", "same"],
        ["serve", "--challenger", "same"],
        ["serve", "--shadow", "same"],
        ["monitor", "drift", "--rev", "same"],
        ["data", "pull", "--rev", "same"],
        ["predict", str(loans), "--out", str(scores), "--rev", "same~1"],
    ]
    for command in commands:
        refused = run(["mlops", *command], repo, check=False)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert refused.stderr.splitlines() == [
            f"error: 'same' is both a branch (commit {branch[:12]}) and a tag (commit {tag[:12]})",
            "  hint: name the one you mean: refs/heads/same or refs/tags/same",
        ], (command, refused.stderr)
    assert run(["git", "rev-parse", "--abbrev-ref", "HEAD"], repo).stdout.strip() == "main"
    assert run(["git", "status", "--porcelain"], repo).stdout == "" and not scores.exists()
    assert run(["git", "tag", "-l"], repo).stdout.split() == ["same"]

    run(["mlops", "predict", str(loans), "--out", str(scores), "--rev", "refs/tags/same"], repo)
    promoted = run(["mlops", "deploy", "promote", "refs/heads/same"], repo)  # HEAD's model: one version
    assert f"lending-risk@v1.0.0 (commit {branch[:12]}) is the champion" in promoted.stdout, promoted.stdout
    for reference in ("lending-risk@v1.0.0", "lending-risk#prod"):  # a registry reference is no branch nor tag
        run(["mlops", "predict", str(loans), "--out", str(scores), "--rev", reference], repo)
    run(["mlops", "checkout", "refs/heads/same"], repo)  # the branch itself, as the hint says: not a detached HEAD
    assert run(["git", "rev-parse", "HEAD"], repo).stdout.strip() == branch
    assert run(["git", "symbolic-ref", "HEAD"], repo).stdout.strip() == "refs/heads/same"
    run(["mlops", "checkout", "refs/tags/same"], repo)
    assert run(["git", "rev-parse", "HEAD"], repo).stdout.strip() == tag


def test_promoting_another_commit_of_the_champions_model_writes_no_tag_and_says_it_is_the_same_bytes(
    first_champion,
):
    """A commit that changed only a README was registered as a new version, its model gated against itself."""
    repo = first_champion
    first = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    run("echo more >> README.md && git commit -q --no-verify -am readme", repo)
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())
    model = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]

    again = run(["mlops", "deploy", "promote", "HEAD"], repo)  # done, as for the champion's own commit: exit 0
    assert again.stdout.splitlines() == [
        f"lending-risk@v1.0.0 (commit {first[:12]}) is already the champion: HEAD's model is the same bytes "
        f"(md5 {model[:12]}): nothing to do."
    ], again.stdout
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == tags
    assert gto_state(repo)["stage"] == {"prod": "v1.0.0"}


def test_promoting_a_revert_to_an_earlier_versions_model_assigns_prod_to_that_version_after_the_gate(two_models):
    """A commit whose model is v1.0.0's bytes (a revert), promoted after v1.1.0, was registered as v1.2.0: one model
    under two versions. It is gated against the champion as any promotion, then prod is assigned to v1.0.0."""
    repo = two_models
    first = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    run(["mlops", "deploy", "promote", "HEAD"], repo)  # v1.0.0
    run("git merge -q --ff-only candidate && dvc checkout -q", repo)  # the next commit: another model, trained
    run(["mlops", "deploy", "promote", "HEAD", "--tolerance", "1.0"], repo)  # v1.1.0, another model
    run("git checkout -q HEAD~1 -- params.yaml dvc.lock reports && dvc checkout -q", repo)
    run("git commit -q --no-verify -m 'back to the first model'", repo)
    model = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]
    tags = sorted(run(["git", "tag", "-l"], repo).stdout.split())
    assert tags == ["lending-risk#prod#1", "lending-risk#prod#2", "lending-risk@v1.0.0", "lending-risk@v1.1.0"]

    failed = run(["mlops", "deploy", "promote", "HEAD", "--tolerance", "0"], repo, check=False)
    assert failed.returncode == 1 and "gate FAILS" in failed.stdout, failed.stdout + failed.stderr
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == tags

    promoted = run(["mlops", "deploy", "promote", "HEAD", "--tolerance", "1.0"], repo)
    assert "Both models scored" in promoted.stdout and "gate passes" in promoted.stdout, promoted.stdout
    assert promoted.stdout.splitlines()[-1] == (
        f"lending-risk@v1.0.0 (commit {first[:12]}) is the champion (stage prod): HEAD's model is its model "
        f"(md5 {model}), so no new version is registered."
    ), promoted.stdout
    assert sorted(run(["git", "tag", "-l"], repo).stdout.split()) == [*tags[:2], "lending-risk#prod#3", *tags[2:]]
    assert run(["git", "rev-parse", "lending-risk#prod#3^{commit}"], repo).stdout.strip() == first
    assert gto_state(repo) == {"version": "v1.1.0", "stage": {"prod": "v1.0.0"}, "registered": True, "active": True}
    assert run(["gto", "show", "lending-risk#prod", "--ref"], repo).stdout.strip() == "lending-risk@v1.0.0"

    back = run(["mlops", "deploy", "rollback"], repo)  # the history is the versions' own: v1.1.0 before it
    assert "lending-risk@v1.1.0" in back.stdout and "is the champion again" in back.stdout, back.stdout


def test_a_registry_reference_to_an_unknown_artifact_names_the_model_artifact_and_the_fix(repo, tmp_path):
    """`--model other@prod` and `--against other@prod` said "no such revision" (or "not a commit, tag, branch or
    registry reference"), naming neither the artifact dvc.yaml declares nor how to reach it."""
    loans = tmp_path / "loans.csv"
    run(f"python -c \"import pandas as p; p.read_parquet('data/split/test.parquet').head(5).to_csv('{loans}')\"", repo)
    scores, page = tmp_path / "scores.csv", tmp_path / "report.html"
    commands = [
        ["serve", "--model", "other@prod"],
        ["predict", str(loans), "--out", str(scores), "--model", "other@prod"],
        ["gate", "--against", "other@prod"],
        ["report", "--against", "other@prod", "--out", str(page)],
    ]
    for command in commands:
        refused = run(["mlops", *command], repo, check=False)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert refused.stderr.splitlines() == [
            "error: other@prod: dvc.yaml declares no model artifact 'other' (its artifacts: lending-risk)",
            "  hint: name the model artifact: lending-risk@prod",
        ], (command, refused.stderr)
    assert not scores.exists() and not page.exists()

    run("git tag -a other@prod -m 'a tag of the user, named so'", repo)  # a revision git knows is one still
    run(["mlops", "predict", str(loans), "--out", str(scores), "--model", "other@prod"], repo)
