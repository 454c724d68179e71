"""The one place the project talks to DVC: how a repro, an experiment, a push, a pull or a checkout is run.

DVC runs in this process (`dvc.cli.main`), so its own output and progress reach the user unchanged and no
second interpreter starts. Reading the pipeline's state without DVC (the fast path) is `hooks.pipeline_state`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline import paths
from pipeline.errors import UserError
from pipeline.params import PARAMS_FILE, Params, params_from_text

LOCK_FILE = "dvc.lock"
FAST_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when PyYAML has it: many times faster


def _stage_environment() -> None:
    """Stages run `python -m ...` through the shell: make that the interpreter running this command, even when
    the project's virtual environment is not activated (an IDE, a GUI git client, a git hook)."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def dvc(*args: str) -> int:
    """Run one DVC command in this process; its exit status."""
    from dvc.cli import main as dvc_main

    _stage_environment()
    return dvc_main(list(args))


def require_repo() -> None:
    if not Path("dvc.yaml").is_file() or not Path(".dvc").is_dir():
        raise UserError("not in the project's root (no dvc.yaml and .dvc/ here)", hint="cd to the repository root")


def read_lock() -> dict:
    try:
        return (yaml.load(Path(LOCK_FILE).read_text(), Loader=FAST_YAML_LOADER) or {}).get("stages") or {}
    except FileNotFoundError:
        return {}


@contextlib.contextmanager
def preserving_workspace(command: str = "mlops repro") -> Iterator[None]:
    """All or nothing for a run: on failure, Ctrl-C, SIGTERM, SIGHUP (or, at the next command, after SIGKILL)
    `dvc.lock`, `reports/` and the DVC outputs are put back as they were (see `pipeline.versioning.journal`).

    DVC updates `dvc.lock` stage by stage and deletes a stage's outputs before running it, so a run that fails
    half-way would otherwise leave a lock and a model from two different states.
    """
    from pipeline.versioning.journal import all_or_nothing

    with all_or_nothing(command, (LOCK_FILE, paths.REPORTS)):
        yield


class DvcFailed(Exception):
    """A DVC command failed; DVC has already printed why."""

    def __init__(self, command: str, status: int) -> None:
        super().__init__(f"`dvc {command}` failed (exit {status})")
        self.status = status


def checked(*args: str) -> None:
    status = dvc(*args)
    if status != 0:
        raise DvcFailed(" ".join(args), status)


REPRO_LOCK = ".dvc/tmp/mlops-repro.lock"


@contextlib.contextmanager
def one_run_at_a_time(command: str = "mlops repro") -> Iterator[None]:
    """Hold this repo's run lock: a second `mlops repro` (or any command that changes the workspace) refuses
    before it snapshots or restores anything (its restore would otherwise put back files under the first run's
    feet)."""
    import fcntl

    Path(REPRO_LOCK).parent.mkdir(parents=True, exist_ok=True)
    with open(REPRO_LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown"
            raise UserError(
                f"another mlops command is running in this repository ({holder}); nothing was changed",
                hint=f"wait for it to finish, then run `{command}` again",
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}: {command}\n")
        handle.flush()
        yield


def repro(*targets: str, force: bool = False) -> dict[str, str]:
    """`dvc repro`, all or nothing: a failed run leaves the workspace as it was. What DVC did, per stage.
    Stages run warm (see `pipeline.experiments.warm_stages`)."""
    from pipeline.experiments.dvc_outcomes import recording
    from pipeline.experiments.warm_stages import stages_in_warm_forks

    with preserving_workspace(), recording() as outcomes, stages_in_warm_forks():
        checked("repro", *(["--force"] if force else []), *targets)
    return outcomes


def exp_run_temp(name: str, overrides: dict[str, str]) -> None:
    """A DVC experiment in a temporary copy of the workspace: the workspace itself stays untouched."""
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], capture_output=True).returncode != 0:
        raise UserError("experiments need a git commit to start from", hint="commit the project first")
    from pipeline.experiments.warm_stages import stages_in_warm_forks

    settings = [arg for key, value in overrides.items() for arg in ("-S", f"{key}={value}")]
    with stages_in_warm_forks():
        checked("exp", "run", "--temp", "--name", name, *settings)


