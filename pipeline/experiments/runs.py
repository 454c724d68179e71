"""What `mlops exp` does: run one experiment or a sweep (temporary DVC experiments, duplicates skipped), share
them, compare them with the workspace, and apply or promote one. Each command of `pipeline.cli.exp` calls one
function here and prints the typed result it returns; nothing here prints."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from hooks import git
from pipeline import metrics as metric_rules
from pipeline import paths
from pipeline.errors import UserError, read_dvc_message
from pipeline.experiments import dvc_outcomes
from pipeline.experiments.metrics_file import REVISION_REPORTS_HINT, read_metrics, workspace_metrics
from pipeline.experiments.settings import (
    SUBSET_KEY,
    WORKSPACE,
    ComparisonTable,
    FailedRun,
    Run,
    ci_matrix,
    comparison,
    expand_grid,
    experiment_name,
    find_duplicate,
    flat_params,
    flatten,
    full_data_settings,
    judged_changes,
    params_with,
    parse_settings,
    settings_read_by,
    trained_params,
    typed_settings,
)
from pipeline.experiments.subset import SMALLEST_FRACTION, check_fraction
from pipeline.params import PARAMS_FILE, load_params, parse_params_yaml
from pipeline.versioning import dvc_seam, integrity, remotes
from pipeline.versioning.journal import all_or_nothing, final_step, stop_signal, stops_unwound, uninterruptible
from pipeline.versioning.pipeline_status import stale_stages, workspace_md5

STAGGER_SECONDS = 0.5  # between starts of concurrent runs: each briefly takes the repo lock
POLL_SECONDS = 0.3


# --- Reading experiments ------------------------------------------------------------------------------------


def workspace_run() -> Run:
    """The workspace as the comparison's baseline: its params (through the schema) and reports/metrics.json."""
    return Run(WORKSPACE, flat_params(load_params()), workspace_metrics(), is_workspace=True)


@dataclass(frozen=True)
class Experiments:
    runs: list[Run]
    unreadable: list[str] = field(default_factory=list)  # experiments whose params this schema refuses
    broken_metrics: dict[str, str] = field(default_factory=dict)  # name -> why its metrics file cannot be compared


def experiment_runs(baseline: str | None = None, refs: set[str] | None = None) -> Experiments:
    """Every experiment (of the `baseline` commit only, when given; those of `refs` only, when given) as a Run, read
    from its git ref."""
    runs, unreadable, broken_metrics = [], [], {}
    for exp in dvc_seam.list_experiments():
        if (baseline and exp.baseline != baseline) or (refs is not None and exp.ref not in refs):
            continue
        try:
            params = dvc_seam.params_at(exp.commit)
        except UserError:
            unreadable.append(exp.name)
            continue
        try:
            metrics = experiment_metrics(exp.name, exp.commit)
        except UserError as broken:  # one hand-broken experiment leaves the others comparable
            broken_metrics[exp.name] = broken.message
            continue
        runs.append(Run(exp.name, flat_params(params), metrics, exp.baseline, source=source_deps(exp.commit)))
    return Experiments(runs, unreadable, broken_metrics)


def experiment_metrics(name: str, rev: str) -> dict:
    """An experiment's test metrics, refused naming it when its metrics file is no object of finite numbers."""
    return read_metrics(
        dvc_seam.read_at(rev, paths.METRICS),
        f"experiment {name}'s {paths.METRICS}",
        hint=f"run it again, or drop it: `dvc exp remove {shlex.quote(name)}`",
    )


def source_deps(rev: str) -> dict[str, str]:
    """path -> md5 of every dependency in a revision's dvc.lock that no stage writes: code, schemas, source data."""
    try:
        stages = dvc_seam.lock_at(rev)
    except UserError:
        return {}
    written = {out["path"] for stage in stages.values() for out in stage.get("outs") or []}
    return {
        dep["path"]: dep.get("md5")
        for stage in stages.values()
        for dep in stage.get("deps") or []
        if dep["path"] not in written
    }


def workspace_source(paths_wanted) -> dict[str, str | None]:
    """The workspace's md5 (DVC's) of each path."""
    return {path: workspace_md5(path) for path in paths_wanted}


def duplicate_of(params: dict, existing: list[Run]) -> Run | None:
    """The existing experiment this run would repeat (same params, code and data), if any."""
    wanted_paths = {path for run in existing for path in run.source}
    return find_duplicate(params, workspace_source(wanted_paths), existing)


def existing_run(settings: dict[str, str]) -> str | None:
    """The experiment a run with these `-S` settings would repeat (same params, code and data), if any: the
    settings checked by the schema first."""
    same = duplicate_of(planned(settings).params, experiment_runs().runs)
    return same.name if same else None


def require_experiment_repo() -> str:
    """The HEAD commit experiments start from; errors when not in the project root or without a commit, or when an
    experiment ref is no commit."""
    dvc_seam.require_repo()
    head = dvc_seam.resolve_commit("HEAD")
    if head is None:
        raise UserError("experiments need a git commit to start from", hint="commit the project first")
    dvc_seam.require_experiment_refs_on_commits()
    return head


def with_subset(settings: dict[str, str], subset: float | None) -> dict[str, str]:
    if subset is None:
        return settings
    check_fraction(subset)
    if SUBSET_KEY in settings:
        raise UserError(
            f"{SUBSET_KEY} is given twice: as {SUBSET_KEY}={settings[SUBSET_KEY]} and by --subset {subset!r}",
            hint=f"give the fraction once, with --subset (sweep several with {SUBSET_KEY}=0.1,0.3)",
        )
    return {**settings, SUBSET_KEY: repr(float(subset))}


