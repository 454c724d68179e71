"""`mlops data add`: bring a lending CSV of another schema, train on it, append batches; refusals touch nothing."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from pipeline.params import load_params
from tests.conftest import run
from tests.e2e.data_helpers import lending_frame, mlops, other_schema_frame, snapshot
from tests.reliability.helpers import Snapshot, assert_clear_error


def write(frame, path):
    frame.to_csv(path, index=False)
    return str(path)


def test_other_schema_trains_and_batches_append(repo, tmp_path):
    frame = other_schema_frame()
    first = write(frame.iloc[:8000], tmp_path / "loans.csv")
    named_twice = ("--drop", "loan_id", "--drop", "loan_id")  # one column: data.drop refuses a name given twice
    result = mlops(repo, "data", "add", first, "--target", "status", "--positive", "default", *named_twice)
    assert "Added data/external/loans.csv" in result.stdout
    staged = run(["git", "diff", "--cached", "--name-only"], repo).stdout.split()
    assert sorted(staged) == ["data/external/.gitignore", "data/external/loans.csv.dvc"]
    params = load_params(repo / "params.yaml")
    assert (params.data.source, params.data.target, params.data.positive_label, params.data.drop) == (
        "data/external/loans.csv",
        "status",
        "default",
        ["loan_id"],
    )
    assert "# the label that means" in (repo / "params.yaml").read_text()  # comments kept
    schema = json.loads((repo / "reports/schema.json").read_text())
    assert schema["target"] == {"name": "status", "labels": ["default", "paid"], "positive": "default"}
    assert "channel" in schema["columns"] and "loan_id" not in schema["columns"]

    mlops(repo, "repro")
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.6
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "own data", "--no-verify"], repo)
    version_one = (repo / "data/external/loans.csv.dvc").read_text()

    bad = frame.iloc[8000:8100].copy()
    bad.loc[bad.index[3], "term"] = "term_99"
    before = snapshot(repo)
    refused = mlops(repo, "data", "add", write(bad, tmp_path / "bad.csv"), "--append", check=False)
    assert refused.returncode == 2 and "'term'" in refused.stderr and "term_99" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert snapshot(repo) == before

    batch = write(frame.iloc[8000:9000], tmp_path / "batch.csv")
    result = mlops(repo, "data", "add", batch, "--append")
    assert "now 9000 rows" in result.stdout and "left as it was" not in result.stdout
    # a batch inside the project stays there (a first add moves its file): said, as `git add -A` would take it
    inside = write(frame.iloc[9000:], repo / "batch-2.csv")
    result = mlops(repo, "data", "add", inside, "--append")
    assert "now 9857 rows" in result.stdout
    assert "batch-2.csv is left as it was, inside the project: its rows are in data/external/loans.csv now" in (
        result.stdout
    ), result.stdout
    (repo / "batch-2.csv").unlink()
    assert (repo / "data/external/loans.csv.dvc").read_text() != version_one
    assert "modified, not yet committed" in mlops(repo, "data", "status").stdout
    assert "ingest" in mlops(repo, "status").stdout


def test_numbers_flags_and_dates_as_labels_and_categories_train_append_and_score(repo, tmp_path):
    """The commonest layouts: a 0/1 target, a true/false flag, a date. The schema declares them as text, as
    written by `str`; ingest, an append and predict read them so (they failed every row in validate)."""
    import pandas as pd

    frame = lending_frame().drop(columns=["rownames"])
    frame["Class"] = (frame["Class"] == "bad").astype(int)
    frame["joint"] = frame["term"] == "term_60"
    frame["listed"] = pd.to_datetime("2020-01-01") + pd.to_timedelta(frame.index % 3, unit="D")
    frame.iloc[:9000].to_parquet(tmp_path / "loans.parquet", index=False)
    mlops(repo, "data", "add", str(tmp_path / "loans.parquet"), "--target", "Class", "--positive", "1")
    schema = json.loads((repo / "reports/schema.json").read_text())
    assert schema["target"]["labels"] == ["0", "1"] and schema["columns"]["joint"]["categories"] == ["False", "True"]
    assert schema["columns"]["listed"]["categories"][0] == "2020-01-01 00:00:00"

    mlops(repo, "repro")
    assert json.loads((repo / "reports/metrics.json").read_text())["roc_auc"] > 0.6
    frame.iloc[9000:].to_parquet(tmp_path / "batch.parquet", index=False)
    assert "now 9857 rows" in mlops(repo, "data", "add", str(tmp_path / "batch.parquet"), "--append").stdout
    frame.iloc[9000:].drop(columns=["Class"]).to_parquet(tmp_path / "score.parquet", index=False)
    mlops(repo, "predict", str(tmp_path / "score.parquet"), "--out", str(tmp_path / "scores.csv"))
    assert len((tmp_path / "scores.csv").read_text().splitlines()) == 1 + len(frame) - 9000


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_a_semicolon_txt_table_trains_and_scores_read_the_same_way(repo, tmp_path, encoding):
    """A `.txt` table is read by the separator pandas sniffs, in data add and predict alike, without a warning.
    With a byte order mark (Windows Notepad writes one), the sniffing parser kept it in the first column's name,
    `\\ufefffunded_amnt`: a feature no request or other file to score could name."""
    frame = lending_frame().drop(columns=["rownames"]).head(2000)
    frame.to_csv(tmp_path / "loans.txt", sep=";", index=False, encoding=encoding)
    added = mlops(repo, "data", "add", str(tmp_path / "loans.txt"))
    assert "Warning" not in added.stderr, added.stderr
    assert list(json.loads((repo / "reports/schema.json").read_text())["columns"])[0] == "funded_amnt"
    mlops(repo, "repro")
    frame.drop(columns=["Class"]).head(50).to_csv(tmp_path / "score.txt", sep=";", index=False)
    scored = mlops(repo, "predict", str(tmp_path / "score.txt"), "--out", str(tmp_path / "scores.csv"))
    assert "Warning" not in scored.stderr and len((tmp_path / "scores.csv").read_text().splitlines()) == 51


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", [], "is empty"),
        (b"a,b,Class\n", [], "no data rows"),
        (b"\xff\xfe\x00garbage\x00", [], "not UTF-8"),
        (None, ["--target", "outcome"], "target column 'outcome' is missing"),
        ("single", [], "single class"),
        ("three", [], "holds labels"),
        ("two", ["--positive", "bad", "--negative", "ok"], "expected exactly"),
        (None, ["--drop", "nope"], "--drop names columns"),
        ("stray words", [], "column 'annual_inc' holds numbers but for 2 cells ('unknown', '?'; first: row 5)"),
        ("id feature", ["--keep-column", "id"], "column 'id' would be a feature, but `id` names the loan"),
        ("two", ["--positive", "bad", "--negative", "bad"], "--negative 'bad' is the --positive label too"),
        ("named\nwith a newline", [], "the name holds a control character"),
    ],
)
def test_refusals_touch_nothing(repo, tmp_path, content, args, message):
    path = tmp_path / ("in\nput.csv" if content == "named\nwith a newline" else "input.csv")
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        from tests.e2e.data_helpers import lending_frame

        frame = lending_frame().head(300)
        if content == "single":
            frame["Class"] = "good"
        elif content == "three":
            frame.loc[frame.index[:5], "Class"] = "unknown"
        elif content == "stray words":  # an amount with two bad cells, not a category of every amount
            frame = frame.astype({"annual_inc": object})
            frame.loc[3, "annual_inc"], frame.loc[7, "annual_inc"] = "unknown", "?"
        elif content == "id feature":  # kept as a feature, a client's loan id would be read as it in serve
            frame.insert(0, "id", frame.index % 5)
        frame.to_csv(path, index=False)
    before = snapshot(repo)
    result = mlops(repo, "data", "add", str(path), *args, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert snapshot(repo) == before
    assert not (repo / "data/external/input.csv").exists()


def test_append_needs_an_added_source(repo, tmp_path):
    before = snapshot(repo)
    path = tmp_path / "batch.csv"
    path.write_text("a,Class\n1,bad\n")
    result = mlops(repo, "data", "add", str(path), "--append", check=False)
    assert result.returncode == 2 and "not a file added with `mlops data add`" in result.stderr
    assert snapshot(repo) == before


def test_drop_defaults_to_the_current_id_columns_the_file_has(repo, tmp_path):
    frame = lending_frame()  # the default data as a file: it has `rownames`, which params already drop
    mlops(repo, "data", "add", write(frame, tmp_path / "lending.csv"))
    assert load_params(repo / "params.yaml").data.drop == ["rownames"]
    assert "rownames" not in json.loads((repo / "reports/schema.json").read_text())["columns"]


def test_a_git_tracked_file_added_from_the_project_leaves_git_with_the_commit(repo):
    """It was moved under data/external/ but stayed in git's index: the commit the command advised kept the data
    in git, and the work tree showed it deleted."""
    write(lending_frame(), repo / "loans.csv")
    run(["git", "add", "-f", "loans.csv"], repo)
    run(["git", "commit", "-q", "--no-verify", "-m", "data in git, before DVC"], repo)
    result = mlops(repo, "data", "add", "loans.csv")
    assert "Git tracked loans.csv: its removal is staged." in result.stdout, result.stdout
    staged = run(["git", "diff", "--cached", "--name-status", "--no-renames"], repo).stdout.splitlines()
    assert "D\tloans.csv" in staged and "A\tdata/external/loans.csv.dvc" in staged
    assert run(["git", "status", "--porcelain", "--", "loans.csv"], repo).stdout.startswith("D ")


def test_the_next_steps_printed_commit_everything_the_retrain_changed(hooked, tmp_path):
    """The advice named params.yaml, the schema, dvc.lock and the .dvc file: a `git commit -m` as the data guide
    showed committed only the staged .dvc file, and one of the named files left the other reports out of git."""
    frame = other_schema_frame()
    for args in (
        [
            "data",
            "add",
            write(frame.iloc[:8000], tmp_path / "loans.csv"),
            "--target",
            "status",
            "--positive",
            "default",
        ],
        ["data", "add", write(frame.iloc[8000:], tmp_path / "batch.csv"), "--append"],
    ):
        said = mlops(hooked, *args).stdout
        steps = next(line for line in said.splitlines() if line.startswith("Next: "))
        for command in steps.split("`")[1::2]:
            run(command, hooked)
        assert run(["git", "status", "--porcelain", "--untracked-files=no"], hooked).stdout == ""
        assert "up to date" in mlops(hooked, "status").stdout


def test_a_clone_without_its_data_says_to_pull_it_rather_than_failing_in_dvc(file_sourced, tmp_path):
    """A teammate's `git clone` of a project trained on a file has the `.dvc` pointer, not the data: status and
    repro name the file and `mlops data pull` (DVC's own repro only says "missing data 'source'")."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(file_sourced), str(clone)], tmp_path)
    status = mlops(clone, "status")
    assert "Not in the workspace: data/external/loans.csv (tracked by DVC). Run `mlops data pull`" in status.stdout
    lock = (clone / "dvc.lock").read_bytes()
    for args in (("repro",), ("repro", "--subset", "0.1")):
        refused = mlops(clone, *args, check=False)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "data/external/loans.csv is tracked by DVC" in refused.stderr, refused.stderr
        assert "`mlops data pull`" in refused.stderr and "missing data" not in refused.stderr
    assert (clone / "dvc.lock").read_bytes() == lock and not (clone / "data" / "raw.parquet").exists()


def test_the_dropped_id_column_named_id_is_not_offered_as_a_keep_column(repo, tmp_path):
    """`data add` printed "To train on it, add --keep-column=id" for a column named `id`, which it then refuses
    (`id` names the loan in serve requests and the log): the advice for that one is to rename it."""
    path = write(lending_frame().rename(columns={"rownames": "id"}), tmp_path / "loans.csv")
    added = mlops(repo, "data", "add", path)
    assert "Dropping column 'id': it looks like an id (named like an id), not a feature." in added.stdout
    assert "--keep-column" not in added.stdout and "to train on it, rename it" in added.stdout, added.stdout


def test_keep_column_of_a_column_the_current_data_drop_names_keeps_it(repo, tmp_path):
    """`--keep-column rownames` with no `--drop` was refused as contradicting `--drop rownames`, which the user
    never gave (the default drop, data.drop's columns the file has): an explicit keep wins over that default."""
    path = write(lending_frame().head(3000), tmp_path / "loans.csv")
    added = mlops(repo, "data", "add", path, "--keep-column", "rownames", check=False)
    assert added.returncode == 0, added.stderr
    assert "rownames" not in load_params(repo / "params.yaml").data.drop
    assert "rownames" in json.loads((repo / "reports/schema.json").read_text())["columns"]
    both = mlops(repo, "data", "add", path, "--keep-column", "int_rate", "--drop", "int_rate", check=False)
    assert both.returncode == 2 and "--keep-column int_rate and --drop int_rate contradict" in both.stderr


def test_data_add_after_dvc_exp_run_rewrote_params_in_block_style(repo, tmp_path):
    """`dvc exp run -S` rewrites params.yaml, `drop: [rownames]` as a block list (`drop:` then `- rownames`): the
    next `mlops data add` wrote `schema: ... sample_frac: 1.0` on one line and refused its own params.yaml."""
    run([sys.executable, "-m", "dvc", "exp", "run", "-S", "train.logreg.C=0.02"], repo)
    assert "  - rownames\n" in (repo / "params.yaml").read_text()
    mlops(repo, "data", "add", write(lending_frame(), tmp_path / "lending.csv"))
    params = load_params(repo / "params.yaml")
    assert params.data.drop == ["rownames"] and params.data.source == "data/external/lending.csv"
    assert params.data.sample_frac == 1.0 and params.train.logreg.C == 0.02


def test_a_file_of_the_same_name_that_dvc_never_recorded_is_not_overwritten(repo, tmp_path):
    """A loans.csv copied into data/external/ by hand and never added: adding another loans.csv replaced it, and its
    content was in no DVC cache to bring it back."""
    frame = lending_frame()
    frame.head(3000).to_csv(repo / "data/external/loans.csv", index=False)
    by_hand = (repo / "data/external/loans.csv").read_bytes()
    frame.head(2000).to_csv(tmp_path / "loans.csv", index=False)
    before = snapshot(repo)

    result = mlops(repo, "data", "add", str(tmp_path / "loans.csv"), check=False)
    assert result.returncode == 2, result.stdout
    assert "data/external/loans.csv holds other data that DVC has not recorded" in result.stderr
    assert (repo / "data/external/loans.csv").read_bytes() == by_hand and snapshot(repo) == before

    # the hint, followed: recorded first, then the new file replaces it, the old one kept in the cache
    mlops(repo, "data", "add", "data/external/loans.csv")
    mlops(repo, "data", "add", str(tmp_path / "loans.csv"))
    assert (repo / "data/external/loans.csv").read_bytes() == (tmp_path / "loans.csv").read_bytes()


def test_a_refused_batch_is_told_to_edit_the_schema_not_to_add_the_batch_as_the_data(file_sourced, tmp_path):
    """The hint was the one for a new dataset, "update the schema (`mlops data add FILE` infers a new one)": given
    the batch, that replaces the data with the batch. Followed as printed now, the batch appends."""
    batch = lending_frame().iloc[:20].copy()
    batch["annual_inc"] += 0.5  # new loans, not rows the data has
    batch.loc[batch.index[0], "addr_state"] = "ZZ"
    path = write(batch, tmp_path / "batch.csv")
    refused = mlops(file_sourced, "data", "add", path, "--append", check=False)
    assert refused.returncode == 2 and "'ZZ'" in refused.stderr, refused.stderr
    assert "mlops data add FILE" not in refused.stderr
    assert "edit the schema file (`data.schema` in params.yaml: add the category" in refused.stderr, refused.stderr
    schema_file = file_sourced / "reports/schema.json"
    schema = json.loads(schema_file.read_text())
    schema["columns"]["addr_state"]["categories"].append("ZZ")
    schema_file.write_text(json.dumps(schema, indent=2) + "\n")
    assert "Appended 20 rows" in mlops(file_sourced, "data", "add", path, "--append").stdout


def test_an_append_to_a_source_not_pulled_names_the_pull(file_sourced, tmp_path):
    """A clone before `mlops data pull`: the append said `no such file` with `dvc pull` as the fix, which skips the
    md5 checks `mlops data pull` makes (`mlops monitor retrain` read the source the same way)."""
    (file_sourced / "data/external/loans.csv").unlink()
    lending_frame().tail(20).to_csv(tmp_path / "batch.csv", index=False)
    before = snapshot(file_sourced)
    result = mlops(file_sourced, "data", "add", str(tmp_path / "batch.csv"), "--append", check=False)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "error: data/external/loans.csv is tracked by DVC (its .dvc file is in git) but not in the workspace",
        "  hint: `mlops data pull` brings this commit's data from the DVC remote (`dvc checkout` from your own "
        "cache), then run the command again",
    ], result.stderr
    assert snapshot(file_sourced) == before


