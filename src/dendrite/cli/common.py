"""What every command shares: global options, the console, JSON output, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from dendrite import names
from dendrite.cli import complete
from dendrite.cli.progress import progress as progress
from dendrite.repo import Repo, find_repo

if TYPE_CHECKING:
    from rich.console import Console

V = TypeVar("V", bound=str | list[str] | None)


@dataclass
class GlobalOptions:
    debug: bool = False
    repo: Path | None = None
    no_commit: bool = False  # --no-commit: change files, register new ones with git, commit nothing


OPTIONS = GlobalOptions()


_CONTROL = None


def visible(text: str) -> str:
    """`text` with every control character but newline and tab shown as `\\xNN`."""
    global _CONTROL
    if _CONTROL is None:
        import re

        _CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _LazyConsole:
    """A rich Console made on first use: importing rich costs ~30 ms that `secrets get` never needs.

    A plain line (`print(text, markup=False)` of printable text, no style) before rich is needed is
    written as rich would write it: the text and a newline (these consoles never highlight, wrap or
    replace emoji codes). tests/cli/test_console.py compares the two.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def print(self, *objects: Any, **kwargs: Any) -> None:
        # text from a repository (a plan's phase name, a journal's evidence) reaches the terminal as
        # text: an ESC in it could clear the screen, retitle the window or redraw "NO-GO" as "GO"
        objects = tuple(visible(o) if type(o) is str and not o.isprintable() else o for o in objects)
        if (
            self._console is None
            and len(objects) == 1
            and type(objects[0]) is str
            and kwargs == {"markup": False}
            and objects[0].isprintable()
        ):
            stream = sys.stderr if self._options.get("stderr") else sys.stdout
            stream.write(objects[0] + "\n")
            return
        self.real().print(*objects, **kwargs)

    def real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


def real_console(console: Console) -> Console:
    """The Console itself, for rich objects that take one (a Progress, a Live): not its stand-in."""
    return console.real() if isinstance(console, _LazyConsole) else console


# no emoji codes: ":100:" in "file:100:3" must stay as written
out = cast("Console", _LazyConsole(highlight=False, soft_wrap=True, emoji=False))
err = cast("Console", _LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False))


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
