"""Hooks an older `mlops hooks install` wrote: a clone keeps its scripts when a pull brings newer ones, and
`mlops hooks status` called them installed while nothing told the user to install again."""

from __future__ import annotations

import re

from hooks.installed_hooks import POST_CHECKOUT_GUARDS, REFERENCE_TRANSACTION_SCRIPT
from tests.conftest import run
from tests.hooks.conftest import output

NOTICE = "mlops hooks: the hooks installed here are out of date"
OLDER_STEP = "# a line of an older text\n"


def test_status_calls_an_older_install_out_of_date_until_installed_again(hooked):
    """A reference-transaction script of an older text, a post-checkout script without a guard it now gets, a
    merge driver's older command and no script for a hook type added since: `mlops hooks status` said "installed"
    (it looked only for the markers), "not registered" and "not installed", and `mlops status` said nothing."""
    script = hooked / ".git/hooks/reference-transaction"
    script.write_text(REFERENCE_TRANSACTION_SCRIPT.replace("\nexit 0\n", "\n# an older text\nexit 0\n"))
    post_checkout = hooked / ".git/hooks/post-checkout"
    post_checkout.write_text(post_checkout.read_text().replace(POST_CHECKOUT_GUARDS[1], ""))
    run(["git", "config", "merge.mlops-params.driver", "hooks/venv-python -m hooks.merge_driver params %A"], hooked)
    (hooked / ".git/hooks/post-rewrite").unlink()  # a hook type added since

    status = run(["mlops", "hooks", "status"], hooked, check=False)
    assert status.returncode == 1, output(status)
    assert re.search(r"reference-transaction +out of date\n", status.stdout), status.stdout
    assert re.search(r"post-checkout +out of date\n", status.stdout), status.stdout
    assert re.search(r"pre-commit +installed\n", status.stdout), status.stdout
    assert re.search(r"post-rewrite +out of date\n", status.stdout), status.stdout
    assert re.search(r"merge driver +mlops-params out of date\n", status.stdout), status.stdout
    assert re.search(r"merge driver +mlops-dvc registered\n", status.stdout), status.stdout
    assert status.stdout.endswith("Run `mlops hooks install`.\n")
    said = run(["mlops", "status"], hooked).stderr
    assert f"{NOTICE} (post-checkout, post-rewrite, reference-transaction): run `mlops hooks install`" in said, said

    run(["mlops", "hooks", "install"], hooked)
    assert run(["mlops", "hooks", "status"], hooked).returncode == 0
    assert NOTICE not in run(["mlops", "status"], hooked).stderr

    run(["mlops", "hooks", "uninstall"], hooked)  # where `install` did not run, nothing is out of date
    status = run(["mlops", "hooks", "status"], hooked, check=False).stdout
    assert "out of date" not in status and re.search(r"post-merge +not installed\n", status), status
    assert NOTICE not in run(["mlops", "status"], hooked).stderr


def test_a_pull_that_brings_a_newer_set_up_says_once_to_install_again(hooked):
    """A clone whose reference-transaction script an older `mlops hooks install` wrote switches to, or pulls, a
    commit that changes what `install` writes (the module holding it): each says so in one line on stderr. A switch
    while the hooks are up to date, or a pull after `mlops hooks install`, says nothing; git's exit status is 0."""
    newer_set_up(hooked, "newer", "# the newer set-up\n")
    record = hooked / ".git/mlops-hooks-python"
    checked = record.stat().st_mtime_ns
    switched = run(["git", "checkout", "main"], hooked)  # the module changes back, to the set-up installed here
    assert NOTICE not in output(switched), output(switched)
    assert record.stat().st_mtime_ns > checked  # found up to date: no Python again until the module changes

    script = hooked / ".git/hooks/reference-transaction"
    script.write_text(REFERENCE_TRANSACTION_SCRIPT.replace("\nexit 0\n", f"\n{OLDER_STEP}exit 0\n"))
    switched = run(["git", "checkout", "newer"], hooked)
    assert output(switched).count(NOTICE) == 1, output(switched)
    run(["git", "checkout", "-q", "main"], hooked)
    pulled = run(["git", "pull", "--no-rebase", ".", "newer"], hooked)
    assert output(pulled).count(NOTICE) == 1, output(pulled)
    assert f"{NOTICE} (reference-transaction): run `mlops hooks install`\n" in pulled.stderr, pulled.stderr

    run(["mlops", "hooks", "install"], hooked)
    assert script.read_text() == REFERENCE_TRANSACTION_SCRIPT
    newer_set_up(hooked, "later", "# later still\n")
    run(["git", "checkout", "-q", "main"], hooked)
    checked = record.stat().st_mtime_ns
    pulled_again = run(["git", "pull", "--no-rebase", ".", "later"], hooked)
    assert "Fast-forward" in pulled_again.stdout and NOTICE not in output(pulled_again), output(pulled_again)
    assert record.stat().st_mtime_ns > checked


def newer_set_up(repo, branch: str, line: str) -> None:
    """A commit on a new branch that changes `hooks/installed_hooks.py` (what a newer set-up's commit changes)."""
    run(["git", "checkout", "-q", "-b", branch], repo)
    module = repo / "hooks/installed_hooks.py"
    module.write_text(module.read_text() + line)
    run(["git", "commit", "-q", "--no-verify", "-am", branch], repo)
