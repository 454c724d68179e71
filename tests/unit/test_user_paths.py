"""A loop of symbolic links in a path the user names is one clear line on every supported Python: up to 3.12
`Path.resolve()` raised on a loop, and from 3.13 it returns a path (a loop then read as a missing file, or as a
path inside the repository)."""

import os
from pathlib import Path

import pytest

from pipeline.errors import UserError
from pipeline.user_paths import in_project, require_file, resolved
from pipeline.versioning.input_limits import LONGEST_NAME, check_destination
from tests.conftest import ROOT


def resolve_as_python_3_13(self, strict=False):
    """Python 3.13's `Path.resolve()`: `os.path.realpath`, which returns a path on a loop of links (not strict)."""
    return Path(os.path.realpath(self, strict=strict))


@pytest.fixture(params=["this python", "python 3.13's resolve"])
def loops(request, tmp_path, monkeypatch) -> Path:
    """A folder holding `loop` (a link to itself) and `ring` -> `round` -> `ring`."""
    if request.param != "this python":
        monkeypatch.setattr(Path, "resolve", resolve_as_python_3_13)
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "ring").symlink_to("round")
    (tmp_path / "round").symlink_to("ring")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["loop", "ring", "loop/store", "ring/loans.csv"])
def test_a_loop_of_links_is_refused_as_a_loop_naming_the_path(loops, name):
    with pytest.raises(UserError, match=f"^{name}: a loop of symbolic links\n"):
        resolved(Path(name))
    with pytest.raises(UserError, match="a loop of symbolic links"):
        in_project(Path(name))
    with pytest.raises(UserError, match="a loop of symbolic links"):
        require_file(Path(name), hint="give a CSV")


def test_a_missing_path_or_a_dangling_link_is_no_loop(loops):
    (loops / "dangling").symlink_to("nowhere.csv")
    assert resolved(Path("missing/loans.csv")) == loops.resolve() / "missing" / "loans.csv"
    assert resolved(Path("dangling")).name == "nowhere.csv"
    assert in_project(Path("missing")) == Path("missing")
    with pytest.raises(UserError, match="^dangling: no such file\n"):
        require_file(Path("dangling"), hint="give a CSV")


def test_a_data_file_name_too_long_for_its_partial_copy_is_refused_by_its_length(monkeypatch):
    """A 248-byte name failed after the checks, as "could not keep a copy of params.yaml ... make .dvc/tmp
    writable": the copy is first written as NAME.partial, beyond the system's 255 bytes."""
    monkeypatch.chdir(ROOT)
    check_destination(Path("data/external") / ("a" * (LONGEST_NAME - 4) + ".csv"))  # the longest that fits
    with pytest.raises(UserError, match=r"too long a name \(248 bytes; at most 247"):
        check_destination(Path("data/external") / ("a" * (LONGEST_NAME - 3) + ".csv"))
    with pytest.raises(UserError, match=r"too long a name"):  # bytes, not characters
        check_destination(Path("data/external") / ("é" * 124 + ".csv"))
