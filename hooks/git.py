"""The one place the project runs git (hooks, commands and domain code alike): NUL-safe plumbing, no porcelain
parsing, no shell.

Paths go to git as arguments after `--` with `--literal-pathspecs` (no globbing) and come back `-z`
separated, so names with spaces, quotes, newlines or non-ASCII survive. Blobs are read from the index with
one `git cat-file --batch` process on object ids (never on path names, which may hold newlines), or from the
work tree where pre-commit has made it hold what is staged. Records are
namedtuples, not dataclasses: importing `dataclasses` or `typing` costs every commit milliseconds.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections import namedtuple
from collections.abc import Iterable, Sequence

EMPTY_SHA = "0" * 40
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"


class StagedFile(namedtuple("StagedFile", "path status sha source mode", defaults=(None, "100644"))):
    """A staged change: status A, M, R, C or T (D is never listed); `source` the old name of a rename or copy;
    `mode` 120000 for a symlink (the blob is its target), 160000 for a submodule (no blob here)."""

    __slots__ = ()


class StagedBlob(namedtuple("StagedBlob", "path mode size head")):
    """A staged file as the index holds it: its size and its first bytes (all of them up to the read limit)."""

    __slots__ = ()

    @property
    def is_symlink(self) -> bool:
        return self.mode == SYMLINK_MODE


class GitFailed(RuntimeError):
    """A git command exited non-zero; `message` is what it said (stderr, then stdout: `git commit` and the
    hooks it runs explain themselves on stdout)."""

    def __init__(self, args: Sequence[str], message: str) -> None:
        super().__init__(f"git {' '.join(args)} failed: {message}")
        self.command = " ".join(args)
        self.message = message


def git(
    *args: str,
    input: bytes | None = None,
    check: bool = True,
    cwd: str | None = None,
    env: dict | None = None,
    own_group: bool = False,
) -> bytes:
    """git's stdout; GitFailed when it fails (unless `check` is false: then its stdout whatever the status). With
    `own_group`, git runs in a process group of its own: a Ctrl-C to the terminal's group does not reach it."""
    result = subprocess.run(
        ["git", *args],
        input=input,
        capture_output=True,
        check=False,
        cwd=cwd,
        env=env,
        process_group=0 if own_group else None,
    )
    if check and result.returncode != 0:
        said = (result.stderr + b"\n" + result.stdout).decode(errors="replace").strip()
        raise GitFailed(args, said)
    return result.stdout


def merge_file(ours: str, base: str, theirs: str, labels: tuple[str, str, str]) -> tuple[bool, bytes]:
    """git's own line merge of three files (`git merge-file`): whether it is clean, and the merged text (with
    conflict markers, labelled ours, base and theirs, where it is not)."""
    args = ("merge-file", "-p", *(arg for label in labels for arg in ("-L", label)), "--", ours, base, theirs)
    result = subprocess.run(["git", *args], capture_output=True, check=False)
    if result.returncode < 0 or result.returncode > 127:  # killed, or git's own error: no merge to give
        raise GitFailed(args, result.stderr.decode(errors="replace").strip())
    return result.returncode == 0, result.stdout


def succeeds(*args: str, cwd: str | None = None) -> bool:
    """Whether a git command exits 0 (its output discarded)."""
    return subprocess.run(["git", *args], capture_output=True, check=False, cwd=cwd).returncode == 0


def is_ignored(path: str) -> bool:
    """Whether a .gitignore (or .git/info/exclude) keeps `path` out of `git add`, tracked or not."""
    return succeeds("check-ignore", "--no-index", "--quiet", "--", path)


def _split_z(output: bytes) -> list[str]:
    return [part for part in output.decode("utf-8", "surrogateescape").split("\0") if part]


def staged_changes() -> list[StagedFile]:
    """Files added, modified, renamed or copied in the index against HEAD (deletions left out)."""
    # --raw rather than --name-status: the same statuses plus each new blob's id, for the size lookup.
    fields = _split_z(git("diff", "--cached", "-z", "--raw", "--no-abbrev", "-M", "-C", _head_or_empty_tree()))
    changes = []
    index = 0
    while index < len(fields):
        meta = fields[index].split()
        mode, sha, status = meta[1], meta[3], meta[4][0]
        if status in "RC":
            changes.append(StagedFile(fields[index + 2], status, sha, source=fields[index + 1], mode=mode))
            index += 3
        else:
            if status != "D":
                changes.append(StagedFile(fields[index + 1], status, sha, mode=mode))
            index += 2
    return changes


