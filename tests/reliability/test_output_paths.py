"""Output paths that cannot destroy, cells that cannot run, revisions that cannot be options."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run, test_env
from tests.e2e.data_helpers import lending_frame
from tests.reliability.helpers import assert_clear_error

FILE_SIZE_LIMIT = 4096  # bytes: the scores of 2,000 loans do not fit (a full disk, as the writer sees it)


@pytest.fixture
def loans(tmp_path) -> Path:
    path = tmp_path / "loans.csv"
    lending_frame().drop(columns=["Class"]).head(2000).to_csv(path, index=False)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def predict(repo: Path, loans: Path, out: str, **kwargs):
    return run(["mlops", "predict", str(loans), "--out", out], repo, check=False, **kwargs)


def test_out_cannot_be_the_input(repo, loans):
    before = md5(loans)
    assert_clear_error(predict(repo, loans, str(loans)), "--out", "input")
    assert md5(loans) == before


@pytest.mark.parametrize("name", ["scores.json", "scores.xlsx", "scores"])
def test_out_of_a_format_predict_does_not_write_is_refused(repo, loans, tmp_path, name):
    """`--out scores.json` held CSV text: the format follows the name's ending, CSV or parquet only."""
    result = predict(repo, loans, str(tmp_path / name))
    assert_clear_error(result, f"--out {tmp_path / name}", "CSV (.csv) or parquet")
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("target", ["dvc.lock", "params.yaml", "README.md", "models/model.skops", "data/x.dvc"])
def test_out_cannot_be_a_file_git_or_dvc_owns(repo, loans, target):
    path = repo / target
    before = md5(path) if path.exists() else None
    assert_clear_error(predict(repo, loans, target), "--out", target)
    assert (md5(path) if path.exists() else None) == before


@pytest.mark.parametrize(
    "target", ["models/scores.csv", "data/scores.csv", "data/split/scores.csv", "data/external/x.csv"]
)
def test_out_inside_what_dvc_manages_is_refused_before_anything_is_written(repo, loans, target):
    """An untracked file there is one the commit hook refuses (or, in data/external/, a new input of ingest)."""
    before = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout
    result = predict(repo, loans, target)
    assert_clear_error(
        result, f"--out {target} is inside {target.split('/')[0]}/, which DVC manages", "--out scores.csv"
    )
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout == before
    assert not (repo / target).exists()
    assert_clear_error(predict(repo, loans, "models"), "--out models is a directory", "outside data/ and models/")


def test_with_cache_type_symlink_an_out_dvc_tracks_is_refused_as_tracked_never_pointed_into_the_cache(repo, loans):
    """`cache.type symlink`: each DVC file of the workspace is a link into `.dvc/cache`. `--out` naming one was
    refused as a link, with the advice to name the file itself: the cache object, by its path under `.dvc/cache`,
    or to remove the link, DVC's tracked file."""
    run(["dvc", "config", "--local", "cache.type", "symlink"], repo)
    run(["dvc", "checkout", "--relink"], repo)
    for target, refusal in [
        ("models/model.skops", "--out models/model.skops is tracked by git or DVC"),
        ("data/split/test.parquet", "--out data/split/test.parquet is tracked by git or DVC"),
    ]:
        assert (repo / target).is_symlink()
        output = assert_clear_error(predict(repo, loans, target), refusal)
        assert ".dvc/cache" not in output and "remove the link" not in output, output
    assert run(["dvc", "data", "status", "--json"], repo).stdout.strip() == "{}"


def test_out_cannot_be_a_directory(repo, loans):
    assert_clear_error(predict(repo, loans, "reports"), "--out reports", "directory")
    assert (repo / "reports" / "metrics.json").is_file()


def test_a_symlink_loop_is_one_clear_line_as_output_and_as_input(repo, loans, tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop.name)
    assert_clear_error(predict(repo, loans, str(loop)), f"--out {loop}", "loop of symbolic links")
    assert_clear_error(predict(repo, loop, "scores.csv"), str(loop), "loop of symbolic links")
    assert not (repo / "scores.csv").exists()


