"""Git merge drivers for what a merge cannot combine line by line: generated files, DVC pointers and params.

  generated  `dvc.lock` and the outputs `dvc.yaml` keeps in git (reports): a function of params, code and data,
             so never merged as text. Our side stays as a placeholder, the path is recorded in the git directory
             (`mlops-merge-stale`), and the `dvc-lock-sync` hook reproduces the pipeline before the merge commit.
  dvc        `*.dvc` pointers: a directory (append-only data folder) goes to DVC's own driver; one data file that
             both sides changed stops the merge with the versions and how to combine them, keeping our pointer
             whole (never conflict markers in a `.dvc` file).
  params     `params.yaml`: git's line merge where it is clean; else key by key (`hooks.params_merge`), so params
             changed on neighbouring lines by each side merge, and a key both sides changed stays a conflict,
             named.

Git runs `hooks/venv-python -m hooks.merge_driver MODE -- %O %A %B %P` (registered by `mlops hooks install`): the
result goes into %A, exit 0 means merged, non-zero a conflict.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hooks import git, params_merge
from hooks.arguments import shell_word
from hooks.pipeline_state import pointer_outs

STALE_RECORD = "mlops-merge-stale"  # in the git directory: generated files kept from one side
GENERATED = "mlops-generated"
POINTERS = "mlops-dvc"
PARAMS = "mlops-params"
PARAMS_FILE = "params.yaml"
DRIVERS = {
    GENERATED: ("generated", "mlops: keep one side of a generated file; the pipeline is reproduced before commit"),
    POINTERS: ("dvc", "mlops: merge DVC pointers (directories by DVC's driver; one data file stops with the fix)"),
    PARAMS: ("params", "mlops: merge params.yaml key by key (a key both sides changed is a conflict)"),
}


def driver_command(name: str) -> str:
    # `--`: a path named like an option (`--help`, `-x.dvc`) is still a path
    return f"hooks/venv-python -m hooks.merge_driver {DRIVERS[name][0]} -- %O %A %B %P"


def driver_commands() -> dict[str, str]:
    """Each merge driver's command as the repository's git config names it (absent: not registered)."""
    found = git.git("config", "--local", "--get-regexp", r"^merge\.mlops-.*\.driver$", check=False)
    lines = found.decode("utf-8", "surrogateescape").splitlines()
    commands = dict(line.partition(" ")[::2] for line in lines)
    return {name: commands[f"merge.{name}.driver"] for name in DRIVERS if f"merge.{name}.driver" in commands}


def looks_like_dir(path: str) -> bool:
    return os.path.isdir(path) or not os.path.splitext(path)[1]


def registered_in_git_config() -> bool:
    """Whether `mlops hooks install` registered the drivers in this clone."""
    return bool(git.git("config", "--get", f"merge.{GENERATED}.driver", check=False).strip())


def gitattributes_lines(outputs: dict[str, bool], is_dir: Callable[[str], bool]) -> list[str]:
    """The `.gitattributes` lines for `params.yaml`, `dvc.lock`, the git-kept outputs (`cache: false`) and `*.dvc`
    pointers. Each file is named from the root (`/dvc.lock`): a bare name matches in every folder, and another
    project's `sub/dvc.lock` or `sub/params.yaml` merged by these drivers lost the other side's edits."""
    lines = [f"/{PARAMS_FILE} merge={PARAMS}", f"/dvc.lock merge={GENERATED}"]
    for path, cached in outputs.items():
        if not cached:
            lines.append(f"/{path}/** merge={GENERATED}" if is_dir(path) else f"/{path} merge={GENERATED}")
    lines.append(f"*.dvc merge={POINTERS}")
    return lines


def conflict_fix(path: str, command: str = "the command") -> str:
    """What finishes a merge that left conflict markers in `path`: in `dvc.lock` (this driver was not registered
    in that clone, or an octopus merge ran none) one side is taken and the pipeline reproduced, or the octopus
    merge is undone; in a source file (params.yaml, dvc.yaml) the conflict is the user's to resolve."""
    if path == "dvc.lock" and len(git.merge_heads()) > 1:
        return (
            "an octopus merge (several branches at once) runs no merge driver: `git merge --abort`, then merge the "
            "branches one at a time (each merge retrains)"
        )
    if path == "dvc.lock":
        fix = (
            "dvc.lock is generated, never merged by hand: `git checkout --ours -- dvc.lock reports`, `mlops repro`, "
            "`git add dvc.lock reports`, then conclude the merge"
        )
        return (
            fix
            if registered_in_git_config()
            else f"{fix}; `mlops hooks install` makes every later merge do this itself"
        )
    return f"resolve the conflict in {path} (keep one value of each key), `git add {path}`, then run {command} again"


