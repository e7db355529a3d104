"""What every command shares: global options, the console, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dendrite import names
from dendrite.cli import complete
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


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (stderr), nothing otherwise; yields the callback the library takes."""
    if not err.is_terminal:
        yield None
        return
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


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


SecretArg = Annotated[
    str, typer.Argument(help="A secret's name.", callback=name_arg("secret"), autocompletion=complete.secrets)
]
UserArg = Annotated[
    str, typer.Argument(help="A clan user's name.", callback=name_arg("user"), autocompletion=complete.users)
]
GroupArg = Annotated[
    str, typer.Argument(help="A group's name.", callback=name_arg("group"), autocompletion=complete.groups)
]
MachineArg = Annotated[
    str,
    typer.Argument(help="A machine's name.", callback=name_arg("machine"), autocompletion=complete.machines),
]
MachinesArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Machines (default: all).", callback=name_arg("machine"), autocompletion=complete.machines
    ),
]
GeneratorOpt = Annotated[
    str | None,
    typer.Option(
        "--generator", "-g", help="Only this generator (and dependents).", callback=name_arg("generator")
    ),
]
