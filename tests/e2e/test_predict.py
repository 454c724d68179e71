"""`mlops predict`: batch scoring with the workspace model or a revision's, validated input, atomic output."""

from __future__ import annotations

import csv
import json

import pytest

from tests import conftest
from tests.conftest import run
from tests.e2e.data_helpers import lending_frame, mlops


def sample(tmp_path, rows=200, **changes):
    frame = lending_frame().drop(columns=["Class", "rownames"]).head(rows)
    for column, value in changes.items():
        frame[column] = value
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    return path


def test_predict_workspace_and_rev_give_the_same_bytes(repo, tmp_path):
    loans = sample(tmp_path, extra_column="ignored")
    mlops(repo, "predict", str(loans), "--out", str(tmp_path / "ws.csv"))
    with open(tmp_path / "ws.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "p_default", "decision", "model_md5"]
    assert len(rows) == 200 and rows[0]["id"] == "0" and rows[-1]["id"] == "199"
    assert {row["decision"] for row in rows} <= {"approve", "reject"}
    run(["git", "tag", "v1"], repo)
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text().replace("C: 0.01", "C: 0.1"))
    mlops(repo, "repro")
    mlops(repo, "predict", str(loans), "--out", str(tmp_path / "rev.csv"), "--rev", "v1")
    mlops(repo, "predict", str(loans), "--out", str(tmp_path / "now.csv"))
    assert (tmp_path / "rev.csv").read_bytes() == (tmp_path / "ws.csv").read_bytes()
    assert (tmp_path / "now.csv").read_bytes() != (tmp_path / "ws.csv").read_bytes()


def test_predict_parquet_and_id_column(repo, tmp_path):
    frame = lending_frame().drop(columns=["Class"]).head(50).rename(columns={"rownames": "id"})
    frame.to_parquet(tmp_path / "loans.parquet")
    mlops(repo, "predict", str(tmp_path / "loans.parquet"), "--out", str(tmp_path / "scores.parquet"))
    import pandas as pd

    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert list(scores.columns) == ["id", "p_default", "decision", "model_md5"]
    assert scores["id"].tolist() == frame["id"].tolist()


def test_predict_refuses_bad_input_without_output(repo, tmp_path):
    out = tmp_path / "out.csv"
    missing = sample(tmp_path).parent / "missing.csv"
    lending_frame().drop(columns=["Class", "term"]).head(20).to_csv(missing, index=False)
    result = mlops(repo, "predict", str(missing), "--out", str(out), check=False)
    assert result.returncode == 2 and "lacks columns the model needs: ['term']" in result.stderr
    wrong = sample(tmp_path, int_rate="high")
    result = mlops(repo, "predict", str(wrong), "--out", str(out), check=False)
    assert result.returncode == 2 and "'int_rate'" in result.stderr and "Traceback" not in result.stderr
    assert "column 'int_rate', cells that are not numbers: 200 failing" in result.stderr, result.stderr
    assert "TypeError" not in result.stderr and "fix those cells in the input" in result.stderr  # not `data add`
    fraction = sample(tmp_path)  # funded_amnt is an integer in the schema: 16100.5 is no loan's amount
    fraction.write_text(fraction.read_text().replace("\n10000,", "\n16100.5,", 1))
    result = mlops(repo, "predict", str(fraction), "--out", str(out), check=False)
    line = fraction.read_text().splitlines().index(next(x for x in fraction.read_text().splitlines() if "16100.5" in x))
    assert result.returncode == 2 and "column 'funded_amnt', rule whole_number: 1 failing" in result.stderr
    assert f"(rows {line + 1}; values 16100.5)" in result.stderr  # the line an editor shows it on: header is 1
    for infinite in ("inf", "-inf", "1e999"):  # every one a float to pandas, and no amount
        result = mlops(repo, "predict", str(sample(tmp_path, int_rate=infinite)), "--out", str(out), check=False)
        assert result.returncode == 2 and "column 'int_rate', rule finite" in result.stderr, result.stderr
    for huge in ("1e300", "1.7e308"):  # finite, but the scaler overflowed on 1.7e308: a traceback
        result = mlops(repo, "predict", str(sample(tmp_path, delinq_2yrs=huge)), "--out", str(out), check=False)
        assert result.returncode == 2 and "column 'delinq_2yrs', rule at_most_2**53_in_size" in result.stderr
    duplicated = tmp_path / "duplicated.csv"
    text = sample(tmp_path, int_rate_again=1.0).read_text()
    duplicated.write_text(text.replace("int_rate_again", "int_rate", 1))  # pandas would read `int_rate.1`
    result = mlops(repo, "predict", str(duplicated), "--out", str(out), check=False)
    assert result.returncode == 2 and "the header names 'int_rate' more than once" in result.stderr, result.stderr
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text("id,Class,id\n1,bad,2\n")
    result = mlops(repo, "monitor", "outcomes", str(outcomes), check=False)
    assert result.returncode == 2 and "the header names 'id' more than once" in result.stderr, result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_predict_refuses_a_model_that_does_not_match_dvc_lock(repo, tmp_path):
    model = repo / "models/model.skops"
    model.chmod(0o644)
    model.write_bytes(model.read_bytes() + b"tampered")
    result = mlops(repo, "predict", str(sample(tmp_path)), "--out", str(tmp_path / "o.csv"), check=False)
    assert result.returncode == 2 and "does not match" in result.stderr