def report(repo: Path, out: str):
    return run(["mlops", "report", "--out", out], repo, check=False)


@pytest.mark.parametrize("write", [predict, report], ids=["predict", "report"])
def test_out_that_is_a_pipe_or_a_link_is_refused_and_left_as_it_is(repo, loans, tmp_path, write):
    args = (repo, loans) if write is predict else (repo,)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_clear_error(write(*args, str(fifo)), f"--out {fifo}", "not a regular file")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("kept\n")
    link.symlink_to(target)
    assert_clear_error(write(*args, str(link)), f"--out {link}", "symbolic link")
    assert link.is_symlink() and target.read_text() == "kept\n"


@pytest.mark.parametrize("write", [predict, report], ids=["predict", "report"])
def test_a_file_or_folder_named_like_a_partial_output_is_left_alone(repo, loans, tmp_path, write):
    args = (repo, loans) if write is predict else (repo,)
    suffix = ".csv" if write is predict else ".html"
    for made_by_user in ("folder", "file"):
        out = tmp_path / f"{made_by_user}{suffix}"
        partial = out.with_name(out.name + ".partial")
        partial.mkdir() if made_by_user == "folder" else partial.write_text("the user's\n")
        result = write(*args, str(out))
        assert result.returncode == 0, result.stderr
        assert out.is_file() and out.stat().st_size > 0
        assert partial.is_dir() if made_by_user == "folder" else partial.read_text() == "the user's\n"
    leftovers = {path.name for path in tmp_path.glob("*.partial")}
    assert leftovers == {f"folder{suffix}.partial", f"file{suffix}.partial"}


def test_missing_folder_is_one_clear_line(repo, loans):
    output = assert_clear_error(predict(repo, loans, "no/such/folder/scores.csv"), "no/such/folder", "mkdir")
    assert len(output.strip().splitlines()) <= 2, output


@pytest.mark.parametrize("write", [predict, report], ids=["predict", "report"])
@pytest.mark.parametrize("under", ["x.out", "new/x.out"])
def test_out_under_a_file_names_that_file_in_one_line(repo, loans, tmp_path, write, under):
    """Its folder cannot be made: said as such, not as `[Errno 17] File exists` or a `mkdir -p` that would fail."""
    args = (repo, loans) if write is predict else (repo,)
    notes = tmp_path / "notes.html"
    notes.write_text("the user's\n")
    out = f"{notes}/{under}"
    output = assert_clear_error(write(*args, out), f"--out {out}: {notes} is a file, not a folder", "e.g. --out")
    assert len(output.strip().splitlines()) == 2 and "mkdir" not in output and "Errno" not in output, output
    assert notes.read_text() == "the user's\n"


@pytest.mark.parametrize("folder", ["notes.txt", "notes.txt/logs"])
def test_serve_log_dir_that_is_or_is_under_a_file_names_that_file(repo, folder):
    (repo / "notes.txt").write_text("the user's\n")
    with socket.socket() as taken:  # were the folder let through, serve would stop at the port, writing nothing
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run(["mlops", "serve", "--port", port, "--log-dir", folder], repo, check=False, timeout=300)
    output = assert_clear_error(result, f"--log-dir {folder}: notes.txt is a file, not a folder", "--log-dir")
    assert len(output.strip().splitlines()) == 2 and "File exists" not in output, output
    assert (repo / "notes.txt").read_text() == "the user's\n"


@pytest.mark.parametrize("write", [predict, report], ids=["predict", "report"])
def test_out_ending_with_a_slash_names_a_folder_and_is_refused(repo, loans, tmp_path, write):
    """A path drops the final `/`: `--out new/` wrote a file called `new`, `--out notes.html/` replaced that file."""
    args = (repo, loans) if write is predict else (repo,)
    new = f"{tmp_path}/new/"
    assert_clear_error(write(*args, new), f"--out {new} ends with /, as a folder does", f"e.g. --out {new}")
    notes = tmp_path / "notes.html"
    notes.write_text("the user's\n")
    assert_clear_error(write(*args, f"{notes}/"), f"--out {notes}/: {notes} is a file, not a folder")
    assert not (tmp_path / "new").exists()
    assert notes.read_text() == "the user's\n"


