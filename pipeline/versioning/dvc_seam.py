"""The one place the project talks to DVC: how a repro, an experiment, a push, a pull or a checkout is run.

DVC runs in this process (`dvc.cli.main`), so its own output and progress reach the user unchanged and no
second interpreter starts. Reading the pipeline's state without DVC (the fast path) is `hooks.pipeline_state`,
for the commands through `pipeline.versioning.pipeline_status`; git is asked through `hooks.git`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from hooks import dvc_post_checkout
from hooks import git as git_plumbing
from hooks.dvc_cache_config import cache_settings
from hooks.pipeline_state import (
    DVC_YAML,
    LOCK_FILE,
    PARAMS_FILE,
    StageState,
    added_data,
    cached_outputs,
    git_kept_outputs,
    load,
    lock_stages,
    output_md5,
    parse_lock,
    read_declared_outputs,
    read_worktree,
    states_from_dvc_status,
    unrecorded_outputs,
)
from pipeline import paths
from pipeline.errors import UserError, full_disk_in
from pipeline.user_paths import folder_in_place
from pipeline.versioning.dvc_command import DvcFailed as DvcFailed
from pipeline.versioning.dvc_command import cache_files_dir as cache_files_dir
from pipeline.versioning.dvc_command import (
    checked,
    console_filtered,
    dvc_repo,
    dvc_said,
    remotes_of_the_workspace,
    stage_environment,
)
from pipeline.versioning.dvc_command import config_fix as config_fix
from pipeline.versioning.dvc_command import config_problem as config_problem
from pipeline.versioning.dvc_command import dvc as dvc
from pipeline.versioning.exp_queue import only_its_own_experiment, queued_all_or_nothing
from pipeline.versioning.journal import Stopped, all_or_nothing, stop_signal
from pipeline.versioning.journal import one_run_at_a_time as one_run_at_a_time
from pipeline.versioning.param_edits import only_set_params_rewritten
from pipeline.versioning.pipeline_status import type_only_stages

if TYPE_CHECKING:
    from pipeline.params import Params


def require_repo() -> None:
    """In the project's root, with dvc.yaml, dvc.lock and params.yaml readable: one that is not YAML is named
    (hooks.bounded_yaml.BadYaml) before DVC, which says it in a traceback-like block, reads it."""
    if not Path(DVC_YAML).is_file() or not Path(".dvc").is_dir():
        raise UserError("not in the project's root (no dvc.yaml and .dvc/ here)", hint="cd to the repository root")
    if not os.path.lexists(".git") and not git_plumbing.succeeds("rev-parse", "--git-dir"):  # .git: no process
        raise UserError(
            f"{Path.cwd()}: not a git repository (dvc.yaml and .dvc/ are here, but no .git)",
            hint="work in a git clone of the project (`git clone URL`), or make this folder one: `git init`, then "
            "commit it",
        )
    read = read_worktree()
    for path in (DVC_YAML, LOCK_FILE, PARAMS_FILE):
        if Path(path).is_dir():  # read as absent: DVC would call every stage stale
            raise folder_in_place(path)
        if path == LOCK_FILE:
            lock_stages(read)  # its shape too, and an empty one, which DVC refuses
        else:
            load(read, path)


def read_lock() -> dict:
    """The stages of the workspace's `dvc.lock` (none when it is absent)."""
    return lock_stages(read_worktree())


@contextlib.contextmanager
def preserving_workspace(command: str = "mlops repro") -> Iterator[None]:
    """All or nothing for a run: on failure, Ctrl-C, SIGTERM, SIGHUP (or, at the next command, after SIGKILL)
    `dvc.lock`, `reports/` and the DVC outputs are put back as they were (see `pipeline.versioning.journal`).

    DVC updates `dvc.lock` stage by stage and deletes a stage's outputs before running it, so a run that fails
    half-way would otherwise leave a lock and a model from two different states. It also re-records the `.dvc`
    pointer of added data the user edited (its file, which no run changes, stays the user's): the pointer is put
    back, and only the other outputs are checked out, so the edit is kept as it was before the run.
    """
    pointers = git_plumbing.ls_files("*.dvc", untracked=True)
    read = read_worktree()
    added = [pointer for pointer in pointers if added_data(read(pointer))]
    others = [pointer for pointer in pointers if pointer not in added]
    with all_or_nothing(command, (LOCK_FILE, paths.REPORTS, *added), checkout=(DVC_YAML, *others)):
        yield


def repro(*targets: str, force: bool = False) -> dict[str, str]:
    """`dvc repro`, all or nothing: a failed run leaves the workspace as it was. What DVC did, per stage.
    Stages run warm (see `pipeline.experiments.warm_stages`)."""
    from pipeline.experiments.dvc_outcomes import recording
    from pipeline.experiments.warm_stages import stages_in_warm_forks

    with preserving_workspace(), recording() as outcomes, stages_in_warm_forks():
        checked("repro", *(["--force"] if force else []), *targets)
    return outcomes


