"""block-untracked-data: data and models belong to DVC, not to git.

Refuses a staged file that is under `data/` or `models/` (other than DVC pointers, `.gitignore`, `.gitkeep`,
README, each of which must be what its name says), that is data or a model by its name or by its content
(magic bytes: parquet, zip, gzip, HDF5, numpy, pickle, safetensors, ...; a table by its rows), or that holds
data inside it (a notebook whose outputs hold a table, text or a notebook cell holding base64 that decodes to
data); unless it is a small fixture in an allowed folder, or an output `dvc.yaml` keeps in git with `cache: false`;
that is bigger than the size limit, that DVC already tracks with its cache, or that is a symbolic link into a DVC
cache (one that `cache.type symlink` made, copied as a link). It reads only the staged files
(`hooks.git.staged_blobs`), so the check costs the same whatever the size of the repository.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence

from hooks import git, notebooks
from hooks.arguments import from_the_root, shell_word, shown, with_paths_last
from hooks.formats import TABLE_BYTES, data_format, delimited_table, encoded_data, is_text, is_text_bytes

HOOK_ID = "block-untracked-data"
DATA_DIRS = ("data/", "models/")
OUTPUTS_CACHE = ".git/mlops-hooks-outputs.json"
POINTER_NAMES = (".gitignore", ".gitkeep", ".dvcignore")
README_NAME = re.compile(r"README(\.(md|markdown|rst|txt))?", re.IGNORECASE)
DVC_POINTER = re.compile(rb"^(outs|deps):", re.MULTILINE)
TOO_BIG = "limit for any file in git"
# Where a DVC cache keeps an object, the end of the target of each link `cache.type symlink` makes in the workspace:
# `<cache>/files/md5/ab/cdef...` (DVC 2: `<cache>/ab/cdef...`; `.dir` for a folder's listing).
CACHE_OBJECT = re.compile(rb"(?:\A|/)[0-9a-f]{2}/[0-9a-f]{30}(?:\.dir)?/*\Z")
CACHE_LINK = "a symbolic link into a DVC cache"
SMALL_TEXT = 64 * 1024  # a README, .gitignore or .dvc pointer bigger than this is not what its name says
_EXTENSIONS = (
    "csv tsv parquet feather arrow arrows orc avro h5 hdf5 hdf nc npy npz pkl pickle joblib skops onnx pt pth ckpt "
    "safetensors pb tflite bin gguf ggml keras mlmodel zip gz tgz bz2 xz lzma 7z tar rar zst lz4 sqlite sqlite3 db "
    "xls xlsx jsonl ndjson"
)
DATA_EXTENSIONS = frozenset(_EXTENSIONS.split())
TABLE_EXTENSIONS = (".csv", ".parquet", ".pq")
NOTEBOOK_OUTPUTS = "a notebook whose outputs hold data"
ENCODED = "data encoded in its text"
ENCODED_KIND = re.compile(rf"{ENCODED} \((.+)\): (?:line|cell)")
# The extension of a file of each format `hooks.formats` names, by its first word, where that word is not one.
FORMAT_EXTENSIONS = {
    "gzip": "gz", "bzip2": "bz2", "hdf5": "h5", "netcdf": "nc", "numpy": "npy", "pickle": "pkl", "zstd": "zst",
    "arrow/feather": "arrow", "ole2": "xls", "CSV": "csv", "TSV": "tsv", "pipe-delimited": "txt",
    "space-delimited": "txt", "aligned": "txt",
}  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=HOOK_ID, description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("filenames", nargs="*", help="files to check (default: the staged changes)")
    parser.add_argument("--max-kb", type=int, default=1024, help="size limit for any file (default 1024)")
    parser.add_argument(
        "--allow-dir",
        action="append",
        dest="allow_dirs",
        help="folder where small data files may live in git (default tests/fixtures/)",
    )
    parser.add_argument(
        "--allow-max-kb", type=int, default=100, help="size limit for data files in the allowed folders (default 100)"
    )
    args = parser.parse_args(with_paths_last(argv))
    args.allow_dirs = [d.rstrip("/") + "/" for d in (args.allow_dirs or ["tests/fixtures/"])]
    return args


def is_pointer_or_doc(path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith(".dvc") or name in POINTER_NAMES or bool(README_NAME.fullmatch(name))


def false_name(path: str, size: int, head: bytes) -> str | None:
    """Why a DVC pointer, README or ignore file is not what its name says (None when it is)."""
    name = os.path.basename(path)
    if not (name.endswith(".dvc") or name in POINTER_NAMES or README_NAME.fullmatch(name)):
        return None
    if size > SMALL_TEXT or not is_text(head):
        kind = data_format(head) or ("text" if is_text(head) else "binary content")
        return f"named like a small text file ({name}) but {size / 1024:.0f} KB of {kind}"
    if name.endswith(".dvc") and not DVC_POINTER.search(head):
        return "named like a DVC pointer (.dvc) but not one (no `outs:`): DVC would fail to read it"
    return None


def data_held(path: str, head: bytes, largest: int) -> str | None:
    """The data a file holds inside it, if any: a notebook's outputs, or base64 in text (a notebook's cell sources
    too) that decodes to data."""
    if notebooks.is_notebook(path, head):
        cells = notebooks.cells_of(head)
        holding = notebooks.cells_holding_data(cells, largest)
        if holding:
            return f"{NOTEBOOK_OUTPUTS}: {'; '.join(holding)}"
        in_source = notebooks.encoded_in_sources(cells)
        if in_source is None:
            return None
        cell, size, kind = in_source
        return f"{ENCODED} ({kind}): cell {cell}'s source holds {size // 1024:,} KB of it as base64"
    found = encoded_data(head) if is_text_bytes(head) else None
    if found is None:
        return None
    line, size, kind = found
    return f"{ENCODED} ({kind}): line {line} holds {size // 1024:,} KB of it as base64"


def is_table(path: str) -> bool:
    """A file `mlops data add` reads (CSV or parquet), by its name."""
    return os.path.splitext(path)[1].lower() in TABLE_EXTENSIONS


def has_data_extension(path: str) -> bool:
    return os.path.splitext(path)[1].lower().lstrip(".") in DATA_EXTENSIONS


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def ancestors(path: str) -> list[str]:
    """`a/b/c.csv` -> [`a/b/c.csv`, `a/b`, `a`]."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


