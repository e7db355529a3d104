"""The error boundary of every command: DendriteError to one sentence and exit 2, Ctrl-C to one line
and exit 130, a bug to one line and exit 70 (the traceback with --debug).

Why a module of its own, without the CLI framework: the Typer tree (`cli.main.run`) and the fast
path of `secrets get` (`cli.fast`) both end here, so the two print the same lines and exit codes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

from dendrite.cli import console
from dendrite.errors import DendriteError


def run(command: Callable[[], object], debug: bool) -> None:
    """Run `command` inside the boundary."""
    # Start-up is over (dendrite.cli's quiet handler covered it): from here Ctrl-C raises
    # KeyboardInterrupt, so a transaction can roll back and a critical write finish first.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.unraisablehook = _lost_interrupts_noted(sys.unraisablehook)
    if sys.stdout is None:
        sys.stdout = console.ClosedStdout()
    if sys.stderr is None:  # started with `2>&-`: the message is lost, the exit code must not be
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (open for the rest of the process)
    try:
        _guarded(command, debug)
    finally:
        # the command is over: a Ctrl-C now would only put a traceback into interpreter shutdown
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# Ctrl-C that Python could not deliver: SIGINT's KeyboardInterrupt raised inside a weakref callback or
# a `__del__` (seen: WeakSet._remove during `secrets groups add-user`) is "ignored" by the interpreter,
# which prints a traceback and lets the command run on to its end.
_lost_interrupts: list[BaseException] = []


def _lost_interrupts_noted(
    previous: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], object]:
    def hook(unraisable: sys.UnraisableHookArgs) -> object:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _lost_interrupts.append(unraisable.exc_value)
            return None
        return previous(unraisable)

    return hook


def _guarded(command: Callable[[], object], debug: bool) -> None:
    try:
        command()
    except SystemExit as exc:
        if exc.code == 130 and _by_interrupt(exc):
            _interrupted()
        if exc.code in (0, None) and _lost_interrupts:
            _interrupted(ran_to_the_end=True)
        raise
    except DendriteError as exc:
        if debug:
            raise
        console.err.print(f"error: {exc.message}", markup=False, style="bold red")
        if exc.hint:
            console.err.print(f"hint: {exc.hint}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:  # the reader left (`| head`): as click answers it, quietly
        sys.exit(1)
    except OSError as exc:
        message = environment_error(exc)
        if debug:
            raise
        if message is None:
            _report_bug(exc)
        console.err.print(f"error: {message}", markup=False, style="bold red")
        sys.exit(2)
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        if debug:
            raise
        _report_bug(exc)
    if _lost_interrupts:
        _interrupted(ran_to_the_end=True)


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
    console.err.print(
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


def _interrupted(ran_to_the_end: bool = False) -> NoReturn:
    """One line, exit 130: never a traceback, whatever was running (workers stop themselves).

    `ran_to_the_end`: the interrupt was lost (see `_lost_interrupts`) and the command completed; the
    exit code still says Ctrl-C was pressed, so that a script's loop stops as it would have.
    """
    from dendrite import interrupt
    from dendrite.cli import progress

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this line short
    progress.stop_all()
    line = "interrupted too late to stop it; the command completed" if ran_to_the_end else interrupt.report()
    console.err.print(line, markup=False)
    # Every `finally` of the command has run (rollbacks included). Leave without the interpreter's
    # exit, which joins executor threads: one whose worker was killed mid-write waits forever
    # (dendrite.workers), and that was the hang seen after Ctrl-C in `secrets groups add-user`.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(130)
