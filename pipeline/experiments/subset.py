"""`mlops repro --subset F`: a DVC experiment that trains on a fraction of the training split, made cheaply.

`data.sample_frac` is read by train alone, so a subset run's ingest, validate and split outputs are the
workspace's own whenever the workspace is up to date. Then, instead of `dvc exp run --temp` (which copies the
workspace, starts DVC, checks every stage and runs all five), train and evaluate run in warm forks of this
process in a scratch directory that links the workspace's split files, and the experiment is recorded as DVC
records one: the model goes into DVC's cache, and a commit on the baseline (the workspace's tracked changes,
params.yaml with the new fraction, dvc.lock with train's and evaluate's new entries, their reports) lands on
`refs/exps/<baseline>/<name>`, where `dvc exp show`, `dvc exp apply` and `mlops exp compare` find it. The
workspace is never written. When the fast path does not apply (a stale stage, another cache location, a
pipeline whose stages differ from this project's), the run is DVC's own `dvc exp run --temp`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hooks import git, md5_cache
from hooks.dvc_cache_config import cache_dir, cache_settings
from hooks.merge_driver import placeholders
from hooks.pipeline_state import (
    dir_md5,
    load,
    path_md5,
    pipeline_state,
    read_worktree,
    stage_outs,
    stages_left_to_dvc,
)
from pipeline.errors import UserError
from pipeline.experiments.dvc_outcomes import contradicting_advice_dropped
from pipeline.experiments.warm_stages import StageRunner, stage_of
from pipeline.versioning import dvc_seam
from pipeline.versioning.journal import raise_if_stopped, stop_signals_unwind, stops_unwound
from pipeline.versioning.param_edits import keep_text_quoted

FRACTION_KEY = "data.sample_frac"
# The smallest fraction params.yaml holds plainly: below it a float is written with an exponent (1e-05), which
# DVC's YAML 1.2 reads as a number and the stages' YAML 1.1 as text. It is a handful of loans anyway.
SMALLEST_FRACTION = 0.0001
SUBSET_STAGES = ("train", "evaluate")  # the stages a subset changes: those reading FRACTION_KEY, and after them
LOCK_FILE = "dvc.lock"
SCRATCH_PREFIX = "mlops-subset-"  # its directory in .dvc/tmp/, made and removed under the run lock
PARAMS_FILE = "params.yaml"
SHARED_FOLDER_MODE = 0o2775  # DVC's for a cache folder with `cache.shared` set: the group writes, its files stay its


@dataclass(frozen=True)
class SubsetRun:
    ref: str | None
    why_dvc: str | None  # why DVC ran the whole experiment (None: train and evaluate ran on the workspace's data)


_started_early: list[StageRunner] = []


def start_stages_early() -> None:
    """Start the subset stages' process as the command begins, before its command line is even parsed; the
    run's `start_stages()` takes it (when the run never comes, the process ends once the command does)."""
    if os.name == "posix" and not _started_early:
        _started_early.append(StageRunner(SUBSET_STAGES))


def start_stages():
    """The subset stages' process, importing their libraries from now on (None where there is no fork): start
    it first, so that checking the params and the workspace costs no time on a fast run."""
    if _started_early:
        return _started_early.pop()
    return StageRunner(SUBSET_STAGES) if os.name == "posix" else None


def check_fraction(fraction: float) -> None:
    """Refuse a subset fraction outside [SMALLEST_FRACTION, 1), NaN included: one wording for every value out of
    range, for every command that takes `--subset` (1 is all the data: no subset). The value is shown as the
    fraction it was read as, as `data.sample_frac` holds it (`1.0`, not `1`)."""
    if not SMALLEST_FRACTION <= fraction < 1:
        whole = "; all the data is `mlops repro` (`mlops exp run` as an experiment)" if fraction == 1 else ""
        raise UserError(
            f"--subset {fraction!r}: must be a fraction in [{SMALLEST_FRACTION:g}, 1){whole}",
            hint=f"e.g. --subset 0.1 (below {SMALLEST_FRACTION:g} a subset is a handful of loans)",
        )