@functools.cache
def _is_file(path: str) -> bool:
    return os.path.isfile(path)


def dvc_pointer_for(path: str) -> str | None:
    """The `.dvc` file that tracks `path` or a folder holding it (`x.csv.dvc`, `folder.dvc`), if any.
    (Folder lookups are memoised: 1,000 staged files in one folder cost 1,001 stats, not 3,000.)"""
    return next((f"{p}.dvc" for p in ancestors(path) if _is_file(f"{p}.dvc")), None)


def _signature(*paths: str) -> list[list[int]]:
    return [[st.st_size, st.st_mtime_ns] for st in map(os.stat, paths)]


class PipelineUnreadable(Exception):
    """dvc.yaml or params.yaml cannot be read, so the outputs DVC keeps out of git are not known."""


def load_declared_outputs() -> dict[str, bool]:
    """dvc.yaml's outputs, cached in .git/ by dvc.yaml's and params.yaml's size and mtime: the hook runs with
    `python -S` (no site-packages, ~30 ms less per commit) and needs PyYAML only when dvc.yaml changed."""
    if not os.path.isfile("dvc.yaml"):
        return {}
    signature = _signature(*(p for p in ("dvc.yaml", "params.yaml") if os.path.isfile(p)))
    cache = OUTPUTS_CACHE if os.path.isdir(".git") else None
    try:
        with open(cache) as handle:
            cached = json.load(handle)
        if cached["signature"] == signature:
            return cached["outputs"]
    except (TypeError, OSError, ValueError, KeyError):
        pass
    if sys.flags.no_site:
        import site

        site.main()
    from hooks.bounded_yaml import BadYaml, Unbounded
    from hooks.params_yaml import AmbiguousScalar
    from hooks.pipeline_state import read_declared_outputs, read_worktree

    try:
        outputs = read_declared_outputs(read_worktree())
    except (BadYaml, Unbounded, AmbiguousScalar) as error:
        problem = " ".join(line.strip() for line in str(error).splitlines())
        raise PipelineUnreadable(f"{problem}: which files are DVC's outputs is unknown until it is fixed") from None
    if cache:
        with open(cache, "w") as handle:
            json.dump({"signature": signature, "outputs": outputs}, handle)
    return outputs