def test_a_full_disk_is_one_clear_line_and_leaves_no_partial_file(repo, loans, tmp_path):
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    out = tmp_path / "scores.csv"
    result = predict(repo, loans, str(out), preexec_fn=small_files)
    assert_clear_error(result, "cannot write", str(out))
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_report_that_cannot_be_written_is_one_clear_line_and_leaves_no_partial_file(repo, tmp_path):
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))  # the page is ~24 KB

    out = tmp_path / "new folder" / "report.html"
    result = run(["mlops", "report", "--out", str(out)], repo, check=False, preexec_fn=small_files)
    assert_clear_error(result, "cannot write", str(out), "free some space")
    assert not out.exists() and not list(out.parent.glob("*.partial"))
    refused = run(["mlops", "report", "--out", "/proc/report.html"], repo, check=False)
    output = assert_clear_error(refused, "/proc/report.html", "choose another --out")
    assert "free some space" not in output, output  # the disk is not full: the folder takes no new file


def test_formula_cells_are_neutralised_in_written_csv(repo, tmp_path):
    ids = ['=HYPERLINK("http://x.invalid","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "ok-7"]
    frame = lending_frame().drop(columns=["Class"]).head(len(ids))
    frame.insert(0, "id", ids)
    loans = tmp_path / "hostile.csv"
    frame.to_csv(loans, index=False)
    out = tmp_path / "scores.csv"
    run(["mlops", "predict", str(loans), "--out", str(out), "--id-column", "id"], repo)

    written = pd.read_csv(out, dtype={"id": str}, keep_default_na=False)["id"].tolist()
    assert written == ["'" + value for value in ids[:-1]] + ["ok-7"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in written)


@pytest.mark.parametrize(
    "command",
    [
        ["predict", "LOANS", "--out", "OUT", "--rev=--output=/tmp/INJECTED"],
        ["checkout", "--", "--output=/tmp/INJECTED"],
        ["report", "--out", "OUT", "--against=--output=/tmp/INJECTED"],
        ["deploy", "promote", "--", "--output=/tmp/INJECTED"],
    ],
    ids=["predict", "checkout", "report", "deploy-promote"],
)
def test_a_revision_is_never_an_option(repo, loans, tmp_path, command):
    injected = tmp_path / "injected"
    out = tmp_path / "out.csv"
    args = [
        str(loans) if arg == "LOANS" else str(out) if arg == "OUT" else arg.replace("/tmp/INJECTED", str(injected))
        for arg in command
    ]
    result = run(["mlops", *args], repo, check=False)
    assert_clear_error(result, "--output=")
    assert not injected.exists(), "a revision reached git as an option and wrote a file"
    assert not out.exists()


def test_a_predict_stopped_while_it_writes_leaves_neither_its_output_nor_a_partial_file(repo, tmp_path):
    big = tmp_path / "big.csv"
    many = pd.concat([lending_frame().drop(columns=["Class"])] * 30, ignore_index=True)
    many.assign(rownames=range(len(many))).to_csv(big, index=False)  # each loan an id of its own
    folder = tmp_path / "scores"
    folder.mkdir()
    process = subprocess.Popen(
        ["mlops", "predict", str(big), "--out", str(folder / "scores.csv")],
        cwd=repo,
        env=test_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not list(folder.glob("*.partial")) and process.poll() is None:
        time.sleep(0.002)
    assert process.poll() is None, "predict ended before its write began"
    os.kill(process.pid, signal.SIGSTOP)  # held inside the write: the stop lands there, whatever the machine's speed
    os.kill(process.pid, signal.SIGTERM)
    os.kill(process.pid, signal.SIGCONT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in stderr, stderr
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("folder", "said"),
    [
        ("reports", "holds files git tracks"),
        ("docs", "holds files git tracks"),
        (".", "holds files git tracks"),
        (".git", "inside .git/"),
        (".dvc/tmp", "inside .dvc/"),
        ("data/logs", "inside data/, which DVC manages"),
        ("models", "inside models/, which DVC manages"),
    ],
)
def test_serve_refuses_a_log_dir_it_would_hide_from_git_or_that_git_or_dvc_owns(repo, folder, said):
    """The log folder ignores everything in it (`*`): in reports/ a new report would never reach git."""
    before = run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], repo).stdout
    with socket.socket() as taken:  # were the folder let through, serve would stop at the port, writing nothing
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run(["mlops", "serve", "--port", port, "--log-dir", folder], repo, check=False, timeout=300)
    assert_clear_error(result, f"--log-dir {folder}", said, "--log-dir logs")
    assert run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], repo).stdout == before