def run(name: str, fraction: float, stages=None) -> SubsetRun:
    """Run the subset experiment `name`: fast when it can be, else as `dvc exp run --temp`. `stages`: from
    `start_stages()`, stopped here in every case."""
    try:
        blocker = fast_path_blocker() if stages is not None else "stages run in forks only on POSIX"
        if blocker is None:
            return SubsetRun(run_fast(name, fraction, stages), None)
    finally:
        if stages is not None:
            stages.stop()
    with contradicting_advice_dropped(), stops_unwound():  # DVC cleans up as after Ctrl-C
        dvc_seam.exp_run_temp(name, {FRACTION_KEY: repr(float(fraction))}, "mlops repro --subset")
    return SubsetRun(dvc_seam.exp_ref(name), blocker)


def fast_path_blocker() -> str | None:
    """Why the fast path cannot make this subset run exactly as `dvc exp run --temp` would (None: it can)."""
    if placeholders():
        return "generated files kept by a merge are placeholders"
    read = functools.cache(read_worktree())  # dvc.yaml and params.yaml: read once for every question below
    if judged_by_dvc := stages_left_to_dvc(read):
        return f"stage {judged_by_dvc[0]} is templated or has a wdir: only DVC can tell what it reads"
    with md5_cache.remembered() as md5s:
        if any(state.stale for state in pipeline_state(read, md5=md5s.md5)):
            return "a stage is stale"
    stages = (load(read, "dvc.yaml") or {}).get("stages") or {}
    params = load(read, PARAMS_FILE) or {}
    subset_outs = {path for path, stage in stage_outs({"stages": stages}, params).items() if stage in SUBSET_STAGES}
    for stage_name, stage in stages.items():
        reads = {entry if isinstance(entry, str) else next(iter(entry)) for entry in stage.get("deps") or []}
        reads_fraction = FRACTION_KEY in _param_keys(stage.get("params"))
        if stage_name in SUBSET_STAGES:
            if stage_of(str(stage.get("cmd", ""))) != stage_name or stage.get("wdir", ".") != ".":
                return f"stage {stage_name} is not this project's `python -m pipeline.stages.{stage_name}`"
        elif reads_fraction or reads & subset_outs:
            return f"stage {stage_name} depends on {FRACTION_KEY} or on a subset stage's outputs"
    if not all(name in stages for name in SUBSET_STAGES):
        return "dvc.yaml lacks a train or evaluate stage"
    return None


def run_fast(name: str, fraction: float, stages) -> str:
    """Train and evaluate (`stages`, from `start_stages()`) in a scratch directory, then record the experiment;
    its ref."""
    baseline = _git("rev-parse", "--verify", "HEAD").strip()
    ref = dvc_seam.experiment_ref(baseline, name)
    with dvc_seam.one_run_at_a_time("mlops repro --subset"), stop_signals_unwind():
        for killed in Path(_tmp_dir()).glob(f"{SCRATCH_PREFIX}*"):  # left by a run killed outright (SIGKILL)
            shutil.rmtree(killed, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=_tmp_dir())).resolve()
        try:
            # While the stages' process imports pandas and scikit-learn: their directory, then the record's start.
            lock = _read_yaml(Path(LOCK_FILE).read_text(encoding="utf-8"))
            _prepare(scratch, lock["stages"], _with_fraction(Path(PARAMS_FILE).read_text(encoding="utf-8"), fraction))
            stages.go(SUBSET_STAGES, str(scratch), dict(os.environ), str(Path.cwd()))
            index = _index_with_workspace_changes(scratch)
            status = stages.wait()
            if status != 0:
                raise dvc_seam.DvcFailed(f"exp run (stages {', '.join(SUBSET_STAGES)})", status)
            outputs = _record_outputs(scratch, lock["stages"], fraction)
            (scratch / LOCK_FILE).write_text(_dump_yaml(lock), encoding="utf-8")
            _cache_objects(scratch, outputs)
            commit = _commit(index, scratch, baseline, [PARAMS_FILE, LOCK_FILE, *outputs["kept"]], lock)
            raise_if_stopped()  # a stop a library took while the run was recorded: no experiment, as for any stop
            _git("update-ref", ref, commit, "0" * 40)  # never replaces an experiment of the same name
        except BaseException:
            stages.stop(at_once=True)  # stopped or failed: its stages end now, not after the directory is gone
            raise
        finally:
            stages.stop()  # before the scratch directory goes: a stage may still be writing there
            shutil.rmtree(scratch, ignore_errors=True)
    return ref


