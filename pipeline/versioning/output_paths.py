"""Output paths that cannot destroy: a command's `--out` never overwrites its own input, a file git or DVC
tracks, a prediction log or its outcomes, a directory, a symbolic link, a device, a pipe, or anything under `.git/`
and `.dvc/`, DVC's `data/` and `models/` or the pipeline's `reports/`; outputs are written atomically; and written
CSV cells cannot run as spreadsheet formulas."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hooks import git
from hooks.block_untracked_data import DATA_DIRS
from pipeline.errors import FULL_DISK, UserError
from pipeline.serving.telemetry import is_log_file
from pipeline.user_paths import file_in_the_way, in_project, in_project_as_named
from pipeline.user_paths import resolved as resolved_path
from pipeline.versioning import dvc_seam
from pipeline.versioning.journal import raise_if_stopped, stops_held, stops_unwound, uninterruptible

if TYPE_CHECKING:
    import pandas as pd

PROTECTED_DIRS = (".git", ".dvc")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel, LibreOffice and Sheets read as a formula
PARTIAL = ".partial"  # an output being made: OUT.PID.XXXXXXXX.partial (the writer's pid, mkstemp's 8 characters)
READY = ".ready.partial"  # an output made whole, its rename over OUT begun
FORMER = ".former.partial"  # the file OUT was, set aside until every output's rename is done


def output_path(
    text: str, example: str, option: str = "--out", what: str = "file to write", folder: bool = False
) -> Path:
    """`--out TEXT` (or another `option` naming where output goes, a `what`; a `folder` or a file) as a path: an
    empty one is refused by name (as a path it would be `.`, the project folder), and so is one that starts with
    `-`, and a file's that ends with `/` (a path drops it: `--out new/` would write a file called `new`)."""
    if not text.strip():
        raise UserError(f"{option} {text!r} is empty: name the {what}", hint=f"e.g. {option} {example}")
    if text.startswith("-"):  # `--out -` is no standard output here, and `--out --x` a forgotten value
        raise UserError(
            f"{option} {text!r} reads as an option or as standard output: name the {what}",
            hint=f"e.g. {option} {example}, or {option} ./{text} for one called so",
        )
    if not folder and text.endswith("/"):
        if Path(text).exists() and not Path(text).is_dir():
            raise UserError(
                f"{option} {text}: {Path(text)} is a file, not a folder",
                hint=f"choose a path in a folder, e.g. {option} {example}",
            )
        raise UserError(
            f"{option} {text} ends with /, as a folder does: name the {what}", hint=f"e.g. {option} {text}{example}"
        )
    return Path(text)


def check_output_path(out: Path, *inputs: Path, folder_made: bool = False, example: str = "scores.csv") -> None:
    """Refuse `out` (with the option's name and the fix, `example` a file name for this output) unless writing
    it can only create or replace a file that nothing else owns. `folder_made`: its folder may be missing
    (`write_atomically` makes it)."""
    hint = f"choose a new file name, e.g. --out {example}"
    resolved = resolved_path(out, f"--out {out}")
    if out.is_dir():
        inside = in_project(resolved)
        suggested = f"name a file inside it, e.g. --out {out / example}"
        if inside is not None and _dvc_managed(inside):
            suggested = f"name a file outside data/ and models/, e.g. --out {example}"
        raise UserError(f"--out {out} is a directory", hint=suggested)
    named = in_project_as_named(out) if out.is_symlink() else None
    if named is not None:  # judged where it is named: DVC's link into its cache (`cache.type symlink`) is its file
        _refuse_what_the_project_owns(out, named, example)
    _refuse_what_a_rename_would_destroy(out, resolved, example)
    blocking = file_in_the_way(out)
    if blocking is not None:
        raise UserError(
            f"--out {out}: {blocking} is a file, not a folder", hint=f"choose a path in a folder, e.g. --out {example}"
        )
    if not folder_made and not resolved.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist", hint=f"create it: mkdir -p {out.parent}")
    for source in inputs:
        if source.exists() and resolved == resolved_path(source):
            raise UserError(f"--out {out} is the input file: it would be overwritten", hint=hint)
    if is_log_file(resolved):
        raise UserError(
            f"--out {out} is a file of the prediction log: `mlops monitor` reads it, and a running `mlops serve` "
            "would go on logging into the replaced file, lost",
            hint=hint,
        )
    inside = in_project(resolved)
    if inside is not None:
        _refuse_what_the_project_owns(out, inside, example)


