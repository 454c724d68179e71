"""block-untracked-data: data, models and big blobs stay out of git. Through `main(argv)` on a temporary git
repository (the hook needs no trained project), and once through a real commit in the project, SKIP and
--no-verify included."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from hooks import block_untracked_data as hook
from tests.conftest import ROOT, run
from tests.hooks.conftest import commit, output, write

KB = 1024


DVC_YAML = """stages:
  ingest:
    cmd: python -m ingest
    outs:
    - data/raw.parquet
  evaluate:
    cmd: python -m evaluate
    deps:
    - data/raw.parquet
    metrics:
    - reports/metrics.json:
        cache: false
    plots:
    - reports/plots:
        cache: false
"""


def declare_outputs(staging) -> None:
    """A dvc.yaml with a cached output and two kept in git, as the project's own."""
    staging("dvc.yaml", DVC_YAML)
    staging("params.yaml", "seed: 1\n")


def assert_refused(staging, capsys, path: str, content: bytes | str, *fragments: str) -> str:
    """Stage `path` and run the hook on it as pre-commit would: refused, with the fragments; its output."""
    assert hook.main([staging(path, content)]) == 1
    text = capsys.readouterr().out
    for fragment in ("block-untracked-data", "SKIP=block-untracked-data", path, *fragments):
        assert fragment in text, text
    return text


def in_this_project(staging) -> None:
    """The hooks name `mlops` only in this project: where its params schema is (and DVC: no `dvc init` named)."""
    staging("pipeline/params.py", "")
    Path(".dvc").mkdir()


def test_small_csv_under_data_is_refused(staging, capsys):
    in_this_project(staging)
    assert_refused(
        staging,
        capsys,
        "data/loans.csv",
        "id,amount\n" + "1,2\n" * 500,
        "git rm --cached data/loans.csv",
        "mlops data add data/loans.csv",
    )


def fix_printed(staging, capsys, path: str, content: bytes | str) -> str:
    assert hook.main([staging(path, content)]) == 1
    return next(line for line in capsys.readouterr().out.splitlines() if "fix:" in line)


def test_the_fix_tracks_a_file_with_dvc_where_it_is_and_names_mlops_data_add_only_for_tables(
    staging, capsys, monkeypatch
):
    in_this_project(staging)
    monkeypatch.setattr(hook, "mlops_installed", lambda: True)
    for model in ("lib/m.pkl", "lib/m.skops", "lib/m.joblib", "notebooks/arrays.npz"):
        fix = fix_printed(staging, capsys, model, b"\x80\x04model")
        assert f"fix: git rm --cached {model} && dvc add {model}   (DVC tracks it where it is" in fix, fix
        assert "mlops" not in fix, fix
    for table in ("notebooks/sample.csv", "notebooks/sample.parquet"):
        fix = fix_printed(staging, capsys, table, "id,amount\n1,2\n")
        assert f"fix: git rm --cached {table} && dvc add {table}   (DVC tracks it where it is" in fix, fix
        assert fix.endswith(f"only to make it the pipeline's training data (a loans table): `mlops data add {table}`")
        ignored = f"git rm --cached {table} && echo /{table} >> .gitignore"
        assert f"not to be kept (an output such as scores, a scratch file): {ignored}" in fix, fix
    monkeypatch.setattr(hook, "mlops_installed", lambda: False)
    fix = fix_printed(staging, capsys, "notebooks/more.csv", "id,amount\n1,2\n")
    assert "dvc add notebooks/more.csv" in fix and "mlops" not in fix, fix


def test_another_repository_gets_no_mlops_advice_and_dvc_init_where_it_has_no_dvc(staging, capsys, monkeypatch):
    """In a repository that uses the hooks without being this project, `mlops data add` failed on its params.yaml;
    where it had no DVC yet, the printed `dvc add` failed: 'you are not inside of a DVC repository'."""
    monkeypatch.setattr(hook, "mlops_installed", lambda: True)
    fix = fix_printed(staging, capsys, "data/loans.csv", "id,amount\n1,2\n")
    assert "git rm --cached data/loans.csv && dvc init && dvc add data/loans.csv   (DVC" in fix and "mlops" not in fix
    run(["dvc", "init", "-q"], Path.cwd())
    fix = fix_printed(staging, capsys, "data/more.csv", "id,amount\n1,2\n")
    assert "git rm --cached data/more.csv && dvc add data/more.csv   (DVC" in fix, fix