@pytest.mark.parametrize("separator", [";", "\t", "|"], ids=["semicolon", "tab", "bar"])
def test_a_csv_separated_otherwise_than_by_commas_is_named_so_not_as_lacking_its_target(repo, tmp_path, separator):
    """Read by commas, its header was one column, and the refusal said the target column was missing (columns: the
    whole header line): the target is there."""
    lending_frame().head(300).to_csv(tmp_path / "loans.csv", sep=separator, index=False)
    before = snapshot(repo)
    result = mlops(repo, "data", "add", str(tmp_path / "loans.csv"), check=False)
    assert result.returncode == 2 and f"it is separated by {separator!r}" in result.stderr, result.stderr
    assert "target column" not in result.stderr and "name it .txt" in result.stderr
    assert snapshot(repo) == before


@pytest.mark.parametrize("separator", [";", "|"], ids=["semicolon", "bar"])
def test_a_batch_separated_otherwise_than_by_commas_is_named_so_not_as_lacking_every_column(
    file_sourced, tmp_path, separator
):
    lending_frame().tail(20).to_csv(tmp_path / "batch.csv", sep=separator, index=False)
    before = snapshot(file_sourced)
    result = mlops(file_sourced, "data", "add", str(tmp_path / "batch.csv"), "--append", check=False)
    assert result.returncode == 2 and f"it is separated by {separator!r}" in result.stderr, result.stderr
    assert "does not have the current dataset's columns" not in result.stderr
    assert snapshot(file_sourced) == before