def repro_before_commit() -> None:
    """What the `dvc-lock-sync` hook runs (through `mlops hooks repro`): `dvc repro` all or nothing, then the
    stages whose params changed only in type (DVC sees `1` and `1.0` as equal and would skip them), forced."""
    with preserving_workspace():
        checked("repro")
        type_only = type_only_stages("git commit")
        for name in type_only:
            checked("repro", "--force", "--single-item", name)
        if type_only:  # their outputs may have changed: run what depends on them
            checked("repro")


def require_path_experiments_can_use(folder: str | Path = ".") -> None:
    """DVC's experiments fail in a folder whose path holds a `#` (DVC copies the repository through a `file://`
    URL, where it starts a fragment) or a non-ASCII character (written into an ASCII config file), with a message
    that names neither: say so before a run starts."""
    path = os.path.abspath(folder)
    odd = sorted({char for char in path if char == "#" or not char.isascii()})
    if odd:
        raise UserError(
            f"DVC's experiments cannot run in {path}: its path holds {' and '.join(map(repr, odd))} (DVC fails on a "
            "`#` or a non-ASCII character in it)",
            hint="clone or move the project to a path without them; `mlops repro` and the hooks work where it is",
        )


def exp_run_temp(name: str, overrides: dict[str, str], command: str) -> None:
    """A DVC experiment in a temporary copy of the workspace, for the mlops `command` the user ran: the workspace
    itself stays untouched."""
    require_path_experiments_can_use()
    baseline = git_plumbing.resolve_commit("HEAD")
    if baseline is None:
        raise UserError("experiments need a git commit to start from", hint="commit the project first")
    from pipeline.experiments.warm_stages import stages_in_warm_forks

    settings = [arg for key, value in overrides.items() for arg in ("-S", f"{key}={value}")]
    with stages_in_warm_forks(), only_its_own_experiment(), only_set_params_rewritten(), queued_all_or_nothing(command):
        checked("exp", "run", "--temp", "--name", name, *settings)
    signum = stop_signal()
    if signum is not None:  # the stop landed where a library swallows every exception (fsspec's `exists`): DVC ran on
        drop_experiment(baseline, name)  # and recorded the run the user had stopped
        raise Stopped(signum)


def experiment_ref(baseline: str, name: str) -> str:
    """The git ref of the experiment `name` started from commit `baseline` (DVC's layout)."""
    return f"refs/exps/{baseline[:2]}/{baseline[2:]}/{name}"


def drop_experiment(baseline: str, name: str) -> None:
    """Remove the experiment `name` started from `baseline`, if there is one: what a stopped run recorded all the
    same (an experiment of that name from another commit is not this run's)."""
    git_plumbing.git("update-ref", "-d", experiment_ref(baseline, name), check=False)


def exp_ref(name: str) -> str | None:
    """The git ref of the experiment called `name`, if any."""
    refs = (ref for (ref,) in git_plumbing.refs("refs/exps", "refname"))
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
    """A git-kept file as it is at `rev` (a commit or an experiment ref); None when it is not a file there."""
    return git_plumbing.blob_at(check_rev(rev), path)


def params_at(rev: str) -> Params:
    """The params of a revision (a commit, tag, branch or experiment ref), through the schema."""
    text = read_at(rev, PARAMS_FILE)
    if text is None:
        raise UserError(f"revision {rev!r} has no {PARAMS_FILE}", hint="name a commit, tag or branch of this project")
    from pipeline.params import params_from_text  # the schema's pydantic: not for `mlops status`

    return params_from_text(text, f"{PARAMS_FILE} at {rev}")


# --- Data versions: add, remotes, push/pull, checkout, reading a revision's files ----------------------------


def add(path: str) -> None:
    """`dvc add PATH`, then stage its `.dvc` file and the `.gitignore` beside it in git."""
    with dvc_said() as said:
        status = dvc("add", "--", path)
    if status != 0:
        raise DvcFailed(f"add -- {path}", status, said=said[0] if said else "")
    if not os.path.lexists(path):  # DVC moved it into its cache and could not put it back: it only warns
        raise UserError(
            f"`dvc add` took {path} into its cache and could not put it back (is the disk full?)",
            hint="free some disk space, then run it again",
        )
    target = Path(path)
    git("add", "--", f"{path}.dvc", str(target.parent / ".gitignore"))


def stop_tracking(path: str) -> bool:
    """Stage the removal of `path` (relative to the root) from git when git tracks it; whether it did."""
    if not git_plumbing.is_tracked(path):
        return False
    git("--literal-pathspecs", "rm", "--cached", "--quiet", "--", path)
    return True