# --- the record of placeholders ----------------------------------------------------------------------------------


def record_file() -> str:
    return git.git_path(STALE_RECORD)


# Each line of the record is `START PATH`: START the commit the merge, rebase or cherry-pick started from. Once no
# such operation is in progress and HEAD is START again, it was aborted (`git merge --abort`, `git rebase --abort`,
# `git reset --hard`, ...; git runs no hook for those): the workspace is that commit's, no placeholder is left. The
# reference-transaction script `mlops hooks install` writes drops those lines then, so that they do not come back
# once HEAD moves on.
IN_PROGRESS = ("MERGE_HEAD", "SQUASH_MSG", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")
STARTS = ("rebase-merge/orig-head", "rebase-apply/orig-head", "sequencer/head")  # a rebase's, a pick sequence's
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})? ")


def placeholders() -> list[str]:
    """Generated files a merge, rebase or cherry-pick took from one side (not yet reproduced), unless undone."""
    try:
        with open(record_file(), encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle if line.strip()]
    except FileNotFoundError:
        return []
    entries = [
        (line[: match.end() - 1], line[match.end() :]) if (match := _COMMIT.match(line)) else ("", line)
        for line in lines
    ]
    if any(start for start, _ in entries):
        head, in_progress = _head_and_operation()
        entries = [(start, path) for start, path in entries if in_progress or not start or start != head]
    return sorted({path.strip() for _, path in entries})


def _head_and_operation() -> tuple[str, bool]:
    """HEAD's commit, and whether a merge (its pre-merge-commit hook included, or a squash merge), rebase,
    cherry-pick or revert is in progress: one git process."""
    *paths, head = _git_paths_and_head(IN_PROGRESS)
    return head, bool(git.merge_heads()) or any(os.path.exists(path) for path in paths)


def _operation_start() -> str:
    """The commit the running merge, rebase or cherry-pick started from ("" before the first commit)."""
    *paths, head = _git_paths_and_head(STARTS)
    for path in paths:
        try:
            with open(path, encoding="ascii") as handle:
                start = handle.read().strip()
        except (OSError, ValueError):
            continue
        if _COMMIT.fullmatch(start + " "):
            return start
    return head


def _git_paths_and_head(names: Sequence[str]) -> list[str]:
    """Each name's path in the git directory, then HEAD's commit ("" before the first commit)."""
    output = git.git("rev-parse", *(arg for name in names for arg in ("--git-path", name)), "HEAD", check=False)
    lines = output.decode("utf-8", "surrogateescape").splitlines()
    paths, head = lines[: len(names)], (lines[len(names)] if len(lines) > len(names) else "").strip()
    return [*paths, head if _COMMIT.fullmatch(head + " ") else ""]


def clear_placeholders() -> None:
    Path(record_file()).unlink(missing_ok=True)


def keep_ours(path: str) -> int:
    """%A already holds our side: leave it, and record that the pipeline must be reproduced."""
    start = _operation_start()
    with open(record_file(), "a", encoding="utf-8") as handle:
        handle.write(f"{start} {path}\n" if start else path + "\n")
    return 0


# --- DVC pointers ------------------------------------------------------------------------------------------------


def describe_version(outs: list[dict]) -> str:
    if not outs:
        return "no data"
    out = outs[0]
    size = out.get("size")
    return f"md5 {out.get('md5')}" + (f", {size:,} bytes" if isinstance(size, int) else "")