def test_predict_refuses_an_input_without_data_rows(repo, tmp_path):
    header_only = tmp_path / "header.csv"
    header_only.write_text(sample(tmp_path).read_text().splitlines()[0] + "\n")
    no_rows = tmp_path / "empty.parquet"
    lending_frame().drop(columns=["Class"]).head(0).to_parquet(no_rows)
    out = tmp_path / "out.csv"
    for loans in (header_only, no_rows):
        result = mlops(repo, "predict", str(loans), "--out", str(out), check=False)
        assert result.returncode == 2 and f"{loans} has no data rows" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_predict_refuses_an_id_column_named_like_a_score_column(repo, tmp_path):
    out = tmp_path / "out.csv"
    for name in ("p_default", "decision", "model_md5"):
        loans = tmp_path / f"{name}.csv"
        lending_frame().drop(columns=["Class"]).head(20).rename(columns={"rownames": name}).to_csv(loans, index=False)
        result = mlops(repo, "predict", str(loans), "--out", str(out), "--id-column", name, check=False)
        assert result.returncode == 2 and f"id column '{name}'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_predict_keeps_integer_ids_as_integers_and_names_a_gap_by_its_row(repo, tmp_path):
    """pyarrow reads an integer column with a null as floats: the gap was refused as `1.0 (a float) is no id`."""
    import pandas as pd
    import pyarrow.parquet as pq

    frame = lending_frame().drop(columns=["Class", "rownames"]).head(5)
    frame.insert(0, "id", pd.array([1, 2, None, 4, -5], dtype="Int64"))
    frame.to_parquet(tmp_path / "gap.parquet")
    result = mlops(repo, "predict", str(tmp_path / "gap.parquet"), "--out", str(tmp_path / "s.csv"), check=False)
    assert result.returncode == 2 and f"{tmp_path / 'gap.parquet'}, row 4, column 'id': no id" in result.stderr
    frame["id"] = pd.array([1, 2, 3, 4, -5], dtype="Int64")
    frame.to_parquet(tmp_path / "loans.parquet")
    mlops(repo, "predict", str(tmp_path / "loans.parquet"), "--out", str(tmp_path / "scores.csv"))
    with open(tmp_path / "scores.csv") as handle:
        assert [row["id"] for row in csv.DictReader(handle)] == ["1", "2", "3", "4", "-5"]
    mlops(repo, "predict", str(tmp_path / "loans.parquet"), "--out", str(tmp_path / "scores.parquet"))
    ids = pq.read_table(tmp_path / "scores.parquet").column("id")
    assert str(ids.type) == "int64" and ids.to_pylist() == [1, 2, 3, 4, -5]


