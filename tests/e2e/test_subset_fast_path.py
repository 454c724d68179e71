"""`mlops repro --subset` on an up-to-date workspace runs only train and evaluate and records the experiment
itself (pipeline.experiments.subset): what it records must be what `dvc exp run --temp` records."""

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import add_stages, anonymous_env, run, test_env
from tests.e2e.test_foundation import digest


def experiment_ref(repo: Path, name: str) -> str:
    return run(["git", "for-each-ref", "--format=%(refname)", f"refs/exps/**/{name}"], repo).stdout.strip()


def subset_name(output: str) -> str:
    return next(word for word in output.split() if word.startswith("subset-"))


def test_fast_subset_run_records_what_dvc_exp_run_records(repo):
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "\nAn uncommitted edit, which experiments carry.\n")
    before = digest(repo)

    fast = run(["mlops", "repro", "--subset", "0.1"], repo)
    assert "Ran train and evaluate" in fast.stdout and "Running stage" not in fast.stdout
    assert digest(repo) == before
    ours = experiment_ref(repo, subset_name(fast.stdout))
    # DVC as `mlops exp run` runs it: `-S` rewriting only the param it sets (pipeline.versioning.param_edits)
    dvc_run = [sys.executable, "-m", "pipeline.experiments.warm_stages", "exp", "run", "--temp", "-q"]
    run([*dvc_run, "-S", "data.sample_frac=0.1", "--name", "by-dvc"], repo)
    dvcs = experiment_ref(repo, "by-dvc")

    # The same tree: params.yaml byte for byte, dvc.lock, every report, and the uncommitted edit.
    assert (
        run(["git", "rev-parse", f"{ours}^{{tree}}"], repo).stdout
        == run(["git", "rev-parse", f"{dvcs}^{{tree}}"], repo).stdout
    )
    assert run(["git", "rev-parse", f"{ours}^"], repo).stdout == run(["git", "rev-parse", "HEAD"], repo).stdout
    assert "An uncommitted edit" in run(["git", "show", f"{ours}:README.md"], repo).stdout

    # The model is in DVC's cache under the md5 its dvc.lock records: `dvc exp apply` restores it.
    lock = run(["git", "show", f"{ours}:dvc.lock"], repo).stdout
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    names = {rev["name"] for baseline in shown for exp in baseline.get("experiments") or [] for rev in exp["revs"]}
    assert {subset_name(fast.stdout), "by-dvc"} <= names
    run(["git", "checkout", "--", "README.md"], repo)
    run(["dvc", "exp", "apply", subset_name(fast.stdout)], repo)
    model_md5 = hashlib.md5((repo / "models" / "model.skops").read_bytes()).hexdigest()
    assert f"md5: {model_md5}" in lock
    assert run(["dvc", "status", "--json"], repo).stdout.strip() == "{}"