def _refuse_what_the_project_owns(out: Path, inside: Path, example: str) -> None:
    """Refuse `out`, at `inside` relative to the project's root, when git, DVC or the pipeline owns it or its folder."""
    hint = f"choose a new file name, e.g. --out {example}"
    if inside.parts[:1] and inside.parts[0] in PROTECTED_DIRS or inside.suffix == ".dvc":
        raise UserError(f"--out {out} is one of git's or DVC's own files", hint=hint)
    dvc_tracked = _dvc_tracked()
    if git.is_tracked(inside.as_posix()) or inside.as_posix() in dvc_tracked:
        raise UserError(f"--out {out} is tracked by git or DVC: it would be overwritten", hint=hint)
    managed = _dvc_managed(inside)
    if managed:  # an untracked file there is one the commit hook refuses, or a change to a stage's folder
        raise UserError(
            f"--out {out} is inside {managed}, which DVC manages (git keeps only its pointers there)",
            hint=f"write it outside data/ and models/, e.g. --out {example}",
        )
    outputs = _pipeline_output_folder(inside)
    if outputs:
        raise UserError(
            f"--out {out} is inside {outputs}, which holds the pipeline's outputs (dvc.yaml): `git add -A` would "
            "commit it with them, or a stage's run delete it",
            hint=f"write it outside {outputs}, e.g. --out {example}",
        )
    tracked_folder = _tracked_folder(inside, dvc_tracked)
    if tracked_folder:
        raise UserError(
            f"--out {out} is inside {tracked_folder}/, a folder DVC tracks whole: it would change that version of it",
            hint=f"write it outside {tracked_folder}/, e.g. --out {example}",
        )


def check_log_folder(folder: Path) -> None:
    """Refuse a `--log-dir` that `mlops serve` may not take over: its `.gitignore` ignores everything in the
    folder, so a folder holding files git tracks (`reports`, `docs`, the project itself) would hide from git every
    new file there, and git's, DVC's and DVC's managed folders are theirs."""
    hint = "give the log a folder of its own, e.g. --log-dir logs (the default)"
    blocking = file_in_the_way(folder / "log")
    if blocking is not None:
        raise UserError(f"--log-dir {folder}: {blocking} is a file, not a folder", hint=hint)
    inside = in_project(resolved_path(folder, f"--log-dir {folder}"))
    if inside is None:
        return
    if inside.parts[:1] and inside.parts[0] in PROTECTED_DIRS:
        raise UserError(f"--log-dir {folder} is inside {inside.parts[0]}/, git's or DVC's own folder", hint=hint)
    managed = _dvc_managed(inside)
    if managed:
        raise UserError(f"--log-dir {folder} is inside {managed}, which DVC manages", hint=hint)
    if git.is_tracked(inside.as_posix()):
        raise UserError(
            f"--log-dir {folder} holds files git tracks: the log's .gitignore (*) would hide every new file there",
            hint=hint,
        )
    outputs = _pipeline_output_folder(inside)
    if outputs:
        raise UserError(f"--log-dir {folder} is inside {outputs}, which holds the pipeline's outputs", hint=hint)
    tracked_folder = _tracked_folder(inside, _dvc_tracked(), also_itself=True)
    if tracked_folder:
        raise UserError(f"--log-dir {folder} is inside {tracked_folder}/, which DVC manages", hint=hint)


def _dvc_managed(inside: Path) -> str | None:
    """The DVC-managed folder (`data/`, `models/`) a path relative to the project's root is in, if any."""
    return next((folder for folder in DATA_DIRS if inside.parts[:1] == (folder.rstrip("/"),)), None)


def _tracked_folder(inside: Path, dvc_tracked: set[str], also_itself: bool = False) -> str | None:
    """The folder DVC tracks whole (`dvc add extra/`, anywhere in the project) that a path relative to the project's
    root is in, if any (`also_itself`: or is)."""
    folders = [*inside.parents, inside] if also_itself else inside.parents
    return next((tracked for tracked in sorted(dvc_tracked) if Path(tracked) in folders), None)


def _pipeline_output_folder(inside: Path) -> str | None:
    """The folder holding outputs `dvc.yaml` declares (`reports/`: metrics, plots, the model card) that a path
    relative to the project's root is in, if any; an output at the root is a folder of its own. A stage's run
    replaces its outputs, and a directory output (`reports/plots`) whole."""
    for declared in dvc_seam.declared_output_paths():
        folder = Path(Path(declared).parts[0])
        if inside == folder or folder in inside.parents:
            return f"{folder}/"
    return None


