"""Output whose reader went away (`mlops repro | head -3`, `mlops exp compare | true`): as a standard tool, no
traceback and exit 141 (128 + SIGPIPE), and no work lost: a run carries on to its end and is recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run, test_env
from tests.reliability.helpers import Snapshot
from tests.reliability.test_faults import make_train_stale

CUT = 128 + signal.SIGPIPE


def with_reader_gone(repo: Path, *args: str, both: bool = False) -> subprocess.CompletedProcess:
    """`mlops ARGS | true`: stdout (with `both`, stderr too) a pipe whose reader has already left."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            ["mlops", *args],
            cwd=repo,
            env=test_env(),
            stdout=write,
            stderr=write if both else subprocess.PIPE,
            text=True,
            timeout=900,
        )
    finally:
        os.close(write)


def experiments(repo: Path) -> list[str]:
    return run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo).stdout.split()


@pytest.mark.parametrize(
    "args", [["status"], ["status", "--json"], ["--help"], ["exp", "-h"], ["exp", "compare"], ["repro"]], ids=" ".join
)
def test_a_command_cut_short_ends_as_a_standard_tool(repo, args):
    result = with_reader_gone(repo, *args)
    assert result.returncode == CUT, result.stderr
    assert "Traceback" not in result.stderr and "Broken pipe" not in result.stderr, result.stderr


@pytest.mark.parametrize("fd", [1, 2], ids=["stdout", "stderr"])
def test_a_closed_standard_stream_is_no_error(repo, fd):
    """`mlops status >&-`: Python starts with no sys.stdout; the command answers, with nothing to write to."""
    result = subprocess.run(
        ["mlops", "status"], cwd=repo, env=test_env(), capture_output=True, text=True, preexec_fn=lambda: os.close(fd)
    )
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.slow
def test_a_run_with_its_output_closed_completes(repo):
    """`mlops repro >&- 2>&-` (a job started with no output): the stages flushed a stdout Python did not have."""
    make_train_stale(repo)
    result = subprocess.run(
        ["mlops", "repro"], cwd=repo, env=test_env(), preexec_fn=lambda: (os.close(1), os.close(2)), timeout=900
    )
    assert result.returncode == 0
    assert "Pipeline is up to date" in run(["mlops", "status"], repo).stdout


@pytest.mark.slow
@pytest.mark.parametrize("both", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_a_run_whose_reader_left_completes(repo, both):
    make_train_stale(repo)
    result = with_reader_gone(repo, "repro", both=both)

    assert result.returncode == CUT, result.stderr
    assert "Traceback" not in (result.stderr or ""), result.stderr
    assert "Pipeline is up to date" in run(["mlops", "status"], repo).stdout  # the run happened and was locked


@pytest.mark.slow
def test_a_subset_run_piped_into_head_keeps_its_experiment(repo):
    """The README's `mlops repro --subset 0.1` on a workspace with a stale stage (a DVC experiment, whose log
    lines outnumber what `head` reads): the experiment is recorded, the workspace untouched."""
    make_train_stale(repo)
    snapshot = Snapshot(repo)
    before = experiments(repo)
    result = run(
        "mlops repro --subset 0.1 2>err.txt | head -n 3; echo ${PIPESTATUS[0]} >rc.txt", repo, executable="/bin/bash"
    )

    errors = (repo / "err.txt").read_text()
    assert int((repo / "rc.txt").read_text()) == CUT, errors + result.stdout
    assert "Traceback" not in errors and "failed" not in errors, errors
    assert len(experiments(repo)) == len(before) + 1, errors
    snapshot.assert_unchanged()


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_terminal_in_a_legacy_encoding_reads_our_characters_in_plain_letters(repo, encoding):
    """A terminal that cannot show `Δ` (an ISO-8859 locale, PYTHONIOENCODING=ascii, a Windows console): `mlops exp
    compare` died in rich's write with UnicodeEncodeError, its table half printed."""
    utf8 = run(["mlops", "exp", "compare"], repo).stdout
    plain = run(["mlops", "exp", "compare"], repo, env=test_env(PYTHONIOENCODING=encoding)).stdout
    assert "Δauc" in utf8 and "dauc" in plain and "Δ" not in plain, plain


def test_what_is_not_ours_is_never_changed_silently(tmp_path):
    """Only our own characters are written plain: a character of the user's (a loan id, a label) that the terminal
    cannot show stays an error on stdout, as Python has it, and `\\xe9` on stderr."""
    script = "from pipeline.cli.streams import outputs_until_reader_leaves as wrap; wrap(); import sys\n"
    script += "print('Δauc ab…yz', flush=True); print('é', file=sys.stderr, flush=True); print('é')"
    result = subprocess.run(
        [sys.executable, "-c", script], env=test_env(PYTHONIOENCODING="ascii"), capture_output=True, text=True
    )
    assert result.stdout == "dauc ab...yz\n", result.stdout
    assert result.stderr.startswith("\\xe9\n") and "UnicodeEncodeError" in result.stderr, result.stderr