def test_where_git_knows_no_one_a_subset_run_names_whom_dvc_exp_run_names(repo, tmp_path):
    """On a fresh machine with no git identity, `dvc exp run` records its experiment in the system's name (through
    dulwich): the fast path failed at its last step instead, with git's whole plea for an identity. A promotion,
    a commit on the user's branch, is refused before it applies anything."""
    env = anonymous_env(tmp_path / "home")
    assert run(["git", "var", "GIT_AUTHOR_IDENT"], repo, check=False, env=env).returncode != 0
    before = digest(repo)

    fast = run(["mlops", "repro", "--subset", "0.1"], repo, env=env)
    dvc_run = [sys.executable, "-m", "pipeline.experiments.warm_stages", "exp", "run", "--temp", "-q"]
    run([*dvc_run, "-S", "data.sample_frac=0.1", "--name", "by-dvc"], repo, env=env)

    names = "--format=%an <%ae> | %cn <%ce>"
    ours = run(["git", "log", "-1", names, experiment_ref(repo, subset_name(fast.stdout))], repo).stdout
    assert ours == run(["git", "log", "-1", names, experiment_ref(repo, "by-dvc")], repo).stdout
    assert "Test Suite" not in ours and digest(repo) == before

    head = run(["git", "rev-parse", "HEAD"], repo).stdout
    refused = run(["mlops", "exp", "promote", "by-dvc"], repo, check=False, env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: git does not know who you are"), refused.stderr
    assert "nothing was changed" in refused.stderr and "git config --global user.email" in refused.stderr
    assert len(refused.stderr.splitlines()) == 2  # the line and its hint
    assert digest(repo) == before and run(["git", "rev-parse", "HEAD"], repo).stdout == head


def subset_model(repo: Path, output: str) -> tuple[str, Path]:
    """The md5 of the model a subset run recorded, and the folder of DVC's cache (`.dvc/cache`) that holds it."""
    lock = yaml.safe_load(run(["git", "show", f"{experiment_ref(repo, subset_name(output))}:dvc.lock"], repo).stdout)
    md5 = lock["stages"]["train"]["outs"][0]["md5"]
    return md5, Path("files", "md5", md5[:2])


@pytest.fixture
def other_file_system(repo) -> Iterator[Path]:
    """A folder on another file system than the repo's (Linux's /dev/shm, a tmpfs), removed afterwards."""
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(repo).st_dev:
        pytest.skip("no other file system at /dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="mlops-test-cache-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_subset_run_puts_its_model_into_a_cache_moved_to_another_file_system(repo, other_file_system):
    """`dvc cache dir` to another disk (big data): the fast path renamed the model into the cache, which no rename
    reaches across file systems, and the run failed once trained (EXDEV, a traceback)."""
    run(["dvc", "cache", "dir", "--local", str(other_file_system)], repo)

    fast = run(["mlops", "repro", "--subset", "0.1"], repo)

    assert "Ran train and evaluate" in fast.stdout, fast.stdout
    md5, folder = subset_model(repo, fast.stdout)
    cached = other_file_system / folder / md5[2:]
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5
    assert stat.S_IMODE(cached.stat().st_mode) == 0o444  # read-only, as DVC leaves its objects
    assert [path.name for path in (other_file_system / folder).iterdir()] == [md5[2:]]  # no partial copy left


def test_a_subset_run_leaves_a_shared_cache_folder_writable_by_the_group(repo):
    """`dvc config cache.shared group`: DVC makes each cache folder the group's (mode 2775), so that teammates
    add objects beside each other's. The fast path made the model's with the umask's 0755 (no other user could add
    an object there) and left one DVC had made before as it was."""
    run(["dvc", "config", "--local", "cache.shared", "group"], repo)

    fast = run(["mlops", "repro", "--subset", "0.1"], repo)

    _, folder = subset_model(repo, fast.stdout)
    assert oct(stat.S_IMODE((repo / ".dvc" / "cache" / folder).stat().st_mode)) == oct(0o2775)


def test_a_cache_set_in_the_users_dvc_config_where_dvc_reads_it_gets_the_subsets_model(repo, tmp_path):
    """`dvc cache dir --global` writes the user's config where DVC finds it (`$XDG_CONFIG_HOME/dvc/config`): the
    fast path looked for it in `~/.config/dvc` alone, so it put the model into `.dvc/cache`, which DVC does not
    use, and `dvc exp apply` of the experiment failed on a missing model. It now reads every level DVC reads, so it
    stays fast."""
    env = test_env(XDG_CONFIG_HOME=str(tmp_path / "config"))
    cache = tmp_path / "user-cache"
    shutil.copytree(repo / ".dvc" / "cache", cache)
    run(["dvc", "cache", "dir", "--global", str(cache)], repo, env=env)

    result = run(["mlops", "repro", "--subset", "0.1"], repo, env=env)

    assert "Ran train and evaluate" in result.stdout, result.stdout
    md5, folder = subset_model(repo, result.stdout)
    assert (cache / folder / md5[2:]).is_file(), result.stdout
    run(["dvc", "exp", "apply", subset_name(result.stdout)], repo, env=env)


def test_subset_of_a_stale_workspace_is_dvcs_own_experiment(repo):
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("C: 0.01", "C: 0.02"))
    before = digest(repo)

    result = run(["mlops", "repro", "--subset", "0.1"], repo)

    assert "Running stage 'train'" in result.stdout and "Ran train and evaluate" not in result.stdout
    assert "dvc exp apply" not in result.stdout + result.stderr  # DVC's advice; ours is `mlops exp apply/promote`
    assert digest(repo) == before
    lock = run(["git", "show", f"{experiment_ref(repo, subset_name(result.stdout))}:dvc.lock"], repo).stdout
    assert "C: 0.02" in lock and "data.sample_frac: 0.1" in lock


def test_failing_fast_subset_run_leaves_no_experiment_and_no_scratch(repo):
    before = digest(repo)

    result = run(["mlops", "repro", "--subset", "0.0001"], repo, check=False)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "single class" in result.stderr and "the workspace is untouched" in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(repo) == before
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == ""
    assert not list((repo / ".dvc" / "tmp").glob("mlops-subset-*"))


def test_a_repeated_subset_run_is_skipped_naming_the_experiment_it_repeats(repo):
    """Nothing changed since the first run: a second would record the same bytes under another name (`mlops exp
    run` and a sweep skip it); a run of another fraction is new."""
    first = run(["mlops", "repro", "--subset", "0.1"], repo)
    refs = run(["git", "for-each-ref", "refs/exps"], repo).stdout

    again = run(["mlops", "repro", "--subset", "0.1"], repo)

    assert f"Skipped: experiment {subset_name(first.stdout)} already has these params, code and data" in again.stdout
    assert "Ran train and evaluate" not in again.stdout and "Running stage" not in again.stdout
    assert run(["git", "for-each-ref", "refs/exps"], repo).stdout == refs
    other = run(["mlops", "repro", "--subset", "0.2"], repo)
    assert "Skipped" not in other.stdout and subset_name(other.stdout) != subset_name(first.stdout)
    forced = run(["mlops", "repro", "--subset", "0.1", "--force"], repo)  # asked for: it runs again
    assert "Skipped" not in forced.stdout and subset_name(forced.stdout) != subset_name(first.stdout)


def test_a_templated_stage_after_train_sends_the_subset_run_to_dvc(repo):
    """A `foreach` stage that reads the model: the fast path ran only train and evaluate and recorded a lock in
    which that stage had read the workspace's model, not the subset's."""
    add_stages(
        repo,
        "  each:\n    foreach: [x]\n    do:\n      cmd: md5sum models/model.skops > data/model_${item}.txt\n"
        '      deps: [models/model.skops]\n      outs: ["data/model_${item}.txt"]\n',
    )
    run(["git", "add", "dvc.yaml", "dvc.lock", "data/.gitignore"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "a templated stage"], repo)
    before = digest(repo)

    result = run(["mlops", "repro", "--subset", "0.1"], repo)

    assert "Running stage 'each@x'" in result.stdout and "Ran train and evaluate" not in result.stdout
    assert digest(repo) == before
    lock = yaml.safe_load(
        run(["git", "show", f"{experiment_ref(repo, subset_name(result.stdout))}:dvc.lock"], repo).stdout
    )
    model = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.skops")
    assert lock["stages"]["each@x"]["deps"][0]["md5"] == model