def test_the_dvc_fix_followed_as_printed_leaves_nothing_for_git_to_add(staging, capsys):
    """`dvc add` lists the file in its folder's .gitignore: the advice stages it with the pointer, so the commit
    leaves a clean tree (else a clone that pulls the data sees it untracked)."""
    run(["dvc", "init", "-q"], Path.cwd())
    run(["git", "add", ".dvc"], Path.cwd())
    run(["git", "commit", "-q", "--no-verify", "-m", "dvc"], Path.cwd())
    for name in ("scores.csv", "notebooks/sample.csv"):
        fix = fix_printed(staging, capsys, name, "id,amount\n1,2\n")
        track = fix.split("fix: ", 1)[1].split("   (", 1)[0]
        then = fix.split("then `", 1)[1].split("`", 1)[0]
        run(["bash", "-c", f"{track} && {then}"], Path.cwd())
        run(["git", "commit", "-q", "--no-verify", "-m", name], Path.cwd())
        assert run(["git", "status", "--porcelain"], Path.cwd()).stdout == "", fix
        run(["git", "check-ignore", "-q", name], Path.cwd())


def test_the_gitignore_fix_ignores_exactly_the_refused_file(staging, capsys):
    """A scores file `git add -A` staged is no data to keep: the fix named DVC and `mlops data add` only."""
    names = ["scores.csv", "out/a b*[1].csv", "out/x\\y.csv", "out/it's.csv", "#h.csv", "!b.csv", "new\nline.csv"]
    for name in names:
        fix = fix_printed(staging, capsys, name, "id,p\n1,0.1\n")
        command = fix.split("a scratch file): ", 1)[1].split(";")[0]
        run(["bash", "-c", command], Path.cwd())
    listed = "".join(f"{name}\0" for name in [*names, "out/a b1.csv"])
    ignored = run(["git", "check-ignore", "-z", "--stdin", "--no-index"], Path.cwd(), check=False, input=listed)
    assert ignored.stdout.split("\0")[:-1] == names


def test_a_file_forced_in_from_an_ignored_folder_is_only_taken_out(staging, capsys):
    """`git add -f` of a file under an ignored folder: the fix `dvc add` failed (its pointer would be ignored too)."""
    staging(".gitignore", "/work/\n")
    fix = fix_printed(staging, capsys, "work/run1.csv", "id,amount\n1,2\n")
    assert fix.endswith(
        "fix: git rm --cached work/run1.csv   (.gitignore already keeps it out of git; it stays on disk)"
    )
    run(["git", "rm", "-q", "--cached", "work/run1.csv"], Path.cwd())
    assert run(["git", "status", "--porcelain"], Path.cwd()).stdout == "A  .gitignore\n"
    assert Path("work/run1.csv").exists()


def test_a_commit_from_a_subfolder_says_to_run_the_fix_from_the_root(staging, tmp_path):
    """git runs its hooks at the root, and the fixes name paths from there: from docs/notes/ the printed
    `git rm --cached docs/notes/table.csv` failed ("did not match any files")."""
    script = tmp_path / ".git" / "hooks" / "pre-commit"
    python = f"PYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)}"
    script.write_text(f"#!/bin/sh\n{python} -m hooks.block_untracked_data\n")
    script.chmod(0o755)
    staging("docs/notes/table.csv", "id,amount\n1,2\n")
    refused = run(["git", "commit", "-q", "-m", "table"], tmp_path / "docs" / "notes", check=False)
    text = output(refused)
    assert refused.returncode == 1 and "run these commands there: `cd ../..` first" in text, text
    fix = next(line for line in text.splitlines() if "fix:" in line)
    untrack = fix.split("a scratch file): ", 1)[1].split(";")[0]
    run(["bash", "-c", f"cd ../.. && {untrack}"], tmp_path / "docs" / "notes")
    assert run(["git", "status", "--porcelain"], tmp_path).stdout == "?? .gitignore\n"
    run(["git", "check-ignore", "-q", "docs/notes/table.csv"], tmp_path)


def test_model_file_under_models_is_refused(staging, capsys):
    assert_refused(staging, capsys, "models/other.joblib", b"\x80\x04model")


def test_big_file_with_a_harmless_name_is_refused(staging, capsys):
    assert_refused(staging, capsys, "docs/diagram.bin", os.urandom(3 * KB * KB), "above the 1024 KB limit")


def test_tracked_file_that_grows_past_the_limit_is_refused(staging, capsys):
    assert hook.main([staging("docs/server.log", b"small\n")]) == 0
    run(["git", "commit", "-q", "-m", "log"], Path.cwd())
    assert_refused(staging, capsys, "docs/server.log", os.urandom(2 * KB * KB))


def test_force_added_dvc_output_is_refused_as_tracked_twice(staging, capsys):
    declare_outputs(staging)
    assert_refused(staging, capsys, "data/raw.parquet", b"PAR1" + bytes(100) + b"PAR1", "tracked twice")


