"""README.md and docs/*.md keep prose to lines of at most 120 characters, the benchmark header `python -m
benchmarks` writes into the README included; tables and code blocks, which cannot be wrapped, are left alone."""

from __future__ import annotations

import datetime

import pytest

from benchmarks.report import write_markdown
from tests.conftest import ROOT

WIDTH = 120
DOCUMENTS = ["README.md", *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md"))]


def overlong_prose_lines(text: str) -> list[str]:
    """`number: start` of each line over WIDTH that is neither in a table nor in a (fenced or indented) code block."""
    fenced = False
    overlong = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith(("|", "    ")) and len(line) > WIDTH:
            overlong.append(f"{number}: {line[:60]}...")
    return overlong


@pytest.mark.parametrize("name", DOCUMENTS)
def test_prose_lines_are_at_most_120_characters(name):
    assert overlong_prose_lines((ROOT / name).read_text(encoding="utf-8")) == []


def test_the_benchmark_header_the_readme_takes_is_at_most_120_characters(tmp_path):
    finished = datetime.datetime(2026, 12, 1, 18, 2, tzinfo=datetime.UTC)
    header = write_markdown([], "quick", finished, tmp_path).read_text(encoding="utf-8")
    assert overlong_prose_lines(header) == []
