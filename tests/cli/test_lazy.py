"""The lazily made command tree is the tree Typer makes eagerly: same commands, same help, everywhere."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dendrite.cli import main


def _eager_app() -> typer.Typer:
    """The root as it was registered before start-up was made lazy: every sub-app added up front."""
    eager = typer.Typer(
        name="dendrite",
        help=main.app.info.help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    eager.callback()(main.main)
    for name, where in main.SUBCOMMANDS.items():
        module, _, attribute = where.partition(":")
        target = getattr(importlib.import_module(module), attribute)
        if isinstance(target, typer.Typer):
            eager.add_typer(target, name=name)
        else:
            eager.command(name)(target)
    return eager


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name in getattr(command, "commands", {}):
        yield from _paths(command.commands[name], (*prefix, name))


def _lazy_paths() -> list[tuple[str, ...]]:
    return list(_paths(typer.main.get_command(main.app)))


def test_same_command_tree() -> None:
    # a command added with app.command()/app.add_typer() would be imported by every command
    assert not main.app.registered_commands and not main.app.registered_groups, (
        "add top-level commands to main.SUBCOMMANDS (imported when used), not to main.app"
    )
    assert _lazy_paths() == list(_paths(typer.main.get_command(_eager_app())))
    assert len(_lazy_paths()) > 50


@pytest.mark.parametrize("path", _lazy_paths(), ids=lambda p: " ".join(p) or "(root)")
def test_same_help(path: tuple[str, ...]) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "100", "TERM": "dumb"}
    lazy = runner.invoke(main.app, [*path, "--help"], env=env)
    eager = runner.invoke(_eager_app(), [*path, "--help"], env=env)
    assert lazy.exit_code == eager.exit_code == 0, lazy.output
    assert lazy.output == eager.output


@pytest.mark.parametrize(
    "args", [["secrets", "frobnicate"], ["secrts"], ["secrets", "get"], ["vars", "chek"]]
)
def test_same_usage_errors(args: list[str]) -> None:
    runner = CliRunner()
    env = {"COLUMNS": "100", "TERM": "dumb"}
    lazy = runner.invoke(main.app, args, env=env)
    eager = runner.invoke(_eager_app(), args, env=env)
    assert lazy.exit_code == eager.exit_code == 2
    assert lazy.output == eager.output