def test_fixture_pointer_and_git_kept_outputs_are_allowed(staging, capsys):
    declare_outputs(staging)
    allowed = [
        staging("tests/fixtures/tiny.csv", "a,b\n1,2\n"),
        staging("data/external/more.csv.dvc", "outs:\n- md5: 0123\n  path: more.csv\n"),
        staging("reports/metrics.json", '{\n"roc_auc": 0.7}\n'),
        staging("reports/plots/roc.json", '{"roc": []}\n'),
    ]
    assert hook.main(allowed) == 0, capsys.readouterr().out


def test_a_symbolic_link_into_the_dvc_cache_is_refused_and_its_fix_stages_the_file(staging, capsys, tmp_path):
    """With `cache.type symlink` every DVC file of the workspace is a link into the cache: a fixture copied with
    `cp -a` from the split data was staged as that link, which git kept, a path into this machine's cache that
    points at nothing in any other clone. A link to anything else is no data and passes."""
    cached = write(tmp_path, ".dvc/cache/files/md5/3f/0d1e2c3b4a5968778695a4b3c2d1e0", "a,b\n1,2\n")
    Path("tests/fixtures").mkdir(parents=True)
    os.symlink(cached, "tests/fixtures/test.csv")  # absolute, as DVC links
    os.symlink("README.md", "latest-notes.md")
    run(["git", "add", "tests/fixtures/test.csv", "latest-notes.md"], tmp_path)

    assert hook.main(["tests/fixtures/test.csv", "latest-notes.md"]) == 1
    said = capsys.readouterr().out
    assert f"a symbolic link into a DVC cache ({cached}), which no other clone has" in said, said
    assert "latest-notes.md" not in said, said
    fix = next(line for line in said.splitlines() if "fix:" in line)
    run(["bash", "-c", fix.split("in place of the link: ", 1)[1]], tmp_path)
    assert not Path("tests/fixtures/test.csv").is_symlink()
    assert hook.main(["tests/fixtures/test.csv"]) == 0, capsys.readouterr().out


def test_names_with_spaces_quotes_and_non_ascii(staging, capsys):
    assert_refused(staging, capsys, 'data/prêts "2024" v1.csv', "a,b\n1,2\n")
    assert hook.main([staging("docs/note été 'x'.md", "a note\n")]) == 0


def test_every_staged_change_is_checked_when_no_file_is_named(staging, capsys):
    staging("docs/fine.md", "notes\n")
    staging("models/model.pkl", b"\x80\x04model")
    assert hook.main([]) == 1
    text = capsys.readouterr().out
    assert "models/model.pkl" in text and "docs/fine.md" not in text


def test_oversized_stage_output_kept_in_git_names_the_stage_not_data_add(staging, capsys):
    declare_outputs(staging)
    plot = '{"roc": [' + ",".join(['{"fpr": 0.5, "tpr": 0.5}'] * 50_000) + "]}"
    text = assert_refused(
        staging, capsys, "reports/plots/roc.json", plot, "stage `evaluate` writes it", "`reports/plots`", "cache: false"
    )
    assert "mlops data add" not in text


def test_skip_and_no_verify_still_work(hooked):
    write(hooked, "data/a.csv", "a\n1\n")
    result = commit(hooked, "data/a.csv", force=True, env=None)
    assert result.returncode != 0
    skipped = run("SKIP=block-untracked-data git commit -q -m skip", hooked, check=False)
    assert skipped.returncode == 0, output(skipped)
    write(hooked, "data/b.csv", "a\n1\n")
    assert commit(hooked, "data/b.csv", force=True, args=("--no-verify",)).returncode == 0


def options(**overrides) -> argparse.Namespace:
    args = hook.parse_args([])
    vars(args).update(overrides)
    return args


def test_pure_check_rules():
    outputs = {"reports/metrics.json": False, "reports/plots": False, "data/raw.parquet": True}
    allowed = [
        "dvc.lock",
        "data/raw.parquet.dvc",
        "data/README.md",
        "reports/metrics.json",
        "reports/plots/roc.json",
        "tests/fixtures/x.csv",
        "pipeline/train.py",
    ]
    for path in allowed:
        assert hook.reasons_for(path, 10 * KB, options(), outputs) == [], path
    assert hook.reasons_for("tests/fixtures/x.csv", 200 * KB, options(), outputs)
    assert hook.reasons_for("data/raw.parquet", 10, options(), outputs)
    assert hook.reasons_for("notes/a.PKL", 10, options(), outputs)
    assert hook.reasons_for("notes/a.txt", 2 * KB * KB, options(), outputs)
    assert hook.reasons_for("notes/a.txt", 2 * KB * KB, options(max_kb=4096), outputs) == []
