"""What every command shares: global options, the console, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from dendrite import names
from dendrite.cli.progress import progress as progress
from dendrite.repo import Repo, find_repo

V = TypeVar("V", bound=str | list[str] | None)


@dataclass
class GlobalOptions:
    debug: bool = False
    repo: Path | None = None


OPTIONS = GlobalOptions()
# no emoji codes: ":100:" in "file:100:3" must stay as written
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def repo() -> Repo:
    return find_repo(OPTIONS.repo, explicit=OPTIONS.repo is not None)


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")


def write_bytes(data: bytes) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def note(message: str) -> None:
    err.print(message, markup=False)


def name_arg(kind: names.Kind) -> Callable[[V], V]:
    """A Typer callback checking a name (or each of a list of names) by `dendrite.names`' rule.

    It raises the library's own NameError_, before the command runs: `main.run` prints it as one
    sentence and a hint and exits 2, exactly as when the library refuses the name itself.
    """

    def callback(value: V) -> V:
        given: str | list[str] | None = value
        for name in [given] if isinstance(given, str) else given or []:
            names.check(kind, name)
        return value

    return callback


SecretArg = Annotated[str, typer.Argument(help="A secret's name.", callback=name_arg("secret"))]
UserArg = Annotated[str, typer.Argument(help="A clan user's name.", callback=name_arg("user"))]
GroupArg = Annotated[str, typer.Argument(help="A group's name.", callback=name_arg("group"))]
MachineArg = Annotated[str, typer.Argument(help="A machine's name.", callback=name_arg("machine"))]
MachinesArg = Annotated[
    list[str] | None, typer.Argument(help="Machines (default: all).", callback=name_arg("machine"))
]
GeneratorOpt = Annotated[
    str | None,
    typer.Option(
        "--generator", "-g", help="Only this generator (and dependents).", callback=name_arg("generator")
    ),
]
