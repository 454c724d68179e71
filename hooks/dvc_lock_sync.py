"""dvc-lock-sync: a commit's `dvc.lock` matches its `params.yaml`, `dvc.yaml` and stage code.

Reads the staged content (the index), compares params strictly by type (`1` and `1.0` differ) and refuses a
lock recorded by a subset run (`data.sample_frac` < 1). Modes:
  check  refuse, naming the stale stages and the command that fixes them (CI, long trainings);
  repro  reproduce the stale stages (full data), `git add` dvc.lock and the git-kept reports, print the metric
         change against HEAD and stop the commit so that the same `git commit` (`--amend` kept) run again records them.
During a merge (the `pre-merge-commit` hook, or the `git commit` that concludes a merge) the generated files the
merge driver kept from one side (`hooks.merge_driver`) are stale too: the merged data is checked out, the
pipeline reproduced, and the metric change printed against both parents.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import json
import os
import posixpath
import signal
import subprocess
import sys
from collections.abc import Collection, Sequence

import yaml

from hooks import git, md5_cache, merge_driver, params_yaml
from hooks.arguments import from_the_root, shell_word
from hooks.block_untracked_data import PARAMS_SCHEMA, uses_mlops
from hooks.bounded_yaml import BadYaml
from hooks.dvc_post_checkout import dvc_command
from hooks.pipeline_state import (
    LOCK_FILE,
    PARAMS_FILE,
    Reader,
    StageState,
    added_data,
    file_md5,
    git_kept_outputs,
    listing_md5,
    load,
    lock_stages,
    lookup,
    pipeline_state,
    pointer_outs,
    read_declared_outputs,
    read_worktree,
    recorded_sample_frac,
    stages_left_to_dvc,
    states_from_dvc_status,
)
from hooks.stop_signals import JOURNAL_DIR, stops_to_take

HOOK_ID = "dvc-lock-sync"
SKIP_HINT = f"To commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)"
METRICS = "reports/metrics.json"


def skip_hint() -> str:
    """The last lines of a refusal: from where its commands run (a commit made in a subfolder), and how to skip."""
    return from_the_root().lstrip("\n") + "\n" + SKIP_HINT if from_the_root() else SKIP_HINT


# Files whose unstaged edits a reproduction would train on, or overwrite, without the user meaning it. Edits of
# inputs that pre-commit stashed are safe (the run reads what is staged); stashed edits of outputs are not (the run
# rewrites those files, and pre-commit then cannot put the edits back).
REPRO_INPUTS = ("params.yaml", "dvc.yaml", "pipeline", "reports/schema.json")
REPRO_OUTPUTS = ("dvc.lock", "reports")


class StagedReader:
    """A `Reader` of the index: each file read once; a folder's files all at once (`read_folder`), with two git
    processes whatever their number, where one file costs two."""

    def __init__(self) -> None:
        self.cache: dict[str, bytes | None] = {}
        self.folders: list[str] = []  # read whole: a path under one that the index lacks is absent

    def __call__(self, path: str) -> bytes | None:
        if path not in self.cache:
            normal = posixpath.normpath(path)  # as git lists it
            if any(normal.startswith(folder + "/") for folder in self.folders):
                self.cache[path] = self.cache.get(normal)
            else:
                self.cache[path] = git.staged_blob(path)
        return self.cache[path]

    def read_folder(self, folder: str) -> None:
        folder = posixpath.normpath(folder)
        if folder not in self.folders:
            self.cache.update(git.staged_files_under(folder))
            self.folders.append(folder)


def staged_reader() -> Reader:
    return StagedReader()


def stale_stages(read: Reader) -> list[StageState]:
    """Stages whose staged params, dvc.yaml entry, git-tracked code or data (by its staged `.dvc` pointers) differ
    from what dvc.lock records."""
    states = pipeline_state(read, hash_outputs=False, tracked=lambda path: read(path) is not None, data_folders=True)
    return [state for state in states if state.stale] + stale_by_dvc(stages_left_to_dvc(read))


def stale_by_dvc(names: list[str]) -> list[StageState]:
    """`dvc status` of the stages only DVC can judge (templated, `wdir`), on the work tree: pre-commit has set
    unstaged edits aside, so it holds what is staged. None without a DVC to ask (another repository's hook)."""
    if not names:
        return []
    try:
        found = subprocess.run([*dvc_command(), "status", "--json", *names], capture_output=True, check=True)
        return states_from_dvc_status(json.loads(found.stdout))
    except (OSError, subprocess.CalledProcessError, ValueError):  # no DVC here, or it refused: its run says why
        return []


def subset_lock(read: Reader) -> float | None:
    frac = recorded_sample_frac(read)
    return frac if isinstance(frac, int | float) and not isinstance(frac, bool) and frac < 1 else None


def subset_params(read: Reader) -> float | None:
    """The staged params.yaml's `data.sample_frac` when below 1 (`dvc exp apply` of a subset experiment brings it
    along): no reproduction of these params can give a lock that may be committed."""
    frac = lookup(load(read, PARAMS_FILE), "data.sample_frac")
    return frac if isinstance(frac, int | float) and not isinstance(frac, bool) and frac < 1 else None


def refuse_subset_params(frac: float) -> int:
    print(
        f"{HOOK_ID}: the staged params.yaml sets data.sample_frac: {frac}, a subset run's setting (`dvc exp apply` "
        "of a subset experiment brings it along), and a committed dvc.lock must come from the full data. Nothing was "
        "reproduced.\nFix: set data.sample_frac: 1.0 in params.yaml, `git add` it and commit again (the hook then "
        "retrains on the full data)."
    )
    print(skip_hint())
    return 1


def describe(stale: list[StageState]) -> str:
    lines = []
    for state in stale:
        lines.append(f"  {state.name}:")
        lines.extend(f"      {reason}" for reason in state.reasons)
    return "\n".join(lines)


def outputs_not_as_locked(read: Reader) -> list[str]:
    """Generated files kept in git (the reports) staged with other content than dvc.lock records for them: a hand
    edit, files `git stash pop` or a checkout brought from another run, or a run's output left unstaged (lost at
    the next run either way). Not while the sides a merge, rebase or cherry-pick kept (`hooks.merge_driver`) await
    their retrain."""
    if merge_driver.placeholders() or git.merge_heads():
        return []
    locked = {out["path"]: out.get("md5") for stage in lock_stages(read).values() for out in stage.get("outs") or []}
    edited = []
    for path in git_kept_outputs(read):
        if str(locked.get(path)).endswith(".dir"):
            edited += folder_not_as_locked(path, locked[path])
            continue
        data = read(path) if path in locked else None
        if data is not None and file_md5(data) != locked[path]:
            edited.append(path)
    return edited


def outputs_part_written(read: Reader) -> list[str]:
    """`outputs_not_as_locked`, where a killed run's journal is here: DVC truncates dvc.lock before it writes it,
    so a run killed between left it empty, and that is the run's to put back, not a file to fix by hand."""
    try:
        return outputs_not_as_locked(read)
    except BadYaml:
        if os.path.isdir(JOURNAL_DIR):
            return [LOCK_FILE]
        raise


def folder_not_as_locked(folder: str, md5: str) -> list[str]:
    """A folder of outputs staged with other files than the lock's md5 of it: the files in it that the commit
    adds or changes (a model or a table put among the plots, a plot edited), else the folder."""
    files = git.staged_files_under(folder)
    prefix = folder.rstrip("/") + "/"
    if not files or listing_md5({path.removeprefix(prefix): file_md5(data) for path, data in files.items()}) == md5:
        return []
    return [change.path for change in git.staged_changes() if change.path.startswith(prefix)] or [folder]


def refuse_outputs_not_as_locked(edited: list[str]) -> int:
    run = "mlops repro" if uses_mlops() else "dvc repro"
    added = [path for path in edited if git.blob_at("HEAD", path) is None and not os.path.isdir(path)]
    edited = [path for path in edited if path not in added]
    if added:
        print(f"{HOOK_ID}: these files are staged in a folder the pipeline writes, and it did not write them:\n")
        for path in added:
            print(f"  {path}")
        print(
            f"\nThe next `{run}` deletes them with the folder it writes again. Fix: `git rm --cached "
            f"{' '.join(shell_word(path) for path in added)}`, then move them out of that folder (if they are "
            "data or a model, `dvc add` them there)."
        )
    if not edited:
        print(skip_hint())
        return 1
    paths = " ".join(shell_word(path) for path in edited)
    print(f"{HOOK_ID}: these generated files are staged with other content than dvc.lock records for them:\n")
    for path in edited:
        print(f"  {path}")
    print(
        "\nThe pipeline writes them: a hand edit is lost at the next run and leaves dvc.lock out of step (to change "
        f"what they say, change the code that writes them and run `{run}`). {fix_of_outputs(edited, paths, run)}"
    )
    print(skip_hint())
    return 1


def fix_of_outputs(edited: list[str], paths: str, run: str) -> str:
    """How to stage the generated files as dvc.lock records them: from HEAD, unless HEAD holds them as staged (a
    commit made with --no-verify or SKIP), where only a run writes them again."""
    if any(git.succeeds("diff", "--cached", "--quiet", "HEAD", "--", path) for path in edited):
        generated = " ".join(shell_word(path) for path in ["dvc.lock", *git_kept_outputs(staged_reader())])
        return (
            "HEAD holds them so too (committed with --no-verify or SKIP): `git checkout HEAD` cannot put them back. "
            f"Fix: `{run}`, which writes them for the staged params, then `git add {generated}` and commit again."
        )
    return (
        f"Fix: `git add {paths}` if `{run}` wrote them since they were staged; else `git checkout HEAD -- {paths}` (a "
        f"hand edit, or files `git stash pop` or a checkout brought from another run), or `{run}`, which writes them "
        "for the staged params, then `git add` them."
    )


def merge_drivers_missing(read: Reader) -> list[str]:
    """The `.gitattributes` lines the staged `dvc.yaml` needs and the staged `.gitattributes` lacks, in a clone
    where `mlops hooks install` registered the merge drivers: a stage added since then would have its reports
    merged as text, conflict markers and all."""
    if not merge_driver.registered_in_git_config():
        return []
    have = (read(".gitattributes") or b"").decode("utf-8", "surrogateescape").splitlines()
    wanted = merge_driver.gitattributes_lines(read_declared_outputs(read), merge_driver.looks_like_dir)
    return [line for line in wanted if line not in have]


def refuse_merge_drivers_missing(missing: list[str]) -> int:
    print(
        f"{HOOK_ID}: .gitattributes names no merge driver for what dvc.yaml keeps in git: {', '.join(missing)} (a "
        "merge would leave conflict markers in it). Fix: `mlops hooks install` (it writes them from dvc.yaml), "
        "`git add .gitattributes`, then commit again."
    )
    print(skip_hint())
    return 1


def merge_placeholders() -> list[str]:
    """During a merge (a squash merge too): the generated files the merge driver kept from one side."""
    return merge_driver.placeholders() if git.merge_heads() or git.squash_merging() else []


def check(read: Reader) -> int:
    stale, frac, kept = stale_stages(read), subset_lock(read), merge_placeholders()
    if not stale and frac is None and not kept:
        return 0
    print(f"{HOOK_ID}: the staged dvc.lock does not match what it reproduces.\n")
    if kept:
        print(f"  The merge kept one side of generated files: {', '.join(kept)}.")
    if frac is not None:
        print(
            f"  dvc.lock records a subset run (data.sample_frac = {frac}): the committed lock must come from "
            "the full data."
        )
    if stale:
        print("  Stale stages (staged params/dvc.yaml/code/data vs dvc.lock):\n" + describe(stale))
    if not uses_mlops():
        print(f"\nFix: {dvc_fix(read, frac, kept)}")
    elif kept:
        print("\nFix: `dvc checkout --allow-missing && mlops repro`, then `git add dvc.lock reports` and `git commit`.")
    else:
        print(
            "\nFix: set data.sample_frac: 1.0 if needed, run `mlops repro`, then `git add dvc.lock reports` and "
            "commit again."
        )
    print(skip_hint())
    return 1


def dvc_fix(read: Reader, frac: float | None, kept: list[str]) -> str:
    """The fix in DVC's own commands: reproduce, then stage dvc.lock and the outputs git keeps."""
    staged = " ".join(shell_word(path) for path in ["dvc.lock", *git_kept_outputs(read)])
    subset = "set data.sample_frac: 1.0 in params.yaml, " if frac is not None else ""
    if kept:
        return f"{subset}`dvc checkout --allow-missing && dvc repro`, then `git add {staged}` and `git commit`."
    return f"{subset}run `dvc repro`, then `git add {staged}` and commit again."


def pre_commit_stashed_paths() -> set[str]:
    """Files with unstaged edits that pre-commit stashed away before running this hook (its patch file,
    `patch<time>-<pid>`, named after pre-commit: our parent). Without this, those edits would be invisible here.
    pre-commit never deletes its patches, and pids are reused: only one written since our parent started counts."""
    home = os.environ.get("PRE_COMMIT_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pre-commit"
    )
    parent = os.getppid()
    started = process_start_time(parent)
    paths = set()
    for patch in glob.glob(os.path.join(glob.escape(home), f"patch*-{parent}")):
        written = os.path.basename(patch).removeprefix("patch").rpartition("-")[0]
        if started is not None and (not written.isdigit() or int(written) < int(started) - 1):
            continue  # an earlier process's patch, which had our parent's pid
        with open(patch, "rb") as handle:
            for line in handle:
                if line.startswith(b"diff --git a/"):
                    paths.add(line[len(b"diff --git a/") :].split(b" b/")[0].decode("utf-8", "replace"))
    return paths


def process_start_time(pid: int) -> float | None:
    """When process `pid` started, in seconds since the epoch (from /proc; None where there is none)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            ticks = int(handle.read().rpartition(b")")[2].split()[19])  # field 22, starttime, after the command
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def unstaged_edits() -> list[str]:
    """Unstaged edits a reproduction would train on (in the inputs) or overwrite (in the outputs, stashed or not)."""
    outputs = REPRO_OUTPUTS
    stashed = [p for p in pre_commit_stashed_paths() if any(p == x or p.startswith(x + "/") for x in outputs)]
    return sorted(set(git.unstaged_changes([*REPRO_INPUTS, *outputs])) | set(stashed))


def refuse_during_another_command() -> int:
    """An mlops command's journal is here: it is at work, or was killed and left its files part-written. Putting them
    back is not for this hook: pre-commit has set the part-written files aside, and would lay them back over."""
    print(
        f"{HOOK_ID}: the pipeline's files are in this commit, but an mlops command is at work here, or was killed "
        f"before it finished (SIGKILL, a power cut) and left dvc.lock, models/ or reports/ part-written (its "
        f"journal, {JOURNAL_DIR}, is here). Nothing was retrained.\nFix: wait for that command to end, or run "
        "`mlops status` (it puts back what a killed command left), then commit again."
    )
    print(skip_hint())
    return 1


def refuse_unstaged(edited: list[str]) -> int:
    print(
        f"{HOOK_ID}: params or pipeline changed, but these files hold unstaged edits of yours that retraining "
        "would overwrite or train on:\n"
    )
    for path in edited:
        print(f"  {path}")
    print("\nNothing was retrained. Fix: `git add` them (or `git checkout -- PATH` to drop them), then commit again.")
    print(skip_hint())
    return 1


def data_not_here(read: Reader) -> list[tuple[str, str]]:
    """(data, pointer) for each staged `.dvc` pointer's data that is neither in the work tree nor in DVC's cache (a
    teammate's pointer, copied or checked out before `dvc pull`): the reproduction would stop on it."""
    from hooks.dvc_cache_config import cache_dir

    missing = []
    for change in git.staged_changes():
        if not change.path.endswith(".dvc"):
            continue
        for out in pointer_outs(read(change.path)):
            md5, path = out.get("md5"), out.get("path")
            if not (isinstance(md5, str) and len(md5) > 2 and isinstance(path, str)):
                continue
            data = posixpath.join(posixpath.dirname(change.path), path)
            cached = os.path.join(cache_dir(), "files", "md5", md5[:2], md5[2:])
            if not os.path.exists(data) and not os.path.exists(cached):
                missing.append((data, change.path))
    return missing


def refuse_data_not_here(missing: list[tuple[str, str]]) -> int:
    pointers = " ".join(shell_word(pointer) for _, pointer in missing)
    pull = f"`mlops data pull` (or `dvc pull {pointers}`)" if uses_mlops() else f"`dvc pull {pointers}`"
    print(f"{HOOK_ID}: the staged DVC pointers name data that is not here to train on:\n")
    for data, pointer in missing:
        print(f"  {data} ({pointer}) is neither in the work tree nor in the DVC cache")
    print(f"\nNothing was reproduced. Fix: {pull}, then commit again (the hook then retrains on it).")
    print(skip_hint())
    return 1


def data_not_as_staged(read: Reader) -> list[tuple[str, str]]:
    """(data, pointer) for each file or folder added to DVC whose work-tree content is not what its staged `.dvc`
    pointer records: edited since `dvc add`, or re-added with the new pointer left unstaged (pre-commit sets that
    pointer aside, never the data). DVC's repro would train on it and record it in a pointer this commit leaves
    out: the next commit then retrains again, for ever."""
    differing = []
    with md5_cache.remembered() as md5s:
        for pointer in git.ls_files("*.dvc"):
            text = read(pointer)
            if not added_data(text):
                continue
            for out in pointer_outs(text):
                path = out.get("path")
                if out.get("hash") != "md5" or not isinstance(path, str):  # DVC 2's md5 of text is not its bytes'
                    continue
                data = posixpath.join(posixpath.dirname(pointer), path)
                actual = md5s.md5(data)
                if actual is not None and actual != out.get("md5"):
                    differing.append((data, pointer))
    return differing


def refuse_data_not_as_staged(differing: list[tuple[str, str]]) -> int:
    datas = " ".join(shell_word(data) for data, _ in differing)
    pointers = " ".join(shell_word(pointer) for _, pointer in differing)
    print(f"{HOOK_ID}: these data files are not what their staged `.dvc` pointers record:\n")
    for data, pointer in differing:
        print(f"  {data} ({pointer})")
    print(
        "\nRetraining would train on them and record them in the pointers, which this commit leaves out. Nothing was "
        f"retrained. Fix: to commit this data, `dvc add {datas} && git add {pointers}`; to train on the staged "
        f"version instead, `dvc checkout --force {pointers}` (drops the edit); then commit again."
    )
    print(skip_hint())
    return 1


def params_refused(read: Reader) -> bool:
    """When params.yaml is staged: whether this project's own schema (`mlops hooks params`) refuses it, which
    then says why. A key no stage reads (a misspelt `trian:`) stales no stage, and would be committed unseen."""
    text = read(PARAMS_FILE)
    if text is None or not os.path.isfile(PARAMS_SCHEMA):  # another repository: DVC alone reads its params
        return False
    if git.succeeds("diff", "--cached", "--quiet", "--", PARAMS_FILE):
        return False
    checked = subprocess.run([sys.executable, "-m", "pipeline", "hooks", "params"], input=text, stdout=sys.stdout)
    if checked.returncode == 0:
        return False
    print(f"\n{HOOK_ID}: fix params.yaml, `git add` it and commit again.\n{SKIP_HINT}")
    return True


def repro_command() -> list[str]:
    if importlib.util.find_spec("pipeline.versioning.dvc_seam") is not None:
        return [sys.executable, "-m", "pipeline", "hooks", "repro"]  # all or nothing, forces type-only stages
    return [*dvc_command(), "repro"]


def metric_changes(before: bytes | None, after: bytes | None) -> list[str]:
    old, new = json.loads(before or b"{}"), json.loads(after or b"{}")
    lines = []
    for key, value in new.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            was = old.get(key)
            whole = isinstance(value, int) and isinstance(was, int | None)  # counts (test_rows), not 1975.0000
            shown = f"{value:>10d}" if whole else f"{value:>10.4f}"
            if not isinstance(was, int | float):
                change = "new"
            else:
                change = f"{value - was:+d}" if whole else f"{value - was:+.4f}"
            lines.append(f"  {key:<24} {shown}  ({change})")
    return lines


def checkout_merged_data() -> bool:
    """`dvc checkout`: the data the merged `.dvc` pointers name (a merge does not check it out)."""
    from hooks.dvc_post_checkout import dvc_command

    # Captured, not --quiet (which silences DVC's errors too, the list of what is missing among them).
    result = subprocess.run([*dvc_command(), "checkout"], capture_output=True, text=True)
    if result.returncode:
        print(result.stderr.strip())
        print(
            f"\n{HOOK_ID}: `dvc checkout` of the merged data failed (see above; most often the other side's data "
            "is not in this cache yet). Fix: `mlops data pull` (or `dvc pull`), then `git commit`."
        )
        return False
    return True


def reproduce(read: Reader) -> int:
    stale, frac, kept = stale_stages(read), subset_lock(read), merge_placeholders()
    if not stale and frac is None and not kept:
        return 0
    params_frac = subset_params(read)
    if params_frac is not None:
        return refuse_subset_params(params_frac)
    if git.commit_index() == "paths":
        return refuse_commit_of_paths(stale)
    if os.path.isdir(JOURNAL_DIR):
        return refuse_during_another_command()
    edited = unstaged_edits()
    if edited:
        return refuse_unstaged(edited)
    missing = [] if git.merge_heads() else data_not_here(read)  # a merge checks its data out, naming what is missing
    if missing:
        return refuse_data_not_here(missing)
    differing = [] if kept or git.merge_heads() else data_not_as_staged(read)  # a merge checks its data out first
    if differing:
        return refuse_data_not_as_staged(differing)
    names = ", ".join(state.name for state in stale) or ("the merged pipeline" if kept else "the subset-run stages")
    print(f"{HOOK_ID}: dvc.lock is stale for: {names}. Reproducing on the full data (this may take a while)...\n")
    if kept:
        print(f"  the merge kept one side of: {', '.join(kept)}")
    print(describe(stale), flush=True)
    if (kept or git.merge_heads()) and not checkout_merged_data():  # the merged pointers' data, to train on
        return 1
    index_before = git.write_tree()
    status, stopped_by = run_to_the_end(repro_command())
    if status != 0 and stopped_by:
        print(f"\n{HOOK_ID}: stopped by {stopped_by.name}; dvc.lock, reports/ and the outputs are as they were.")
        return 1
    if status != 0:
        print(
            f"\n{HOOK_ID}: the reproduction failed (see above); dvc.lock, reports/ and the outputs are as they "
            "were. Fix the cause, then commit again."
        )
        print(skip_hint())
        return 1
    still_stale = stale_stages(read_worktree())
    if still_stale or subset_lock(read_worktree()) is not None:
        print(
            f"\n{HOOK_ID}: after the reproduction dvc.lock still does not match params.yaml and the data's `.dvc` "
            "pointers (is data.sample_frac below 1.0 in params.yaml, or was a data file changed after its pointer "
            "was written?)" + (":\n" + describe(still_stale) if still_stale else ".")
        )
        print("Fix params.yaml, or add the data again (`mlops data add`, `dvc add`), then commit again.")
        print(skip_hint())
        return 1
    kept_outputs = [path for path in git_kept_outputs(read_worktree()) if os.path.exists(path)]
    git.git("add", "-A", "--", "dvc.lock", *kept_outputs)
    merge_driver.clear_placeholders()
    if kept and not stale and git.write_tree() == index_before:
        print(f"\n{HOOK_ID}: the merged dvc.lock and reports were already up to date.")
        return 0
    if git.commit_index() == "copy":  # git drops what was staged here when the commit stops
        print(f"\n{HOOK_ID}: retrained; dvc.lock and the reports are updated in the working tree.")
    else:
        print(f"\n{HOOK_ID}: retrained; dvc.lock and the reports are now staged.")
    merged = git.merge_heads()
    parents = {"HEAD": "HEAD", **{sha: parent_label(sha, label) for sha, label in merged.items()}}
    for parent, label in parents.items():
        changes = metric_changes(git.blob_at(parent, METRICS), read_worktree()(METRICS))
        if changes:
            print(f"Test metrics ({METRICS}) vs {label}:")
            print("\n".join(changes))
    if merged:
        print("\nRun `git commit` to conclude the merge with params, dvc.lock and reports together.")
    elif git.commit_index() == "copy":
        print(f"\n{again_after_a_copy_commit(['dvc.lock', *kept_outputs])}.{from_the_root()}")
    else:
        print(f"\nRun the same `{git.commit_command()}` again to record params, dvc.lock and reports together.")
    return 1


def again_after_a_copy_commit(generated: list[str]) -> str:
    """What records the retrain after `git commit -a`, `-i PATHS` or `-p`: the same command stages everything
    again only where it left nothing unstaged (pre-commit set nothing aside); else it would commit without the
    retrained files (`-i`), or with the hunks it left out (`-a` instead of `-p`)."""
    left_out = pre_commit_stashed_paths()
    stage_again = stage_what_this_commit_staged(generated, left_out)
    if left_out:
        return f"Run {stage_again}"
    return f"Run the same `{git.commit_command()} -a` again (it stages them), or {stage_again}"


def stage_what_this_commit_staged(generated: list[str], left_out: Collection[str] = (), most: int = 8) -> str:
    """`git commit -i PATHS` (or `-a`, `-p`) stages in a copy of the index, which git drops when the commit stops:
    the advice stages again what it staged (the params change) with the `generated` files the retrain wrote, not
    those alone, which would leave the params change out and retrain back to the old params; a file it staged only
    in part (`left_out` holds the rest) by `git add -p`, not whole. It ends in the commit run (`--amend` kept)."""
    commit = git.commit_command()
    folders = tuple(path.rstrip("/") + "/" for path in generated)  # a generated folder's files
    staged = [
        change.path
        for change in git.staged_changes()
        if change.path not in generated and not change.path.startswith(folders)
    ]
    if len(staged) > most:
        return f"`git add` what this commit staged with dvc.lock and the reports, then `{commit}`"
    tops = sorted({path.split("/")[0] for path in generated})  # dvc.lock, reports
    whole = [path for path in staged if path not in left_out]
    add = f"git add {' '.join(shell_word(path) for path in whole + tops)} && {commit}"
    part = [shell_word(path) for path in staged if path in left_out]
    return f"`git add -p {' '.join(part)}` (the same hunks), then `{add}`" if part else f"`{add}`"


def parent_label(sha: str, label: str) -> str:
    """How the metric change names a merged commit: `boot (f121835)`; `git pull` merges by commit id, which is
    then said once (`f121835`), not twice."""
    return sha[:7] if label == sha else f"{label} ({sha[:7]})"


def run_to_the_end(command: list[str]) -> tuple[int, signal.Signals | None]:
    """`command`'s exit status, and the stop signal (Ctrl-C, SIGTERM, SIGHUP) this process passed on to it, if any.
    It runs in a process group of its own and gets the first stop once, from here (a second one could land while
    it starts putting the workspace back, and cut that short), sent to the whole group as a terminal sends Ctrl-C
    to its job (DVC ignores Ctrl-C while a stage runs, leaving it to the stage); this process waits for it
    meanwhile, so that it ends once the workspace is put back, never in the middle (subprocess.run would kill it
    on Ctrl-C)."""
    process = subprocess.Popen(command, stdout=sys.stdout, stderr=sys.stderr, process_group=0)
    stopped_by: list[signal.Signals] = []

    def pass_on(signum: int, _frame: object) -> None:
        stopped_by.append(signal.Signals(signum))
        if len(stopped_by) == 1 and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)

    # A signal ignored here (git run with nohup, or in the background) stays ignored in the command too.
    previous = {signum: signal.signal(signum, pass_on) for signum in stops_to_take()}
    try:
        status = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status, (stopped_by[0] if stopped_by else None)


def refuse_commit_of_paths(stale: list[StageState]) -> int:
    """`git commit PATHS` records those paths only, never the dvc.lock and reports a retraining writes: say so
    before retraining for nothing."""
    print(
        f"{HOOK_ID}: dvc.lock is stale for: {', '.join(state.name for state in stale) or 'the pipeline'}, and "
        "`git commit PATHS` records only the paths it names, so a retrained dvc.lock and reports would be left "
        f"out.\nNothing was retrained. Fix: `git add` your change, then `{git.commit_command()}` without paths (this "
        "hook then retrains and stages them with it); or `mlops repro`, then name dvc.lock and reports/ in the commit "
        "too."
    )
    print(skip_hint())
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=HOOK_ID, description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("check", "repro"), nargs="?", default="check")
    parser.add_argument("filenames", nargs="*", help="ignored: the staged pipeline is always checked whole")
    args = parser.parse_args(argv)
    read = staged_reader()
    try:
        if params_refused(read):
            return 1
        edited = outputs_part_written(read)
        if edited and os.path.isdir(JOURNAL_DIR):  # a killed run's part-written reports (`git commit -a` stages them)
            return refuse_during_another_command()
        if edited:
            return refuse_outputs_not_as_locked(edited)
        missing = merge_drivers_missing(read)
        if missing:
            return refuse_merge_drivers_missing(missing)
        return check(read) if args.mode == "check" else reproduce(read)
    except params_yaml.AmbiguousScalar as error:
        print(f"{HOOK_ID}: {error}")
        return 1
    except yaml.YAMLError as error:  # e.g. an alias bomb in params.yaml, refused before it expands
        print(f"{HOOK_ID}: {error}\nFix the file, then commit again.")
        return 1


if __name__ == "__main__":
    sys.exit(main())