def git(*args: str) -> str:
    """Run git; its stdout. A failure is a bug or a broken repo, shown with git's own message."""
    try:
        return git_plumbing.git(*args).decode("utf-8", "surrogateescape")
    except git_plumbing.GitFailed as failure:
        hint = "free some disk space, then run it again" if full_disk_in(failure.message) else ""
        raise UserError(f"`git {failure.command}` failed: {failure.message}", hint=hint) from None


def switch_code(rev: str) -> None:
    """`git checkout REV` of the code and params alone: the caller checks out the data (the post-checkout hook,
    told so, leaves it to the caller, whose failure handling then applies)."""
    # A revision from before the hooks existed has no .pre-commit-config.yaml: pre-commit would fail the checkout.
    env = {**os.environ, dvc_post_checkout.CALLER_CHECKS_OUT_DATA: "1", "PRE_COMMIT_ALLOW_NO_CONFIG": "1"}
    branch = rev.removeprefix("refs/heads/")
    if branch != rev and [rev] in git_plumbing.refs(rev, "refname"):  # git would detach HEAD at a branch typed in full
        rev = branch  # `git checkout NAME` takes the branch, even when a tag has the same name
    try:
        git_plumbing.git("checkout", "-q", check_rev(rev), "--", env=env)
    except git_plumbing.GitFailed as failure:
        raise UserError(f"`git {failure.command}` failed: {failure.message}") from None


def uncommitted_git_changes() -> list[str]:
    """Tracked files modified or staged (untracked files do not block a checkout)."""
    return git_plumbing.uncommitted_changes()


def require_committed_workspace(before: str) -> None:
    """Refuse, listing them, tracked files with uncommitted changes that what comes next (`before`: "travelling
    to another version") would overwrite."""
    changed = uncommitted_git_changes()
    if changed:
        raise UserError(
            f"uncommitted changes: {', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}",
            hint=f"commit them (or `git stash`) before {before}",
        )


IDENTITY_HINT = (
    'tell git who you are: git config --global user.name "Your Name" && git config --global user.email you@example.com'
)


def require_git_identity(action: str) -> None:
    """Refuse `action`, which ends in a commit in the user's name, before it starts when git does not know who the
    user is: git would refuse that commit only at the end, after the work."""
    if not git_plumbing.knows_identity():
        raise UserError(
            f"git does not know who you are (no user.name and user.email), and {action} ends in a commit in your "
            "name; nothing was changed",
            hint=IDENTITY_HINT,
        )


def delete_branch(branch: str) -> None:
    """Delete `branch` if it exists (a retrain branch whose gate failed)."""
    git_plumbing.git("branch", "-q", "-D", "--", branch, check=False)


def set_default_remote(name: str, url: str, endpoint_url: str | None) -> bool:
    """Make `url` the default remote called `name`, without contacting it (non-secret settings go to .dvc/config);
    False, writing nothing, when it already is: DVC rewrites the file with its sections reordered, a change in
    `git status` that means nothing."""
    if _is_default_remote(name, url, endpoint_url):
        return False
    with _config_kept_unless_done():
        checked("remote", "add", "--force", "--default", "--", name, url)
        if endpoint_url:
            checked("remote", "modify", "--", name, "endpointurl", endpoint_url)
    return True


@contextlib.contextmanager
def _config_kept_unless_done() -> Iterator[None]:
    """.dvc/config as it was unless the block ends: DVC empties the file before it writes it, and a write that
    fails (a URL its ASCII-only locale cannot encode) left it empty, every remote and setting gone."""
    config = Path(_unvalidated_config().files["repo"])
    before = config.read_bytes()
    try:
        yield
    except BaseException:
        config.write_bytes(before)
        raise


def _unvalidated_config():
    """The workspace's DVC config, read as `dvc remote add` reads it: unchecked, so that a remote is set where
    `.dvc/config.local` holds the options of one `.dvc/config` does not define yet (DVC refuses the whole config)."""
    from configobj import ConfigObjError
    from dvc.config import Config
    from dvc.exceptions import DvcException

    try:
        return Config.from_cwd(validate=False)
    except (DvcException, ConfigObjError) as error:  # a file that is not DVC's INI: as `dvc_repo` says it
        raise UserError(f"DVC: {error}", hint="fix what it names (`dvc status` shows DVC's detail)") from None


def _is_default_remote(name: str, url: str, endpoint_url: str | None) -> bool:
    """Whether .dvc/config already says what `set_default_remote` would write (DVC reads a folder's URL as a
    path relative to the config file; `remote add` takes it relative to the working directory)."""
    config = _unvalidated_config().read("repo")
    section = config.get("remote", {}).get(name)
    if config.get("core", {}).get("remote") != name or section is None:
        return False
    wanted = {"url": url, **({"endpointurl": endpoint_url} if endpoint_url else {})}
    if set(section) != set(wanted) or section.get("endpointurl") != wanted.get("endpointurl"):
        return False
    if name == "local":
        return os.path.abspath(section["url"]) == os.path.abspath(url)
    return section["url"] == url