def test_with_cache_type_symlink_a_path_is_judged_where_it_is_not_where_dvcs_link_points(file_sourced):
    """`cache.type symlink`: each DVC file of the workspace is a link into `.dvc/cache`. Adding the source again
    (another target, say) was refused as "inside .dvc/" (it works with copies and hard links), and a split file was
    refused as "inside .dvc/" rather than as the split stage's output."""
    run(["dvc", "config", "--local", "cache.type", "symlink"], file_sourced)
    run(["dvc", "checkout", "--relink"], file_sourced)
    source = "data/external/loans.csv"
    assert (file_sourced / source).is_symlink()

    mlops(file_sourced, "data", "add", source, "--drop", "rownames", "--target", "Class")
    refused = mlops(file_sourced, "data", "add", "data/split/train.parquet", check=False)

    assert refused.returncode == 2 and ".dvc" not in refused.stderr, refused.stderr
    assert "stage `split` writes it" in refused.stderr, refused.stderr
    assert run(["dvc", "data", "status", "--json"], file_sourced).stdout.strip() == "{}"


def test_a_failed_run_on_edited_added_data_keeps_its_pointer_and_the_edit(file_sourced):
    """DVC's repro re-records the `.dvc` pointer of added data the user changed before it runs a stage: a run that
    then failed (validation refusing the edit) left the pointer changed in `git diff`, and the user's `git checkout`
    of the pointer then checked the old data out over the edit."""
    repo = file_sourced
    source = repo / "data/external/loans.csv"
    before = Snapshot(repo)
    edited = pd.read_csv(source)
    edited.loc[edited.index[3], "term"] = "term_99"
    edited.to_csv(source, index=False)
    edit = source.read_bytes()

    result = mlops(repo, "repro", check=False)
    assert_clear_error(result, "'term'", "term_99", "as they were before the run")
    assert run(["git", "status", "--porcelain"], repo).stdout == "", result.stderr  # the pointer as committed
    assert source.read_bytes() == edit
    before.assert_unchanged()
    assert "modified:           data/external/loans.csv" in run(["dvc", "status"], repo).stdout


