"""The experiment commands only parse, call the domain and print: from `pipeline.cli` they import only the shared
options, and none of them runs a process, reads YAML or asks the hooks' readers itself."""

import ast

import pytest

from tests.conftest import ROOT

COMMANDS = ("exp", "gate", "report", "repro")
NOT_IN_A_COMMAND = ("subprocess", "yaml", "hooks", "dvc")


def imported(module: str) -> set[str]:
    tree = ast.parse((ROOT / "pipeline" / "cli" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_imports_only_the_shared_options_of_the_cli(command):
    names = imported(command)
    others = {name for name in names if name.startswith("pipeline.cli") and not name.startswith("pipeline.cli.options")}
    assert not others, f"pipeline/cli/{command}.py imports other command modules: {others}"
    assert not {name for name in names if name.split(".")[0] in NOT_IN_A_COMMAND}, names