def _refuse_what_a_rename_would_destroy(out: Path, resolved: Path, example: str) -> None:
    """The atomic write renames a new file over `out`: a link, device, pipe or socket there would be replaced by
    a regular file (`--out /dev/stdout` as root would replace the device), not written to."""
    if out.is_symlink():
        raise UserError(
            f"--out {out} is a symbolic link: the link would be replaced by the output, not its target written",
            hint=f"name the file itself (--out {resolved}) or remove the link"
            if resolved.is_file()
            else f"name a regular file, e.g. --out {example}, or remove the link",
        )
    if out.exists() and not out.is_file():
        raise UserError(
            f"--out {out} is not a regular file (a device, pipe or socket): it would be replaced by the output",
            hint=f"name a regular file, e.g. --out {example}, and read it from there",
        )


@contextlib.contextmanager
def atomic_output(out: Path) -> Iterator[IO[bytes]]:
    """A binary handle whose bytes become `out` when the block ends without error (`atomic_outputs` of one)."""
    with atomic_outputs(out) as (handle,):
        yield handle


@contextlib.contextmanager
def atomic_outputs(*outs: Path) -> Iterator[tuple[IO[bytes], ...]]:
    """Binary handles whose bytes become `outs` when the block ends without error, all of them or none (a report
    and its data never contradict). They go to new temporary files beside each out (`OUT.PID.XXXXXXXX.partial`,
    never a name a user's file may already have), renamed over `outs` together at the end and removed on any
    failure, so a stopped or failed write leaves no half file and every out as it was; an OSError (a read-only
    folder, a full disk) is one line naming the outs. What a writer of the same outs killed outright left first
    ends as that write would have: undone, or completed if its renames had begun (`_finish_killed_writes`)."""
    _finish_killed_writes(outs)
    partials: list[Path] = []
    try:
        with stops_unwound():  # SIGTERM or SIGHUP too ends in the clean-up below, not with a half file left
            with contextlib.ExitStack() as opened:
                yield tuple(opened.enter_context(_new_partial(out, partials)) for out in outs)
            raise_if_stopped()  # a stop a finalizer dropped while the outputs were made: none, as for any stop
            _replace_together(partials, outs)
    except OSError as error:
        _remove(*partials)
        raise _cannot_write(" and ".join(map(str, outs)), error) from None
    except BaseException:
        _remove(*partials)
        raise


def _new_partial(out: Path, partials: list[Path]) -> IO[bytes]:
    """A new temporary file beside `out`, its path added to `partials`, open for writing."""
    with stops_held():  # a stop between the file's making and its name kept here would leave it behind
        descriptor, name = tempfile.mkstemp(prefix=f"{out.name}.{os.getpid()}.", suffix=PARTIAL, dir=out.parent)
        partials.append(Path(name))
    handle = os.fdopen(descriptor, "wb")
    os.chmod(descriptor, _new_file_mode())  # mkstemp makes it private; an output is as readable as any file
    return handle


def _replace_together(partials: list[Path], outs: tuple[Path, ...]) -> None:
    """Rename each partial over its out, all or none: a stop is ignored until the last rename is done (it came as the
    command completed), and each former file but the last's is set aside (under a partial's name) until then, put
    back if a later rename fails. Each partial is first renamed ready, so that a writer killed outright after that
    is known to have made every output whole: the next one completes its renames."""
    replaced: list[tuple[Path, Path | None]] = []  # each out renamed over, and its former file set aside (or None)
    with uninterruptible():
        _mark_ready(partials)
        try:
            for number, (partial, out) in enumerate(zip(partials, outs, strict=True), start=1):
                former = _set_aside(out) if number < len(outs) else None  # the last rename ends the change
                try:
                    os.replace(partial, out)
                except OSError:
                    _put_back([(out, former)] if former else [])
                    raise
                replaced.append((out, former))
        except OSError as error:
            _put_back(replaced)
            raise _cannot_write(str(out), error) from None
        _remove(*(former for _, former in replaced if former))


def _mark_ready(partials: list[Path]) -> None:
    """Rename each partial (in the list too) to its name as a whole output's."""
    for number, partial in enumerate(partials):
        ready = partial.with_name(partial.name.removesuffix(PARTIAL) + READY)
        os.replace(partial, ready)
        partials[number] = ready


