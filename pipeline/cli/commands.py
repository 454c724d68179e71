"""The `mlops` command tree: one Typer app per command group, composed here, in Click's conventions.

Command modules import pandas, scikit-learn, skops and DVC inside the commands that need them, so that
`mlops --help` answers at once; `pipeline.cli.main` answers `mlops status` and a no-op `mlops repro` without
building this tree at all.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer._click.core import Command, Context
from typer.core import TyperArgument, TyperGroup, TyperOption

from pipeline.cli import checkout, data, deploy, exp, gate, hooks, monitor, predict, remote, report, repro, serve

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every group and command
)
for group in (repro, data, remote, checkout, predict, exp, gate, report, hooks, serve, monitor, deploy):
    group.register(app)


def show_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version as installed_version  # slow to import: only when asked

        typer.echo(f"mlops (lending-mlops) {installed_version('lending-mlops')}")
        raise typer.Exit()


@app.callback()
def mlops(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", callback=show_version, is_eager=True)
    ] = False,
) -> None:
    """Lending-risk MLOps: reproducible training with DVC, experiments, data versions and git hooks."""


# Typer 0.29 renders parameters its own way: a required argument as `{INPUT}` in the usage line, and each value
# by its Python type (`--rev <str>`, `--port <int range>`). Click's habit, which users of Click, Typer and DVC
# read at a glance, is `INPUT`, `[INPUT]`, `AXES...` and `--rev TEXT`, `--port INTEGER RANGE`: a metavar.
CLICK_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": "BOOLEAN"}


class ConventionalArgument(TyperArgument):
    """An argument shown as Click shows one: its metavar, bracketed when optional, without a type."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Context) -> str | None:
        return None


def click_metavar(option: TyperOption, ctx: Context) -> str:
    """`TEXT`, `INTEGER RANGE`, `PATH`, `[a|b]`: what Click would show for the option's value."""
    shown = option.display_type(ctx).strip("<>")
    if shown.startswith("list[") and shown.endswith("]"):
        shown = shown[len("list[") : -1]
    if "|" in shown:
        return f"[{shown}]"
    kind, _, ranged = shown.partition(" ")
    return " ".join([CLICK_TYPE_NAMES.get(kind, kind.upper()), *([ranged.upper()] if ranged else [])])


def with_click_conventions(command: Command, ctx: Context | None = None) -> Command:
    """The same command tree, every parameter shown in Click's conventions (see above)."""
    ctx = ctx or Context(command, info_name=command.name)
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.__class__ = ConventionalArgument
            param.metavar = param.metavar or param.name.upper()
        elif isinstance(param, TyperOption) and param.metavar is None and not (param.is_flag or param.count):
            param.metavar = click_metavar(param, ctx)
    for sub in command.commands.values() if isinstance(command, TyperGroup) else ():
        with_click_conventions(sub, Context(sub, info_name=sub.name, parent=ctx))
    return command


def mlops_command() -> Command:
    """`mlops` as a Click command, in Click's conventions."""
    return with_click_conventions(typer.main.get_command(app))


def command_path(args: list[str]) -> str:
    """`mlops exp run`: the deepest command that `args` name. Click raises some usage mistakes (`--top` with no
    value) without their command's context, so the hint would otherwise name `mlops -h`."""
    command, path = mlops_command(), ["mlops"]
    for arg in args:
        command = command.commands.get(arg) if isinstance(command, TyperGroup) else None
        if command is None:
            break
        path.append(arg)
    return " ".join(path)