STOP_ONCE_APPENDED = """
import os, signal, sys, time
from pipeline.__main__ import main
from pipeline.versioning import data_add

in_project = data_add.in_project

def in_project_then_a_stop(path):  # called once the append's journalled block completed
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    return in_project(path)

data_add.in_project = in_project_then_a_stop
sys.argv = ["mlops", "data", "add", sys.argv[1], "--append"]
main()
"""


def test_a_stop_once_an_append_is_made_says_it_is_kept(file_sourced, tmp_path):
    """A stop just after the append completed said "the files it changes are as they were before the run", exit
    143: the rows were appended and the new pointer staged, and a user who believed it appended them again."""
    batch = lending_frame().head(20)
    batch["rownames"] = batch["rownames"] + 100_000
    batch["annual_inc"] = batch["annual_inc"] + 0.5  # new loans: no row of the data has these
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    result = run([sys.executable, "-c", STOP_ONCE_APPENDED, str(path)], file_sourced, check=False)
    said = result.stdout + result.stderr
    assert result.returncode == 0 and "Stopped by SIGTERM once its changes were made: they are kept." in said, said
    assert "as they were before the run" not in said
    assert len(pd.read_csv(file_sourced / "data/external/loans.csv")) == 9857 + 20
    assert "data/external/loans.csv.dvc" in run(["git", "diff", "--cached", "--name-only"], file_sourced).stdout