@dataclass(frozen=True)
class Planned:
    """A run to be: its settings as DVC is given them, and the flat params it will have."""

    settings: dict[str, str]
    params: dict

    @property
    def description(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.settings.items())


def planned(settings: dict[str, str], flag: str = "-S ") -> Planned:
    """Settings checked by the schema (an error names the `-S key=value`, or with `flag` "" the sweep's
    `key=value`) and the params they give."""
    plan = Planned(typed_settings(settings, flag=flag), flat_params(params_with(settings, flag=flag)))
    if SUBSET_KEY in settings and plan.params[SUBSET_KEY] < SMALLEST_FRACTION:
        raise UserError(  # the schema takes any fraction above 0; --subset's bound holds for a fraction set so too
            f"{flag}{SUBSET_KEY}={settings[SUBSET_KEY]}: below {SMALLEST_FRACTION:g} a subset is a handful of loans",
            hint=f"e.g. {flag}{SUBSET_KEY}=0.1 (or --subset 0.1)",
        )
    return plan


# --- mlops exp run ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    name: str
    duplicate_of: str | None  # the existing experiment with these params, code and data: nothing ran
    changes: list[metric_rules.Change] = field(default_factory=list)  # against the workspace


def run_one(set_items: list[str], subset: float | None, name: str | None) -> RunOutcome:
    """One experiment in a temporary copy of the workspace, unless one with these params, code and data exists."""
    if name is not None:
        check_name(name)
    baseline = require_experiment_repo()
    settings = with_subset(parse_settings(set_items), subset)
    plan = planned(settings)
    require_read_settings(settings, plan.params["train.model"])
    name = name or experiment_name(plan.settings)
    require_no_object_locks()
    try:
        point = claim_point(baseline, plan.params, name)
    except PointTaken as taken:
        raise UserError(
            f"another mlops command is running this experiment, as {taken.other}",
            hint="wait for it to finish: it records the experiment (see `mlops exp compare`)",
        ) from None
    try:
        same = duplicate_of(plan.params, experiment_runs().runs)  # looked for once the point is ours: a run just ended
        if same:
            return RunOutcome(same.name, same.name)
        with (
            name_held(name),
            dvc_outcomes.experiment_failure_said(f"experiment {name}"),
            dvc_outcomes.contradicting_advice_dropped(),
            stops_unwound(),  # DVC cleans up as after Ctrl-C
        ):
            dvc_seam.exp_run_temp(name, plan.settings, "mlops exp run")
    finally:
        release_lock(point)
    metrics = experiment_metrics(name, dvc_seam.exp_ref(name))
    return RunOutcome(name, None, judged_changes(Run(name, plan.params, metrics), workspace_run()))


NAME_LOCKS = Path(".dvc/tmp/mlops-experiment-names")


@contextlib.contextmanager
def name_held(name: str) -> Iterator[None]:
    """`name` kept for this run until DVC records it, refused when an experiment has it or another command's run is
    making one under it: two runs given one `--name` at once both said they ran, and DVC kept the last one's."""
    try:
        handle = lock_file(NAME_LOCKS / hashlib.sha256(name.encode()).hexdigest())
    except LockHeld:
        raise UserError(
            f"another mlops command is running an experiment called {name}", hint="choose another --name"
        ) from None
    try:
        if dvc_seam.exp_ref(name):
            raise UserError(f"an experiment called {name} exists", hint="choose another --name")
        yield
    finally:
        release_lock(handle)


def require_no_object_locks() -> None:
    """Refuse a run while git's object store holds lock files a failed write left: DVC's run would fail part-way on
    the first of those objects it writes, and may leave the workspace's params.yaml changed and staged."""
    locks = git.object_locks()
    if locks:
        objects = os.path.relpath(os.path.dirname(os.path.dirname(locks[0])))
        more = f" and {len(locks) - 1} more" if len(locks) > 1 else ""
        raise UserError(
            f"git's object store holds lock files a failed write left ({os.path.relpath(locks[0])}{more}; a full "
            "disk?): DVC cannot write those objects again, and its run would fail part-way",
            hint=f"once no other git or DVC command runs here, remove them: `find {objects} -name '*.lock' -delete`",
        )


def require_read_settings(settings: dict[str, str], model: str) -> None:
    """Refuse a `-S` setting (as typed) the run's `model` does not read (`train.logreg.C` in an hgb run): it would
    change nothing but the run's name and its duplicate check, as a sweep refuses such an axis."""
    unread = [key for key in settings if key not in settings_read_by(model, settings)]
    if not unread:
        return
    given = f"-S train.model={model}" if "train.model" in settings else "train.model in params.yaml"
    kinds = list(dict.fromkeys(key.split(".")[1] for key in unread))
    typed = " ".join(f"-S {key}={settings[key]}" for key in unread)
    raise UserError(
        f"{typed}: the run trains {model} ({given}), which does not read {'it' if len(unread) == 1 else 'them'}",
        hint=f"drop {'it' if len(unread) == 1 else 'them'}, or train that model: -S train.model={kinds[0]}",
    )


LONGEST_NAME = 200  # bytes: a file name (.git/refs/exps/../NAME, NAME.lock while git writes it) has at most 255