def blob_reasons(blob: git.StagedBlob, args: argparse.Namespace, outputs: dict[str, bool]) -> list[str]:
    """Why the staged `blob` must not be in git; a symbolic link by its name and where it points (git keeps the
    link, not what it points at)."""
    if not blob.is_symlink:
        return reasons_for(blob.path, blob.size, args, outputs, blob.head)
    into_cache = (
        [f"{CACHE_LINK} ({os.fsdecode(blob.head)}), which no other clone has"] if CACHE_OBJECT.search(blob.head) else []
    )
    return into_cache + reasons_for(blob.path, blob.size, args, outputs)


def reasons_for(
    path: str, size: int, args: argparse.Namespace, outputs: dict[str, bool], head: bytes | None = None
) -> list[str]:
    """Why `path` (staged with `size` bytes, `head` its first bytes when known) must not be in git; empty when
    it may."""
    reasons = []
    content_format = (data_format(head) or delimited_table(head)) if head else None
    inside = head and not content_format and not has_data_extension(path)
    held = data_held(path, head, args.allow_max_kb * 1024) if inside else None
    if head is not None:
        mislabelled = false_name(path, size, head)
        if mislabelled:
            reasons.append(mislabelled)
    output = next((p for p in ancestors(path) if p in outputs), None)
    if output is not None and outputs[output]:
        reasons.append(f"DVC already tracks it with its cache (an output in dvc.yaml: {output}); tracked twice")
    pointer = dvc_pointer_for(path)
    if pointer:
        reasons.append(f"DVC already tracks it ({pointer}); tracked twice")
    if any(under(path, d) for d in DATA_DIRS) and not is_pointer_or_doc(path):
        reasons.append("data/ and models/ hold only DVC pointers (.dvc), .gitignore and README in git")
    elif (has_data_extension(path) or content_format or held) and output is None:
        allowed = any(under(path, d) for d in args.allow_dirs)
        by = f"its content ({content_format})" if content_format else "its extension"
        what = held or f"a data or model file by {by}"
        if not allowed:
            reasons.append(f"{what} (allowed only under {', '.join(args.allow_dirs)})")
        elif size > args.allow_max_kb * 1024:
            what = f"{held}, " if held else "a data file of "  # the fix for what it holds needs it named
            reasons.append(f"{what}{size // 1024} KB in an allowed folder (limit {args.allow_max_kb} KB)")
    if size > args.max_kb * 1024:
        reasons.append(f"{size / 1024 / 1024:.1f} MB staged, above the {args.max_kb} KB {TOO_BIG}")
    return reasons


PARAMS_SCHEMA = "pipeline/params.py"  # this project's schema of params.yaml (`python -m pipeline` runs it)


def uses_mlops() -> bool:
    """Whether a hook's advice may name `mlops`: in this project (not another repository using the hooks), for a
    user who has the CLI."""
    return os.path.isfile(PARAMS_SCHEMA) and mlops_installed()


@functools.cache
def mlops_installed() -> bool:
    """Whether this repository's user has the `mlops` CLI: an `mlops` script beside the hook's interpreter or
    anywhere on the PATH, in an environment that holds the CLI's libraries. (pre-commit's own environment for
    these hooks, in another repository, holds this package's core only: its `mlops` script could not run.)"""
    import glob

    for folder in [os.path.dirname(sys.executable), *os.environ.get("PATH", "").split(os.pathsep)]:
        prefix = os.path.dirname(os.path.abspath(folder))
        if os.access(os.path.join(folder, "mlops"), os.X_OK) and glob.glob(
            os.path.join(glob.escape(prefix), "lib", "python3*", "*-packages", "typer")
        ):
            return True
    return False


