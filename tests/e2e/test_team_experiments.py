"""Team experiments for real: the sweep workflow's own steps run one grid point in one clone and push it (`mlops exp
push`: git refs to a bare git remote, data and model to moto's S3 server on 127.0.0.1); a second clone pulls it
(`mlops exp pull`) and compares it."""

import json
import shutil
import signal
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run
from tests.conftest import test_env as make_env
from tests.e2e import test_data_remote
from tests.e2e.test_data_remote import BUCKET, KEYS

WORKFLOW = ROOT / ".github/workflows/sweep.yml"
s3_server = test_data_remote.s3_server  # the fixture: moto's S3 server on 127.0.0.1


def steps(job: str) -> dict[str, str]:
    """The workflow job's shell steps by name (the install step is the test's own environment)."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    found = {step["name"]: step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step}
    return {name: script for name, script in found.items() if not script.startswith("python -m pip")}


def run_step(script: str, cwd: Path, env: dict) -> str:
    return run(["bash", "-e", "-c", script], cwd, env=env).stdout


def test_sweep_matrix_is_the_sweep_grid_and_runs_nothing(repo, tmp_path):
    output = tmp_path / "github_output"
    env = make_env(GRID="train.logreg.C=0.5,2.0 train.model=logreg", SUBSET="0.2", GITHUB_OUTPUT=str(output))
    printed = run_step(steps("plan")["The grid as a job matrix"], repo, env)
    matrix = json.loads(output.read_text().removeprefix("matrix="))
    assert json.loads(printed.splitlines()[0]) == matrix
    assert [job["set"] for job in matrix["include"]] == [
        "train.logreg.C=0.5 train.model=logreg data.sample_frac=0.2",
        "train.logreg.C=2.0 train.model=logreg data.sample_frac=0.2",
    ]
    assert all(job["name"].startswith(("C-0.5-logreg-", "C-2.0-logreg-")) for job in matrix["include"])
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == ""  # nothing ran

    widened = run(["mlops", "exp", "sweep", "train.logreg.C=1", "--matrix"], repo)
    assert '"set": "train.logreg.C=1.0"' in widened.stdout  # read as the schema means it: a float
    refused = run(["mlops", "exp", "sweep", "train.logreg.C=1,abc", "--matrix"], repo, check=False)
    assert refused.returncode == 2 and "train.logreg.C=abc" in refused.stderr  # checked by the params schema first


@pytest.mark.slow
def test_a_grid_point_run_by_the_workflow_is_pushed_and_pulled_by_a_teammate(repo, tmp_path, s3_server):
    env = make_env(**KEYS)
    run(["mlops", "remote", "set", f"s3://{BUCKET}/store", "--endpoint-url", s3_server.url], repo, env=env)
    run("git add -A && git commit -q --no-verify -m 'trained, S3 remote'", repo)
    bare = tmp_path / "team.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp_path)
    run(["git", "remote", "add", "origin", str(bare)], repo)
    run(["git", "push", "-q", "origin", "main"], repo)

    job = make_env(**KEYS, NAME="c-half", SETTINGS="train.logreg.C=0.5 data.sample_frac=0.2")
    for script in steps("run").values():
        run_step(script, repo, job)
    assert run(["git", "ls-remote", str(bare), "refs/exps/*"], repo).stdout.rstrip().endswith("/c-half")
    assert s3_server.object_keys()  # data and model went to the DVC remote

    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(bare), str(teammate)], tmp_path)
    run(["mlops", "exp", "pull"], teammate, env=env)
    compared = json.loads(run(["mlops", "exp", "compare", "--json"], teammate).stdout)
    assert "c-half" in json.dumps(compared)
    lock = yaml.safe_load(run(["git", "show", exp_ref(teammate, "c-half") + ":dvc.lock"], teammate).stdout)
    model = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops")
    assert (teammate / ".dvc/cache/files/md5" / model[:2] / model[2:]).is_file()  # pulled from S3, not rebuilt

    missing = run(["mlops", "exp", "pull", "--remote", str(tmp_path / "nowhere.git")], teammate, env=env, check=False)
    assert missing.returncode == 2 and "git cannot read it" in missing.stderr and "ERROR" not in missing.stderr


def test_experiments_shared_through_the_projects_relative_remote(repo, tmp_path):
    """Two clones side by side share the committed remote, `../../lending-mlops-dvc-remote` (relative to `.dvc/`),
    which DVC resolves at an experiment's revision against the git tree's root (`/`) unless given the workspace's."""
    name, model, bare = subset_experiment_pushed(repo, tmp_path)
    assert (tmp_path / "lending-mlops-dvc-remote/files/md5" / model[:2] / model[2:]).is_file()

    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(bare), str(teammate)], tmp_path)
    # DVC: "'no-such-exp' is not a valid experiment name", then mlops asked whether the remotes were reachable
    refused = run(["mlops", "exp", "pull", "no-such-exp"], teammate, check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        "error: no experiment called 'no-such-exp' on the git remote 'origin'",
        "  hint: see what it has: `dvc exp list --all-commits --names-only origin`",
    ], refused.stderr
    assert run(["dvc", "exp", "list", "--all-commits", "--names-only", "origin"], teammate).stdout.split() == [name]
    pulled = run(["mlops", "exp", "pull", "--all"], teammate).stdout
    assert (teammate / ".dvc/cache/files/md5" / model[:2] / model[2:]).is_file()
    # DVC's own line named them as a Python list in quotes: Pulled experiment '['subset-...']'
    assert pulled.endswith(f"Pulled 1 experiment from 'origin': {name}\n") and "'[" not in pulled, pulled
    again = run(["mlops", "exp", "pull"], teammate).stdout
    assert again.endswith("No new experiments from 'origin': it has none that are not already here.\n"), again
    by_name = run(["mlops", "exp", "pull", name], teammate).stdout  # a name the remote has passes the check
    assert by_name.endswith("No new experiments from 'origin': it has none that are not already here.\n"), by_name