def default_remote() -> tuple[str, str] | None:
    """(name, url) of the default remote, or None."""
    with dvc_repo() as repo:
        name = repo.config["core"].get("remote")
        if not name:
            return None
        return name, repo.config["remote"].get(name, {}).get("url", "?")


@dataclass(frozen=True)
class MissingBucket:
    remote: str  # its name in .dvc/config
    url: str  # s3://BUCKET/PREFIX
    bucket: str
    endpoint_url: str | None


def missing_bucket() -> MissingBucket | None:
    """The default remote's S3 bucket when its server says it does not exist (asks the server). DVC reports a
    missing bucket only once a transfer has started, as an unexpected error (NoSuchBucket); a server that cannot
    be reached or refuses the credentials is left for the transfer to report."""
    remote = default_remote()
    if remote is None or not remote[1].lower().startswith("s3://"):
        return None
    with dvc_repo() as repo:
        try:  # s3fs makes its client on first use: credentials given in part are refused there
            fs = repo.cloud.get_remote_odb(remote[0], "mlops data").fs
            bucket = fs.fs.split_path(remote[1])[0]
            fs.fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:  # s3fs's word for a 404: no such bucket
            endpoint = repo.config["remote"].get(remote[0], {}).get("endpointurl")
            return MissingBucket(remote[0], remote[1], bucket, endpoint)
        except Exception:  # noqa: BLE001 (unreachable, credentials: the transfer says it in DVC's words)
            return None
    return None


def remote_failures() -> tuple[type[Exception], ...]:
    """What asking the DVC remote raises when it cannot answer, for the remotes DVC can reach here: DVC's own
    errors (a remote it refuses) as UserError (`dvc_repo`); a folder's OSError; S3's refusals, which s3fs turns
    into OSError, and botocore's own errors (no connection, no credentials, a timeout); HTTP's aiohttp errors."""
    from aiohttp import ClientError
    from botocore.exceptions import BotoCoreError

    return (UserError, OSError, BotoCoreError, ClientError)


def push() -> None:
    """`dvc push`; objects neither here nor on the remote are left for the caller to name."""
    with missing_objects_unsaid():
        checked("push")


def pull() -> None:
    checked("pull")


