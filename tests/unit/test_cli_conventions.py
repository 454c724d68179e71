"""The `mlops` command follows Click/Typer habits: `-h` beside `--help` on every level, `--version`, and one error
style for usage mistakes and user errors alike (`error:` line, a hint, exit status 2)."""

import subprocess
import sys
from importlib.metadata import version

import pytest

MLOPS = [sys.executable, "-m", "pipeline"]


def mlops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MLOPS, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [["-h"], ["exp", "-h"], ["data", "add", "-h"], ["repro", "--help"]])
def test_short_and_long_help_on_every_level(args):
    result = mlops(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ") and "-h, --help" in result.stdout


def test_version():
    result = mlops("--version")
    assert result.returncode == 0 and version("lending-mlops") in result.stdout


@pytest.mark.parametrize(
    "args, message, hint",
    [
        (["repro", "--bogus"], "error: No such option: --bogus", "`mlops repro -h`"),
        (["exp", "nothing"], "error: No such command 'nothing'.", "`mlops exp -h`"),
        (["repro", "--subset", "2"], "error: Invalid value for '--subset'", "`mlops repro -h`"),
    ],
)
def test_usage_mistakes_are_one_error_line_with_a_hint_and_exit_2(args, message, hint):
    result = mlops(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(message) and hint in lines[1], result.stderr
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr


def test_no_arguments_shows_the_help():
    result = mlops()
    assert result.returncode == 0 and "Commands:" in result.stdout