def test_a_pull_with_no_experiment_to_pull_fetches_nothing(repo, tmp_path):
    """DVC's pull of no experiment went on to fetch the workspace's data, warning "Some of the cache files do not
    exist neither locally nor on remote" with a list of md5s (none of HEAD's data was pushed)."""
    bare = tmp_path / "team.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp_path)
    run(["git", "remote", "add", "origin", str(bare)], repo)
    run(["git", "push", "-q", "--no-verify", "origin", "main"], repo)
    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(bare), str(teammate)], tmp_path)
    for args in ([], ["--all"]):
        pulled = run(["mlops", "exp", "pull", *args], teammate)
        assert pulled.stdout == "No new experiments from 'origin': it has none that are not already here.\n"
        assert pulled.stderr == "", pulled.stderr


def test_a_push_with_no_experiment_to_push_sends_nothing(repo, tmp_path):
    """DVC's push of no experiment said "No experiments to push." and went on to upload the workspace's data and
    model to the DVC remote ("7 files uploaded")."""
    bare = tmp_path / "team.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp_path)
    run(["git", "remote", "add", "origin", str(bare)], repo)
    run(["git", "push", "-q", "--no-verify", "origin", "main"], repo)
    pushed = run(["mlops", "exp", "push"], repo)
    assert pushed.stdout == (
        "No experiments to push: there are none here started from HEAD (`mlops exp push --all` pushes every "
        "commit's).\n"
    ), pushed.stdout + pushed.stderr
    assert run(["mlops", "exp", "push", "--all"], repo).stdout == "No experiments to push: there are none here.\n"
    assert not (tmp_path / "lending-mlops-dvc-remote").exists()


def test_a_pulled_experiment_whose_model_the_dvc_remote_lacks_is_named_with_the_fix(repo, tmp_path):
    """DVC pulled the git ref, warned "Some of the cache files do not exist neither locally nor on remote" with an
    md5, and the pull passed: `mlops exp apply` was then the first to fail."""
    name, model, bare = subset_experiment_pushed(repo, tmp_path)
    pushed = tmp_path / "lending-mlops-dvc-remote/files/md5" / model[:2] / model[2:]
    pushed.chmod(0o644)
    pushed.unlink()  # the run's model never reached the team's DVC remote

    teammate = tmp_path / "teammate"
    run(["git", "clone", "-q", str(bare), str(teammate)], tmp_path)
    refused = run(["mlops", "exp", "pull"], teammate, check=False)
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        f"error: pulled {name}, but the DVC remote has no copy of 1 object(s) of {name}, so they are not here:",
        f"  {name}: models/model.skops ({model})",
        f"  hint: from the clone that ran it: `mlops exp push {name}` (to the DVC remote this clone uses, "
        f"`dvc remote list`), then `mlops exp pull {name}` here",
    ], refused.stderr
    run(["mlops", "exp", "push", name], repo)
    run(["mlops", "exp", "pull", name], teammate)
    assert (teammate / ".dvc/cache/files/md5" / model[:2] / model[2:]).is_file()


