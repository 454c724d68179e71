"""Commit cost with each hook set-up, and `staged-files` (the one hook an ordinary file wakes) against
`check-added-large-files`."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks import workspaces
from benchmarks.explain import slowest_imports
from benchmarks.measure import Case, alternate, run_quiet
from benchmarks.report import Row, absolute_row, ratio_row, skipped_row

SETUPS: dict[str, Callable[[Path], None]] = {
    "all": workspaces.install_all_hooks,
    "dvc": workspaces.install_dvc_hook_only,
    "none": workspaces.remove_hooks,
}


def missing_hook_pieces() -> list[str]:
    needed = [".pre-commit-config.yaml", "hooks/venv-python", "hooks/staged_files.py"]
    missing = [name for name in needed if not (workspaces.ROOT / name).is_file()]
    if not shutil.which("check-added-large-files"):
        missing.append("check-added-large-files (pre-commit-hooks)")
    return missing


class BaseRepos:
    """One filler repo per size, built once and copied for each set-up."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.built: dict[int, Path] = {}

    def get(self, tracked: int) -> Path:
        if tracked not in self.built:
            # No automatic gc (it would pack in the background while the base is copied), then one packed
            # object store, as a user's repository has: the measured commits do not start a gc either.
            with patched_environ(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="gc.auto", GIT_CONFIG_VALUE_0="0"):
                base = workspaces.filler_repo(self.work / f"base-{tracked}", tracked)
            run_quiet(["git", "gc", "-q"], base)
            self.built[tracked] = base
        return self.built[tracked]


@contextlib.contextmanager
def patched_environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def note_stager(repo: Path) -> Callable[[], None]:
    """Stage one new ordinary file before each measured commit."""
    counter = iter(range(1_000_000))

    def stage_note() -> None:
        number = next(counter)
        note = repo / "notes" / f"note-{number}.md"
        note.parent.mkdir(exist_ok=True)
        note.write_text(f"# Note {number}\n\nAn ordinary change.\n")
        run_quiet(["git", "add", str(note.relative_to(repo))], repo)

    return stage_note


def commit_rows(bases: BaseRepos, sizes: tuple[int, ...], repetitions: int) -> list[Row]:
    rows = []
    for tracked in sizes:
        cases = {}
        for setup, install in SETUPS.items():
            repo = shutil.copytree(bases.get(tracked), bases.work / f"commit-{tracked}-{setup}", symlinks=True)
            install(repo)
            cases[setup] = Case(setup, ["git", "commit", "-q", "-m", "note"], repo, prepare=note_stager(repo))
        alternate(list(cases.values()), repetitions)
        all_hooks, dvc_hook, none = cases["all"].seconds, cases["dvc"].seconds, cases["none"].seconds
        why = (
            f"pre-commit's framework alone: {slowest_imports('import pre_commit.main')}; then pre-commit runs "
            "`git diff` of the whole work tree before the hooks and after each hook that runs (about 0.07 s "
            "each at 50,000 files); an ordinary file wakes one of ours (staged-files: data, secrets and hygiene "
            "in one pass over the staged files) against DVC's one, so what is left is pre-commit's own cost"
        )
        rows.append(
            ratio_row(
                f"commit, all hooks vs pre-commit + `dvc git-hook pre-commit` ({tracked:,} tracked)",
                all_hooks,
                dvc_hook,
                0.4,
                why,
            )
        )
        rows.append(
            ratio_row(
                f"commit, all hooks vs no hooks ({tracked:,} tracked)",
                all_hooks,
                none,
                None,
                note="what the hooks add to a bare `git commit`",
            )
        )
    return rows


def stage_files(repo: Path, count: int) -> list[str]:
    """`count` small new text files, staged (those of an earlier call are kept: the set grows)."""
    names = [f"staged/s{i:05d}.txt" for i in range(count)]
    for name in names:
        path = repo / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"staged {name}\n")
    run_quiet(["git", "add", "staged"], repo)
    return names


def block_hook_rows(
    bases: BaseRepos, sizes: tuple[int, ...], staged_counts: tuple[int, ...], repetitions: int
) -> list[Row]:
    rows, ours_at = [], {}
    for tracked in sizes:
        repo = bases.get(tracked)
        for staged in staged_counts:
            names = stage_files(repo, staged)
            ours = Case("staged-files", ["staged-files", *names], repo)
            anchor = Case("check-added-large-files", ["check-added-large-files", *names], repo)
            alternate([ours, anchor], repetitions)
            ours_at[tracked, staged] = ours.seconds
            why = (
                f"{slowest_imports('import hooks.staged_files')}; it does three checks where the anchor does one: "
                "a magic-byte, key and whitespace scan of each named file's content (read from the work tree, no git "
                "process) and a stat of each path's possible `.dvc` pointers"
            )
            rows.append(
                absolute_row(
                    "staged-files (block-untracked-data, secrets, hygiene) vs check-added-large-files, "
                    f"{staged:,} staged, {tracked:,} tracked",
                    ours.seconds,
                    anchor.seconds,
                    0.08,
                    why,
                )
            )
        run_quiet(["git", "reset", "-q"], repo)
    small, large = min(sizes), max(sizes)
    if small != large:
        for staged in staged_counts:
            rows.append(
                ratio_row(
                    f"staged-files at {large:,} vs {small:,} tracked, {staged:,} staged",
                    ours_at[large, staged],
                    ours_at[small, staged],
                    1.3,
                    "its cost grows with the repo (it reads only the named files and their `.dvc` pointers)",
                )
            )
    return rows


def all_rows(work: Path, settings) -> list[Row]:
    missing = missing_hook_pieces()
    if missing:
        return [skipped_row("commit cost and staged-files", f"not landed yet: {', '.join(missing)}")]
    bases = BaseRepos(work)
    rows = commit_rows(bases, settings.commit_sizes, settings.repetitions)
    return rows + block_hook_rows(bases, settings.hook_sizes, settings.staged_counts, settings.repetitions)