def _set_aside(out: Path) -> Path | None:
    """Rename the regular file at `out` (if there is one) to a new partial's name beside it; that name."""
    if out.is_symlink() or not out.is_file():
        return None
    descriptor, name = tempfile.mkstemp(prefix=f"{out.name}.{os.getpid()}.", suffix=FORMER, dir=out.parent)
    os.close(descriptor)
    try:
        os.replace(out, name)
    except OSError:
        _remove(Path(name))
        raise
    return Path(name)


def _put_back(replaced: list[tuple[Path, Path | None]]) -> None:
    """Undo renames over `replaced` outs: each former file back in its place, an out that was new removed."""
    for out, former in reversed(replaced):
        with contextlib.suppress(OSError):
            if former is None:
                out.unlink()
            else:
                os.replace(former, out)


def _finish_killed_writes(outs: tuple[Path, ...]) -> None:
    """End the writes of `outs` whose writer was killed outright (SIGKILL, a power cut: its pid is gone), each as
    it would have ended: before its renames, its partials removed and the outs as they were; once they had begun
    (a partial renamed ready, or a former file set aside: every output was whole), its renames completed. A file
    is one of a writer's only by its name (OUT.PID.XXXXXXXX...partial beside OUT) and never a live writer's."""
    left: dict[int, list[tuple[Path, Path]]] = {}  # a writer's pid: each file it left and the out it is of
    for out in outs:
        for path, pid in _partials_of(out):
            left.setdefault(pid, []).append((path, out))
    if not left:
        return
    import psutil

    for pid, files in left.items():
        if psutil.pid_exists(pid):
            continue
        renaming = any(path.name.endswith((READY, FORMER)) for path, _ in files)
        for path, out in files:
            if renaming and not path.name.endswith(FORMER):
                with contextlib.suppress(OSError):
                    os.replace(path, out)
        for path, out in files:
            if path.name.endswith(FORMER) and not os.path.lexists(out):  # its rename failed: the out as it was
                with contextlib.suppress(OSError):
                    os.replace(path, out)
        _remove(*(path for path, _ in files))


def _partials_of(out: Path) -> list[tuple[Path, int]]:
    """Each file beside `out` named as `atomic_outputs` names its partials of `out`, with its writer's pid."""
    name = re.compile(rf"{re.escape(out.name)}\.(\d+)\.[a-z0-9_]{{8}}(?:\.ready|\.former)?\.partial")
    try:
        entries = list(os.scandir(out.parent))
    except OSError:  # no folder yet: nothing left in it
        return []
    found = []
    for entry in entries:
        match = name.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            found.append((Path(entry.path), int(match.group(1))))
    return found


def _cannot_write(named: str, error: OSError) -> UserError:
    full = error.errno in FULL_DISK
    return UserError(
        f"cannot write {named}: {error.strerror or error}",
        hint="free some space or choose another --out"
        if full
        else "choose another --out, in a folder you can write to",
    )


def write_atomically(out: Path, text: str) -> None:
    """`text` into `out` (its folder made) by way of `atomic_output`."""
    write_together({out: text})


def write_together(texts: dict[Path, str]) -> None:
    """Each text into its file (their folders made), all of them or none, by way of `atomic_outputs`."""
    for out in texts:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot write {out}: {error.strerror or error}", hint="choose another --out") from None
    with atomic_outputs(*texts) as handles:
        for handle, text in zip(handles, texts.values(), strict=True):
            handle.write(text.encode("utf-8"))


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _remove(*partials: Path) -> None:
    for partial in partials:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def _dvc_tracked() -> set[str]:
    declared = set(dvc_seam.git_kept_paths())
    return set(dvc_seam.tracked_objects()) | declared


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula (`=HYPERLINK(...)`, `+1`, `@SUM`) get a leading `'`, as OWASP
    advises for CSV files opened in a spreadsheet; numbers (a negative score) are left as they are."""
    from pandas.api.types import is_numeric_dtype

    text_columns = [name for name in frame.columns if not is_numeric_dtype(frame[name])]
    if not text_columns:
        return frame
    for name in text_columns:
        text = frame[name].astype("string")
        risky = text.str.startswith(FORMULA_START, na=False)
        if risky.any():
            frame = frame.assign(**{name: text.mask(risky, "'" + text)})
    return frame