def check_name(name: str) -> None:
    """Refuse a name DVC would refuse (it becomes the git ref `refs/exps/.../NAME`, with no slash in NAME) or
    that would read as an option on a command line (`dvc exp apply NAME`)."""
    size = len(name.encode())
    if size > LONGEST_NAME:  # refused before the run, not by the file system once it is done
        raise UserError(
            f"--name {name[:40]!r}... is {size:,} bytes: an experiment's name is a file name (its git ref), at "
            f"most {LONGEST_NAME} bytes",
            hint="choose a shorter name, e.g. --name lr-0.1",
        )
    if name.startswith("-") or "/" in name or not git.succeeds("check-ref-format", f"refs/exps/{name}"):
        raise UserError(
            f"--name {name!r}: not a usable experiment name",
            hint="use letters, digits, '.', '_' and '-' (not first), e.g. --name lr-0.1",
        )
    if "@" in name or "#" in name:  # DVC takes it; `--model`, `--against` and GTO read it as the model's version/stage
        raise UserError(
            f"--name {name!r} reads as a registry reference (NAME@VERSION, NAME#STAGE), not an experiment",
            hint="use letters, digits, '.', '_' and '-' (not first), e.g. --name lr-0.1",
        )
    if name == WORKSPACE:  # DVC takes it, and its own revisions (`dvc plots diff workspace`) read it as the workspace
        raise UserError(
            f"--name {name!r} is the workspace's row in `mlops exp compare` and `dvc exp show`, not an experiment",
            hint="choose another name, e.g. --name lr-0.1",
        )
    revision = git_revision_kind(name)
    if revision:  # DVC takes it, and `--against NAME`, git and DVC's own revisions read it as git's first
        raise UserError(
            f"--name {name!r} is {revision} here: `--against {name}` and git would read it as that, not the experiment",
            hint="choose a name that is no branch, tag or HEAD, e.g. --name lr-0.1",
        )


def git_revision_kind(name: str) -> str | None:
    """What git reads `name` as when it names a commit (git's HEAD, a branch, a tag, ...); else None."""
    if git.resolve_commit(name) is None:
        return None
    if name == "HEAD":  # its full name is the branch it is on
        return "git's HEAD"
    full = git.git("rev-parse", "--symbolic-full-name", name, check=False).decode().strip()  # no "-" first: checked
    for prefix, kind in (("refs/heads/", "a branch"), ("refs/tags/", "a tag"), ("refs/remotes/", "a remote's branch")):
        if full.startswith(prefix):
            return kind
    return "a git ref" if full else "a commit id"


# --- mlops exp sweep ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collapsed:
    """A grid point left out because a planned run trains the same model: it differs from that run only in the
    params of a model kind it does not train."""

    model: str  # the kind it trains (`train.model`)
    unused: list[str]  # the params it differs in, all of other kinds


@dataclass(frozen=True)
class SweepPlan:
    todo: list[tuple[str, dict[str, str]]]  # (experiment name, settings)
    skipped: list[tuple[str, str]]  # (settings described, why)
    points: int = 0  # in the grid
    collapsed: list[Collapsed] = field(default_factory=list)
    known: frozenset[str] = frozenset()  # the experiments' refs the plan saw

    def matrix(self) -> dict:
        """The runs as a CI job matrix (GitHub Actions' `include` form)."""
        return ci_matrix(self.todo)

    def unused_by_model(self) -> dict[str, list[str]]:
        """Per model kind, the params of other kinds its collapsed points varied, in the grid's order."""
        unused: dict[str, list[str]] = {}
        for point in self.collapsed:
            known = unused.setdefault(point.model, [])
            known += [key for key in point.unused if key not in known]
        return unused


def plan_sweep(axes: list[str], subset: float | None) -> SweepPlan:
    """Every combination of the axes, all checked before any runs; duplicates of experiments (or of each
    other) skipped, and a point that trains the same model as an earlier one (it differs only in the params of
    a model kind it does not train) collapsed into it. A point runs with the settings its model reads only, so
    it is named and compared by them and equals the `mlops exp run -S` of those settings."""
    require_experiment_repo()
    plans = [planned(with_subset(settings, subset), flag="") for settings in expand_grid(axes)]
    require_read_axes(plans)
    known = frozenset(experiment_refs())
    existing = experiment_runs().runs
    todo, skipped, seen, collapsed = [], [], [], []
    models: dict[str, dict] = {}  # the trained params (as JSON) -> the params of the first point training them
    for plan in plans:
        model = json.dumps(trained_params(plan.params), sort_keys=True)
        if plan.params in seen:
            skipped.append((plan.description, "listed twice"))
        elif model in models:
            differ = [key for key in plan.params if plan.params[key] != models[model][key]]
            collapsed.append(Collapsed(plan.params["train.model"], differ))
        else:
            point = read_by_its_model(plan)
            same = duplicate_of(point.params, existing)
            if same:
                skipped.append((point.description, f"same as experiment {same.name}"))
            else:
                todo.append((experiment_name(point.settings), point.settings))
        seen.append(plan.params)
        models.setdefault(model, plan.params)
    return SweepPlan(todo, skipped, len(plans), collapsed, known)