def _prepare(scratch: Path, stages, params_text: str) -> None:
    """The scratch directory: the subset's params.yaml and links to every file the subset stages read that
    no subset stage writes (the split files, the schema)."""
    (scratch / PARAMS_FILE).write_text(params_text, encoding="utf-8")
    written = {out["path"] for stage in SUBSET_STAGES for out in stages[stage].get("outs") or []}
    for stage in SUBSET_STAGES:
        for dep in stages[stage].get("deps") or []:
            path = dep["path"]
            if path in written or path.startswith(("pipeline/", "hooks/")):
                continue
            link = scratch / path
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(Path.cwd() / path)


def _record_outputs(scratch: Path, stages, fraction: float) -> dict[str, list[str]]:
    """Update the subset stages' entries of dvc.lock's `stages` (in place) from what they wrote in `scratch`, as DVC
    would; {"cached": paths for DVC's cache, "kept": paths kept in git}."""
    hashes = {}
    kept = dvc_seam.git_kept_paths()
    outputs: dict[str, list[str]] = {"cached": [], "kept": []}
    for stage in SUBSET_STAGES:
        for out in stages[stage].get("outs") or []:
            path = scratch / out["path"]
            if path.is_dir():
                files = [item for item in path.rglob("*") if item.is_file()]
                hashes[out["path"]] = {
                    "md5": dir_md5(str(path)),
                    "size": sum(item.stat().st_size for item in files),
                    "nfiles": len(files),
                }
            else:
                hashes[out["path"]] = {"md5": path_md5(path), "size": path.stat().st_size}
            outputs["kept" if out["path"] in kept else "cached"].append(out["path"])
    for stage in SUBSET_STAGES:
        entry = stages[stage]
        for item in [*(entry.get("deps") or []), *(entry.get("outs") or [])]:
            if item["path"] in hashes:
                item.update(hashes[item["path"]])
        params = (entry.get("params") or {}).get(PARAMS_FILE)
        if params is not None and FRACTION_KEY in params:
            params[FRACTION_KEY] = float(fraction)
    return outputs


def _cache_objects(scratch: Path, outputs: dict[str, list[str]]) -> None:
    """Move the cached outputs into DVC's cache by md5, read-only, as `dvc commit` leaves them: in a cache shared
    with a group (`cache.shared`), the folder holding each is the group's to write to, as DVC makes it."""
    files = Path(cache_dir()) / "files" / "md5"
    folder_mode = SHARED_FOLDER_MODE if cache_settings().get("shared") else None
    for name in outputs["cached"]:
        source = scratch / name
        md5 = path_md5(source)
        target = files / md5[:2] / md5[2:]
        if target.exists():
            continue
        _make_folder(target.parent, folder_mode)
        os.chmod(source, 0o444)
        _move(source, target)


