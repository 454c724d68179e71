"""md5s of working-tree files remembered by their stat, as DVC's state database and git's index remember them:
a file whose device, inode, size, mtime and ctime are all as when it was hashed is not read again.

`mlops status`, a no-op `mlops repro` and a subset run hash every data dependency and output of the pipeline;
at a million loans that is ~60 MB read on every command, more than the rest of `mlops status`. A file is
remembered only once its ctime is older than `SETTLED_NS`: any later change (a write, `touch -d`, a rename
over it) sets its ctime to the present, so it can never look as it did when it was remembered (git's racy
entries are the same problem). The entries live in `.dvc/tmp/` (DVC's own scratch folder, never committed);
a missing, unreadable or damaged file means hashing again, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator

from hooks.pipeline_state import dir_md5, path_md5

CACHE_FILE = os.path.join(".dvc", "tmp", "mlops-md5s.json")
SETTLED_NS = 2_000_000_000  # coarser than any file system's timestamps (FAT's mtime is 2 s)
MAX_ENTRIES = 200_000  # about 25 MB of JSON: beyond, only the files this command asked about are kept
VERSION = 1


class Md5s:
    """DVC's md5 of each working-tree path under `root`, remembered across commands by the files' stat."""

    def __init__(self, root: str = ".") -> None:
        self.root = root
        self.started_ns = time.time_ns()
        self.remembered = _load(os.path.join(root, CACHE_FILE))
        self.asked: dict[str, list] = {}
        self.new = False

    def md5(self, path: str) -> str | None:
        """The md5 of the file or folder `path` (relative to root) as DVC computes it, or None when it is absent."""
        full = os.path.join(self.root, path)
        if os.path.isdir(full):
            return dir_md5(full, self._file_md5)
        try:
            return self._file_md5(full)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _file_md5(self, full: str) -> str:
        status = os.stat(full)
        key = [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns]
        name = os.path.relpath(full, self.root)
        entry = self.remembered.get(name)
        if entry is not None and entry[:-1] == key:
            self.asked[name] = entry
            return entry[-1]
        md5 = path_md5(full)
        if max(status.st_mtime_ns, status.st_ctime_ns) < self.started_ns - SETTLED_NS:
            self.asked[name] = [*key, md5]
            self.new = True
        return md5

    def save(self) -> None:
        """Keep what this command hashed for the next one (nothing to do when it hashed nothing new)."""
        if not self.new:
            return
        entries = {**self.remembered, **self.asked}
        if len(entries) > MAX_ENTRIES:
            entries = self.asked
        target = os.path.join(self.root, CACHE_FILE)
        with contextlib.suppress(OSError):  # a read-only checkout: the next command hashes again
            os.makedirs(os.path.dirname(target), exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".mlops-md5s-")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump({"version": VERSION, "files": entries}, out, separators=(",", ":"))
                os.replace(temporary, target)  # whole or not at all, whichever command saves last
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise


@contextlib.contextmanager
def remembered(root: str = ".") -> Iterator[Md5s]:
    """`Md5s` of the working tree at `root`, saved for the next command when the block ends without an error."""
    md5s = Md5s(root)
    yield md5s
    md5s.save()


def _load(path: str) -> dict[str, list]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return {}
    files = document.get("files") if isinstance(document, dict) and document.get("version") == VERSION else None
    if not isinstance(files, dict):
        return {}
    return {name: entry for name, entry in files.items() if _well_formed(entry)}


def _well_formed(entry) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 6
        and all(type(number) is int for number in entry[:5])
        and isinstance(entry[5], str)
    )