def require_read_axes(plans: list[Planned]) -> None:
    """Refuse axes no grid point's model reads (`train.hgb.max_iter` when every point trains logreg): their points
    collapsed into one run, which with nothing else set was a run of the workspace's own params."""
    read = {key for plan in plans for key in settings_read_by(plan.params["train.model"], plan.settings)}
    unread = [key for key in plans[0].settings if key not in read]
    if not unread:
        return
    trained = sorted({plan.params["train.model"] for plan in plans})
    kinds = list(dict.fromkeys(key.split(".")[1] for key in unread))
    swept = "train.model" in plans[0].settings
    raise UserError(
        f"sweep axis {', '.join(unread)}: no point of the grid reads {'it' if len(unread) == 1 else 'them'}, each "
        f"trains {' or '.join(trained)} ({'its train.model axis' if swept else 'train.model in params.yaml'})",
        hint=f"sweep that model too: {'give the train.model axis' if swept else 'add'} "
        f"train.model={','.join([*trained, *kinds] if swept else kinds)} {'' if swept else 'to the grid'}".rstrip(),
    )


def read_by_its_model(plan: Planned) -> Planned:
    """The run of a grid point without the settings its model does not read (the workspace's values instead)."""
    settings = settings_read_by(plan.params["train.model"], plan.settings)
    return plan if settings == plan.settings else planned(settings, flag="")


@dataclass(frozen=True)
class SweepProgress:
    finished: tuple[str, int] | None  # (name, exit status) of a run that just ended
    done: int
    failed: int
    running: int
    waiting: int
    elapsed: float


class SweepInterrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during a sweep: the running runs were stopped; finished experiments are kept."""

    def __init__(self, stopped: int, signum: int = signal.SIGINT) -> None:
        super().__init__(f"stopped {stopped} run(s)")
        self.stopped = stopped
        self.signum = signum


@dataclass(frozen=True)
class SweepResult:
    statuses: dict[str, int]  # name -> exit status
    not_run: list[str] = field(default_factory=list)  # points not started: HEAD moved to `moved_to` meanwhile
    moved_to: str | None = None
    left_to_others: dict[str, str] = field(default_factory=dict)  # name -> the other run or experiment it is left to

    @property
    def failed(self) -> dict[str, Path]:
        """name -> log of each failed run."""
        return {name: dvc_seam.exp_log_path(name) for name, status in self.statuses.items() if status != 0}


def run_sweep(
    todo: list[tuple[str, dict[str, str]]],
    jobs: int,
    watch: Callable[[SweepProgress], None],
    known: frozenset[str] | None = None,
) -> SweepResult:
    """Run the experiments `jobs` at a time; `watch` hears of each poll; `known`: the experiments' refs when the sweep
    was planned (default: now), a point recorded by another command since then is not run again (`SweepPoints`). A
    failed run does not stop the others; Ctrl-C, SIGTERM or SIGHUP stops the runs still going (none of them records
    an experiment; those that had ended are kept) and raises SweepInterrupted.
    The runs are in sessions of their own (a stop reaches them through this process only): SIGTERM's default
    would end this process and leave them running on unseen, to be started again by the next sweep."""
    pending, running, results = list(todo), {}, {}
    baseline = require_experiment_repo()
    require_no_object_locks()
    points = SweepPoints(baseline, todo, experiment_refs() if known is None else known)
    started = time.monotonic()
    try:
        with stops_unwound(), points:
            moved_to = _sweep(pending, running, results, jobs, watch, started, baseline, points)
    except KeyboardInterrupt:
        with uninterruptible():  # a second stop must not leave a run going unseen
            stopped = _stop_runs(running, results, baseline)
        raise SweepInterrupted(stopped, stop_signal() or signal.SIGINT) from None
    return SweepResult(results, [name for name, _settings in pending], moved_to, points.left_to_others)


POINT_LOCKS = Path(".dvc/tmp/mlops-sweep-points")


class PointTaken(Exception):
    """The point is claimed by another command's run, `other`."""

    def __init__(self, other: str) -> None:
        super().__init__(other)
        self.other = other


def claim_point(baseline: str, params: dict, name: str) -> IO[str]:
    """The run of `params` from commit `baseline` claimed for the run `name` (of a sweep or `mlops exp run`): its
    lock file, open, held until `release_lock`. PointTaken, naming the other run, while another command holds it:
    both commands planned the point before either had recorded it, and each recorded its own experiment of it."""
    key = hashlib.sha256(json.dumps([baseline, params], sort_keys=True).encode()).hexdigest()
    try:
        handle = lock_file(POINT_LOCKS / key)
    except LockHeld as held:
        raise PointTaken(held.words or "a run of its own") from None
    handle.truncate(0)
    handle.write(name)
    handle.flush()
    return handle


class LockHeld(Exception):
    """Another process holds the lock file; `words`: what its holder wrote in it."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


def lock_file(path: Path) -> IO[str]:
    """The lock file at `path` (made, with its folder, if missing), open and locked by this process until
    `release_lock`; LockHeld while another process holds it. A file its holder removed after we opened it is no
    longer the one at the path: the path is opened again, so two commands never hold one lock. The files no process
    holds beside it are removed (`_remove_unheld_locks`)."""
    import fcntl

    path = path.absolute()  # `release_lock` removes it by this name
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(path, "a+")  # noqa: SIM115 (held while the run goes, closed by `release_lock`)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            words = handle.read().strip()
            handle.close()
            raise LockHeld(words) from None
        if _still_at(handle.fileno(), path):
            break
        handle.close()  # its holder removed it as its run ended, after we opened it: lock the file at the path now
    _remove_unheld_locks(path.parent)
    return handle


def release_lock(handle: IO[str]) -> None:
    """Unlock a `lock_file`, removing it (one per name or point was left for good): removed while still locked, so a
    command that opened it meanwhile sees it gone once it has the lock (`lock_file` then opens the path again)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(handle.name)
    handle.close()