def exp_ref(name: str) -> str | None:
    """The git ref of the experiment called `name`, if any."""
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname)", "refs/exps"], capture_output=True, text=True
    ).stdout.split()
    return next((ref for ref in refs if ref.rsplit("/", 1)[-1] == name), None)


def check_rev(rev: str) -> str:
    """`rev` if it can only be read as a revision: never as an option (`--output=/tmp/x`), nor with control
    characters; every git call that takes a user's revision goes through here."""
    if not rev or rev.startswith("-") or any(ord(char) < 32 or ord(char) == 127 for char in rev):
        raise UserError(
            f"{rev!r} is not a revision", hint="name a commit, tag or branch (see `git log --oneline` and `git tag`)"
        )
    return rev


def read_at(rev: str, path: str) -> bytes | None:
    """A git-kept file as it is at `rev` (a commit or an experiment ref)."""
    result = subprocess.run(["git", "show", "--end-of-options", f"{check_rev(rev)}:{path}"], capture_output=True)
    return result.stdout if result.returncode == 0 else None


def params_at(rev: str) -> Params:
    """The params of a revision (a commit, tag, branch or experiment ref), through the schema."""
    text = read_at(rev, PARAMS_FILE)
    if text is None:
        raise UserError(f"revision {rev!r} has no {PARAMS_FILE}", hint="name a commit, tag or branch of this project")
    return params_from_text(text, f"{PARAMS_FILE} at {rev}")


# --- Data versions: add, remotes, push/pull, checkout, reading a revision's files ----------------------------

MODEL_STAGE = "train"


def add(path: str) -> None:
    """`dvc add PATH`, then stage its `.dvc` file and the `.gitignore` beside it in git."""
    checked("add", "--quiet", "--", path)
    target = Path(path)
    git("add", "--", f"{path}.dvc", str(target.parent / ".gitignore"))


def git(*args: str) -> str:
    """Run git; its stdout. A failure is a bug or a broken repo, shown with git's own message."""
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"`git {' '.join(args)}` failed: {result.stderr.strip()}")
    return result.stdout


def uncommitted_git_changes() -> list[str]:
    """Tracked files modified or staged (untracked files do not block a checkout)."""
    lines = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return [line[3:] for line in lines if line.strip()]


def set_default_remote(name: str, url: str, endpoint_url: str | None) -> None:
    """Make `url` the default remote called `name`, without contacting it (non-secret settings go to .dvc/config)."""
    checked("remote", "add", "--force", "--default", "--", name, url)
    if endpoint_url:
        checked("remote", "modify", "--", name, "endpointurl", endpoint_url)


def default_remote() -> tuple[str, str] | None:
    """(name, url) of the default remote, or None."""
    from dvc.repo import Repo

    with Repo() as repo:
        name = repo.config["core"].get("remote")
        if not name:
            return None
        return name, repo.config["remote"].get(name, {}).get("url", "?")


def push() -> None:
    checked("push")


def pull() -> None:
    checked("pull")


def fetch() -> None:
    """Download what this version uses into the cache, without checking anything out (`pull` = this +
    `checkout_fetched`, with a check between)."""
    checked("fetch")


def checkout_fetched() -> None:
    """The checkout half of `dvc pull` (not forced: local changes to tracked files are not overwritten)."""
    checked("checkout")


def checkout_outputs() -> None:
    """Make the workspace's DVC outputs those its `dvc.lock` and `.dvc` files name (from the cache)."""
    checked("checkout", "--force")


def data_status(not_in_remote: bool) -> dict:
    """DVC's data status: committed/uncommitted changes, untracked files, and (optionally) what the remote lacks."""
    from dvc.repo import Repo

    with Repo() as repo:
        return dict(
            repo.data_status(
                granular=True, untracked_files="all", not_in_remote=not_in_remote, remote_refresh=not_in_remote
            )
        )


def cache_files_dir() -> Path:
    """Where DVC keeps file objects by md5 (`<cache>/files/md5`)."""
    from dvc.repo import Repo

    with Repo() as repo:
        return Path(repo.cache.local.path)


