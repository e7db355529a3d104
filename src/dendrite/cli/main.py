"""The `dendrite` entry point: global options, sub-command groups, and the error boundary.

Why a boundary here: the library raises DendriteError for every input problem; this is the only
place that turns one into a message and exit code 2. Anything else is a bug: a one-line report, and
the traceback with --debug.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from dendrite import __version__, changes
from dendrite.cli import coercion, common, lazytree
from dendrite.cli import helpfmt as helpfmt  # for its effect: every command's help shaped before any is built
from dendrite.errors import DendriteError

if TYPE_CHECKING:
    from typer._click import Command, Context

coercion.install()

# Every sub-command, in the order --help lists them: "module:attribute", a Typer app or a command's
# function. Why by name: importing a command module imports the library it drives (the parser, the
# vars engine, the demo); a command imports only its own module, so `secrets get` starts in a fraction
# of the time. Only --help and completion of the first word load them all.
SUBCOMMANDS: dict[str, str] = {
    "init": "dendrite.cli.init_cmd:init",
    "demo": "dendrite.cli.demo_cmd:demo",
    "sops": "dendrite.cli.sops_cmd:app",
    "secrets": "dendrite.cli.secrets_cmd:app",
    "nix": "dendrite.cli.nix_cmd:app",
    "inventory": "dendrite.cli.inventory_cmd:app",
    "machines": "dendrite.cli.inventory_cmd:machines_app",
    "tags": "dendrite.cli.inventory_cmd:tags_app",
    "vars": "dendrite.cli.vars_cmd:app",
    "layout": "dendrite.cli.layout_cmd:app",
    "migrate": "dendrite.cli.migrate_group:migrate_app",
    "infra": "dendrite.cli.infra_cmd:app",
}


def load_subcommand(name: str) -> Command:
    """The click command for one entry of SUBCOMMANDS, made as `add_typer`/`command` would make it."""
    module, _, attribute = SUBCOMMANDS[name].partition(":")
    return lazytree.subcommand(getattr(importlib.import_module(module), attribute), name)


class LazyGroup(TyperGroup):
    """The root group: SUBCOMMANDS are imported when invoked, listed for help, or completed."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        loaders = {name: functools.partial(load_subcommand, name) for name in SUBCOMMANDS}
        self.commands = lazytree.LazyCommands(self.commands, loaders)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names alone: TyperGroup's own walks the values


app = typer.Typer(
    name="dendrite",
    cls=LazyGroup,
    help="Manage a clan-core fleet and its move from nixos-unified to the dendritic pattern.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dendrite {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            "-C",
            help="The repository (default: found from the working directory, or $DENDRITE_REPO).",
            file_okay=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log every program dendrite runs, and show tracebacks for errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    no_commit: Annotated[
        bool,
        typer.Option(
            "--no-commit",
            help="Do not commit changes to git (as clan's CLAN_NO_COMMIT; also $DENDRITE_NO_COMMIT=1).",
        ),
    ] = False,
) -> None:
    common.OPTIONS.repo = repo
    common.OPTIONS.debug = debug
    common.OPTIONS.no_commit = no_commit
    changes.begin()  # what this run changes is committed by the command (cli/committing.py)
    ctx.call_on_close(changes.end)  # and no further: an in-process caller may run the CLI again
    if debug:  # the library logs (dendrite.process: each command, its exit code, stderr's tail); show it
        import logging

        logging.basicConfig(level=logging.DEBUG, format="debug: %(name)s: %(message)s", stream=sys.stderr)


# Errors of the environment, not of dendrite: a read-only or full disk, a missing permission, a path
# that cannot be what it should. Each becomes one sentence naming the path; any other OSError is a bug.
_ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.ENXIO,
        errno.EMFILE,
        errno.ENFILE,
        errno.EIO,
        errno.EBUSY,
        errno.ETXTBSY,
    }
)
_WRITE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def environment_error(exc: OSError) -> str | None:
    """One sentence for an OSError the environment caused, or None when it is a bug."""
    if exc.errno not in _ENVIRONMENT_ERRNOS:
        return None
    reason = (exc.strerror or os.strerror(exc.errno or 0)).lower()
    verb = "write" if exc.errno in _WRITE_ERRNOS else "access"
    if exc.filename is None:
        return f"cannot {verb} a file: {reason}"
    return f"cannot {verb} {os.fsdecode(exc.filename)}: {reason}"


def _report_bug(exc: BaseException) -> NoReturn:
    if _by_interrupt(exc):
        # Ctrl-C inside machinery that wraps what it catches: Python 3.11 turns a KeyboardInterrupt
        # raised while a class body's `__set_name__` runs (a dataclass being defined during a lazy
        # import) into "RuntimeError: Error calling __set_name__", with the interrupt as its cause.
        _interrupted()
    common.err.print(
        f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
        markup=False,
        style="bold red",
    )
    sys.exit(70)


def _by_interrupt(exc: BaseException) -> bool:
    """Whether Ctrl-C caused `exc` (Typer turns KeyboardInterrupt into a silent exit 130)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _interrupted() -> NoReturn:
    """One line, exit 130: never a traceback, whatever was running (workers stop themselves)."""
    from dendrite import interrupt
    from dendrite.cli import progress

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this line short
    progress.stop_all()
    common.err.print(interrupt.report(), markup=False)
    # Every `finally` of the command has run (rollbacks included). Leave without the interpreter's
    # exit, which joins executor threads: one whose worker was killed mid-write waits forever
    # (dendrite.workers), and that was the hang seen after Ctrl-C in `secrets groups add-user`.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(130)


def run() -> None:
    # Start-up is over (dendrite.cli's quiet handler covered it): from here Ctrl-C raises
    # KeyboardInterrupt, so a transaction can roll back and a critical write finish first.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    debug = "--debug" in sys.argv[1:]
    try:
        _run(debug)
    finally:
        # the command is over: a Ctrl-C now would only put a traceback into interpreter shutdown
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(debug: bool) -> None:
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130 and _by_interrupt(exc):
            _interrupted()
        raise
    except DendriteError as exc:
        if debug:
            raise
        common.err.print(f"error: {exc.message}", markup=False, style="bold red")
        if exc.hint:
            common.err.print(f"hint: {exc.hint}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:
        message = environment_error(exc)
        if debug:
            raise
        if message is None:
            _report_bug(exc)
        common.err.print(f"error: {message}", markup=False, style="bold red")
        sys.exit(2)
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        if debug:
            raise
        _report_bug(exc)