def _remove_unheld_locks(folder: Path) -> None:
    """Remove the lock files in `folder` that no process holds: a command killed outright (SIGKILL, an OOM kill)
    lost its lock with its process but left its file, which stayed until its name or point was claimed again. Each
    is removed while locked here, as `release_lock` removes one."""
    import fcntl

    for entry in os.scandir(folder):
        try:
            descriptor = os.open(entry.path, os.O_RDONLY)
        except OSError:  # removed meanwhile
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _still_at(descriptor, Path(entry.path)):
                os.unlink(entry.path)
        except OSError:  # held (by this process too: its own lock file), or removed meanwhile
            pass
        finally:
            os.close(descriptor)


def _still_at(descriptor: int, path: Path) -> bool:
    """Whether the open file `descriptor` is still the file at `path`."""
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False


class SweepPoints:
    """The grid points this sweep runs, each claimed while its run goes (`claim_point`). A point another command's
    sweep or `mlops exp run` runs, or made into an experiment since this sweep was planned, is left to it."""

    def __init__(self, baseline: str, todo: list[tuple[str, dict[str, str]]], known: frozenset[str]) -> None:
        self.baseline = baseline
        self.params = {name: planned(settings, flag="").params for name, settings in todo}
        self.known = known
        self.held: dict[str, object] = {}  # name -> its lock file, open
        self.left_to_others: dict[str, str] = {}

    def __enter__(self) -> SweepPoints:
        return self

    def __exit__(self, *_exc) -> None:
        for name in list(self.held):
            self.release(name)

    def claim(self, name: str) -> bool:
        """Whether this sweep runs the point `name`: not when another command runs it or made it meanwhile."""
        try:
            handle = claim_point(self.baseline, self.params[name], name)
        except PointTaken as taken:
            self.left_to_others[name] = f"another mlops command is running it, as {taken.other}"
            return False
        made = self._made_meanwhile(name)
        if made:
            self.left_to_others[name] = f"same as experiment {made}, recorded since this sweep was planned"
            release_lock(handle)
            return False
        self.held[name] = handle
        return True

    def release(self, name: str) -> None:
        handle = self.held.pop(name, None)
        if handle is not None:
            release_lock(handle)

    def _made_meanwhile(self, name: str) -> str | None:
        """An experiment with the point's params, code and data that another command recorded since the plan."""
        ours = set(self.params)
        new = {ref for ref in experiment_refs() - self.known if ref.rsplit("/", 1)[-1] not in ours}
        if not new:
            return None
        same = duplicate_of(self.params[name], experiment_runs(refs=new).runs)
        return same.name if same else None


def experiment_refs() -> set[str]:
    return {ref for (ref,) in git.refs("refs/exps", "refname")}


def _stop_runs(running: dict, results: dict, baseline: str) -> int:
    """Stop the runs still going, all at once, and remove the experiment any of them recorded all the same (it was
    committing its results as the stop came, or a library swallowed the interrupt): a stopped run records nothing.
    A run that had ended before the stop finished: kept. How many were stopped."""
    for name, process in list(running.items()):
        if process.poll() is not None:
            results[name] = process.returncode
            del running[name]
    dvc_seam.stop_exp_runs(list(running.values()))
    for name in running:
        dvc_seam.drop_experiment(baseline, name)
    return len(running)


def _sweep(
    pending: list,
    running: dict,
    results: dict,
    jobs: int,
    watch: Callable,
    started: float,
    baseline: str,
    points: SweepPoints,
) -> str | None:
    """Run the points; the commit HEAD moved to, when it did before every point had started (the points left in
    `pending`): each run starts from HEAD, so a commit, checkout or promotion meanwhile ran the later points on
    another model and other params than the plan's, under the plan's names."""
    moved_to = None
    while pending or running:
        if pending and len(running) < jobs and (head := dvc_seam.resolve_commit("HEAD")) != baseline:
            moved_to = head or "no commit"
        while pending and len(running) < jobs and moved_to is None:
            name, settings = pending.pop(0)
            if points.claim(name):
                running[name] = dvc_seam.start_exp_run(name, settings, "mlops exp sweep")
                time.sleep(STAGGER_SECONDS)
        for name, process in list(running.items()):
            if process.poll() is not None:
                results[name] = process.returncode
                del running[name]
                points.release(name)
                watch(_progress((name, process.returncode), results, running, pending, started))
        watch(_progress(None, results, running, pending, started))
        if moved_to is not None and not running:
            return moved_to
        time.sleep(POLL_SECONDS)
    return moved_to


def _progress(finished, results: dict, running: dict, pending: list, started: float) -> SweepProgress:
    done = sum(1 for status in results.values() if status == 0)
    return SweepProgress(finished, done, len(results) - done, len(running), len(pending), time.monotonic() - started)


# --- mlops exp push / pull ---------------------------------------------------------------------------------


