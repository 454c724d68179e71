"""The import rules of docs/architecture.md, read from the source with `ast` (imports at module level and inside
functions alike): no import circle; the CLI is a leaf (no domain package imports it, no command module imports
another); hooks import nothing of the pipeline; stage modules are entry points, never libraries; the CLI runs no
subprocess (git and DVC are asked through `hooks.git` and `pipeline.versioning.dvc_seam`)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "hooks")
CLI = "pipeline.cli"
# What every command module may import (the entry, the shared options), and the tree that composes them all.
CLI_SHARED = {"pipeline.cli", "pipeline.cli.options", "pipeline.cli.commands"}
STAGES = "pipeline.stages"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if _is_package(importer) else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(name: str) -> set[str]:
    """Every module `name` imports (`from package import module` counts as the module)."""
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(name, node)
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in modules() else source)
    return found


@cache
def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    return {name: {target for target in imported_names(name) if target in modules()} for name in modules()}


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def cycles() -> list[list[str]]:
    """Every import circle, as the modules along it (Tarjan's strongly connected components)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def imports_where(importer_rule, target_rule) -> list[str]:
    return sorted(
        f"{importer} imports {target}"
        for importer, targets in graph().items()
        if importer_rule(importer)
        for target in targets
        if target_rule(importer, target)
    )


def test_the_rules_see_imports_inside_functions_too():
    assert "pipeline.training.auc" in graph()["pipeline.metrics"]  # imported in a function's body only
    assert "hooks.git" in graph()["hooks.hygiene"]  # imported in `main` only


def test_no_import_circle():
    assert cycles() == []


def test_no_domain_module_imports_the_cli():
    assert (
        imports_where(lambda m: not in_package(m, CLI) and m != "pipeline.__main__", lambda _m, t: in_package(t, CLI))
        == []
    )


def test_no_command_module_imports_another():
    def between_commands(importer: str, target: str) -> bool:
        return in_package(target, CLI) and target not in CLI_SHARED and target != importer

    assert imports_where(lambda m: in_package(m, CLI) and m not in CLI_SHARED, between_commands) == []


def test_hooks_import_nothing_of_the_pipeline():
    assert imports_where(lambda m: in_package(m, "hooks"), lambda _m, t: in_package(t, "pipeline")) == []


def test_no_module_imports_a_stage_module():
    assert imports_where(lambda _m: True, lambda _m, t: in_package(t, STAGES) and t != STAGES) == []


def test_the_cli_runs_no_subprocess():
    users = [name for name in modules() if in_package(name, CLI) and "subprocess" in imported_names(name)]
    assert users == []


def test_the_cli_reads_the_pipeline_state_through_the_domain():
    assert imports_where(lambda m: in_package(m, CLI), lambda _m, t: in_package(t, "hooks")) == []