def loans_and_batch():
    """2,000 loans and a batch of 300 new ones (not rows the loans have)."""
    frame = lending_frame().drop(columns=["rownames"])
    batch = frame.sample(300, random_state=3)
    batch["revol_util"] += 0.01
    return frame.head(2000), batch


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("loans.txt", {"sep": ";"}),
        ("loans.csv", {"lineterminator": "\r\n"}),
        ("loans.csv.gz", {}),
        ("loans.csv.bz2", {"sep": ","}),
    ],
    ids=["semicolon-txt", "crlf", "gzip", "bz2"],
)
def test_a_batch_appends_to_a_text_source_as_it_is_written(repo, tmp_path, name, written):
    """The rows were appended by commas, `\\n`-ended and uncompressed whatever the source: a `;` table gained comma
    rows and a `.csv.gz` plain text after its gzip stream, the append exited 0 and the next repro failed."""
    from pipeline.training.sources import read_table

    loans, batch = loans_and_batch()
    loans.to_csv(tmp_path / name, index=False, **written)
    batch.to_parquet(tmp_path / "batch.parquet", index=False)
    mlops(repo, "data", "add", str(tmp_path / name))
    source = repo / "data/external" / name
    before = source.read_bytes()
    assert "now 2300 rows" in mlops(repo, "data", "add", str(tmp_path / "batch.parquet"), "--append").stdout
    assert source.read_bytes().startswith(before)  # the existing bytes (and compressed members) as they were
    if name.endswith((".csv", ".txt")):
        appended, line_end = source.read_bytes()[len(before) :], written.get("lineterminator", "\n").encode()
        assert appended.count(line_end) == appended.count(b"\n") == 300
    expected = pd.concat([loans, batch], ignore_index=True)
    pd.testing.assert_frame_equal(read_table(source), expected, check_dtype=False, check_column_type=False)
    mlops(repo, "repro")