def pointer_conflict(path: str, ancestor: bytes, ours: bytes, theirs: bytes) -> str | None:
    """None when both pointers name the same data; else the message that explains the conflict and its fix."""
    our_outs, their_outs = pointer_outs(ours), pointer_outs(theirs)
    if [out.get("md5") for out in our_outs] == [out.get("md5") for out in their_outs]:
        return None
    data = path[: -len(".dvc")]
    pointer = shell_word(path)
    return "\n".join(
        [
            f"{path}: both sides changed the data file {data} (git cannot merge data). Versions:",
            f"    base    {describe_version(pointer_outs(ancestor))}",
            f"    ours    {describe_version(our_outs)}",
            f"    theirs  {describe_version(their_outs)}",
            f"  {path} keeps our version, whole. To combine both, keep ours and append the other side's batch:",
            f"    git add {pointer} && mlops data add --append THEIR_BATCH.csv",
            f"  (or take theirs: git checkout --theirs -- {pointer} && git add {pointer} && dvc checkout {pointer});",
            "  then `git commit` retrains on the merged data.",
        ]
    )


def is_directory_pointer(*versions: bytes) -> bool:
    return any(str(out.get("md5", "")).endswith(".dir") for data in versions for out in pointer_outs(data))


def merge_pointer(ancestor: str, ours: str, theirs: str, path: str) -> int:
    versions = [_read(name) for name in (ancestor, ours, theirs)]
    if is_directory_pointer(*versions):  # append-only folders: DVC's own driver unions the listings
        dvc = [sys.executable, "-m", "dvc"]
        args = ["git-hook", "merge-driver", "--ancestor", ancestor, "--our", ours, "--their", theirs]
        return subprocess.run([*dvc, *args]).returncode
    message = pointer_conflict(path, *versions)
    if message is None:
        return 0
    print(message, file=sys.stderr)
    return 1


# --- params -------------------------------------------------------------------------------------------------------


def their_label() -> str:
    """The name `git merge NAME` was given (git exports it as GITHEAD_<commit> for merge strategies), else
    "theirs" (a rebase or cherry-pick): the label of their side's conflict markers, as git writes it."""
    names = [value for key, value in os.environ.items() if key.startswith("GITHEAD_")]
    return names[0] if len(names) == 1 else "theirs"


def merge_params(ancestor: str, ours: str, theirs: str, path: str) -> int:
    """Git's line merge where it is clean; else each key from the side that changed it; a key both sides changed
    to different values leaves git's conflict markers and is named."""
    label = their_label()
    clean, merged = git.merge_file(ours, ancestor, theirs, labels=("HEAD", "base", label))
    if not clean:
        by_key = params_merge.merge(*(_read(name) for name in (ancestor, ours, theirs)), source=path)
        if by_key.text is not None:
            clean, merged = True, by_key.text.encode("utf-8")
            print(f"{path}: merged key by key ({', '.join(by_key.taken)} from {label})", file=sys.stderr)
        elif by_key.conflicts:
            print(
                f"{path}: both sides changed {', '.join(by_key.conflicts)}: keep one value of each where the "
                f"conflict markers show both, `git add {shell_word(path)}`, then `git commit`",
                file=sys.stderr,
            )
    with open(ours, "wb") as handle:
        handle.write(merged)
    return 0 if clean else 1


def _read(name: str) -> bytes:
    with open(name, "rb") as handle:
        return handle.read()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hooks.merge_driver", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=[mode for mode, _ in DRIVERS.values()])
    parser.add_argument("ancestor", help="%%O: the merge base's version (a temporary file)")
    parser.add_argument("ours", help="%%A: our version, where the result goes")
    parser.add_argument("theirs", help="%%B: their version")
    parser.add_argument("path", help="%%P: the path in the repository")
    args = parser.parse_args(argv)
    if args.mode == "generated":
        return keep_ours(args.path)
    if args.mode == "params":
        return merge_params(args.ancestor, args.ours, args.theirs, args.path)
    return merge_pointer(args.ancestor, args.ours, args.theirs, args.path)


if __name__ == "__main__":
    sys.exit(main())