def test_a_repeated_or_missing_id_is_refused_naming_the_column_and_the_id_or_row(repo, tmp_path):
    """Both were copied into the scores silently: a repeated id joins two loans' scores and outcomes, a missing one
    joins none."""
    frame = lending_frame().drop(columns=["Class"]).head(6)  # `rownames` is data.drop's: the id column found
    frame["rownames"] = ["a1", "a2", "a3", "a2", "a5", "a6"]
    frame.insert(1, "loan_ref", [f"r{row}" for row in range(6)])
    out = tmp_path / "scores.csv"
    frame.to_csv(tmp_path / "loans.csv", index=False)
    frame.to_parquet(tmp_path / "loans.parquet")
    for loans in ("loans.csv", "loans.parquet"):
        result = mlops(repo, "predict", str(tmp_path / loans), "--out", str(out), check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.splitlines()[0] == (
            f"error: {tmp_path / loans}, row 5, column 'rownames': 'a2' is the id of an earlier row too"
        ), result.stderr
        assert "--id-column COL" in result.stderr and not out.exists()
    frame.loc[3, "rownames"] = "   "
    frame.to_csv(tmp_path / "loans.csv", index=False)
    result = mlops(repo, "predict", str(tmp_path / "loans.csv"), "--out", str(out), check=False)
    assert result.returncode == 2 and f"{tmp_path / 'loans.csv'}, row 5, column 'rownames': no id" in result.stderr
    frame.loc[3, "rownames"] = None  # an empty cell
    frame.to_csv(tmp_path / "loans.csv", index=False)
    result = mlops(repo, "predict", str(tmp_path / "loans.csv"), "--out", str(out), check=False)
    assert result.returncode == 2 and f"{tmp_path / 'loans.csv'}, row 5, column 'rownames': no id" in result.stderr
    assert not out.exists()
    mlops(repo, "predict", str(tmp_path / "loans.csv"), "--out", str(out), "--id-column", "loan_ref")
    assert [row["loan_ref"] for row in csv.DictReader(out.open())] == [f"r{row}" for row in range(6)]


def test_a_parquet_read_in_chunks_numbers_its_rows_from_the_file_start(tmp_path):
    """Each parquet batch started again at row 0, so an error in the second chunk named a row of the first."""
    import pandas as pd

    from pipeline.serving.predict import read_chunks

    pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0, 5.0]}).to_parquet(tmp_path / "loans.parquet")
    chunks = list(read_chunks(tmp_path / "loans.parquet", {"features": {}}, rows=2))
    assert [list(chunk.index) for chunk in chunks] == [[0, 1], [2, 3], [4]]