def stage_writing(path: str) -> tuple[str, str] | None:
    """(stage, declared output) when a stage of dvc.yaml writes `path` into git (`cache: false`)."""
    outputs = load_declared_outputs()
    output = next((p for p in ancestors(path) if p in outputs and not outputs[p]), None)
    if output is None:
        return None
    if sys.flags.no_site:
        import site

        site.main()
    from hooks.pipeline_state import DVC_YAML, PARAMS_FILE, load, read_worktree, stage_outs

    read = read_worktree()
    writers = stage_outs(load(read, DVC_YAML) or {}, load(read, PARAMS_FILE) or {})
    return writers.get(output, "?"), output


def fix_for(path: str, reasons: list[str]) -> str:
    quoted = shell_word(path)
    if any(reason.startswith(CACHE_LINK) for reason in reasons):  # the file the link stands for, or none
        return (
            f"git rm --cached {quoted}; to keep the file in git instead (a small fixture), put it there in place of "
            f'the link: cp --remove-destination -- "$(readlink -f -- {quoted})" {quoted} && git add {quoted}'
        )
    if any("tracked twice" in reason for reason in reasons):
        return f"git rm --cached {quoted}   (DVC keeps it; `dvc status` shows its state)"
    written = stage_writing(path)
    if written:
        stage, output = written
        return (
            f"stage `{stage}` writes it (dvc.yaml: `{output}` with `cache: false`, kept in git): make the stage "
            "write a smaller, aggregated file, or remove `cache: false` there so that DVC keeps it; then "
            f"`{'mlops repro' if uses_mlops() else 'dvc repro'}`"
        )
    if all("named like" in reason for reason in reasons):
        return f"git rm --cached {quoted}, then rename it for what it holds"
    if path.endswith(notebooks.SUFFIX) and all(NOTEBOOK_OUTPUTS in r or TOO_BIG in r for r in reasons):
        return notebook_fix(path, [cell for reason in reasons for cell in re.findall(r"\bcell (\d+): ", reason)])
    kinds = [match[1] for match in map(ENCODED_KIND.match, reasons) if match]
    if kinds:
        return encoded_fix(path, kinds[0])
    if all(TOO_BIG in reason for reason in reasons) and not has_data_extension(path):  # text, too big to be code
        return f"make {quoted} smaller; if it is data: git rm --cached {quoted} && {dvc_add(quoted)}"
    if git.is_ignored(path):  # added with `git add -f`: `dvc add` refuses a pointer .gitignore would hide
        return f"git rm --cached {quoted}   (.gitignore already keeps it out of git; it stays on disk)"
    fix = (
        f"git rm --cached {quoted} && {dvc_add(quoted)}   (DVC tracks it where it is; then "
        f"`git add {shell_word(path + '.dvc')} {shell_word(gitignore_beside(path))}`); "
        f"not to be kept (an output such as scores, a scratch file): git rm --cached {quoted} && "
        f"{ignore_command(path)}"
    )
    return with_mlops_data_add(fix, path)


def with_mlops_data_add(fix: str, path: str) -> str:
    """`fix`, and `mlops data add` where this project uses mlops and `path` is a table: it makes a loans table the
    training source."""
    if not (uses_mlops() and is_table(path)):
        return fix
    return f"{fix}; only to make it the pipeline's training data (a loans table): `mlops data add {shell_word(path)}`"


# Clears the outputs of the cells named (all when none is): what `jupyter nbconvert --clear-output` does, with no
# Jupyter installed, writing the JSON as Jupyter does.
CLEAR_OUTPUTS = (
    'import json,sys; p,*n=sys.argv[1:]; nb=json.load(open(p,encoding="utf-8")); '
    '[c.update(outputs=[],execution_count=None) for i,c in enumerate(nb["cells"],1) if "outputs" in c '
    "and (not n or str(i) in n)]; "
    'open(p,"w",encoding="utf-8").write(json.dumps(nb,indent=1,sort_keys=True,ensure_ascii=False)+"\\n")'
)


