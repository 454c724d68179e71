"""The `mlops` command follows Click/Typer habits: `-h` beside `--help` on every level, `--version`, and one error
style for usage mistakes and user errors alike (`error:` line, a hint, exit status 2)."""

import re
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
        # Click raises these without their command's context: the hint still names the command
        (["exp", "compare", "--top"], "error: Option '--top' requires an argument.", "`mlops exp compare -h`"),
        (["report", "--out"], "error: Option '--out' requires an argument.", "`mlops report -h`"),
        (["repro", "--subset", "2"], "error: --subset 2.0: must be a fraction in [0.0001, 1)", "e.g. --subset 0.1"),
        (["repro", "--subset", "nan"], "error: --subset nan: must be a fraction in [0.0001, 1)", "e.g. --subset 0.1"),
        # all the data, recorded as a "subset" experiment that later sweeps named a full run's duplicate
        (["repro", "--subset", "1"], "error: --subset 1.0: must be a fraction in [0.0001, 1); all the data is", "0.1"),
        # a fraction, as data.sample_frac holds it: `1` read as a whole number, which params.yaml refuses there
        (["repro", "--subset", "1.00"], "error: --subset 1.0: must be a fraction in [0.0001, 1); all the", "0.1"),
        (["exp", "run", "--subset", "1.00"], "error: --subset 1.0: must be a fraction in [0.0001, 1); all the", "0.1"),
        (["repro", "--subset", "-0.1"], "error: --subset -0.1: must be a fraction in [0.0001, 1)", "--subset 0.1"),
        (["repro", "--subset=abc"], "error: --subset 'abc': not a number", "e.g. --subset 0.1"),  # stages started
        # params.yaml would hold it as 1e-05: a number to DVC (YAML 1.2), text to the stages (YAML 1.1)
        (
            ["repro", "--subset", "0.00001"],
            "error: --subset 1e-05: must be a fraction in [0.0001, 1)",
            "e.g. --subset 0.1",
        ),
        (
            ["exp", "sweep", "seed=1,2", "--subset", "0"],
            "error: --subset 0.0: must be a fraction in [0.0001, 1)",
            "--subset 0.1",
        ),
        (["exp", "run", "--subset", "nan"], "error: --subset nan: must be a fraction in [0.0001, 1)", "--subset 0.1"),
        (["gate", "--subset", "-0.1"], "error: --subset -0.1: must be a fraction in [0.0001, 1)", "--subset 0.1"),
        (["serve", "--log-max-mb", "inf"], "error: --log-max-mb inf: must be a number in [0.001, 1000000]", "50"),
        (["serve", "--log-max-mb", "0"], "error: --log-max-mb 0: must be a number in [0.001, 1000000]", "50"),
        # a gate that cannot fail (and a 300-digit tolerance in its verdict)
        (["gate", "--tolerance", "1e308"], "error: --tolerance 1e308: must be a number in [0, 1]", "--tolerance 0.01"),
        # Typer's bound check said of NaN 'Input should be less than or equal to 1'
        (["gate", "--tolerance", "nan"], "error: --tolerance nan: must be a number in [0, 1]", "--tolerance 0.01"),
        (["gate", "--tolerance=-inf"], "error: --tolerance -inf: must be a number in [0, 1]", "--tolerance 0.01"),
        (["gate", "--tolerance", "abc"], "error: --tolerance 'abc': must be a number in [0, 1]", "--tolerance 0.01"),
        (["serve", "--log-max-mb", "NaN"], "error: --log-max-mb NaN: must be a number in [0.001, 1000000]", "50"),
        (["deploy", "promote", "HEAD", "--tolerance", "nan"], "error: --tolerance nan: must be a number", "0.01"),
        (["monitor", "retrain", "--tolerance", "inf"], "error: --tolerance inf: must be a number in [0, 1]", "0.01"),
        (
            ["exp", "sweep", "seed=1,2", "train.logreg.C=0.1,0.2", "data.sample_frac=0.5", "--subset", "0.2"],
            "error: data.sample_frac is given twice",
            "--subset",
        ),
        (
            [
                "exp",
                "sweep",
                "seed=" + ",".join(map(str, range(40))),
                "train.logreg.C=" + ",".join(f"{c}.5" for c in range(40)),
            ],
            "error: the grid has 1,600 runs (40 x 40); one sweep runs at most 1,000",
            "fewer values",
        ),
        (
            ["exp", "sweep", "seed=" + ",".join(map(str, range(300))), "--matrix"],
            "error: the matrix would have 300 jobs; GitHub Actions runs at most 256",
            "one --matrix per part",
        ),
        # a whole number: Typer's "Input should be greater than or equal to 1" named neither value nor example
        (["serve", "--port", "0"], "error: --port 0: must be a whole number in [1, 65535]", "e.g. --port 8080"),
        (["serve", "--port", "65536"], "error: --port 65536: must be a whole number in [1, 65535]", "--port 8080"),
        (["serve", "--port", "nan"], "error: --port 'nan': not a whole number", "e.g. --port 8080"),
        (["serve", "--port", "80.5"], "error: --port '80.5': not a whole number", "e.g. --port 8080"),
        (["serve", "--port", "9" * 5_000], "error: --port 999", "e.g. --port 8080"),  # int() refuses 4,300 digits
        (
            ["serve", "--max-connections", "0"],
            "error: --max-connections 0: must be a whole number in [1, 1000000]",
            "1000",
        ),
        (["serve", "--max-connections", "-5"], "error: --max-connections -5: must be a whole number in", "1000"),
        (["serve", "--max-connections", "ten"], "error: --max-connections 'ten': not a whole number", "1000"),
        (["exp", "sweep", "seed=1,2", "--jobs", "0"], "error: --jobs 0: must be a whole number in [1, 1000]", "2"),
        (["exp", "compare", "--top", "-1"], "error: --top -1: must be a whole number in [1, 1000000]", "--top 5"),
        (["exp", "compare", "--top", "inf"], "error: --top 'inf': not a whole number", "e.g. --top 5"),
        (["serve", "--share", "1.5"], "error: --share 1.5: must be a number in [0, 1]", "e.g. --share 0.1"),
        (["serve", "--share", "nan"], "error: --share nan: must be a number in [0, 1]", "e.g. --share 0.1"),
        (["exp", "run", "--name", "--x"], "error: --name '--x': not a usable experiment name", "--name lr-0.1"),
        (["exp", "run", "--name", "a/b"], "error: --name 'a/b': not a usable experiment name", "--name lr-0.1"),
        (["exp", "run", "--name", "a..b"], "error: --name 'a..b': not a usable experiment name", "--name lr-0.1"),
        # DVC takes them; `--against`, `--model` and GTO read them as the model's version or stage (`@` alone: HEAD).
        # The -S is refused later: without the check, the run is refused by it, not started in this checkout.
        (
            ["exp", "run", "--name", "lending-risk@prod", "-S", "no.such=1"],
            "error: --name 'lending-risk@prod' reads as a registry reference (NAME@VERSION, NAME#STAGE)",
            "--name lr-0.1",
        ),
        (
            ["exp", "run", "--name", "lending-risk#prod", "-S", "no.such=1"],
            "error: --name 'lending-risk#prod' reads as a registry",
            "lr",
        ),
        (
            ["exp", "run", "--name", "lending-risk@v1.2.0", "-S", "no.such=1"],
            "error: --name 'lending-risk@v1.2.0' reads as a",
            "lr-0.1",
        ),
        (
            ["exp", "run", "--name", "@", "-S", "no.such=1"],
            "error: --name '@' reads as a registry reference",
            "--name lr-0.1",
        ),
        # a second `workspace` row in compare; `dvc plots diff workspace` reads the workspace
        (
            ["exp", "run", "--name", "workspace", "-S", "no.such=1"],
            "error: --name 'workspace' is the workspace's row in `mlops exp compare` and `dvc exp show`",
            "--name lr-0.1",
        ),
        # git takes it, then the file system refuses its ref once the whole run is done
        (["exp", "run", "--name", "a" * 300], f"error: --name '{'a' * 40}'... is 300 bytes", "a shorter name"),
        (["report", "--out", ""], "error: --out '' is empty: name the file to write", "e.g. --out report.html"),
        # DVC took it for a remote that has every experiment: "up to date on Git remote ''", exit 0
        (["exp", "push", "--remote", ""], "error: --remote '' is empty: name a git remote", "--remote origin"),
        (["exp", "pull", "--remote", " "], "error: --remote ' ' is empty: name a git remote", "--remote origin"),
        # DVC's push: "unexpected error - Git failed to push '[]' to 'no-such-remote'", and a plea for a bug report
        (
            ["exp", "push", "--remote", "no-such-remote"],
            "error: --remote 'no-such-remote': no git remote of that name here",
            "`git remote add no-such-remote URL`, or give the URL or path",
        ),
        # DVC: "'no-such-exp' is not a valid experiment name", then a hint about the remotes being reachable
        (
            ["exp", "push", "--remote", "/nowhere", "no-such-exp"],
            "error: no experiment called 'no-such-exp' here",
            "--all",
        ),
        # DVC's push: "unexpected error - Git failed to push '[]' to '/nowhere': No git repository was found"
        (["exp", "push", "--remote", "/nowhere"], "error: --remote '/nowhere': git cannot read it", "git remote -v"),
        # DVC's pull: "'/nowhere' is not a valid Git remote or URL", then mlops' own line on top
        (
            ["exp", "pull", "--remote", "/nowhere"],
            "error: --remote '/nowhere': git cannot read it ('/nowhere' does not appear to be a git repository)",
            "git remote -v",
        ),
        (["remote", "set", ""], "error: URL '' is empty: name the remote", "s3://BUCKET/PREFIX"),
        # a name with a line break or a terminal escape is shown quoted, on one line, escapes inert
        (["exp", "apply", "a\nb"], "error: no experiment called 'a\\nb'", "mlops exp compare --all"),
        (["exp", "promote", "\x1b[31mred"], "error: no experiment called '\\x1b[31mred'", "mlops exp compare"),
        (["exp", "apply", ""], "error: no experiment called ''", "mlops exp compare --all"),
        # every error shows a control character a user gave as an escape: it cannot recolour the terminal
        (["data", "add", "\x1b[31m.csv"], "error: \\x1b[31m.csv: no such file", "CSV or parquet"),
        (["exp", "run", "-S", "\x9b2Jx=1"], "error: -S \\x9b2Jx=1: params.yaml has no param", "dotted key"),
        (["predict", "x.csv", "--out", ""], "error: --out '' is empty: name the file to write", "--out scores.csv"),
        # a file called `-` (no standard output here) or `--x` (a forgotten value) is refused, not written
        (["predict", "x.csv", "--out", "-"], "error: --out '-' reads as an option or as standard output", "./-"),
        (["predict", "x.csv", "--out", "--x"], "error: --out '--x' reads as an option", "--out ./--x"),
        (["report", "--out", "-"], "error: --out '-' reads as an option or as standard output", "report.html"),
        (["report", "--out", "."], "error: --out . is a directory", "e.g. --out report.html"),
        # as a path, '' is the project folder: the log (or the drift report) went there
        (["serve", "--log-dir", ""], "error: --log-dir '' is empty: name the prediction log folder", "--log-dir logs"),
        (["monitor", "drift", "--log-dir", " "], "error: --log-dir ' ' is empty", "--log-dir logs"),
        (["monitor", "retrain", "--log-dir", ""], "error: --log-dir '' is empty", "--log-dir logs"),
        (["monitor", "outcomes", "x.csv", "--log-dir", ""], "error: --log-dir '' is empty", "--log-dir logs"),
        (["monitor", "drift", "--out", ""], "error: --out '' is empty: name the folder", "--out drift-reports"),
        # to the socket '' is every interface: the model went out to the whole network, as "http://:8000" (the
        # --rev would have stopped the server before it started, had the --host been taken)
        (["serve", "--host", "", "--rev", "no/such"], "error: --host '' is empty: name the address", "127.0.0.1"),
        (["serve", "--host", " ", "--rev", "no/such"], "error: --host ' ' is empty: name the address", "127.0.0.1"),
        (["serve", "--host", "--port"], "error: --host '--port' reads as an option", "--host 127.0.0.1"),
        # '' read as not given: the file was added with the default target and labels
        # as a path, '' is the project folder: refused as "a folder, not a file"
        (["data", "add", ""], "error: PATH '' is empty: name a CSV or parquet file", "e.g. loans.csv"),
        (["predict", "", "--out", "s.csv"], "error: INPUT '' is empty: name a CSV or parquet file", "loans.csv"),
        (["monitor", "outcomes", ""], "error: FILE '' is empty: name a CSV or parquet file", "outcomes.csv"),
        (["data", "add", "x.csv", "--target", ""], "error: --target '' is empty: name the outcome column", "Class"),
        (["data", "add", "x.csv", "--positive", ""], "error: --positive '' is empty", "e.g. --positive bad"),
        (["data", "add", "x.csv", "--negative", ""], "error: --negative '' is empty", "e.g. --negative good"),
        (["serve", "--log-dir", "--port"], "error: --log-dir '--port' reads as an option", "--log-dir ./--port"),
        (["report", "--out", "dvc.lock"], "error: --out dvc.lock is tracked by git or DVC", "--out report.html"),
        # a file's name where a revision goes said "no such revision" or "not a commit, tag or branch here"
        (
            ["gate", "--against", "params.yaml"],
            "error: 'params.yaml' is a file in the work tree, not a revision",
            "`git log --oneline -- params.yaml`",
        ),
        (["report", "--against", "dvc.yaml"], "error: 'dvc.yaml' is a file in the work tree", "-- dvc.yaml`"),
        (["deploy", "promote", "params.yaml"], "error: 'params.yaml' is a file in the work tree", "-- params.yaml`"),
        (["data", "pull", "--rev", "data"], "error: 'data' is a folder in the work tree, not a revision", "-- data`"),
        (["gate", "--against", "/"], "error: '/' is a folder outside the project, not a revision", "`git log`"),
        (["report", "--against", "../"], "error: '../' is a folder outside the project, not a revision", "`git log`"),
    ],
)
def test_usage_mistakes_are_one_error_line_with_a_hint_and_exit_2(args, message, hint):
    result = mlops(*args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(message) and hint in lines[1], result.stderr
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr


@pytest.mark.parametrize(
    "args, option",
    [
        (["gate", "--against"], "--against"),
        (["report", "--against"], "--against"),
        (["gate", "--subset"], "--subset"),
        (["repro", "--subset"], "--subset"),
        (["exp", "run", "--subset"], "--subset"),
        (["exp", "sweep", "seed=1,2", "--subset"], "--subset"),
        (["predict", "x.csv", "--out", "y.csv", "--rev"], "--rev"),
        (["predict", "x.csv", "--out", "y.csv", "--model"], "--rev"),
        (["serve", "--rev"], "--rev"),
        (["serve", "--challenger"], "--challenger"),
        (["serve", "--shadow"], "--shadow"),
        (["data", "pull", "--rev"], "--rev"),
        (["monitor", "drift", "--rev"], "--rev"),
        (["monitor", "retrain", "--rev"], "--rev"),
        # Typer said "Invalid value for '--port': Input should be a valid integer", without the value or an example
        # said "no git remote of that name here", with a hint to run `git remote add --x URL`
        (["exp", "push", "--remote"], "--remote"),
        (["exp", "pull", "--remote"], "--remote"),
        (["serve", "--port"], "--port"),
        (["serve", "--share"], "--share"),
        (["serve", "--log-max-mb"], "--log-max-mb"),
        (["exp", "sweep", "seed=1,2", "--jobs"], "--jobs"),
        (["exp", "compare", "--top"], "--top"),
        (["gate", "--tolerance"], "--tolerance"),
    ],
)
def test_an_option_like_value_is_refused_naming_the_option(args, option):
    """A value forgotten, the next option taken for it: a revision option said "'--x' is not a revision" and a
    number option "Invalid value for '--subset': Input should be a valid number", naming one but not the other."""
    result = mlops(*args, "--x")
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert lines[0].startswith(f"error: {option} '--x'") and f"e.g. {option} " in lines[1], result.stderr


def test_no_arguments_shows_the_help():
    result = mlops()
    assert result.returncode == 0 and "Commands:" in result.stdout


def every_command_help() -> dict[str, str]:
    """`mlops ... -h` of every command and group, rendered in this process as `mlops` renders it."""
    from typer._click.core import Context
    from typer.core import TyperGroup

    from pipeline.cli.commands import mlops_command

    helps = {}

    def visit(command, ctx) -> None:
        helps[ctx.command_path] = command.get_help(ctx)
        for name, sub in command.commands.items() if isinstance(command, TyperGroup) else ():
            visit(sub, Context(sub, info_name=name, parent=ctx))

    root = mlops_command()
    visit(root, Context(root, info_name="mlops"))
    return helps


def test_every_help_shows_click_metavars_not_typer_internals():
    helps = every_command_help()
    assert {"mlops", "mlops predict", "mlops exp sweep", "mlops deploy promote"} <= set(helps)
    for path, text in helps.items():
        assert "{" not in text and "<str>" not in text and "<path>" not in text, (path, text)
        assert not re.search(r"<(int|float)( range)?>", text), (path, text)
    assert "Usage: mlops predict [OPTIONS] INPUT\n" in helps["mlops predict"]
    assert "--port INTEGER RANGE" in helps["mlops serve"] and "--rev, --model TEXT" in helps["mlops serve"]
    assert "Usage: mlops exp sweep [OPTIONS] AXES...\n" in helps["mlops exp sweep"]


def test_every_subset_option_says_its_fraction_stays_below_one():
    """`mlops repro -h` said `0.0001 <= F <= 1`, and `--subset 1` is refused."""
    helps = {path: " ".join(text.split()) for path, text in every_command_help().items()}
    with_subset = [path for path, text in helps.items() if "--subset" in text]
    assert {"mlops repro", "mlops exp run", "mlops exp sweep", "mlops gate"} <= set(with_subset)
    for path in with_subset:
        assert "<= 1)" not in helps[path] and "< 1" in helps[path], (path, helps[path])


def test_the_installed_command_shows_the_same_usage():
    result = mlops("checkout", "-h")
    assert result.returncode == 0 and result.stdout.startswith("Usage: mlops checkout [OPTIONS] REV\n"), result.stdout
    missing = mlops("checkout")
    assert missing.returncode == 2 and "Missing argument 'REV'" in missing.stderr


def test_a_hostile_value_in_an_error_is_named_not_printed_whole(capsys):
    from pipeline.errors import UserError, report_user_error

    label = "x" * 100_000  # e.g. a target label in a hostile CSV
    with pytest.raises(SystemExit) as stop:
        report_user_error(UserError(f"target column 'Class' holds labels ['good', '{label}']", hint="fix the data"))
    lines = capsys.readouterr().err.splitlines()
    assert stop.value.code == 2 and len(lines) == 2
    assert lines[0].startswith("error: target column 'Class' holds labels ['good', 'xxx")
    assert lines[0].endswith("... (100,054 characters)") and len(lines[0]) < 1_100
    assert lines[1] == "  hint: fix the data"


LONG = "x" * 5_000  # e.g. a revision or path pasted by mistake, or a runaway $(...)
DEEP = "/".join(["d" * 50] * 30) + "/loans.csv"  # 1,539 characters, each folder's name within the system's limit


@pytest.mark.parametrize(
    "args",
    [
        ["gate", "--against", LONG],
        ["report", f"--against={LONG}"],
        ["predict", "data/split/test.parquet", "--out", "scores.csv", "--rev", LONG],
        ["data", "pull", "--rev", LONG],
        ["checkout", LONG],
        ["data", "add", DEEP],
        ["predict", f"./{DEEP}", "--out", "scores.csv"],
        ["predict", "data/split/test.parquet", "--out", "--" + LONG],
        ["--" + LONG],
        ["exp", "run", "-S", f"{LONG}=1"],
        ["exp", "run", "-S", f"seed={LONG}"],
        # one value of a sweep axis: the line was cut at 1,000 characters before it said what is wrong
        ["exp", "sweep", f"seed=1,{LONG}"],
    ],
    ids=lambda args: " ".join(arg[:12] for arg in args),
)
def test_a_long_value_the_user_typed_is_shown_cut(repo, args):
    from tests.conftest import run

    result = run(["mlops", *args], cwd=repo, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2_000:]
    assert "characters)" in result.stderr, result.stderr[:2_000]
    assert "x" * 61 not in result.stderr and "d" * 100 not in result.stderr.replace("/", ""), result.stderr[:2_000]
    assert len(result.stderr) < 500, result.stderr[:2_000]


def test_against_a_branch_only_a_git_remote_has_names_the_remotes_branch(repo):
    """`--against feature` in a fresh clone, where only origin/feature exists (a teammate's branch), said "no such
    revision" with `--against HEAD or origin/main` as the example."""
    from tests.conftest import run

    run(["git", "update-ref", "refs/remotes/origin/feature", "HEAD"], repo)
    for command in (["gate"], ["report", "--out", "r.html"]):
        refused = run(["mlops", *command, "--against", "feature"], cwd=repo, check=False)
        assert refused.returncode == 2 and refused.stderr.splitlines() == [
            "error: --against feature: no such revision here; origin/feature is a branch of a git remote",
            "  hint: --against origin/feature",
        ], refused.stderr
    assert "gate" in run(["mlops", "gate", "--against", "origin/feature"], cwd=repo).stdout


def test_a_value_of_160_characters_is_shown_whole(repo):
    from tests.conftest import run

    revision = "y" * 160
    result = run(["mlops", "gate", "--against", revision], cwd=repo, check=False)
    assert result.returncode == 2 and f"--against {revision}: no such revision" in result.stderr, result.stderr


NAME_TOO_LONG = "n" * 300 + ".csv"  # over the 255 bytes a file name may have


@pytest.mark.parametrize(
    "args",
    [
        ["data", "add", NAME_TOO_LONG],
        ["predict", NAME_TOO_LONG, "--out", "scores.csv"],
        ["predict", "data/split/test.parquet", "--out", NAME_TOO_LONG],
        ["report", "--out", f"{NAME_TOO_LONG}/report.html"],
        ["monitor", "drift", "--log-dir", NAME_TOO_LONG],
        ["monitor", "outcomes", NAME_TOO_LONG],
    ],
    ids=lambda args: " ".join(arg[:12] for arg in args),
)
def test_a_path_too_long_for_the_system_is_one_line(repo, args):
    from tests.conftest import run

    result = run(["mlops", *args], cwd=repo, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2_000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and "too long a path" in lines[0] and " characters): " in lines[0], result.stderr
    assert run(["git", "status", "--porcelain"], repo).stdout == ""


def test_a_tag_on_a_file_or_a_folder_is_named_for_what_it_is_by_every_command_that_takes_a_revision(fresh_repo):
    """`git tag blobtag HEAD:params.yaml` was "not a commit, tag or branch here" (checkout, data pull --rev) or
    "no such revision" (gate --against), sending the user looking for a name that is there."""
    from tests.conftest import run

    run(["git", "tag", "blobtag", "HEAD:params.yaml"], fresh_repo)
    run(["git", "tag", "treetag", "HEAD^{tree}"], fresh_repo)
    commands = [
        (["checkout", "blobtag"], "'blobtag' names a file (blob)"),
        (["data", "pull", "--rev", "treetag"], "'treetag' names a folder (tree)"),
        (["gate", "--against", "blobtag"], "'blobtag' names a file (blob)"),
        (["deploy", "promote", "treetag"], "'treetag' names a folder (tree)"),
        (["monitor", "drift", "--rev", "blobtag"], "'blobtag' names a file (blob)"),
    ]
    for command, said in commands:
        refused = run(["mlops", *command], fresh_repo, check=False)
        assert refused.returncode == 2 and refused.stderr.splitlines() == [
            f"error: {said}, not a commit",
            "  hint: name a commit (see `git log --oneline`); a tag names one when made on it: git tag NAME COMMIT",
        ], (command, refused.stderr)
    assert run(["git", "status", "--porcelain"], fresh_repo).stdout == ""


def test_a_revision_that_is_both_a_branch_and_an_experiment_is_refused(fresh_repo):
    """A branch made (or an experiment pulled) after the experiment was named: git read `--against zed` (and `mlops
    deploy promote zed`) as the branch without a word, so the gate judged, and promote would make champion, another
    model than the experiment the user named."""
    from tests.conftest import run

    experiment = run(["git", "rev-parse", "HEAD"], fresh_repo).stdout.strip()
    run(["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "another"], fresh_repo)
    baseline = run(["git", "rev-parse", "HEAD"], fresh_repo).stdout.strip()
    run(["git", "update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/zed", experiment], fresh_repo)
    run(["git", "update-ref", "refs/exps/apply/ORIG_HEAD", experiment], fresh_repo)  # DVC's own ref, no experiment
    run(["git", "branch", "zed"], fresh_repo)
    commands = [
        (["gate", "--against", "zed"], "--against zed: "),
        (["report", "--against", "zed"], "--against zed: "),
        (["deploy", "promote", "zed"], ""),
    ]
    for command, prefix in commands:
        refused = run(["mlops", *command], fresh_repo, check=False)
        assert refused.returncode == 2 and refused.stderr.splitlines() == [
            f"error: {prefix}'zed' names both a git revision (commit {baseline[:12]}) and an experiment "
            f"(commit {experiment[:12]})",
            f"  hint: name the one you mean by its commit: {baseline[:12]} (the git revision) or {experiment[:12]} "
            "(the experiment)",
        ], (command, refused.stderr)
    assert run(["git", "tag", "-l"], fresh_repo).stdout == ""  # no version registered
    unknown = run(["mlops", "gate", "--against", "ORIG_HEAD"], fresh_repo, check=False)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: --against ORIG_HEAD: no such revision\n")


def test_an_experiment_ref_on_a_file_is_refused_by_name_before_anything_runs(fresh_repo):
    """A ref under refs/exps on a blob (made by hand, or pulled from a shared remote): DVC recorded no experiment
    beside it, so every `mlops exp run` ran and then ended in "None is not a revision", and `gate --against` gave
    the blob's id as the experiment's commit."""
    from tests.conftest import run

    baseline = run(["git", "rev-parse", "HEAD"], fresh_repo).stdout.strip()
    blob = run(["git", "rev-parse", "HEAD:params.yaml"], fresh_repo).stdout.strip()
    ref = f"refs/exps/{baseline[:2]}/{baseline[2:]}/blobexp"
    run(["git", "update-ref", ref, blob], fresh_repo)
    for command in (["exp", "sweep", "seed=1,2", "--matrix"], ["gate", "--against", "blobexp"], ["exp", "compare"]):
        refused = run(["mlops", *command], fresh_repo, check=False)
        assert refused.returncode == 2 and refused.stderr.splitlines() == [
            f"error: {ref} is on a file (blob), not a commit: DVC records no experiment beside it",
            f"  hint: delete it: git update-ref -d {ref}",
        ], (command, refused.stdout, refused.stderr)
    run(["git", "update-ref", "-d", ref], fresh_repo)
    assert run(["mlops", "exp", "sweep", "seed=1,2", "--matrix"], fresh_repo).stdout.startswith('{"include"')