def tracked_objects() -> dict[str, str]:
    """{workspace path: md5} for every file DVC tracks here: `dvc.lock` outputs and `.dvc` files."""
    objects = {}
    uncached = tuple(git_kept_paths())
    for stage in read_lock().values():
        for out in stage.get("outs", []):
            if "md5" in out and not out["path"].startswith(uncached):
                objects[out["path"]] = out["md5"]
    for name in git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "*.dvc").split("\0"):
        pointer = Path(name)
        if not name or not pointer.is_file():
            continue
        for out in (yaml.safe_load(pointer.read_text()) or {}).get("outs", []):
            if "md5" in out:
                objects[str(pointer.parent / out["path"])] = out["md5"]
    return objects


def git_kept_paths() -> list[str]:
    """Outputs and metrics that `dvc.yaml` declares `cache: false` (kept in git, not in DVC's cache)."""
    stages = (yaml.safe_load(Path("dvc.yaml").read_text()) or {}).get("stages") or {}
    kept = []
    for stage in stages.values():
        for entry in (stage.get("outs") or []) + (stage.get("metrics") or []) + (stage.get("plots") or []):
            if isinstance(entry, dict):
                kept += [path for path, options in entry.items() if (options or {}).get("cache") is False]
    return kept


def lock_at(rev: str) -> dict:
    """The stages of `dvc.lock` at a git revision."""
    data = read_at(rev, LOCK_FILE)
    if data is None:
        raise UserError(
            f"revision {rev!r} has no dvc.lock (or is not a git revision)",
            hint="name a commit, tag or branch where the pipeline was run (`git log --oneline`)",
        )
    return (yaml.safe_load(data) or {}).get("stages") or {}


def output_md5(stages: dict, path: str) -> str | None:
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") == path:
                return out.get("md5")
    return None


def read_output_at(rev: str, path: str) -> tuple[bytes, str]:
    """(bytes, md5 recorded in that revision's dvc.lock) of a DVC output at `rev`, read through `dvc.api`
    (from the cache, or the remote when the cache lacks it) without checking anything out."""
    import dvc.api

    expected = output_md5(lock_at(rev), path)
    if expected is None:
        raise UserError(f"revision {rev!r}: dvc.lock records no {path}", hint="was the pipeline run there?")
    try:
        data = dvc.api.read(path, repo=".", rev=rev, mode="rb")
    except Exception as error:  # DVC raises many types for a missing object or an unreachable remote
        raise UserError(
            f"cannot read {path} at revision {rev!r}: {error}",
            hint="is that revision's data in the cache or the remote? try `mlops data pull`",
        ) from None
    return data, expected


# --- Experiments: listing, concurrent temporary runs, runs at another revision, apply ------------------------
# Experiments are read straight from their git refs (`refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`): one
# `git for-each-ref` and a `git show` per file, much quicker than `dvc exp show`. Runs are `dvc exp run --temp`
# (never DVC's queue, whose workers have been seen to outlive the queue and hold the caller's output open).

EXP_LOG_DIR = ".dvc/tmp/mlops-exp-logs"


@dataclass(frozen=True)
class ExperimentRef:
    name: str
    ref: str
    commit: str
    baseline: str