class _MissingUnsaid(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Some of the cache files do not exist"))


@contextlib.contextmanager
def missing_objects_unsaid() -> Iterator[None]:
    """Within it, DVC's fetch or push neither warns "Some of the cache files do not exist neither locally nor on
    remote" with a list of md5s nor ends with "Everything is up to date." when it moved nothing (the objects it
    could not find included): the caller checks every object in use, names each one missing by its path, and says
    the outcome itself."""
    logger, unsaid = logging.getLogger("dvc_data.index.fetch"), _MissingUnsaid()
    logger.addFilter(unsaid)
    try:
        with console_filtered("write", lambda objects: objects != ("Everything is up to date.",)):
            yield
    finally:
        logger.removeFilter(unsaid)


def fetch() -> None:
    """Download what this version uses into the cache, without checking anything out (`pull` = this +
    `checkout_fetched`, with a check between); objects the remote lacks are left for the caller to name."""
    with missing_objects_unsaid():
        checked("fetch")


def fetch_at(commit: str) -> None:
    """Download what `commit` uses into the cache, leaving the workspace as it is. DVC's command line has no
    revision option (only all branches, tags or commits): its `Repo.fetch` has, with the workspace's remote."""
    from dvc.exceptions import DvcException

    with remotes_of_the_workspace(), missing_objects_unsaid(), dvc_repo() as repo:
        try:
            repo.fetch(revs=[commit], workspace=False)
        except DvcException as error:
            raise DvcFailed("fetch", 1, said=str(error)) from error


def checkout_fetched() -> None:
    """The checkout half of `dvc pull` (not forced: local changes to tracked files are not overwritten)."""
    checked("checkout")


def checkout_outputs() -> list[str]:
    """Make the workspace's DVC outputs those its `dvc.lock` and `.dvc` files name (from the cache); the outputs
    `dvc.yaml` declares and `dvc.lock` does not record (a version never trained), which are left to `mlops repro`."""
    unrecorded = unrecorded_outputs(read_worktree())
    if not unrecorded:
        checked("checkout", "--force")
        return []
    recorded = sorted(tracked_objects())  # DVC fails on the others: "No file hash info found"
    if recorded:
        checked("checkout", "--force", "--", *recorded)
    return unrecorded


def stages_dvc_calls_stale(targets: list[str]) -> list[StageState]:
    """`dvc status` of `targets`: each stale stage, as DVC names it (`build@a`), with DVC's reasons."""
    with dvc_repo() as repo:
        return states_from_dvc_status(repo.status(targets=targets))


def data_status(not_in_remote: bool) -> dict:
    """DVC's data status: committed/uncommitted changes, untracked files, and (optionally) what the remote lacks."""
    with dvc_repo() as repo:
        return dict(
            repo.data_status(
                granular=True, untracked_files="all", not_in_remote=not_in_remote, remote_refresh=not_in_remote
            )
        )


def tracked_objects(commit: str | None = None) -> dict[str, str]:
    """{workspace path: md5} for every file DVC tracks here (or at `commit`): `dvc.lock` outputs and `.dvc` files."""
    if commit is None:
        return cached_outputs(read_worktree(), git_plumbing.ls_files("*.dvc", untracked=True))
    pointers = [name for name in git_plumbing.files_at(commit) if name.endswith(".dvc")]
    return cached_outputs(lambda path: git_plumbing.blob_at(commit, path), pointers)


def declared_output_paths() -> list[str]:
    """Every output, metric and plot path `dvc.yaml` declares, cached by DVC or kept in git."""
    return list(read_declared_outputs(read_worktree()))


def git_kept_paths() -> list[str]:
    """Outputs and metrics that `dvc.yaml` declares `cache: false` (kept in git, not in DVC's cache)."""
    return git_kept_outputs(read_worktree())


Named = str | Callable[[], str] | None  # how a refusal names a revision: a callable is asked only for a refusal


def _name(named: Named, default: str) -> str:
    return (named() if callable(named) else named) or default


def lock_at(rev: str, shown_as: Named = None) -> dict:
    """The stages of `dvc.lock` at a git revision; a refusal names it `shown_as` (as `read_output_at`)."""
    data = read_at(rev, LOCK_FILE)
    if data is None:
        raise UserError(
            f"{_name(shown_as, f'revision {rev!r}')} has no dvc.lock (or is not a git revision)",
            hint="name a commit, tag or branch where the pipeline was run (`git log --oneline`)",
        )
    try:
        return parse_lock(data)
    except yaml.YAMLError as error:  # its fix for the workspace's dvc.lock (`git diff`) is no fix for a commit's
        raise UserError(
            f"{_name(shown_as, f'revision {rev!r}')}: its {error}",
            hint="name another revision (`git log --oneline`): that commit's dvc.lock cannot be read",
        ) from None


def recorded_md5_at(rev: str, path: str, shown_as: Named = None, missing_ok: bool = False) -> str | None:
    """The md5 `dvc.lock` at `rev` records for the output `path`; None when it records none. A revision with no
    readable dvc.lock is refused, naming it `shown_as` (as `lock_at`), or, with `missing_ok`, gives None."""
    try:
        return output_md5(lock_at(rev, shown_as), path)
    except (UserError, yaml.YAMLError):  # yaml's: a dvc.lock that is not YAML, or not of DVC's shape (BadYaml)
        if missing_ok:
            return None
        raise


def pull_command(rev: str) -> str:
    """The command that brings a revision's data and models into the cache without leaving the current one."""
    return f"mlops data pull --rev {shlex.quote(rev)}"


def read_output_at(rev: str, path: str, shown_as: Named = None, pull_rev: Named = None) -> tuple[bytes, str]:
    """(bytes, md5 recorded in that revision's dvc.lock) of a DVC output at `rev`, read through `dvc.api`
    (from the cache, or the remote when the cache lacks it) without checking anything out. A refusal names it
    `shown_as` (how the user named it, e.g. `revision 'v1'`, where `rev` is the commit the reading is pinned to),
    and its hint pulls `pull_rev` (default: `rev`); either may be a callable, asked only for a refusal."""
    import dvc.api
    from dvc.exceptions import PathMissingError

    def shown() -> str:
        return _name(shown_as, f"revision {rev!r}")

    def fetch() -> str:
        return (
            f"`{pull_command(_name(pull_rev, rev))}` fetches it once the remote has it (`mlops data push` from a "
            "clone that does)"
        )

    expected = recorded_md5_at(rev, path, shown)
    if expected is None:
        raise UserError(f"{shown()}: dvc.lock records no {path}", hint="was the pipeline run there?")
    try:
        data = dvc.api.read(path, repo=".", rev=rev, mode="rb")
    except PathMissingError:  # DVC's words: "The path ... does not exist in the target repository '<the path>'"
        raise UserError(
            f"cannot read {path} at {shown()}: it is neither in DVC's cache nor on the DVC remote (md5 {expected})",
            hint=fetch(),
        ) from None
    except Exception as error:  # DVC raises many types for an unreachable remote
        raise UserError(
            f"cannot read {path} at {shown()}: {error}",
            hint=f"DVC looked in the cache, then in the default remote: {fetch()}",
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


# DVC's queue (`dvc exp run --queue`, then `dvc queue start` or `dvc exp run --run-all`) moves each task it took to
# this folder: empty or absent, it ran nothing, so nothing of it failed (and DVC's queue is not loaded to say so).
QUEUE_TAKEN = Path(".dvc/tmp/exps/celery/broker/processed")


@dataclass(frozen=True)
class FailedExperiment:
    name: str
    rev: str  # the commit DVC queued: the run's params and code
    baseline: str


def failed_queued_experiments() -> list[FailedExperiment]:
    """The experiments DVC's queue ran and that failed, as `dvc queue status` ("Failed") and `dvc exp show` list
    them, until `dvc queue remove` drops them. A failed run leaves no experiment ref, so only the queue knows."""
    if not QUEUE_TAKEN.is_dir() or not any(QUEUE_TAKEN.iterdir()):
        return []
    with dvc_repo() as repo:
        return [
            FailedExperiment(entry.name or entry.stash_rev[:7], entry.stash_rev, entry.baseline_rev)
            for entry, _ in repo.experiments.celery_queue.iter_failed()
        ]


def list_experiments() -> list[ExperimentRef]:
    """Every named experiment in this repo, oldest first."""
    return _experiments(git_plumbing.refs("refs/exps", "refname", "objectname", sort="committerdate"))


def require_experiment_refs_on_commits() -> None:
    """Refuse a ref under refs/exps that is no commit (made by hand, or pushed to a shared remote and pulled): with
    it, DVC records no experiment, so every run ended without one ("None is not a revision")."""
    for ref, kind in git_plumbing.refs("refs/exps", "refname", "objecttype"):
        if kind != "commit":
            raise UserError(
                f"{ref} is on {git_plumbing.OBJECT_IN_WORDS.get(kind, kind)}, not a commit: DVC records no "
                "experiment beside it",
                hint=f"delete it: git update-ref -d {ref}",
            )


def remote_experiments(git_remote: str) -> list[ExperimentRef]:
    """Every named experiment on the git remote `git_remote`, refused in git's words when git cannot read it."""
    try:
        return _experiments(git_plumbing.remote_refs(git_remote, "refs/exps/"))
    except git_plumbing.GitFailed as failure:
        said = next((line for line in failure.message.splitlines() if line.strip()), "no answer")
        raise UserError(
            f"--remote {git_remote!r}: git cannot read it ({said.removeprefix('fatal: ')})",
            hint="check the remote's name, URL or path and your access to it (`git remote -v`, `git ls-remote`)",
        ) from None


def _experiments(refs_and_commits) -> list[ExperimentRef]:
    experiments = []
    for ref, commit in refs_and_commits:
        parts = ref.split("/")
        if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:
            experiments.append(ExperimentRef(parts[4], ref, commit, parts[2] + parts[3]))
    return experiments


def remote_branch_only(rev: str) -> str | None:
    """The one git remote's branch called `rev` (`origin/rev`), when no local name is: a teammate's branch in a fresh
    clone. None when there is none, or several remotes have one."""
    remote = [ref for (ref,) in git_plumbing.refs("refs/remotes/", "refname") if ref.split("/", 3)[3:] == [rev]]
    return remote[0].removeprefix("refs/remotes/") if len(remote) == 1 else None


def unknown_rev_hint(rev: str) -> str:
    """The hint for a revision git does not know here: a branch only a git remote has (a teammate's, in a fresh
    clone; `git checkout NAME` would make it a local branch) is named with the command that makes it one."""
    tracked = remote_branch_only(rev)
    if tracked is None:
        return "see `git log --oneline` and `git tag`"
    return (
        f"it is a branch of a git remote only ({tracked}): `git branch --track {shlex.quote(rev)} "
        f"{shlex.quote(tracked)}` makes it one here, then run the same command again"
    )


def resolve_commit(rev: str) -> str | None:
    """The full commit id `rev` (a revision a user typed) names, or None; refused when it is a name that is both a
    branch and a tag on different commits (`require_unambiguous`). Every command resolves a user's revision here."""
    commit = git_plumbing.resolve_commit(check_rev(rev))
    if commit is None:
        refuse_other_object(rev)
        refuse_work_tree_path(rev)
    else:
        require_unambiguous(rev)
    return commit


def refuse_other_object(rev: str) -> None:
    """Refuse `rev` naming a file or a folder (`HEAD:params.yaml`, a tag made on `HEAD^{tree}`) for what it is: it is
    no missing name, so "not a commit, tag or branch here" would send the user looking for one."""
    kind = git_plumbing.OBJECT_IN_WORDS.get(git_plumbing.object_type(rev) or "")
    if kind is not None:
        raise UserError(
            f"{rev!r} names {kind}, not a commit",
            hint="name a commit (see `git log --oneline`); a tag names one when made on it: git tag NAME COMMIT",
        )


def refuse_work_tree_path(rev: str) -> None:
    """Refuse `rev` naming a file or folder of the work tree (`--against params.yaml`) and no experiment: a path typed
    where a revision goes, which "not a commit, tag or branch here" would not say."""
    tracked = git_plumbing.is_tracked(rev)
    if not (tracked or os.path.lexists(rev)) or experiment_named(rev) is not None:
        return
    history = f"the commits that changed it: `git log --oneline -- {shlex.quote(rev)}`" if tracked else "`git log`"
    inside = os.path.commonpath([os.path.realpath(rev), os.path.realpath(".")]) == os.path.realpath(".")
    where = "in the work tree" if inside else "outside the project"  # commands run at the project's root
    raise UserError(
        f"{rev!r} is a {'folder' if os.path.isdir(rev) else 'file'} {where}, not a revision",
        hint=f"name a commit, tag or branch; {history}",
    )


def against_commit(against: str) -> str:
    """The full commit id `--against` names; refused in one line, which for the name of an experiment (not a git
    revision) gives its commit to gate against instead."""
    commit = resolve_commit(against)
    if commit is not None:
        refuse_experiment_namesake(against, commit, prefix=f"--against {against}: ")
        return commit
    experiment = experiment_named(against)
    if experiment is not None:
        raise UserError(
            f"--against {against}: no such revision; {against!r} is an experiment, not a commit, branch or tag",
            hint=f"name its commit: --against {experiment.commit[:12]} (experiments side by side: `mlops exp compare`)",
        )
    tracked = remote_branch_only(against)
    if tracked is not None:  # a comparison needs no local branch: the remote's is the commit meant
        raise UserError(
            f"--against {against}: no such revision here; {tracked} is a branch of a git remote",
            hint=f"--against {shlex.quote(tracked)}",
        )
    raise UserError(
        f"--against {against}: no such revision", hint="e.g. --against HEAD, origin/main or lending-risk@prod"
    )


def experiment_named(name: str) -> ExperimentRef | None:
    """The experiment called `name`, if any (DVC's own refs under refs/exps, such as apply/ORIG_HEAD, are none)."""
    return next((exp for exp in list_experiments() if exp.name == name), None)


def refuse_experiment_namesake(rev: str, commit: str, prefix: str = "") -> None:
    """Refuse `rev`, which git reads as `commit`, when an experiment of that name is another commit (a branch made,
    or an experiment pulled, after the experiment was named): git would take its own reading without a word."""
    experiment = experiment_named(rev)
    if experiment is not None and experiment.commit != commit:
        raise UserError(
            f"{prefix}{rev!r} names both a git revision (commit {commit[:12]}) and an experiment "
            f"(commit {experiment.commit[:12]})",
            hint=f"name the one you mean by its commit: {commit[:12]} (the git revision) or {experiment.commit[:12]} "
            "(the experiment)",
        )


AMBIGUOUS_PART = re.compile(r"[~^:]|@\{")  # where a revision's ref name ends: `x~1`, `x^{tree}`, `x:path`, `x@{1}`


def require_unambiguous(rev: str) -> None:
    """Refuse `rev` when the name it starts with (`x` of `x~1`) is both a branch and a tag on different commits: git
    takes the tag without a word (and `git checkout` the branch), where the user may have meant the other. A name
    typed in full (`refs/heads/x`) and HEAD, which git reads before any tag or branch, are never ambiguous."""
    name = AMBIGUOUS_PART.split(rev, maxsplit=1)[0]
    if not name or name.startswith("refs/") or name == "HEAD":
        return
    branch = git_plumbing.resolve_commit(f"refs/heads/{name}")
    tag = git_plumbing.resolve_commit(f"refs/tags/{name}") if branch is not None else None
    if branch is not None and tag is not None and branch != tag:
        raise UserError(
            f"{name!r} is both a branch (commit {branch[:12]}) and a tag (commit {tag[:12]})",
            hint=f"name the one you mean: refs/heads/{name} or refs/tags/{name}",
        )


def exp_log_path(name: str) -> Path:
    return Path(EXP_LOG_DIR) / f"{name}.log"


def start_exp_run(name: str, settings: dict[str, str], command: str, cwd: str | Path = ".") -> subprocess.Popen:
    """Start `dvc exp run --temp` for the mlops `command` the user ran (stages run warm:
    `pipeline.experiments.warm_stages`) in its own process (and session:
    Ctrl-C reaches it through us), output to its log. The experiment's ref only appears when the run
    succeeds, so a stopped run leaves nothing behind; it is interrupted as by Ctrl-C if this process ends first
    (SIGKILL), so it never completes unseen beside the next command's run of the same experiment."""
    from pipeline.experiments.warm_stages import interrupted_with_parent

    require_path_experiments_can_use(cwd)
    stage_environment()
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
                "--journal-as",
                command,
                str(os.getpid()),
                "--wait-for-lock",  # concurrent runs each take the repo lock; DVC alone gives up after 3 s
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
            preexec_fn=interrupted_with_parent(os.getpid()),
        )


def stop_exp_run(process: subprocess.Popen, grace_seconds: float = 20.0) -> None:
    """Interrupt a run as Ctrl-C would (DVC cleans its temporary copy), then kill it if it lingers."""
    stop_exp_runs([process], grace_seconds)


def stop_exp_runs(processes: list[subprocess.Popen], grace_seconds: float = 20.0) -> None:
    """Interrupt runs as Ctrl-C would, all at once (one waited for while the next ran on gave that one time to finish
    and be recorded), then kill those that linger past the grace."""
    import signal
    import time

    going = [process for process in processes if process.poll() is None]
    for process in going:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    for process in going:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_exp(name: str, settings: dict[str, str], command: str, cwd: str | Path = ".") -> int:
    """Run one temporary experiment for the mlops `command` to its end (stopping it on Ctrl-C); its exit status."""
    process = start_exp_run(name, settings, command, cwd=cwd)
    try:
        return process.wait()
    except BaseException:
        stop_exp_run(process)
        raise


def run_exp_at(rev: str, name: str, settings: dict[str, str], command: str) -> int:
    """A temporary experiment started from commit `rev` instead of the workspace: run in a detached git worktree
    of `rev` that shares this repo's DVC cache; its ref lands in this repo. The exit status of the run."""
    with worktree_sharing_cache(rev) as worktree:
        status = run_exp(name, settings, command, cwd=worktree)
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
    try:
        with tempfile.TemporaryDirectory(prefix="mlops-worktree-") as tmp:
            worktree = Path(tmp) / "worktree"
            new_branch = ["-b", branch] if branch else ["--detach"]
            add = ["worktree", "add", "-q", *new_branch, "--", str(worktree), check_rev(rev)]
            git("-c", "core.hooksPath=/dev/null", *add)
            try:
                (worktree / ".dvc" / "config.local").write_text(_cache_config_sharing(cache))
                yield worktree
            finally:
                git_plumbing.git("worktree", "remove", "--force", str(worktree), check=False)
    finally:
        # Once the directory is gone: when git could not remove the worktree (a stopped run still writing in it),
        # only a prune after the directory's removal unregisters it.
        git_plumbing.git("worktree", "prune", check=False)


def _cache_config_sharing(cache: str) -> str:
    """A worktree's `.dvc/config.local` that uses the folder `cache` with the workspace's own cache settings
    (`dvc config --local cache.type symlink`, `cache.shared group`), as DVC carries them to an experiment's copy:
    else the worktree copied big data the user has DVC link, and made cache folders the group could not write."""
    settings = cache_settings() | {"dir": cache}
    return "[cache]\n" + "".join(f"    {key} = {value}\n" for key, value in settings.items())


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
    """`dvc exp apply`: the experiment's params, dvc.lock, reports and outputs into the workspace. Given by its
    ref: DVC reads a name as a git revision first, so an experiment named like a tag or branch (`v1`) would
    apply that revision instead, and say the experiment was applied."""
    head = git_plumbing.resolve_commit("HEAD")
    named = [experiment for experiment in list_experiments() if experiment.name == name]
    chosen = next((e for e in named if e.baseline == head), named[0] if len(named) == 1 else None)
    checked("exp", "apply", "--", chosen.ref if chosen else name)  # several, none of HEAD: DVC says which


# --- Sharing experiments: DVC's `exp push/pull` (git refs to a git remote, their outputs to the DVC remote) -------


def exp_push(git_remote: str, names: list[str], all_commits: bool) -> None:
    """`dvc exp push`: the experiments (named, else HEAD's, or every commit's) to `git_remote`, and their data and
    models to the default DVC remote."""
    checked("exp", "push", *(["--all-commits"] if all_commits else []), "--", git_remote, *names)


def exp_pull(git_remote: str, names: list[str], all_commits: bool) -> list[str]:
    """`dvc exp pull`: the experiments (named, else HEAD's, or every commit's) from `git_remote`, and their data
    and models from the default DVC remote; the names of those it brought or updated (those already here as the
    remote has them are not)."""
    before = {experiment.ref: experiment.commit for experiment in list_experiments()}
    checked("exp", "pull", *(["--all-commits"] if all_commits else []), "--", git_remote, *names)
    return [experiment.name for experiment in list_experiments() if before.get(experiment.ref) != experiment.commit]
