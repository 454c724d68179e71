"""Temporary repositories to measure in: copies of this project (never the project itself) and synthetic repos
with N tracked files and one of three hook set-ups."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from benchmarks.measure import run_quiet

ROOT = Path(__file__).resolve().parents[1]
# Besides hooks/*.py, the files this project's hooks and DVC's hook read (the rest of a repo is filler).
HOOK_SKELETON = (
    ".pre-commit-config.yaml",
    "hooks/venv-python",
    "dvc.yaml",
    "params.yaml",
    ".dvc/config",
    ".dvcignore",
    ".gitignore",
    "README.md",
)
DVC_HOOK_ONLY_CONFIG = """\
# DVC's own pre-commit hook alone (as DVC's .pre-commit-hooks.yaml declares it), run through pre-commit.
repos:
  - repo: local
    hooks:
      - id: dvc-pre-commit
        name: DVC pre-commit
        entry: dvc git-hook pre-commit
        language: system
        always_run: true
        pass_filenames: false
        require_serial: true
        verbose: true
"""


def project_files() -> list[str]:
    """This checkout's files as a clone would have them, plus uncommitted work (ignored files excluded)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    return [name for name in listed if name and (ROOT / name).is_file()]


def copy_files(names: list[str], target: Path) -> None:
    for name in names:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def commit_all(repo: Path, message: str) -> None:
    """Commit every change (nothing when the tree is clean: a re-run can reproduce identical outputs)."""
    run_quiet(["git", "add", "-A"], repo)
    if run_quiet(["git", "status", "--porcelain"], repo).strip():
        run_quiet(["git", "commit", "-q", "--no-verify", "-m", message], repo)


def init_repo(repo: Path) -> None:
    run_quiet(["git", "init", "-q", "-b", "main"], repo)


def copy_project(target: Path) -> Path:
    """A fresh git repo at `target` with this project's files in one commit (nothing trained)."""
    copy_files(project_files(), target)
    init_repo(target)
    commit_all(target, "project")
    return target


def trained_copy(target: Path) -> Path:
    """A copy of the project after `mlops repro`, committed: the pipeline is up to date and git is clean."""
    copy_project(target)
    run_quiet(["mlops", "repro"], target)
    commit_all(target, "trained")
    return target


def set_data_source(repo: Path, source: str) -> None:
    """Point `data.source` in the copy's params.yaml at `source` (keeping the file's comments)."""
    params = repo / "params.yaml"
    text, count = re.subn(r"(?m)^(\s+source:\s*)\S+", rf"\g<1>{source}", params.read_text(), count=1)
    if count != 1:
        raise RuntimeError("params.yaml: no data.source line to replace")
    params.write_text(text)


def track_with_dvc(repo: Path, path: str) -> None:
    """`dvc add` a data file and commit its pointer with the rest of the work tree."""
    run_quiet(["dvc", "add", "--quiet", path], repo)
    commit_all(repo, f"track {path}")


def write_filler(repo: Path, count: int) -> None:
    """`count` small text files, a thousand per folder."""
    for i in range(count):
        path = repo / "filler" / f"d{i // 1000:03d}" / f"f{i:06d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"filler {i}\n")


def hook_skeleton() -> list[str]:
    """The files a repo needs for this project's hooks (`python -m hooks.X` runs from the repo's root)."""
    modules = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "hooks").glob("*.py"))
    return [name for name in HOOK_SKELETON if (ROOT / name).is_file()] + modules


def filler_repo(target: Path, tracked: int) -> Path:
    """A git + DVC repo of `tracked` files: the files the hooks need, the rest filler, no hooks installed."""
    skeleton = hook_skeleton()
    copy_files(skeleton, target)
    init_repo(target)
    write_filler(target, max(0, tracked - len(skeleton)))
    commit_all(target, "filler")
    return target


def install_all_hooks(repo: Path) -> None:
    run_quiet(["mlops", "hooks", "install"], repo)


def install_dvc_hook_only(repo: Path) -> None:
    (repo / ".pre-commit-config.yaml").write_text(DVC_HOOK_ONLY_CONFIG)
    commit_all(repo, "DVC's hook only")
    run_quiet(["pre-commit", "install"], repo)


def remove_hooks(repo: Path) -> None:
    """No hooks at all (git's samples are inactive)."""
    for hook in (repo / ".git" / "hooks").iterdir():
        if not hook.name.endswith(".sample"):
            hook.unlink()