def list_experiments() -> list[ExperimentRef]:
    """Every named experiment in this repo, oldest first."""
    listing = subprocess.run(
        ["git", "for-each-ref", "--sort=committerdate", "--format=%(refname) %(objectname)", "refs/exps"],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    experiments = []
    for line in listing:
        ref, _, commit = line.partition(" ")
        parts = ref.split("/")
        if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:
            experiments.append(ExperimentRef(parts[4], ref, commit, parts[2] + parts[3]))
    return experiments


def resolve_commit(rev: str) -> str | None:
    """The full commit id `rev` names, or None."""
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "--end-of-options", f"{check_rev(rev)}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def exp_log_path(name: str) -> Path:
    return Path(EXP_LOG_DIR) / f"{name}.log"


def start_exp_run(name: str, settings: dict[str, str], cwd: str | Path = ".") -> subprocess.Popen:
    """Start `dvc exp run --temp` (stages run warm: `pipeline.experiments.warm_stages`) in its own process (and session:
    Ctrl-C reaches it through us), output to its log. The experiment's ref only appears when the run
    succeeds, so a stopped run leaves nothing behind."""
    _stage_environment()
    log = Path(cwd) / exp_log_path(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    args = [arg for key, value in settings.items() for arg in ("-S", f"{key}={value}")]
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [
                sys.executable,
                "-P",
                "-m",
                "pipeline.experiments.warm_stages",
                "exp",
                "run",
                "--temp",
                "--name",
                name,
                *args,
            ],
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_exp_run(process: subprocess.Popen, grace_seconds: float = 20.0) -> None:
    """Interrupt a run as Ctrl-C would (DVC cleans its temporary copy), then kill it if it lingers."""
    import signal

    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_exp(name: str, settings: dict[str, str], cwd: str | Path = ".") -> int:
    """Run one temporary experiment to its end (stopping it on Ctrl-C); its exit status."""
    process = start_exp_run(name, settings, cwd=cwd)
    try:
        return process.wait()
    except BaseException:
        stop_exp_run(process)
        raise


def run_exp_at(rev: str, name: str, settings: dict[str, str]) -> int:
    """A temporary experiment started from commit `rev` instead of the workspace: run in a detached git worktree
    of `rev` that shares this repo's DVC cache; its ref lands in this repo. The exit status of the run."""
    with worktree_sharing_cache(rev) as worktree:
        status = run_exp(name, settings, cwd=worktree)
        exp_log_path(name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(worktree / exp_log_path(name), exp_log_path(name))
        return status


@contextlib.contextmanager
def worktree_sharing_cache(rev: str, branch: str | None = None) -> Iterator[Path]:
    """A temporary git worktree of commit `rev` (on a new branch `branch`, else detached), using this repo's DVC
    cache (so what DVC writes there lands in this repo's cache). The worktree is removed afterwards; a branch
    stays. Checkout hooks are skipped for the worktree's creation (the caller checks out its DVC files, from the
    shared cache)."""
    cache = str(cache_files_dir().resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="mlops-worktree-") as tmp:
        worktree = Path(tmp) / "worktree"
        new_branch = ["-b", branch] if branch else ["--detach"]
        git("-c", "core.hooksPath=/dev/null", "worktree", "add", "-q", *new_branch, "--", str(worktree), check_rev(rev))
        try:
            (worktree / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {cache}\n")
            yield worktree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], capture_output=True)
            subprocess.run(["git", "worktree", "prune"], capture_output=True)


def run_in_worktree(worktree: Path, args: list[str], log_path: Path) -> int:
    """Run `python -m ARGS` (DVC, or the worktree's own `pipeline`) in a worktree, its output appended to
    `log_path`; the exit status."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n$ python -m {' '.join(args)}\n")
        log.flush()
        return subprocess.run(
            [sys.executable, "-m", *args], cwd=worktree, stdout=log, stderr=subprocess.STDOUT, env=env
        ).returncode


def checkout_in_worktree(worktree: Path, target: str, log_path: Path) -> int:
    """`dvc checkout TARGET` in a worktree (from the shared cache), output appended to `log_path`; the exit status."""
    return run_in_worktree(worktree, ["dvc", "checkout", "--quiet", target], log_path)


def exp_apply(name: str) -> None:
    """`dvc exp apply NAME`: the experiment's params, dvc.lock, reports and outputs into the workspace."""
    checked("exp", "apply", "--", name)


# --- Sharing experiments: DVC's `exp push/pull` (git refs to a git remote, their outputs to the DVC remote) -------


def exp_push(git_remote: str, names: list[str], all_commits: bool) -> None:
    """`dvc exp push`: the experiments (named, else HEAD's, or every commit's) to `git_remote`, and their data and
    models to the default DVC remote."""
    checked("exp", "push", *(["--all-commits"] if all_commits else []), git_remote, *names)


def exp_pull(git_remote: str, names: list[str], all_commits: bool) -> None:
    """`dvc exp pull`: the experiments (named, else HEAD's, or every commit's) from `git_remote`, and their data
    and models from the default DVC remote."""
    checked("exp", "pull", *(["--all-commits"] if all_commits else []), git_remote, *names)