@pytest.mark.parametrize("write", [predict, report], ids=["predict", "report"])
@pytest.mark.parametrize("name", ["predictions.jsonl", "predictions.20261201T101010000000.jsonl", "outcomes.jsonl"])
def test_out_cannot_replace_the_prediction_log_or_its_outcomes(repo, loans, tmp_path, write, name):
    """A running server goes on appending to the file it opened: replaced, the log and every later line are lost."""
    args = (repo, loans) if write is predict else (repo,)
    line = '{"time":"2026-12-01T10:10:10+00:00","id":"a","role":"champion","served":true}\n'
    for folder in (repo / "logs", tmp_path / "elsewhere"):
        folder.mkdir()
        for kept in ("predictions.jsonl", name):
            (folder / kept).write_text(line)
        for out in (str(folder / name), os.path.relpath(folder / name, repo)):
            assert_clear_error(write(*args, out), f"--out {out}", "prediction log", "choose a new file name")
        assert (folder / name).read_text() == line and sorted(p.name for p in folder.iterdir()) == sorted(
            {"predictions.jsonl", name}
        )


def test_out_and_log_dir_inside_the_pipeline_outputs_folder_are_refused_before_anything_is_written(repo, loans):
    """`--out reports` wrote drift.json into the folder git keeps the pipeline's outputs in (`git add -A` then
    committed it with them), and `--out reports/plots` into a folder evaluate's run replaces whole; predict's
    `--out reports/scores.csv` and serve's `--log-dir reports/plots/logs` too."""
    (repo / "logs").mkdir()
    line = {"time": "2026-12-01T10:00:00", "id": "1", "role": "champion", "served": True, "model_md5": "m"}
    (repo / "logs/predictions.jsonl").write_text(json.dumps(line | {"rev": "w", "p_default": 0.1, "features": {}}))
    before = run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], repo).stdout
    for out in ("reports", "reports/plots", "reports/new"):
        drift = run(["mlops", "monitor", "drift", "--out", out], repo, check=False)
        said = f"--out {out}/drift.json is inside reports/, which holds the pipeline's outputs (dvc.yaml)"
        assert_clear_error(drift, said, "--out drift-reports")
    for out in ("reports/scores.csv", "reports/plots/scores.csv"):
        said = f"--out {out} is inside reports/, which holds the pipeline's outputs"
        assert_clear_error(predict(repo, loans, out), said, "--out scores.csv")
    with socket.socket() as taken:  # were the folder let through, serve would stop at the port, writing nothing
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for folder in ("reports/plots/logs", "reports/logs"):
            served = run(["mlops", "serve", "--port", port, "--log-dir", folder], repo, check=False, timeout=300)
            assert_clear_error(served, f"--log-dir {folder} is inside reports/", "--log-dir logs")
    assert run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], repo).stdout == before


