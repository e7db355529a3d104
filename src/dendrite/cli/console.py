"""What every command shares that needs no CLI framework: global options, the consoles, output.

Why apart from `cli.common`: that module defines Typer's argument types, so importing it imports
Typer; the fast path of `secrets get` (`cli.fast`) runs without Typer and uses only this module.
`cli.common` re-exports every name here, so commands keep importing them from there.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO, cast

from dendrite import changes
from dendrite.errors import InputError
from dendrite.repo import Repo, find_repo

if TYPE_CHECKING:
    import re

    from rich.console import Console


@dataclass
class GlobalOptions:
    debug: bool = False
    repo: Path | None = None
    no_commit: bool = False  # --no-commit: change files, register new ones with git, commit nothing


OPTIONS = GlobalOptions()


def begin(repo: Path | None, debug: bool, no_commit: bool) -> None:
    """A run starts: the global options taken, and what it changes recorded (the root callback, and
    the fast path). The caller ends the recording with `changes.end()` when the command is over."""
    OPTIONS.repo = repo
    OPTIONS.debug = debug
    OPTIONS.no_commit = no_commit
    changes.begin()  # what this run changes is committed by the command (cli/committing.py)
    if debug:  # the library logs (dendrite.process: each command, its exit code, stderr's tail); show it
        import logging

        logging.basicConfig(level=logging.DEBUG, format="debug: %(name)s: %(message)s", stream=sys.stderr)


_CONTROL: re.Pattern[str] | None = None


def visible(text: str) -> str:
    """`text` with every control character but newline and tab shown as `\\xNN`, and every invisible
    character that reorders or hides text (bidirectional overrides and isolates, zero-width characters,
    line and paragraph separators) as `\\uNNNN`: a right-to-left override in a repository's text would
    show "OG-ON" as "NO-GO" ("Trojan Source")."""
    global _CONTROL
    if _CONTROL is None:
        import re

        _CONTROL = re.compile(
            "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
        )
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def colourless(stream: TextIO) -> bool:
    """Whether a rich Console writing to `stream` would use no colour or style at all.

    rich's rule (`Console.is_terminal`, `_detect_color_system`): TTY_COMPATIBLE=0 or 1 decides, then
    FORCE_COLOR (set and not empty: a terminal), then `isatty()`; not a terminal means no colour. In
    Jupyter (a `get_ipython` builtin) rich renders otherwise: never answered here.
    """
    if hasattr(builtins, "get_ipython"):
        return False
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "0"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color == ""
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed stream: rich says "not a terminal" too
        return True


class _LazyConsole:
    """A rich Console made on first use: importing rich costs ~30 ms that `secrets get` never needs.

    A plain line (`print(text, markup=False)` of printable text) before rich is needed is written as
    rich would write it: the text and a newline (these consoles never highlight, wrap or replace emoji
    codes). So is a line with a `style` (an error's bold red) where rich would show no style: the
    stream is no terminal (`colourless`). tests/cli/test_console.py compares the two.
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
            and objects[0].isprintable()
        ):
            stream = sys.stderr if self._options.get("stderr") else sys.stdout
            styled = set(kwargs) == {"markup", "style"} and type(kwargs["style"]) is str
            if kwargs == {"markup": False} or (styled and kwargs["markup"] is False and colourless(stream)):
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
    """Write a value to stdout whole, or fail as a closed pipe does (exit 1, as `cat` under pipefail).

    Why not `sys.stdout.buffer.write`: when the reader leaves part-way through a value larger than
    the pipe (`dendrite secrets get big | head -c1`), the kernel returns a short count instead of
    EPIPE, the buffered writer accepts it, and the command would exit 0 having written a fragment.
    """
    sys.stdout.flush()
    buffer = sys.stdout.buffer
    try:
        fd = buffer.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (an in-memory test stream)
        buffer.write(data)
        buffer.flush()
        return
    buffer.flush()
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        raise
    except OSError as exc:  # /dev/full, a full disk under `> FILE`: the error names what failed
        if exc.filename is None:
            exc.filename = "standard output"
        raise


def note(message: str) -> None:
    err.print(message, markup=False)


class ClosedStdout(io.TextIOBase):
    """What `sys.stdout` is when dendrite was started with it closed (`>&-`; Python leaves None there).

    Why: every `print` would end in "internal error: AttributeError: 'NoneType' object has no attribute
    'write'", exit 70, as if dendrite had a bug. Writing here is one sentence and exit 2 instead, and a
    command that writes nothing to stdout runs as it would with stdout open.
    """

    def write(self, text: str) -> int:
        raise _closed()

    @property
    def buffer(self) -> BinaryIO:  # write_bytes writes the bytes of a value here
        raise _closed()

    def isatty(self) -> bool:
        return False


def _closed() -> InputError:
    return InputError(
        "cannot write to standard output: it is closed",
        hint="redirect it to a file or a pipe (`> FILE`, `| cmd`) instead of closing it",
    )
