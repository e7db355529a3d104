"""The `dendrite` entry point: global options, sub-command groups, and the error boundary.

Why a boundary here: the library raises DendriteError for every input problem; this is the only
place that turns one into a message and exit code 2. Anything else is a bug: a one-line report, and
the traceback with --debug.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from dendrite import __version__
from dendrite.cli import common, demo_cmd, inventory_cmd, layout_cmd, nix_cmd, secrets_cmd, sops_cmd, vars_cmd
from dendrite.errors import DendriteError

app = typer.Typer(
    name="dendrite",
    help="Manage a clan-core fleet and its move from nixos-unified to the dendritic pattern.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(sops_cmd.app, name="sops")
app.add_typer(secrets_cmd.app, name="secrets")
app.add_typer(nix_cmd.app, name="nix")
app.add_typer(inventory_cmd.app, name="inventory")
app.add_typer(inventory_cmd.machines_app, name="machines")
app.add_typer(inventory_cmd.tags_app, name="tags")
app.add_typer(vars_cmd.app, name="vars")
app.add_typer(layout_cmd.app, name="layout")
app.add_typer(layout_cmd.migrate_app, name="migrate")
app.command("demo")(demo_cmd.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dendrite {__version__}")
        raise typer.Exit()


@app.callback()
def main(
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
) -> None:
    common.OPTIONS.repo = repo
    common.OPTIONS.debug = debug
    if debug:  # the library logs (dendrite.process: each command, its exit code, stderr's tail); show it
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