def test_experiments_go_to_the_workspaces_remote_not_to_the_one_their_commit_named(repo, tmp_path):
    """DVC read the remote from the experiment's commit: pointed elsewhere since (`dvc remote modify local url`, as
    the README says), the data went where the remote used to be (with the project's relative URL, to
    `/lending-mlops-dvc-remote`); with no remote left in the workspace, there too."""
    old, new = tmp_path / "old-remote", tmp_path / "new-remote"
    run(["dvc", "remote", "modify", "local", "url", str(old)], repo)
    run("git add -A && git commit -q --no-verify -m 'remote: old'", repo)
    name = run(["mlops", "repro", "--subset", "0.2"], repo).stdout.split("Experiment ", 1)[1].split()[0]
    lock = yaml.safe_load(run(["git", "show", exp_ref(repo, name) + ":dvc.lock"], repo).stdout)
    model = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops")
    bare = tmp_path / "team.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp_path)
    run(["git", "remote", "add", "origin", str(bare)], repo)
    run(["git", "push", "-q", "--no-verify", "origin", "main"], repo)

    run(["dvc", "remote", "modify", "local", "url", str(new)], repo)  # pointed elsewhere, not committed yet
    run(["mlops", "exp", "push", name], repo)
    assert (new / "files/md5" / model[:2] / model[2:]).is_file() and not old.exists()

    run(["dvc", "remote", "remove", "local"], repo)
    for direction in ("push", "pull"):
        refused = run(["mlops", "exp", direction, name], repo, check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert f"error: no default DVC remote here to {direction} the experiments' data and models" in refused.stderr
    assert not old.exists()


def test_a_run_here_and_one_on_the_remote_of_the_same_name_are_refused_by_name(repo, tmp_path):
    """Two runs of one name from one commit (a teammate's, or the same settings run again: another commit): DVC
    skipped it, advising to re-run with '--force' (which `mlops` has not), and the pull said "No new experiments",
    the push "No experiments to push", both with status 0."""
    name, _, bare = subset_experiment_pushed(repo, tmp_path)
    ref = exp_ref(repo, name)
    pushed = run(["git", "rev-parse", ref], repo).stdout.strip()
    again = run(["git", "commit-tree", f"{ref}^{{tree}}", "-p", f"{ref}^", "-m", "run again"], repo).stdout.strip()
    run(["git", "update-ref", ref, again], repo)

    for direction, done in (("push", "pushed"), ("pull", "pulled")):
        for args in ([name], []):
            refused = run(["mlops", "exp", direction, *args], repo, check=False)
            assert refused.returncode == 2 and refused.stderr.splitlines()[0] == (
                f"error: experiment {name} here and on 'origin' are different runs of the same name, from the same "
                f"commit: nothing {done}"
            ), refused.stdout + refused.stderr
            assert f"dvc exp rename {name} {name}-2" in refused.stderr and "--force" not in refused.stderr
    assert run(["git", "ls-remote", str(bare), ref], repo).stdout.split()[0] == pushed
    assert run(["git", "rev-parse", ref], repo).stdout.strip() == again


# A stop at a known point: as DVC starts on the data, once the git refs went (a real signal, to the real process).
STOPPED_AS_DVC_SENDS_THE_DATA = """
import os, signal, sys, time
from dvc.repo.experiments import pull, push

stop = getattr(signal, sys.argv[2])
then_fails = sys.argv[3:] == ["then-fails"]

def stopped_here(*args, **kwargs):
    try:
        os.kill(os.getpid(), stop)
        time.sleep(60)
    except KeyboardInterrupt:
        if then_fails:  # what the stop cut short fails on its way out, as DVC's transfers can
            raise BufferError("cannot close exported pointers exist") from None
        raise

push._push_cache = pull._pull_cache = stopped_here
sys.argv = ["mlops", "exp", sys.argv[1]]
from pipeline.__main__ import main
main()
"""


@pytest.mark.parametrize(
    ("direction", "signum"), [("push", signal.SIGINT), ("pull", signal.SIGINT), ("push", signal.SIGTERM)]
)
def test_a_push_or_pull_stopped_half_way_says_so_in_one_line_and_the_same_command_finishes_it(
    repo, tmp_path, direction, signum
):
    """Ctrl-C during `mlops exp push` printed DVC's "ERROR: interrupted by the user", then "could not push
    experiments to 'origin'" with a hint to check the remotes, exit 2: a stop read as a broken remote."""
    name, model, stopped_in = transfer_to_stop(repo, tmp_path, direction)
    teammate = tmp_path / "teammate"

    stopped = run(["python", "-c", STOPPED_AS_DVC_SENDS_THE_DATA, direction, signum.name], stopped_in, check=False)
    assert stopped.returncode == 128 + signum and stopped.stderr.splitlines() == [
        f"Stopped by {signum.name}: the {direction} may be part done (what was sent stays); run the same "
        f"`mlops exp {direction}` again to finish it."
    ], stopped.stdout + stopped.stderr
    cached = (tmp_path / "lending-mlops-dvc-remote" if direction == "push" else teammate / ".dvc/cache") / "files/md5"
    assert not (cached / model[:2] / model[2:]).exists()  # the refs went, the data had not
    assert name in run(["dvc", "exp", "list", "--all-commits", "--names-only", "origin"], stopped_in).stdout

    run(["mlops", "exp", direction], stopped_in)
    assert (cached / model[:2] / model[2:]).is_file()
    run(["mlops", "exp", "pull"], teammate)
    assert (teammate / ".dvc/cache/files/md5" / model[:2] / model[2:]).is_file()
    assert name in run(["mlops", "exp", "compare"], teammate).stdout


def test_a_push_whose_data_upload_fails_says_the_experiments_commit_went_and_the_same_push_finishes_it(repo, tmp_path):
    """DVC pushed the git ref, then failed on the data: mlops said "could not push experiments to 'origin'", asking
    whether the git remote was set, though the experiment's commit was on it."""
    name, model, bare = subset_experiment_pushed(repo, tmp_path)
    run(["git", "push", "-q", str(bare), f":{exp_ref(repo, name)}"], repo)  # as if never pushed
    dvc_remote = tmp_path / "lending-mlops-dvc-remote"
    shutil.rmtree(dvc_remote)
    dvc_remote.write_text("a file where the DVC remote's folder was: no upload gets through, as root neither\n")

    failed = run(["mlops", "exp", "push"], repo, check=False)
    assert failed.returncode == 2 and failed.stderr.splitlines()[-2:] == [
        f"error: pushed the commit of experiment {name} to 'origin', but not its data and models to the DVC remote",
        "  hint: read DVC's message above; once the DVC remote takes uploads (`dvc remote list`), the same "
        "`mlops exp push` finishes it",
    ], failed.stderr
    assert name in run(["dvc", "exp", "list", "--all-commits", "--names-only", "origin"], repo).stdout

    dvc_remote.unlink()
    run(["mlops", "exp", "push"], repo)
    assert (dvc_remote / "files/md5" / model[:2] / model[2:]).is_file()


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_a_stopped_transfer_that_then_fails_still_says_only_the_stop(repo, tmp_path, direction):
    """A stop that made DVC's transfer fail on its way out printed DVC's error above the stop's line: the pull's
    "ERROR: unexpected error - cannot close exported pointers exist" and "Having any troubles?" footer (asking to
    report a bug), the push's "ERROR: failed to push cache: cannot close exported pointers exist"."""
    _name, _model, stopped_in = transfer_to_stop(repo, tmp_path, direction)
    script = ["python", "-c", STOPPED_AS_DVC_SENDS_THE_DATA, direction, "SIGTERM", "then-fails"]
    stopped = run(script, stopped_in, check=False)
    assert stopped.returncode == 128 + signal.SIGTERM and stopped.stderr.splitlines() == [
        f"Stopped by SIGTERM: the {direction} may be part done (what was sent stays); run the same "
        f"`mlops exp {direction}` again to finish it."
    ], stopped.stdout + stopped.stderr


def transfer_to_stop(repo: Path, tmp_path: Path, direction: str) -> tuple[str, str, Path]:
    """(experiment, its model's md5, the clone to run `mlops exp DIRECTION` in) with all still to send: a push from
    `repo` of an experiment neither the git nor the DVC remote has, or a pull into a teammate's fresh clone."""
    name, model, bare = subset_experiment_pushed(repo, tmp_path)
    run(["git", "clone", "-q", str(bare), str(tmp_path / "teammate")], tmp_path)
    if direction == "pull":
        return name, model, tmp_path / "teammate"
    run(["git", "push", "-q", str(bare), f":{exp_ref(repo, name)}"], repo)  # as if never pushed
    shutil.rmtree(tmp_path / "lending-mlops-dvc-remote")
    return name, model, repo


def subset_experiment_pushed(repo: Path, tmp_path: Path) -> tuple[str, str, Path]:
    """A subset experiment run in `repo` and pushed with `mlops exp push` to a new bare git remote, `origin`, beside
    `main`: (its name, its model's md5, the bare remote)."""
    made = run(["mlops", "repro", "--subset", "0.2"], repo).stdout
    name = made.split("Experiment ", 1)[1].split()[0]
    bare = tmp_path / "team.git"
    run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], tmp_path)
    run(["git", "remote", "add", "origin", str(bare)], repo)
    run(["git", "push", "-q", "--no-verify", "origin", "main"], repo)
    run(["mlops", "exp", "push"], repo)
    lock = yaml.safe_load(run(["git", "show", exp_ref(repo, name) + ":dvc.lock"], repo).stdout)
    model = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops")
    return name, model, bare


def exp_ref(repo: Path, name: str) -> str:
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo).stdout.split()
    return next(ref for ref in refs if ref.endswith("/" + name))