def notebook_fix(path: str, cells: list[str]) -> str:
    """Clear the outputs of the `cells` (numbers, counted from 1) that hold data, or all outputs, and stage it."""
    quoted = shell_word(path)
    named = f"the outputs of cell{'s' * (len(cells) > 1)} {', '.join(cells)}" if cells else "its outputs"
    clear = " ".join(["python3", "-c", shlex.quote(CLEAR_OUTPUTS), quoted, *cells])
    return (
        f"clear {named}, then stage it again: {clear} && git add {quoted}   (or clear them in Jupyter, save, "
        f"`git add {quoted}`; `jupyter nbconvert --clear-output --inplace {quoted}` and `nbstripout {quoted}` "
        "clear every output)"
    )


def encoded_fix(path: str, kind: str) -> str:
    """Move the data `path` holds as base64 (`kind`, a format `hooks.formats` names) into a file DVC tracks."""
    first = kind.split()[0]
    extension = FORMAT_EXTENSIONS.get(first, first if has_data_extension(f"x.{first}") else "bin")
    target = f"data/{os.path.splitext(os.path.basename(path))[0]}.{extension}"
    quoted, file = shell_word(path), shell_word(target)
    fix = (
        f"write the {kind} it decodes to into a file of its own that the code reads, {file}, and take the base64 "
        f"out of {quoted}; then {dvc_add(file)}   (DVC tracks the file; then `git add {quoted} "
        f"{shell_word(target + '.dvc')} {shell_word(gitignore_beside(target))}`)"
    )
    return with_mlops_data_add(fix, target)


def dvc_add(quoted: str) -> str:
    """`dvc add` of a path, after `dvc init` in a repository that has no DVC yet (where `dvc add` alone fails)."""
    return f"dvc add {quoted}" if os.path.isdir(".dvc") else f"dvc init && dvc add {quoted}"


def gitignore_beside(path: str) -> str:
    """The .gitignore `dvc add PATH` lists the file in: its folder's, which git must get with the pointer, else a
    clone that pulls the data sees it untracked, one `git add -A` from committing it."""
    folder = os.path.dirname(path)
    return f"{folder}/.gitignore" if folder else ".gitignore"


def ignore_command(path: str) -> str:
    """The shell command that adds to .gitignore the line ignoring exactly `path` (anchored at the root, wildcards
    and trailing spaces escaped, a control character matched by `?`); printf where a backslash is in it, which
    zsh's and dash's echo would read."""
    pattern = re.sub(r"([\\*?\[])", r"\\\1", path)
    pattern = re.sub(r"[\x00-\x1f\x7f]", "?", pattern)  # a line ending in a name would split the pattern in two
    spaces = len(pattern) - len(pattern.rstrip(" "))
    line = shlex.quote("/" + pattern.rstrip(" ") + "\\ " * spaces)
    write = "printf %s\\\\n" if "\\" in line else "echo"
    return f"{write} {line} >> .gitignore"


def check(blobs: Sequence[git.StagedBlob], args: argparse.Namespace) -> dict[str, list[str]]:
    """path -> reasons, for every staged file that must not go into git."""
    outputs = load_declared_outputs()
    found = {}
    for blob in blobs:
        reasons = blob_reasons(blob, args, outputs)
        if reasons:
            found[blob.path] = reasons
    return found


def report(found: dict[str, list[str]]) -> None:
    print(f"{HOOK_ID}: {len(found)} file(s) must not be committed to git:\n")
    for path, reasons in found.items():
        print(f"  {shown(path)}")
        for reason in reasons:
            print(f"      - {reason}")
        print(f"      fix: {fix_for(path, reasons)}")
    print(from_the_root())
    print(f"To commit anyway on purpose: SKIP={HOOK_ID} git commit ...  (or git commit --no-verify)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # As much as staged-files' table check reads: a wide table has fewer than TABLE_ROWS lines in 8 KB.
        found = check(git.staged_blobs(args.filenames, TABLE_BYTES), args)
    except PipelineUnreadable as error:
        print(f"{HOOK_ID}: {error}")
        return 1
    if found:
        report(found)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