def test_outcomes_that_fill_the_disk_are_one_clear_line_and_leave_the_recorded_outcomes_as_they_were(repo, tmp_path):
    """The write stopped midway with a traceback, leaving a line cut short in outcomes.jsonl, which every monitoring
    command then refused until it was removed by hand."""
    (repo / "logs").mkdir()
    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    (repo / "logs/predictions.jsonl").write_text(json.dumps(logged | {"id": "l0", "p_default": 0.1, "features": {}}))
    pd.DataFrame({"id": ["l0"], "Class": ["bad"]}).to_csv(tmp_path / "first.csv", index=False)
    run(["mlops", "monitor", "outcomes", str(tmp_path / "first.csv")], repo)
    recorded = (repo / "logs/outcomes.jsonl").read_bytes()
    pd.DataFrame({"id": [f"l{n}" for n in range(500)], "Class": "good"}).to_csv(tmp_path / "many.csv", index=False)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))  # 500 outcomes are ~30 KB

    result = run(
        ["mlops", "monitor", "outcomes", str(tmp_path / "many.csv")], repo, check=False, preexec_fn=small_files
    )
    assert_clear_error(result, "cannot record outcomes in logs/outcomes.jsonl", "nothing was recorded", "free some")
    assert (repo / "logs/outcomes.jsonl").read_bytes() == recorded
    again = run(["mlops", "monitor", "outcomes", str(tmp_path / "first.csv")], repo)  # the file still reads
    assert "1 replace outcomes recorded before" in again.stdout, again.stdout


OUTCOMES_KILLED_AS_THEY_ARE_WRITTEN = """
import os, signal, sys
from pipeline.serving import telemetry

class KilledHalfWay:  # the kernel stops a large write between pages when SIGKILL comes
    def __init__(self, handle):
        self.handle = handle
    def __getattr__(self, name):
        return getattr(self.handle, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.handle.close()
    def write(self, data):
        self.handle.write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

def open_to_append_killed(path, mode="r", *args, **kwargs):
    opened = open(path, mode, *args, **kwargs)
    return KilledHalfWay(opened) if "a" in mode else opened

telemetry.open = open_to_append_killed
sys.argv = ["mlops", "monitor", "outcomes", sys.argv[1]]
from pipeline.__main__ import main
main()
"""


def test_outcomes_killed_as_they_are_written_leave_their_whole_lines_and_the_log_readable(repo, tmp_path):
    """A SIGKILL during a large `mlops monitor outcomes` left outcomes.jsonl ending in a line cut short, which every
    monitoring command then refused ('not a JSON line ... remove the line') until it was removed by hand."""
    (repo / "logs").mkdir()
    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    (repo / "logs/predictions.jsonl").write_text(json.dumps(logged | {"id": "l0", "p_default": 0.1, "features": {}}))
    pd.DataFrame({"id": ["l0"], "Class": ["bad"]}).to_csv(tmp_path / "first.csv", index=False)
    run(["mlops", "monitor", "outcomes", str(tmp_path / "first.csv")], repo)
    pd.DataFrame({"id": [f"l{n}" for n in range(500)], "Class": "good"}).to_csv(tmp_path / "many.csv", index=False)

    killed = run(["python", "-c", OUTCOMES_KILLED_AS_THEY_ARE_WRITTEN, str(tmp_path / "many.csv")], repo, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    torn = (repo / "logs/outcomes.jsonl").read_bytes()
    assert not torn.endswith(b"\n")
    whole = torn[: torn.rindex(b"\n") + 1]

    again = run(["mlops", "monitor", "outcomes", str(tmp_path / "first.csv")], repo)  # reads the file, then appends
    assert "1 replace outcomes recorded before" in again.stdout, again.stdout
    unfinished = len(torn) - len(whole)
    assert again.stderr.count("\n") == 1 and f"unfinished last line of {Path('logs/outcomes.jsonl')}" in again.stderr
    assert f"({unfinished} bytes" in again.stderr, again.stderr
    recorded = (repo / "logs/outcomes.jsonl").read_bytes()
    assert recorded.startswith(whole) and recorded.endswith(b"\n")
    lines = recorded.decode().splitlines()
    assert len(lines) == whole.count(b"\n") + 1 and all(json.loads(line)["id"] for line in lines)


def test_out_and_log_dir_inside_a_folder_dvc_tracks_whole_are_refused(repo, loans):
    """Only data/ and models/ were refused: a folder `dvc add` tracks elsewhere took predict's scores and drift's
    report, and `dvc status` then showed that version modified."""
    (repo / "extra").mkdir()
    (repo / "extra/a.txt").write_text("a\n")
    run(["dvc", "add", "-q", "extra"], repo)
    before = run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], repo).stdout
    said = "is inside extra/, a folder DVC tracks whole"
    assert_clear_error(predict(repo, loans, "extra/scores.csv"), f"--out extra/scores.csv {said}", "--out scores.csv")
    drift = run(["mlops", "monitor", "drift", "--out", "extra"], repo, check=False)
    assert_clear_error(drift, f"--out extra/drift.json {said}", "--out drift-reports")
    with socket.socket() as taken:  # were the folder let through, serve would stop at the port, writing nothing
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        served = run(["mlops", "serve", "--port", port, "--log-dir", "extra/logs"], repo, check=False, timeout=300)
    assert_clear_error(served, "--log-dir extra/logs is inside extra/, which DVC manages", "--log-dir logs")
    assert run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], repo).stdout == before
    assert "extra" not in run(["dvc", "status", "extra.dvc"], repo).stdout