def _make_folder(folder: Path, mode: int | None) -> None:
    """`folder` and its missing parents; with `mode`, each set to it whatever the umask (DVC's own `makedirs`)."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    if mode is None:
        return
    for path in {folder, *made}:
        with contextlib.suppress(OSError):  # a teammate's folder: theirs to set, as DVC leaves it
            os.chmod(path, mode)


def _move(source: Path, target: Path) -> None:
    """Rename `source` to `target`; to a cache on another file system (`dvc cache dir`), where no rename reaches,
    copy it beside `target` first and rename that, so the cache never holds part of an object under its name."""
    try:
        os.replace(source, target)
        return
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o444)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def _index_with_workspace_changes(scratch: Path) -> str:
    """A git index (in `scratch`, outside what is committed) holding the baseline plus the workspace's tracked
    changes, as DVC's stash of the workspace keeps them."""
    index = str(scratch / ".mlops-index")
    shutil.copyfile(_git("rev-parse", "--git-path", "index").strip(), index)
    _git("add", "-u", env={**os.environ, "GIT_INDEX_FILE": index})
    return index


def _commit(index: str, scratch: Path, baseline: str, paths: list[str], lock) -> str:
    """The experiment's commit: `index` with the subset's params.yaml, dvc.lock and reports from `scratch`."""
    env = {**os.environ, "GIT_INDEX_FILE": index}
    _git(f"--work-tree={scratch}", "add", "-A", "-f", "--", *paths, env=env)
    tree = _git("write-tree", env=env).strip()
    exp_hash = hashlib.sha256(json.dumps(lock["stages"], sort_keys=True, default=str).encode()).hexdigest()
    message = f"dvc: commit experiment {exp_hash}"
    return _git("commit-tree", tree, "-p", baseline, "-m", message, env={**os.environ, **_recorder()}).strip()


def _recorder() -> dict[str, str]:
    """Who the experiment's commit names: the user, as git knows them, or where git knows no one, whom `dvc exp run`
    names then (its git library, dulwich, takes the system's user name and user@host)."""
    if git.knows_identity():
        return {}
    from dulwich.repo import DefaultIdentityNotFound, Repo, get_user_identity

    environment = {}
    try:
        with Repo(".") as repo:
            for kind in ("AUTHOR", "COMMITTER"):
                identity = get_user_identity(repo.get_config_stack(), kind).decode(errors="surrogateescape")
                name, _, email = identity.rpartition(" <")
                environment |= {f"GIT_{kind}_NAME": name, f"GIT_{kind}_EMAIL": email.removesuffix(">")}
    except DefaultIdentityNotFound:
        raise UserError(
            "neither git nor the system knows who you are, and the experiment is a commit in your name; the "
            "workspace is untouched",
            hint=dvc_seam.IDENTITY_HINT,
        ) from None
    return environment


def _with_fraction(params_text: str, fraction: float) -> str:
    """params.yaml with `data.sample_frac` set, byte for byte as `dvc exp run -S` writes it
    (`pipeline.versioning.param_edits`): every other line as it was."""
    data = _read_yaml(params_text)
    data["data"]["sample_frac"] = float(fraction)
    keep_text_quoted(data)
    return _dump_yaml(data)


def _read_yaml(text: str):
    from ruamel.yaml import YAML

    return YAML(typ="rt").load(text)


def _dump_yaml(data) -> str:
    """As DVC dumps YAML it modifies (`dvc.utils.serialize.modify_yaml`)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _param_keys(entries) -> list[str]:
    keys = []
    for entry in entries or []:
        keys += [entry] if isinstance(entry, str) else [key for values in entry.values() for key in values or []]
    return keys


def _tmp_dir() -> str:
    """`.dvc/tmp`: on the repo's file system, and ignored by git and DVC."""
    Path(".dvc/tmp").mkdir(parents=True, exist_ok=True)
    return ".dvc/tmp"


def _git(*args: str, env: dict[str, str] | None = None) -> str:
    try:
        return git.git(*args, env=env).decode()
    except git.GitFailed as failure:
        raise UserError(f"`git {' '.join(args)}` failed: {failure.message}; the workspace is untouched") from None