def index_entries(paths: Iterable[str]) -> dict[str, str]:
    """path -> blob id in the index, for the given paths that git tracks (`git ls-files -z -s`)."""
    paths = [path for path in paths if _inside_work_tree(path)]  # git refuses the whole call for one outside
    if not paths:
        return {}
    entries = {}
    for record in _split_z(git("--literal-pathspecs", "ls-files", "-z", "-s", "--", *paths)):
        meta, _, path = record.partition("\t")
        entries[path] = meta.split()[1]
    return entries


def _inside_work_tree(path: str) -> bool:
    """Whether `path` (relative to the work tree's root, where hooks run) stays inside it."""
    return not os.path.isabs(path) and os.path.normpath(path).split(os.sep)[0] != os.pardir


PIPE_SAFE_BYTES = 32 * 1024  # a request this small fits the pipe: written at once, it cannot deadlock


def _send(stdin, request: bytes) -> None:
    try:
        stdin.write(request)
    finally:
        stdin.close()


def read_blobs(shas: Iterable[str], limit: int | None) -> dict[str, tuple[int, bytes]]:
    """blob id -> (size, first `limit` bytes, all of them for None), from one `git cat-file --batch` process. The
    bytes past `limit` are skipped as they stream: a 5 GB blob costs no memory."""
    unique = sorted(set(shas) - {EMPTY_SHA})
    if not unique:
        return {}
    request = "".join(f"{sha}\n" for sha in unique).encode()
    blobs = {}
    command = ["git", "cat-file", "--batch", "--buffer"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as process:
        if len(request) <= PIPE_SAFE_BYTES:
            _send(process.stdin, request)
        else:  # git answers while we still write: write from a thread, read here
            import threading

            threading.Thread(target=_send, args=(process.stdin, request), daemon=True).start()
        for sha in unique:
            header = process.stdout.readline().split()
            if len(header) != 3:  # `<sha> missing`
                continue
            size = int(header[2])
            head = process.stdout.read(size if limit is None else min(size, limit))
            remaining = size - len(head) + 1  # and the newline that ends each object
            while remaining > 0:
                skipped = len(process.stdout.read(min(remaining, 1 << 20)))
                if not skipped:
                    break
                remaining -= skipped
            blobs[sha] = (size, head)
    return blobs


def staged_blobs(paths: Sequence[str], limit: int) -> list[StagedBlob]:
    """The staged files, with sizes and first bytes (submodules, which hold no blob here, left out).

    Named files, as pre-commit passes them, are read from the work tree, which pre-commit leaves holding
    exactly what is staged (it stashes unstaged changes first): no git process at all, as pre-commit-hooks'
    own checks do. Without names, every staged change is read from the index: two git processes whatever the
    number of files."""
    if paths:
        blobs = [(path, _work_tree_blob(path, limit)) for path in paths]
        missing = [path for path, blob in blobs if blob is None]  # a skip-worktree entry (a sparse checkout's)
        return [blob for _path, blob in blobs if blob is not None] + (_index_blobs(missing, limit) if missing else [])
    entries = {change.path: (change.mode, change.sha) for change in staged_changes()}
    entries = {path: entry for path, entry in entries.items() if entry[0] != SUBMODULE_MODE}
    blobs = read_blobs((sha for _mode, sha in entries.values()), limit)
    return [StagedBlob(path, mode, *blobs.get(sha, (0, b""))) for path, (mode, sha) in entries.items()]


def _index_blobs(paths: Sequence[str], limit: int) -> list[StagedBlob]:
    """The index's copy of the files `paths` name (submodules left out): for staged files the work tree lacks."""
    paths = [path for path in paths if _inside_work_tree(path)]
    if not paths:
        return []
    entries = {}
    for record in _split_z(git("--literal-pathspecs", "ls-files", "-z", "-s", "--", *paths)):
        meta, _, path = record.partition("\t")
        mode, sha = meta.split()[:2]
        if mode != SUBMODULE_MODE:
            entries[path] = (mode, sha)
    blobs = read_blobs((sha for _mode, sha in entries.values()), limit)
    return [StagedBlob(path, mode, *blobs[sha]) for path, (mode, sha) in entries.items() if sha in blobs]


def _work_tree_blob(path: str, limit: int) -> StagedBlob | None:
    try:
        status = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(status.st_mode):  # git stores the link's target, not what it points at
        target = os.fsencode(os.readlink(path))
        return StagedBlob(path, SYMLINK_MODE, len(target), target)
    if not stat.S_ISREG(status.st_mode):
        return None
    # Asking for no more than the file holds: `read(limit)` allocates `limit` bytes first (8 MiB for each file).
    with open(path, "rb") as handle:
        return StagedBlob(path, "100644", status.st_size, handle.read(min(limit, status.st_size)))


def pushed_files(tip: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(path, blob id) -> (mode, the first commit that holds it), for each file version that the commits of `tip`
    no remote has add or change (`unshared_files`). With no remote known at all (a first push, its remote just
    added), the files of `tip` itself: a history cloned from elsewhere was checked where it was made."""
    if not refs("refs/remotes/", "refname"):
        listing = _split_z(git("ls-tree", "-r", "-z", "--full-tree", tip))
        entries = (record.partition("\t") for record in listing)
        return {(path, meta.split()[2]): (meta.split()[0], tip) for meta, _, path in entries if "blob" in meta}
    return unshared_files([tip])


def unshared_files(tips: Sequence[str], known: Sequence[str] = ()) -> dict[tuple[str, str], tuple[str, str]]:
    """(path, blob id) -> (mode, the first commit that holds it), for each file version added or changed by the
    commits of `tips` that no remote has, nor the revisions `known` (submodules left out). A merge commit's
    changes are its sides' commits, listed themselves: a side already on a remote was checked before it got there."""
    records = git(
        "log", "-z", "--raw", "--no-abbrev", "--no-renames", "--diff-filter=AMT", "--format=%H", "--reverse",
        *tips, "--not", "--remotes", *known, "--",
    )  # fmt: skip
    found: dict[tuple[str, str], tuple[str, str]] = {}
    commit = ""
    fields = iter(_split_z(records))
    for field in fields:
        field = field.strip("\n")
        if not field.startswith(":"):
            commit = field
            continue
        meta, path = field.split(), next(fields, "")
        if meta[1] != SUBMODULE_MODE:
            found.setdefault((path, meta[3]), (meta[1], commit))
    return found


def file_blobs(files: dict[tuple[str, str], tuple[str, str]], limit: int) -> dict[tuple[str, str], StagedBlob]:
    """The file versions `unshared_files` lists, with their sizes and first `limit` bytes (one git process)."""
    blobs = read_blobs((sha for _path, sha in files), limit)
    return {key: StagedBlob(key[0], mode, *blobs.get(key[1], (0, b""))) for key, (mode, _commit) in files.items()}


def git_dir() -> str:
    """The repository's git directory, without a git process when the work tree has a plain `.git` folder."""
    if os.environ.get("GIT_DIR"):
        return os.environ["GIT_DIR"]
    if os.path.isdir(".git"):
        return ".git"
    try:  # a linked worktree or a submodule: `.git` is a file that names the git directory
        with open(".git") as handle:
            pointer = handle.read().strip()
        if pointer.startswith("gitdir: "):
            return pointer.removeprefix("gitdir: ")
    except OSError:
        pass
    return git("rev-parse", "--git-dir").decode().strip()


def common_dir() -> str:
    """The git directory linked worktrees share (hooks, config): `git_dir`, or the one its `commondir` file names."""
    own = git_dir()
    try:
        with open(os.path.join(own, "commondir")) as handle:
            return os.path.join(own, handle.read().strip())
    except OSError:
        return own


def commit_index() -> str:
    """Which index the commit being made records, from the GIT_INDEX_FILE git gives its hooks: "index" (the index
    itself: `git commit`), "copy" (`git commit -a` or `-i PATHS`: a copy git drops, with what a hook staged in it,
    when the commit stops), or "paths" (`git commit PATHS`: HEAD plus those paths only)."""
    name = os.path.basename(os.environ.get("GIT_INDEX_FILE", "index"))
    if name.startswith("next-index"):
        return "paths"
    return "copy" if name.endswith(".lock") else "index"


def commit_command() -> str:
    """The `git commit` to run again for the commit a hook is checking: `git commit --amend` when it amends HEAD.
    git tells its hooks nothing of `--amend`, so this reads the arguments of the `git` process the hook runs under
    (/proc; plain `git commit` where there is none): a plain `git commit` after an amend made a second commit."""
    return "git commit --amend" if _running_under_amend() else "git commit"


def _running_under_amend(most: int = 12) -> bool:
    pid = os.getppid()
    for _ in range(most):  # the hook, pre-commit, its shell scripts, then git
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as handle:
                pid = int(handle.read().rpartition(b")")[2].split()[1])  # field 4, ppid, after the command
        except (OSError, ValueError, IndexError):
            return False
        if os.path.basename(argv[0]) == b"git":
            arguments = argv[1:-1] if argv[-1] == b"" else argv[1:]  # (the list ends in NUL)
            return amends([arg.decode("utf-8", "surrogateescape") for arg in arguments])
        if pid <= 1:
            return False
    return False


# Options of `git` and `git commit` whose value may be the next argument (`-m --amend` is a message).
SHORT_WITH_VALUE = frozenset("CcmFt")
LONG_WITH_VALUE = (
    "--message", "--file", "--reuse-message", "--reedit-message", "--fixup", "--squash", "--author", "--date",
    "--cleanup", "--template", "--trailer", "--pathspec-from-file", "--git-dir", "--work-tree", "--namespace",
    "--config-env",
)  # fmt: skip


def amends(arguments: Sequence[str]) -> bool:
    """Whether git's arguments (after `git`) ask for `--amend`, as git's option parser reads them: a value of an
    option (`-m --amend`, `-am --amend`) is no option, nor is anything after `--`; git takes `--amen` too."""
    value_next = False
    for arg in arguments:
        if value_next:
            value_next = False
        elif arg == "--":
            return False
        elif arg.startswith("--"):
            name, attached, _ = arg.partition("=")
            if len(name) > 3 and "--amend".startswith(name):
                return True
            value_next = not attached and any(option.startswith(name) for option in LONG_WITH_VALUE)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            taking = next((i for i, letter in enumerate(letters) if letter in SHORT_WITH_VALUE), None)
            value_next = taking == len(letters) - 1  # `-mtext`: the value is attached
    return False


def staged_files_under(folder: str) -> dict[str, bytes]:
    """path -> content of every file the index holds under `folder` (submodules, which hold no blob here, left
    out): one `git ls-files -s` and one `git cat-file --batch`, whatever the number of files."""
    if not _inside_work_tree(folder):
        return {}
    entries = {}
    for record in _split_z(git("--literal-pathspecs", "ls-files", "-z", "-s", "--", folder)):
        meta, _, path = record.partition("\t")
        mode, sha = meta.split()[:2]
        if mode != SUBMODULE_MODE:
            entries[path] = sha
    blobs = read_blobs(entries.values(), limit=None)
    return {path: blobs[sha][1] for path, sha in entries.items() if sha in blobs}


def staged_blob(path: str) -> bytes | None:
    """The content of `path` in the index, or None when the index does not hold it."""
    sha = index_entries([path]).get(path)
    if sha is None:
        return None
    return git("cat-file", "blob", sha)


def unstaged_changes(paths: Sequence[str]) -> list[str]:
    """Tracked files under `paths` (everywhere when none) whose working-tree content differs from the index."""
    return _split_z(git("--literal-pathspecs", "diff", "-z", "--name-only", "--", *paths))


def uncommitted_changes() -> list[str]:
    """Tracked files whose staged or working-tree content differs from HEAD (deletions included)."""
    staged = _split_z(git("diff", "--cached", "-z", "--name-only", "--no-renames", _head_or_empty_tree()))
    return sorted(set(staged) | set(unstaged_changes(())))


def _head_or_empty_tree() -> str:
    """HEAD, or the empty tree in a repository without a commit yet."""
    return "HEAD" if ref_exists("HEAD") else git("hash-object", "-t", "tree", "/dev/null").decode().strip()


def staged_deletions(paths: Sequence[str]) -> list[str]:
    """Which of `paths` HEAD holds and the index does not (`git rm`, `git rm --cached`), taken literally; none
    before the first commit (git fails there, printing nothing: one process either way)."""
    args = ("--literal-pathspecs", "diff-index", "--cached", "-z", "--name-only", "--no-renames", "--diff-filter=D")
    return _split_z(git(*args, "HEAD", "--", *paths, check=False))


def is_tracked(path: str) -> bool:
    """Whether git tracks `path` (a file, or a folder holding tracked files), taken literally (no globbing)."""
    return succeeds("--literal-pathspecs", "ls-files", "--error-unmatch", "--", path)


def ls_files(*patterns: str, untracked: bool = False) -> list[str]:
    """The tracked files matching git pathspec `patterns` (globs, as `*.dvc`); with `untracked`, also the
    untracked files that are not ignored."""
    others = ("--others", "--exclude-standard") if untracked else ()
    return _split_z(git("ls-files", "-z", "--cached", *others, "--", *patterns))


def files_at(commit: str) -> list[str]:
    """Every file path in `commit`'s tree (a commit id: never read as an option)."""
    return _split_z(git("ls-tree", "-r", "-z", "--name-only", "--full-tree", commit))


def git_path(name: str) -> str:
    """A file in this worktree's git directory (`git rev-parse --git-path`)."""
    return git("rev-parse", "--git-path", name).decode().strip()


def resolve_commit(rev: str, cwd: str | None = None) -> str | None:
    """The full id of the commit `rev` names, or None. `rev` is never read as an option (`--end-of-options`)."""
    output = git("rev-parse", "--verify", "-q", "--end-of-options", f"{rev}^{{commit}}", check=False, cwd=cwd)
    lines = output.decode().split()
    return lines[0] if len(lines) == 1 else None  # a range (`a..b`) prints each end and names no one commit


# What a revision that is no commit names, in a user's words, by git's object type
OBJECT_IN_WORDS = {"blob": "a file (blob)", "tree": "a folder (tree)", "tag": "another tag"}


def object_type(rev: str) -> str | None:
    """The type of the object `rev` names once its tags are peeled (`commit`, `tree`, `blob`), or None when it names
    none. `rev` is never read as an option (`--end-of-options`)."""
    lines = git("rev-parse", "--verify", "-q", "--end-of-options", rev, check=False).decode().split()
    if len(lines) != 1:
        return None
    # peeled by its id: `rev` may end in a path (`HEAD:a.txt`), where `^{}` would be read as part of the path
    peeled = git("rev-parse", "--verify", "-q", f"{lines[0]}^{{}}", check=False).decode().strip()
    return git("cat-file", "-t", peeled, check=False).decode().strip() if peeled else None


def remote_names() -> list[str]:
    """The git remotes configured here (`git remote`)."""
    return git("remote", check=False).decode("utf-8", "replace").split()


def remote_refs(remote: str, prefix: str) -> list[tuple[str, str]]:
    """(ref name, object id) of each ref under `prefix` (`refs/exps/`) on the git remote `remote` (a name, URL or
    path: never read as an option); GitFailed when git cannot read the remote."""
    listing = git("ls-remote", "--refs", "--end-of-options", remote, prefix + "*").decode("utf-8", "replace")
    return [(ref, sha) for sha, _, ref in (line.partition("\t") for line in listing.splitlines())]


def refs(prefix: str, *fields: str, sort: str | None = None) -> list[list[str]]:
    """One row per ref under `prefix` (`refs/tags/`, `refs/exps`): the values of for-each-ref's `fields`
    (`refname`, `objectname`, `*objectname`, ...); none outside a repository. Ref names hold no NUL nor newline."""
    format_ = "%00".join(f"%({field})" for field in fields)
    order = [f"--sort={sort}"] if sort else []
    listing = git("for-each-ref", f"--format={format_}", *order, prefix, check=False).decode("utf-8", "replace")
    return [line.split("\0") for line in listing.splitlines()]


def object_locks() -> list[str]:
    """Lock files in git's object store (`objects/ab/<rest>.lock`). git never leaves one there; DVC's git library,
    dulwich, writes each loose object through one and leaves it when the write fails (a full disk), after which it
    cannot write that object again."""
    root = git_path("objects")
    fanouts = [entry for entry in os.scandir(root) if len(entry.name) == 2] if os.path.isdir(root) else []
    return sorted(entry.path for fanout in fanouts for entry in os.scandir(fanout.path) if entry.name.endswith(".lock"))


def knows_identity() -> bool:
    """Whether git can name the author and committer of a commit: configured, from the environment, or guessed
    from the host where that gives an email address (`git var`, as `git commit` decides)."""
    return succeeds("var", "GIT_AUTHOR_IDENT") and succeeds("var", "GIT_COMMITTER_IDENT")


def config_value(key: str) -> str | None:
    """The value git's config (every file git reads here) gives `key`, or None when none does."""
    value = git("config", "--get", "--", key, check=False).decode("utf-8", "replace").rstrip("\n")
    return value or None


def ref_exists(name: str) -> bool:
    """Whether a ref or pseudo-ref (`MERGE_HEAD`, `CHERRY_PICK_HEAD`, ...) resolves."""
    return git("rev-parse", "--verify", "-q", name, check=False).strip() != b""


def write_tree() -> str:
    """The object id of the index as a tree: equal ids mean an unchanged index."""
    return git("write-tree").decode().strip()


def merge_heads() -> dict[str, str]:
    """The commits being merged into HEAD -> a label: from MERGE_HEAD once git wrote it (the `git commit` that
    concludes a merge), or from the `GITHEAD_<id>=<name>` variables `git merge` sets for its own hooks
    (`pre-merge-commit` runs before MERGE_HEAD exists)."""
    heads = {name[len("GITHEAD_") :]: label for name, label in os.environ.items() if name.startswith("GITHEAD_")}
    if heads:
        return heads
    try:
        with open(git_path("MERGE_HEAD"), encoding="ascii") as handle:
            return {line.strip(): "MERGE_HEAD" for line in handle if line.strip()}
    except FileNotFoundError:
        return {}


def in_git_merge() -> bool:
    """Whether a hook runs inside `git merge` itself (its pre-merge-commit hook), not in the `git commit` that
    concludes a stopped merge: `git merge` sets `GITHEAD_<id>` for its hooks."""
    return any(name.startswith("GITHEAD_") for name in os.environ)


def merge_conclusion_paths() -> list[str] | None:
    """The paths pre-commit checks when `git commit` concludes a merge (MERGE_MSG and MERGE_HEAD there), as it finds
    them: the conflicted ones MERGE_MSG lists and those the index changes against every parent (a file one side
    brought as it was is neither); None when no merge is being concluded."""
    try:
        with open(git_path("MERGE_MSG"), "rb") as handle:
            message = handle.read()
    except FileNotFoundError:
        return None
    if not ref_exists("MERGE_HEAD"):
        return None
    conflicted = [line.lstrip(b"#").strip() for line in message.splitlines() if line.startswith((b"\t", b"#\t"))]
    tree = write_tree()
    changed = _split_z(git("diff", "--name-only", "--no-ext-diff", "-z", "-m", tree, "HEAD", "MERGE_HEAD", "--"))
    return list(dict.fromkeys([path.decode("utf-8", "surrogateescape") for path in conflicted] + changed))


def intent_to_add() -> list[str]:
    """The files marked to be added (`git add -N`): in the index with no content yet, added as the work tree's diff
    against the index shows them (as pre-commit lists them)."""
    return _split_z(git("diff", "--no-ext-diff", "--ignore-submodules", "--diff-filter=A", "--name-only", "-z"))


def squash_merging() -> bool:
    """Whether a `git merge --squash` awaits its commit: it stages the merge and writes SQUASH_MSG, but no
    MERGE_HEAD (the commit it leads to has one parent); `git commit` and `git reset` remove SQUASH_MSG."""
    return os.path.exists(git_path("SQUASH_MSG"))


def blobs_at(rev: str, paths: Sequence[str]) -> dict[str, bytes]:
    """path -> content at a revision, for the `paths` that are files there: one `git cat-file --batch` process."""
    asked = [path for path in paths if "\n" not in rev + path]  # `--batch` reads one request per line
    requests = "".join(f"{rev}:{path}\n" for path in asked)
    output = git("cat-file", "--batch", input=requests.encode("utf-8", "surrogateescape"))
    found = {}
    for path in asked:
        header, _, output = output.partition(b"\n")
        if header.endswith((b" missing", b" ambiguous")):  # `REV:PATH missing` (a path may hold spaces): no content
            continue
        _name, kind, size = header.split()
        if kind == b"blob":
            found[path] = output[: int(size)]
        output = output[int(size) + 1 :]
    return found


def blob_at(rev: str, path: str) -> bytes | None:
    """The content of a file at a revision, or None when it is absent there or not a file (a directory)."""
    if "\n" in rev or "\n" in path:  # `--batch` reads one request per line: ask for this one on the command line
        try:
            return git("cat-file", "blob", f"{rev}:{path}")
        except GitFailed:
            return None
    return blobs_at(rev, [path]).get(path)
