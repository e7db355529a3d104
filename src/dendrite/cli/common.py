"""What every command shares: Typer's argument types, and (from `cli.console`) global options, the
consoles, JSON output; progress bars."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from dendrite import names
from dendrite.cli import complete
from dendrite.cli.console import OPTIONS as OPTIONS
from dendrite.cli.console import GlobalOptions as GlobalOptions
from dendrite.cli.console import _LazyConsole as _LazyConsole
from dendrite.cli.console import emit_json as emit_json
from dendrite.cli.console import err as err
from dendrite.cli.console import note as note
from dendrite.cli.console import out as out
from dendrite.cli.console import real_console as real_console
from dendrite.cli.console import repo as repo
from dendrite.cli.console import visible as visible
from dendrite.cli.console import write_bytes as write_bytes
from dendrite.cli.progress import progress as progress

V = TypeVar("V", bound=str | list[str] | None)


def name_arg(kind: names.Kind) -> Callable[[V], V]:
    """A Typer callback checking a name (or each of a list of names) by `dendrite.names`' rule.

    It raises the library's own NameError_, before the command runs: `cli.boundary` prints it as one
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