def test_a_zip_source_is_refused_an_append_before_anything_is_written(repo, tmp_path):
    loans, batch = loans_and_batch()
    loans.to_csv(tmp_path / "loans.csv.zip", index=False)
    batch.to_csv(tmp_path / "batch.csv", index=False)
    mlops(repo, "data", "add", str(tmp_path / "loans.csv.zip"))
    before = snapshot(repo)
    result = mlops(repo, "data", "add", str(tmp_path / "batch.csv"), "--append", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "data/external/loans.csv.zip is a .zip archive, which rows cannot be appended to" in result.stderr
    assert snapshot(repo) == before


@pytest.mark.parametrize("source", ["loans.csv", "loans.parquet"])
def test_a_flag_in_a_numeric_column_of_a_batch_is_refused_naming_the_column(repo, tmp_path, source):
    """Read as numbers, True and False passed as 1.0 and 0.0, then reached a CSV source as the words `True` and
    `False`, which the next repro refused."""
    loans, batch = loans_and_batch()
    loans.to_parquet(tmp_path / "loans.parquet", index=False)
    loans.to_csv(tmp_path / "loans.csv", index=False)
    mlops(repo, "data", "add", str(tmp_path / source))
    batch["delinq_2yrs"] = batch["delinq_2yrs"] > 0
    batch.to_parquet(tmp_path / "batch.parquet", index=False)
    before = snapshot(repo)
    result = mlops(repo, "data", "add", str(tmp_path / "batch.parquet"), "--append", check=False)
    assert_clear_error(result, f"{tmp_path / 'batch.parquet'} does not match its schema", "column 'delinq_2yrs'")
    assert "cells that are not numbers: 300 failing" in result.stderr, result.stderr
    assert snapshot(repo) == before


@pytest.mark.parametrize("empty", [None, pd.NA], ids=["null-typed", "string-typed"])
def test_a_parquet_column_with_no_value_is_refused_as_a_csv_one_is(repo, tmp_path, empty):
    """It was taken for a category of no categories, which every later read of the schema refused."""
    loans, _ = loans_and_batch()
    loans["note"] = pd.Series([empty] * len(loans), dtype=None if empty is None else "string")
    loans.to_parquet(tmp_path / "loans.parquet", index=False)
    before = snapshot(repo)
    result = mlops(repo, "data", "add", str(tmp_path / "loans.parquet"), check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'loans.parquet'}: column 'note' holds no values",
        "  hint: drop it with --drop=note",
    ], result.stderr
    assert snapshot(repo) == before
    mlops(repo, "data", "add", str(tmp_path / "loans.parquet"), "--drop=note")  # the hint, followed