def test_a_revision_whose_model_is_nowhere_here_names_the_pull_of_that_revision(repo, tmp_path):
    """The hint said `mlops data pull`, which fetches the current version's data, not the revision's."""
    import yaml

    loans = sample(tmp_path)
    run(["git", "tag", "v1"], repo)
    model = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]
    (repo / "params.yaml").write_text((repo / "params.yaml").read_text().replace("C: 0.01", "C: 0.1"))
    mlops(repo, "repro")
    cached = repo / ".dvc/cache/files/md5" / model[:2] / model[2:]
    pushed = tmp_path / "lending-mlops-dvc-remote/files/md5" / model[:2] / model[2:]  # the default remote
    pushed.parent.mkdir(parents=True)
    cached.rename(tmp_path / "aside")
    refused = mlops(repo, "predict", str(loans), "--out", str(tmp_path / "v1.csv"), "--rev", "v1", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    # DVC's sentence: "The path 'models/model.skops' does not exist in the target repository 'models/model.skops'
    # neither as a DVC output nor as a Git-tracked file."
    assert refused.stderr.splitlines()[0] == (
        "error: cannot read models/model.skops at revision 'v1': it is neither in DVC's cache nor on the DVC remote "
        f"(md5 {model})"
    ), refused.stderr
    hint = refused.stderr.split("hint: ", 1)[1]
    served = mlops(repo, "serve", "--rev", "v1", check=False)  # it named v1 by its full 40-character commit id
    assert served.returncode == 2 and served.stderr.splitlines()[0] == refused.stderr.splitlines()[0], served.stderr
    assert "`mlops data pull --rev v1` fetches it" in served.stderr, served.stderr
    assert "`mlops data pull --rev v1` fetches it once the remote has it" in hint, hint
    promote = mlops(repo, "deploy", "promote", "v1", check=False)  # it named v1 by its full 40-character commit id
    commit = run(["git", "rev-parse", "v1"], repo).stdout.strip()
    assert promote.returncode == 2 and "at revision 'v1'" in promote.stderr and commit not in promote.stderr
    assert "`mlops data pull --rev v1` fetches it" in promote.stderr, promote.stderr
    (tmp_path / "aside").rename(pushed)  # a teammate pushed it
    run(hint.split("`")[1], repo)
    assert cached.is_file() and not (tmp_path / "v1.csv").exists()
    mlops(repo, "predict", str(loans), "--out", str(tmp_path / "v1.csv"), "--rev", "v1")


def test_a_model_nowhere_here_is_named_as_the_user_named_it_not_by_its_40_character_commit(repo, tmp_path):
    """A registry reference (`--rev lending-risk@v1.0.0`) or the champion `mlops serve` follows was named by its
    full commit id in the refusal of a model that is neither in the cache nor on the remote."""
    import json
    import socket

    import yaml

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    loans = sample(tmp_path)
    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    commit = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    mlops(repo, "deploy", "promote", "HEAD")
    model = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["train"]["outs"][0]["md5"]
    (repo / ".dvc/cache/files/md5" / model[:2] / model[2:]).rename(tmp_path / "aside")
    (repo / "logs").mkdir()
    logged = {"id": "1", "served": True, "role": "champion", "features": {}, "time": "2026-12-01T16:25:00.000+00:00"}
    (repo / "logs/predictions.jsonl").write_text(json.dumps(logged | {"model_md5": "m", "rev": "w"}) + "\n")
    reference = f"lending-risk@v1.0.0 (commit {commit[:12]})"
    commands = {
        reference: [
            ["predict", str(loans), "--out", str(tmp_path / "s.csv"), "--rev", "lending-risk@v1.0.0"],
            ["monitor", "drift", "--rev", "lending-risk@v1.0.0"],
        ],
        f"the champion {reference}": [["serve", "--host", "127.0.0.1", "--port", port], ["monitor", "drift"]],
    }
    for shown, runs in commands.items():
        for command in runs:
            refused = mlops(repo, *command, check=False)
            assert refused.returncode == 2 and commit not in refused.stderr, (command, refused.stderr)
            assert refused.stderr.startswith(f"error: cannot read models/model.skops at {shown}: it is neither"), (
                command,
                refused.stderr,
            )
            assert f"`mlops data pull --rev {commit[:12]}` fetches it" in refused.stderr, refused.stderr


def test_an_id_column_that_is_a_model_feature_is_refused_naming_it(repo, tmp_path):
    """`--id-column int_rate` (a feature the model scores with) was accepted: its rates were written as the ids."""
    loans = sample(tmp_path)
    refused = mlops(
        repo, "predict", str(loans), "--out", str(tmp_path / "s.csv"), "--id-column", "int_rate", check=False
    )
    assert refused.returncode == 2, refused.stderr
    first, hint = refused.stderr.splitlines()[:2]
    assert first == (
        f"error: {loans}: --id-column int_rate: 'int_rate' is a feature the model scores with, not the column that "
        "identifies each loan"
    ), refused.stderr
    assert "leave --id-column out" in hint and not (tmp_path / "s.csv").exists()


def test_a_model_read_by_revision_reads_the_registry_only_to_name_a_refusal(repo, monkeypatch):
    """Naming the revision (GTO's tags, for the champion's version) is only needed when the reading fails."""
    from pipeline import paths
    from pipeline.errors import UserError
    from pipeline.serving import registry

    run("git add -A && git commit -q --no-verify -m trained --allow-empty", repo)
    commit = run(["git", "rev-parse", "HEAD"], repo).stdout.strip()
    monkeypatch.chdir(repo)
    tags_read = []
    read_events = registry.read_events
    monkeypatch.setattr(registry, "read_events", lambda name: tags_read.append(name) or read_events(name))
    data, expected, at = registry.read_output(commit, paths.MODEL, champion=True)
    assert at == commit and len(data) > 0 and tags_read == []
    with pytest.raises(UserError, match=rf"^the champion commit {commit[:12]}: dvc.lock records no nothing"):
        registry.read_output(commit, "nothing", champion=True)
    assert tags_read == ["lending-risk"]


def test_predict_refuses_an_input_named_as_no_csv_or_parquet_file_as_data_add_does(repo, tmp_path):
    """A tab-separated `.tsv` was read by commas and refused for lacking every column the model reads (they are
    all there); a `.json` or `.xlsx` was parsed as CSV. A `.txt` is read by the separator it sniffs."""
    tabs = sample(tmp_path).read_text().replace(",", "\t")
    for name in ("loans.tsv", "loans.json", "loans.xlsx"):
        (tmp_path / name).write_text(tabs)
        result = mlops(repo, "predict", str(tmp_path / name), "--out", str(tmp_path / "s.csv"), check=False)
        assert result.returncode == 2, result.stderr
        assert f"{tmp_path / name} is not a CSV or parquet file (its name ends in {name[5:]})" in result.stderr
        assert "lacks columns" not in result.stderr and not (tmp_path / "s.csv").exists()
    (tmp_path / "loans.txt").write_text(tabs)
    mlops(repo, "predict", str(tmp_path / "loans.txt"), "--out", str(tmp_path / "s.csv"))
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 201


def test_a_revision_whose_dvc_lock_is_no_yaml_is_named_not_the_workspaces_file(repo, tmp_path):
    """The refusal said `dvc.lock is not valid YAML ...` with the hint to fix it with `git diff`, as for the
    workspace's file, which was fine: the broken one is the revision's."""
    broken = run("git hash-object -w --stdin", repo, input="schema: '2.0'\nstages: [\n").stdout.strip()
    index = tmp_path / "index"
    run(f"git read-tree --index-output={index} HEAD", repo)
    env = {**conftest.test_env(), "GIT_INDEX_FILE": str(index)}
    run(f"git update-index --cacheinfo 100644,{broken},dvc.lock", repo, env=env)
    tree = run("git write-tree", repo, env=env).stdout.strip()
    commit = run(f"git commit-tree {tree} -p HEAD -m 'broken dvc.lock'", repo).stdout.strip()
    run(f"git branch broken-lock {commit}", repo)
    loans = sample(tmp_path)
    result = mlops(repo, "predict", str(loans), "--out", str(tmp_path / "s.csv"), "--model", "broken-lock", check=False)
    assert result.returncode == 2
    assert "error: revision 'broken-lock': its dvc.lock is not valid YAML at line 3" in result.stderr, result.stderr
    assert "git diff" not in result.stderr and "name another revision" in result.stderr


@pytest.mark.parametrize("separator", [";", "\t", "|"], ids=["semicolon", "tab", "bar"])
def test_a_csv_separated_otherwise_than_by_commas_is_named_so_not_as_lacking_every_column(repo, tmp_path, separator):
    """Read by commas, its header was one column, and the refusal listed all 22 columns the model reads as missing:
    they are all there."""
    loans = tmp_path / "loans.csv"
    loans.write_text(sample(tmp_path).read_text().replace(",", separator))
    result = mlops(repo, "predict", str(loans), "--out", str(tmp_path / "s.csv"), check=False)
    assert result.returncode == 2 and f"it is separated by {separator!r}" in result.stderr, result.stderr
    assert "lacks columns" not in result.stderr and "name it .txt" in result.stderr


@pytest.mark.parametrize(
    ("loan_id", "shown"),
    [("c\x1b[31m", r"'c\x1b[31m'"), ("b\nc", r"'b\nc'"), ("n\x00", r"'n\x00'"), ("x\x85", r"'x\x85'")],
    ids=["escape", "newline", "NUL", "C1"],
)
def test_an_id_with_a_control_character_is_refused_by_file_row_and_column_as_the_server_refuses_it(
    repo, tmp_path, loan_id, shown
):
    """`mlops serve` answers such an id with 422, but predict copied it into its scores and `monitor outcomes`
    recorded it, where it split or recoloured the lines that print it (and joined to no logged loan)."""
    import pandas as pd

    frame = lending_frame().drop(columns=["Class", "rownames"]).head(4)
    frame.insert(0, "id", ["a", "b", loan_id, "d"])
    frame.to_csv(tmp_path / "loans.csv", index=False)
    frame.to_parquet(tmp_path / "loans.parquet")
    for loans in ("loans.csv", "loans.parquet"):
        result = mlops(repo, "predict", str(tmp_path / loans), "--out", str(tmp_path / "scores.csv"), check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"error: {tmp_path / loans}, row 4, column 'id': {shown} is no id: an id is printable text" in (
            result.stderr
        ), result.stderr
        assert "hint: give each loan the id it is served and logged with" in result.stderr
        assert not (tmp_path / "scores.csv").exists()

    (repo / "logs").mkdir()
    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    (repo / "logs/predictions.jsonl").write_text(
        json.dumps(logged | {"id": "a", "p_default": 0.1, "features": {}}) + "\n"
    )
    pd.DataFrame({"id": ["a", "b", loan_id], "Class": ["good", "bad", "good"]}).to_csv(
        tmp_path / "out.csv", index=False
    )
    result = mlops(repo, "monitor", "outcomes", str(tmp_path / "out.csv"), check=False)
    assert result.returncode == 2 and f"{tmp_path / 'out.csv'}, row 4, column 'id': {shown} is no id" in result.stderr
    assert not (repo / "logs/outcomes.jsonl").exists()


def test_a_parquet_id_that_is_no_text_or_whole_number_is_refused_not_recorded_as_its_python_repr(repo, tmp_path):
    """`monitor outcomes` recorded a parquet id of a list as "[1]", of a struct as "{'a': 1}" and a float 1.0 as
    "1.0", ids no logged loan has (the server takes text or whole numbers, as given); predict copied float ids."""
    import pandas as pd

    frame = lending_frame().drop(columns=["Class", "rownames"]).head(3)
    frame.insert(0, "id", [1.0, 2.0, 3.0])
    frame.to_parquet(tmp_path / "loans.parquet")
    result = mlops(repo, "predict", str(tmp_path / "loans.parquet"), "--out", str(tmp_path / "s.csv"), check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{tmp_path / 'loans.parquet'}, row 2, column 'id': 1.0 (a float) is no id" in result.stderr, result.stderr

    (repo / "logs").mkdir()
    logged = {"time": "2026-12-01T10:00:00", "role": "champion", "served": True, "model_md5": "m", "rev": "w"}
    (repo / "logs/predictions.jsonl").write_text(
        json.dumps(logged | {"id": "1", "p_default": 0.1, "features": {}}) + "\n"
    )
    for ids, shown in (([[1], [2]], "[1] (ndarray)"), ([{"a": 1}, {"a": 2}], "{'a': 1} (dict)"), ([1.0, 2.0], "1.0")):
        pd.DataFrame({"id": ids, "Class": ["good", "bad"]}).to_parquet(tmp_path / "outcomes.parquet")
        result = mlops(repo, "monitor", "outcomes", str(tmp_path / "outcomes.parquet"), check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"outcomes.parquet, row 2, column 'id': {shown}" in result.stderr, result.stderr
    assert not (repo / "logs/outcomes.jsonl").exists()
    pd.DataFrame({"id": [1, 2], "Class": ["good", "bad"]}).to_parquet(tmp_path / "outcomes.parquet")
    recorded = mlops(repo, "monitor", "outcomes", str(tmp_path / "outcomes.parquet"))  # integers are ids
    assert "1 match logged predictions" in recorded.stdout, recorded.stdout


def test_a_line_longer_than_the_data_add_limit_is_refused_by_predict_and_outcomes_before_parsing(repo, tmp_path):
    """pandas held a one-line 200 MB CSV whole (a gigabyte and 40 s) before any check said no: data add refuses a
    line over 1 MiB before parsing, predict and monitor outcomes read on."""
    from pipeline.versioning.input_limits import MAX_LINE_BYTES

    long = tmp_path / "long.csv"
    long.write_text("id,Class\n" + "x" * (MAX_LINE_BYTES + 10) + ",good\n")
    for command in (["predict", str(long), "--out", str(tmp_path / "scores.csv")], ["monitor", "outcomes", str(long)]):
        result = mlops(repo, *command, check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"error: {long}: line 2 is longer than 1024 KB" in result.stderr, result.stderr
    assert not (tmp_path / "scores.csv").exists() and not (repo / "logs").exists()


def test_a_timestamp_data_add_dropped_as_id_like_is_passed_over_as_the_id(repo, tmp_path):
    """`data add` drops a timestamp unique per row as id-like (it lands in data.drop); predict then took it for the
    id column and refused the very file: "2020-01-01 00:00:00 (Timestamp) is no id", with no way round."""
    import pandas as pd

    frame = lending_frame().drop(columns=["Class"]).head(3)  # `rownames` is in data.drop: a known id column
    frame["rownames"] = pd.date_range("2020-01-01", periods=3, freq="h")
    frame.to_parquet(tmp_path / "loans.parquet")
    result = mlops(repo, "predict", str(tmp_path / "loans.parquet"), "--out", str(tmp_path / "s.csv"))
    assert "rownames holds datetime64" in result.stderr and "numbers its rows from 0" in result.stderr, result.stderr
    assert [row["id"] for row in csv.DictReader((tmp_path / "s.csv").open())] == ["0", "1", "2"]
    named = mlops(
        repo,
        "predict",
        str(tmp_path / "loans.parquet"),
        "--out",
        str(tmp_path / "n.csv"),
        "--id-column",
        "rownames",
        check=False,
    )  # asked for by name, it is still refused for what it is
    assert named.returncode == 2 and "is no id" in named.stderr, named.stderr


def test_an_output_name_with_a_compression_ending_is_told_the_table_names(repo, tmp_path):
    result = mlops(repo, "predict", str(sample(tmp_path, rows=3)), "--out", str(tmp_path / "s.csv.gz"), check=False)
    assert result.returncode == 2 and "name it s.csv or s.parquet" in result.stderr, result.stderr


def test_a_flag_in_a_numeric_feature_is_refused_naming_the_column_not_scored_as_one(repo, tmp_path):
    frame = lending_frame().drop(columns=["Class", "rownames"]).head(20)
    frame["funded_amnt"] = True
    frame.to_parquet(tmp_path / "loans.parquet", index=False)
    out = tmp_path / "scores.csv"
    result = mlops(repo, "predict", str(tmp_path / "loans.parquet"), "--out", str(out), check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'loans.parquet'} does not match its schema" in result.stderr
    assert "column 'funded_amnt', cells that are not numbers: 20 failing (rows 2, 3, 4; values 'True')" in result.stderr
    assert not out.exists()