class ShareStopped(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during `dvc exp push/pull`: what was sent (git refs, data) stays; the same command
    again sends the rest (DVC skips what the remote has)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def share(direction: str, names: list[str], remote: str, all_commits: bool) -> list[str]:
    """Experiments' git refs to or from a git remote, their data and models to or from the DVC remote; for a
    pull, the names of the experiments it brought or updated; for a push, those it sent (DVC names them too)."""
    if not remote.strip():  # DVC took it for a remote that has every experiment, and said so
        raise UserError(
            f"--remote {remote!r} is empty: name a git remote", hint="e.g. --remote origin (`git remote -v`)"
        )
    if remote.startswith("-"):  # its value forgotten, the next option taken for it: no git remote is called so
        raise UserError(
            f"--remote {remote!r} reads as an option: name a git remote", hint="e.g. --remote origin (`git remote -v`)"
        )
    head = require_experiment_repo()
    if remote not in git.remote_names() and not any(mark in remote for mark in "/:\\") and not Path(remote).exists():
        raise UserError(  # DVC's push called it an unexpected error, naming an empty list of experiments
            f"--remote {remote!r}: no git remote of that name here (`git remote -v` lists them)",
            hint=f"add it: `git remote add {shlex.quote(remote)} URL`, or give the URL or path: --remote URL",
        )
    if direction == "push":  # DVC's "'x' is not a valid experiment name" came with a hint about remotes
        here = {name for experiment in dvc_seam.list_experiments() for name in (experiment.name, experiment.ref)}
        unknown = [name for name in names if name not in here]
        if unknown:
            raise UserError(
                f"no experiment called {unknown[0]!r} here", hint="see `mlops exp compare --all` for their names"
            )
    there = dvc_seam.remote_experiments(remote)  # DVC's push to a path that is no repository: "unexpected error"
    if direction == "pull" and names and not all_commits:
        _require_on_remote(names, remote, there)
    remotes.require_bucket()  # else DVC pushes the git refs, then fails on the data as an unexpected error
    # DVC would use the experiments' commits' own remote, read from `/` when its path is relative
    remotes.require_default_remote(
        f"{direction} the experiments' data and models {'to' if direction == 'push' else 'from'}"
    )
    if direction == "pull" and not names and not any(all_commits or run.baseline == head for run in there):
        return []  # DVC would go on to fetch the workspace's data, warning of each object the remote lacks
    here = dvc_seam.list_experiments()
    if direction == "push" and not names and not _chosen(here, names, all_commits, head):
        return []  # DVC would go on to push the workspace's data, under its "No experiments to push."
    _require_same_runs(
        direction, remote, here, there, _chosen(there if direction == "pull" else here, names, all_commits, head)
    )
    try:
        with stops_unwound(), dvc_outcomes.stop_unsaid():  # SIGTERM and SIGHUP too: DVC ends as after Ctrl-C
            if direction == "push":
                dvc_seam.exp_push(remote, names, all_commits)
                return [run.name for run in _chosen(here, names, all_commits, head)]
            with (
                dvc_outcomes.contradicting_advice_dropped(said_by_caller=dvc_outcomes.PULL_REPORT),
                dvc_seam.missing_objects_unsaid(),
            ):
                pulled = dvc_seam.exp_pull(remote, names, all_commits)
    except KeyboardInterrupt:  # a stop DVC did not catch
        raise ShareStopped(stop_signal() or signal.SIGINT) from None
    except dvc_seam.DvcFailed as failure:
        if stop_signal() is not None:  # DVC caught the stop and failed: nothing to fix, only to finish
            raise ShareStopped(stop_signal()) from None
        if direction == "push":
            _require_data_pushed(remote, _chosen(here, names, all_commits, head), failure)
        raise UserError(
            f"could not {direction} experiments {'to' if direction == 'push' else 'from'} {remote!r}",
            hint="read DVC's message above; is the git remote set (`git remote -v`) and the DVC remote reachable?",
        ) from failure
    wanted = {run.ref for run in _chosen(there, names, all_commits, head)}
    _require_outputs_fetched([run for run in dvc_seam.list_experiments() if run.ref in wanted], pulled)
    return pulled


def _require_data_pushed(remote: str, chosen: list[dvc_seam.ExperimentRef], failure: Exception) -> None:
    """After a failed push, refuse naming them the experiments whose commits are on the git remote: DVC sends the
    git refs first, then the data and models, so a failure there (a DVC remote that takes no upload) left the commits
    on the git remote without what they need to be applied."""
    try:
        there = {run.ref: run.commit for run in dvc_seam.remote_experiments(remote)}
    except UserError:  # the git remote itself failed: the general message below fits
        return
    sent = [run.name for run in chosen if there.get(run.ref) == run.commit]
    if not sent:
        return
    several = len(sent) > 1
    raise UserError(
        f"pushed the commit{'s' if several else ''} of experiment{'s' if several else ''} {', '.join(sent)} to "
        f"{remote!r}, but not {'their' if several else 'its'} data and models to the DVC remote",
        hint="read DVC's message above; once the DVC remote takes uploads (`dvc remote list`), the same "
        "`mlops exp push` finishes it",
    ) from failure


def _chosen(
    experiments: list[dvc_seam.ExperimentRef], names: list[str], all_commits: bool, head: str
) -> list[dvc_seam.ExperimentRef]:
    """Those of `experiments` a push or pull takes: the named ones, else those of HEAD, or with `all_commits` all."""
    return [
        run
        for run in experiments
        if all_commits or (run.name in names or run.ref in names if names else run.baseline == head)
    ]


def _require_same_runs(
    direction: str,
    remote: str,
    here: list[dvc_seam.ExperimentRef],
    there: list[dvc_seam.ExperimentRef],
    chosen: list[dvc_seam.ExperimentRef],
) -> None:
    """Refuse, before anything is sent, experiments of the same name and commit here and on the git remote that are
    different runs (another teammate's run of the name, or one run again): DVC skipped them with advice to re-run
    with '--force', which `mlops` has not, and the push or pull ended with status 0, saying there was nothing to do."""
    theirs = {run.ref: run.commit for run in there}
    ours = {run.ref: run.commit for run in here}
    clashing = sorted(
        {run.name for run in chosen if run.ref in theirs and run.ref in ours and theirs[run.ref] != ours[run.ref]}
    )
    if not clashing:
        return
    shown = ", ".join(clashing)
    first = shlex.quote(clashing[0])
    raise UserError(
        f"experiment{'s' if len(clashing) > 1 else ''} {shown} here and on {remote!r} are different runs of the same "
        f"name, from the same commit: nothing {'pushed' if direction == 'push' else 'pulled'}",
        hint=f"keep both: rename yours (`dvc exp rename {first} {first}-2`), then `mlops exp {direction}` again; or "
        f"drop yours (`dvc exp remove {first}`)" + (" and pull theirs" if direction == "pull" else ""),
    )


def _require_outputs_fetched(experiments: list[dvc_seam.ExperimentRef], pulled: list[str]) -> None:
    """Refuse, naming them, experiments whose data or models the DVC remote did not have: DVC pulled their git refs,
    warned "Some of the cache files do not exist neither locally nor on remote" with md5s, and the pull passed."""
    lines, lacking = [], []
    for experiment in experiments:
        missing = integrity.missing_from_cache(integrity.objects_in_use(experiment.commit))
        lines += [f"{experiment.name}: {problem.path} ({problem.md5})" for problem in missing]
        lacking += [experiment.name] if missing else []
    if not lines:
        return
    refs = f"pulled {', '.join(pulled)}, but " if pulled else ""
    raise UserError(
        f"{refs}the DVC remote has no copy of {len(lines)} object(s) of {', '.join(lacking)}, so they are not here:"
        "\n  " + "\n  ".join(lines),
        hint=f"from the clone that ran it: `mlops exp push {shlex.join(lacking)}` (to the DVC remote this clone "
        f"uses, `dvc remote list`), then `mlops exp pull {shlex.join(lacking)}` here",
    )


def _require_on_remote(names: list[str], remote: str, there: list[dvc_seam.ExperimentRef]) -> None:
    """Refuse names the git remote has no experiment of (`there`): DVC said "'x' is not a valid experiment name",
    its `exp pull` failed, and mlops asked whether the remotes were reachable."""
    known = {name for experiment in there for name in (experiment.name, experiment.ref)}
    unknown = [name for name in names if name not in known]
    if unknown:
        called = "experiment called" if len(unknown) == 1 else "experiments called"
        raise UserError(
            f"no {called} {', '.join(map(repr, unknown))} on the git remote {remote!r}",
            hint=f"see what it has: `dvc exp list --all-commits --names-only {shlex.quote(remote)}`",
        )


# --- mlops exp compare --------------------------------------------------------------------------------------


def compare(every_commit: bool, sort_by: str, top: int | None) -> ComparisonTable:
    """The workspace and its experiments (those started from HEAD, or all): the comparison table, and the
    experiments whose run failed in DVC's queue beside it."""
    head = require_experiment_repo()
    baseline = None if every_commit else head
    experiments = experiment_runs(baseline)
    workspace = workspace_run()
    table = comparison(workspace, experiments.runs, sort_by, top)
    return replace(
        table,
        unreadable=experiments.unreadable,
        broken_metrics=experiments.broken_metrics,
        stale_workspace=stale_stages("mlops exp compare"),
        failed=failed_runs(workspace, baseline),
    )


def failed_runs(workspace: Run, baseline: str | None) -> list[FailedRun]:
    """The experiments DVC's queue ran and that failed (of the `baseline` commit only, when given): the params
    each set apart from the workspace's, and the command that shows why it failed."""
    failed = []
    for experiment in dvc_seam.failed_queued_experiments():
        if baseline and experiment.baseline != baseline:
            continue
        params = queued_params(experiment.rev)
        changed = {
            key: value for key, value in params.items() if json.dumps(value) != json.dumps(workspace.params.get(key))
        }
        name = shlex.quote(experiment.name)
        failed.append(FailedRun(experiment.name, changed, f"dvc queue logs {name}", f"dvc queue remove {name}"))
    return failed


def queued_params(rev: str) -> dict:
    """The flat params a queued run was given; as written when the schema refuses them (often why it failed)."""
    try:
        return flat_params(dvc_seam.params_at(rev))
    except UserError:
        try:
            return flatten(parse_params_yaml(dvc_seam.read_at(rev, PARAMS_FILE) or b"", PARAMS_FILE))
        except UserError:
            return {}


# --- mlops exp apply / promote ------------------------------------------------------------------------------


def find_experiment(name: str) -> Run:
    experiments = experiment_runs()
    for run in experiments.runs:
        if run.name == name:
            return run
    if name in experiments.broken_metrics:
        raise UserError(experiments.broken_metrics[name], hint=f"drop it: `dvc exp remove {shlex.quote(name)}`")
    raise UserError(f"no experiment called {name!r}", hint="see `mlops exp compare --all` for their names")


def apply(name: str) -> Run:
    """Bring an experiment's params, dvc.lock, reports and model into the workspace (nothing is committed); the
    experiment applied."""
    require_experiment_repo()
    run = find_experiment(name)
    dvc_seam.require_committed_workspace("applying an experiment (DVC's apply resets every tracked file)")
    _apply(name)
    return run


PROMOTED = ("params.yaml", "dvc.lock", paths.REPORTS)


def _apply(name: str) -> None:
    """All or nothing: DVC writes params.yaml, dvc.lock and reports before it checks out the model, so a checkout
    that fails (the model in no cache here) or a stop left them applied beside no model at all."""
    with all_or_nothing("mlops exp apply", PROMOTED):
        try:
            with dvc_outcomes.contradicting_advice_dropped():
                dvc_seam.exp_apply(name)
        except dvc_seam.DvcFailed as failure:
            raise UserError(f"could not apply {name}", hint=_apply_hint(name)) from failure


def _apply_hint(name: str) -> str:
    """How to apply `name` after DVC failed to: fetch its outputs, where the cache lacks them (DVC asks "Is your
    cache up to date?")."""
    ref = dvc_seam.exp_ref(name)
    missing = integrity.missing_from_cache(integrity.objects_in_use(ref)) if ref else []
    if not missing:
        return read_dvc_message("fix that, then run it again")
    named = ", ".join(problem.path for problem in missing[:3])
    return (
        f"its {named} {'is' if len(missing) == 1 else 'are'} in no cache here: `mlops exp pull {name}` fetches it "
        f"(from the clone that ran it, `mlops exp push {name}` sends it first), then apply it again"
    )


def promote(name: str) -> str:
    """Apply a full-data experiment and commit it (params, dvc.lock, reports) with its metric change; the
    commit message."""
    head = require_experiment_repo()
    dvc_seam.require_git_identity("`mlops exp promote`")
    run = find_experiment(name)
    if run.subset:
        raise UserError(
            f"{name} is a subset run ({SUBSET_KEY} = {run.subset!r}): its model saw part of the data",
            hint=f"run it on all the data first: {full_data_run(run)}",
        )
    if not applied_as_it_is(name):  # `mlops exp apply NAME` says to promote next: what it changed is no obstacle
        dvc_seam.require_committed_workspace("promoting an experiment (DVC's apply resets every tracked file)")
    if changes_nothing(name, run, head):
        raise UserError(
            f"{name} has the params and dvc.lock of the workspace: nothing to promote",
            hint="see `mlops exp compare` for the runs that change something",
        )
    before = read_metrics(dvc_seam.read_at(head, paths.METRICS), f"HEAD's {paths.METRICS}", REVISION_REPORTS_HINT)
    message = promotion_message(name, before, run.metrics)
    with all_or_nothing("mlops exp promote", PROMOTED, ends_with_commit=True):
        _apply(name)
        _git("add", "--", *PROMOTED)
        with final_step("the promotion was committed"):
            # A Ctrl-C ignored as mlops started stays so for git's hooks too, which git lets take it again
            ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            _git("commit", "-q", "-m", message, "--", *PROMOTED, own_group=ignored)  # only these, whatever is staged
    return message


def full_data_run(run: Run) -> str:
    """The command that runs a subset run's settings on all the data, then promotes it."""
    settings = full_data_settings(run.params, flat_params(load_params()))
    if not settings:
        return "`mlops repro` (its other params are the workspace's: that is its run on all the data)"
    return f"`mlops exp run {settings}`, then `mlops exp promote` that run"


def applied_as_it_is(name: str) -> bool:
    """Whether every uncommitted change is one of the files a promotion commits, as the experiment has it (what
    `mlops exp apply` left): nothing of the user's would be lost by applying it again."""
    changed = dvc_seam.uncommitted_git_changes()
    ref = dvc_seam.exp_ref(name) or name
    promoted = tuple(path for path in PROMOTED if path != paths.REPORTS)
    return bool(changed) and all(
        (path in promoted or path.startswith(f"{paths.REPORTS}/"))
        and (Path(path).read_bytes() if Path(path).is_file() else None) == dvc_seam.read_at(ref, path)
        for path in changed
    )


def changes_nothing(name: str, run: Run, head: str) -> bool:
    """Whether promoting the run would commit no change but params.yaml's formatting: HEAD's params and dvc.lock
    (whose hashes cover the model and the reports)."""
    same_lock = dvc_seam.read_at(dvc_seam.exp_ref(name) or name, "dvc.lock") == dvc_seam.read_at(head, "dvc.lock")
    return same_lock and run.params == flat_params(load_params())


def promotion_message(name: str, before: dict, after: dict) -> str:
    primary = metric_rules.PRIMARY.name
    change = ""
    if primary in before and primary in after:
        old, new = before[primary], after[primary]
        change = f": {primary} {old:.4f} -> {new:.4f} ({new - old:+.4f})"
    body = [f"{m}: {before[m]:.4f} -> {after[m]:.4f}" for m in metric_rules.key_names() if m in before and m in after]
    return f"Promote experiment {name}{change}\n\n" + "\n".join(body)


def _git(*args: str, own_group: bool = False) -> None:
    try:
        git.git(*args, own_group=own_group)
    except RuntimeError as failure:
        raise UserError(
            str(failure), hint="the workspace is as it was before the promotion; fix the problem and promote again"
        ) from None