DRIFT_CUT_BETWEEN_ITS_FILES = """
import os, signal, sys
from pathlib import Path
from pipeline.monitoring import drift_check

moment, out = sys.argv[1], Path("drift-reports")
render, replace = drift_check.render, os.replace

def render_then_cut(report):  # drift.json was written before its page was made
    page = render(report)
    if moment == "stop-as-the-page-is-made":
        os.kill(os.getpid(), signal.SIGTERM)
    elif moment == "the-page-cannot-be-written":  # a folder took its place
        (out / "drift.html").unlink()
        (out / "drift.html").mkdir()
    return page

def replace_then_stop(source, target):
    replace(source, target)
    if moment == "stop-between-the-renames" and str(target).endswith("drift.json"):
        os.kill(os.getpid(), signal.SIGTERM)

drift_check.render, os.replace = render_then_cut, replace_then_stop
sys.argv = ["mlops", "monitor", "drift", "--out", str(out)]
from pipeline.__main__ import main
main()
"""


def logged_loans_and_a_former_drift_report(repo: Path) -> Path:
    """A prediction log of 1,000 held-out loans, and drift-reports/ holding a former report; that folder."""
    from tests.e2e.test_serve import loans as held_out_loans
    from tests.e2e.test_serve import md5_of_model

    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": md5_of_model(repo)}
    lines = [
        logged | {"id": str(n), "rev": "workspace", "p_default": 0.1, "features": loan}
        for n, loan in enumerate(held_out_loans(repo, 1000))
    ]
    (repo / "logs").mkdir()
    (repo / "logs/predictions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    reports = repo / "drift-reports"
    reports.mkdir()
    (reports / "drift.json").write_text('{"former": true}\n')
    (reports / "drift.html").write_text("<p>the former page</p>\n")
    return reports


@pytest.mark.parametrize(
    "moment", ["stop-as-the-page-is-made", "the-page-cannot-be-written", "stop-between-the-renames"]
)
def test_drift_writes_its_data_and_its_page_both_or_neither(repo, moment):
    """`mlops monitor drift` wrote drift.json, then drift.html: a stop or a failure between the two left the new
    data beside the former page, a report that contradicts its data."""
    reports = logged_loans_and_a_former_drift_report(repo)

    result = run(["python", "-c", DRIFT_CUT_BETWEEN_ITS_FILES, moment], repo, check=False)
    output = result.stdout + result.stderr

    written = (reports / "drift.json").read_text()
    if moment == "stop-between-the-renames":  # the renames are one step: a stop then comes after the report
        assert result.returncode in (0, 1) and "Stopped" not in output, output
        assert json.loads(written)["window"] and "<svg" in (reports / "drift.html").read_text(), output
    else:
        assert written == '{"former": true}\n', output
        if moment == "stop-as-the-page-is-made":
            assert result.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output
            assert (reports / "drift.html").read_text() == "<p>the former page</p>\n"
        else:
            assert_clear_error(result, f"cannot write {Path('drift-reports/drift.html')}: Is a directory")
    assert sorted(path.name for path in reports.iterdir()) == ["drift.html", "drift.json"], output


DRIFT_KILLED_AS_IT_WRITES = """
import os, signal, sys, tempfile
from pathlib import Path

moment, out = sys.argv[1], Path("drift-reports")
replace, mkstemp = os.replace, tempfile.mkstemp

def replace_then_kill(source, target):
    if moment == "while-its-files-are-made":  # no rename yet: each file may be half made
        os.kill(os.getpid(), signal.SIGKILL)
    replace(source, target)
    renamed = {"as-its-data-is-set-aside": str(target).endswith(".former.partial"),
               "between-the-renames": str(target).endswith("drift.json"),
               "after-the-last-rename": str(target).endswith("drift.html")}
    if renamed.get(moment):
        os.kill(os.getpid(), signal.SIGKILL)

def stop_as_it_writes(*args, prefix="", **kwargs):  # the next run: stopped as it makes its files, after it saw to
    if moment == "next" and prefix.startswith("drift.json."):  # the killed run's
        os.kill(os.getpid(), signal.SIGTERM)
    return mkstemp(*args, prefix=prefix, **kwargs)

os.replace, tempfile.mkstemp = replace_then_kill, stop_as_it_writes
sys.argv = ["mlops", "monitor", "drift", "--out", str(out)]
from pipeline.__main__ import main
main()
"""


@pytest.mark.parametrize(
    ("moment", "ends"),
    [
        ("while-its-files-are-made", "as before"),
        ("as-its-data-is-set-aside", "as after"),
        ("between-the-renames", "as after"),
        ("after-the-last-rename", "as after"),
    ],
)
def test_a_drift_killed_as_it_writes_is_undone_or_completed_by_the_next_run(repo, moment, ends):
    """A SIGKILL of `mlops monitor drift` while it wrote left drift.json.XXXXXXXX.partial files in its folder for
    good, and during its renames drift.json set aside (missing) or new beside the former page."""
    reports = logged_loans_and_a_former_drift_report(repo)
    not_ours = {  # a user's file, and a partial of a writer still running (this test's process)
        "drift.json.notes.partial": "the user's\n",
        f"drift.json.{os.getpid()}.abcdefgh.partial": "a live writer's\n",
    }
    for name, text in not_ours.items():
        (reports / name).write_text(text)

    killed = run(["python", "-c", DRIFT_KILLED_AS_IT_WRITES, moment], repo, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert len(list(reports.glob("*.partial"))) > len(not_ours)  # what the killed run left

    following = run(["python", "-c", DRIFT_KILLED_AS_IT_WRITES, "next"], repo, check=False)
    output = following.stdout + following.stderr
    assert following.returncode == 128 + signal.SIGTERM and "Stopped by SIGTERM" in output, output
    assert sorted(path.name for path in reports.iterdir()) == sorted(["drift.html", "drift.json", *not_ours]), output
    for name, text in not_ours.items():
        assert (reports / name).read_text() == text
    data, page = (reports / "drift.json").read_text(), (reports / "drift.html").read_text()
    if ends == "as before":
        assert (data, page) == ('{"former": true}\n', "<p>the former page</p>\n")
    else:
        assert json.loads(data)["window"] and "<svg" in page