def test_a_batch_of_numbers_stored_as_text_appends_to_a_parquet_source_as_numbers(repo, tmp_path):
    """Validated as numbers, they were written as they came: parquet cannot hold a column of numbers and text, and
    the append ended in pyarrow's traceback. As text, they also escaped the check for duplicate rows."""
    loans, batch = loans_and_batch()
    loans.to_parquet(tmp_path / "loans.parquet", index=False)
    mlops(repo, "data", "add", str(tmp_path / "loans.parquet"))
    batch["annual_inc"] = batch["annual_inc"].astype(str)
    batch.to_parquet(tmp_path / "batch.parquet", index=False)
    assert "now 2300 rows" in mlops(repo, "data", "add", str(tmp_path / "batch.parquet"), "--append").stdout
    appended = pd.read_parquet(repo / "data/external/loans.parquet")
    assert appended["annual_inc"].dtype == float
    assert appended["annual_inc"].iloc[2000] == float(batch["annual_inc"].iloc[0])
    again = mlops(repo, "data", "add", str(tmp_path / "batch.parquet"), "--append", check=False)
    assert again.returncode == 2 and "duplicate rows: 600 rows" in again.stderr, again.stderr
    mlops(repo, "repro")


def test_a_column_that_copies_the_target_is_dropped_and_cannot_be_kept(repo, tmp_path):
    """It trained as a feature: the model read the outcome (test ROC AUC 0.94), and predict then needed it."""
    loans, _ = loans_and_batch()
    loans["class"] = loans["Class"]
    loans["went_bad"] = (loans["Class"] == "bad").astype(int)
    loans.to_csv(tmp_path / "loans.csv", index=False)
    kept = mlops(repo, "data", "add", str(tmp_path / "loans.csv"), "--keep-column", "class", check=False)
    assert kept.returncode == 2 and "column 'class' holds the target 'Class' row for row" in kept.stderr, kept.stderr
    assert "run again without --keep-column=class" in kept.stderr
    added = mlops(repo, "data", "add", str(tmp_path / "loans.csv"))
    for name in ("class", "went_bad"):
        assert f"Dropping column {name!r}: it holds the target 'Class' row for row" in added.stdout, added.stdout
    assert load_params(repo / "params.yaml").data.drop == ["class", "went_bad"]
    columns = json.loads((repo / "reports/schema.json").read_text())["columns"]
    assert "class" not in columns and "went_bad" not in columns and "int_rate" in columns
