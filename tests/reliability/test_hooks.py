"""The hooks under awkward commits: many files at once, odd names, symlinks, submodules."""

from __future__ import annotations

import os

from tests.conftest import run
from tests.hooks.conftest import commit, head_files, output, write

ODD_NAME = 'odd "quoted" name\nwith newline é.csv'


def test_a_thousand_files_in_one_commit(hooked):
    for i in range(1000):
        write(hooked, f"docs/notes/note-{i:04}.md", f"note {i}\n")
    assert commit(hooked, "docs/notes").returncode == 0
    assert len(head_files(hooked)) == 1000


def test_a_thousand_files_with_one_dataset_among_them(hooked):
    for i in range(999):
        write(hooked, f"docs/notes/note-{i:04}.md", f"note {i}\n")
    write(hooked, "docs/notes/export.csv", "a,b\n1,2\n")
    result = commit(hooked, "docs/notes")
    assert result.returncode != 0
    assert "docs/notes/export.csv" in output(result) and "note-0001.md" not in output(result)


def test_names_with_newlines_quotes_and_non_ascii(hooked):
    write(hooked, f"data/{ODD_NAME}", "a,b\n1,2\n")
    refused = commit(hooked, f"data/{ODD_NAME}", force=True)
    assert refused.returncode != 0 and "é.csv" in output(refused)
    run(["git", "reset", "-q", "--", f"data/{ODD_NAME}"], hooked)
    os.remove(hooked / "data" / ODD_NAME)

    harmless = 'notes "quoted"\nnewline é.md'
    write(hooked, f"docs/{harmless}", "fine\n")
    assert commit(hooked, f"docs/{harmless}").returncode == 0
    assert f"docs/{harmless}" in head_files(hooked)


def test_staged_symlink_to_a_large_file(hooked, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    os.symlink(big, hooked / "docs" / "big-link")
    # git stores the link's target path, not the 3 MB: nothing large enters git, so the commit is made.
    assert commit(hooked, "docs/big-link").returncode == 0
    os.symlink(big, hooked / "docs" / "linked.parquet")
    refused = commit(hooked, "docs/linked.parquet")
    assert refused.returncode != 0 and "docs/linked.parquet" in output(refused)


def test_submodule(hooked, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    run(["git", "init", "-q"], library)
    (library / "README.md").write_text("a library\n")
    run(["git", "add", "README.md"], library)
    run(["git", "commit", "-q", "-m", "library"], library)
    run(["git", "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "vendor/library"], hooked)
    result = commit(hooked)
    assert result.returncode == 0, output(result)
    assert {"vendor/library", ".gitmodules"} <= head_files(hooked)
