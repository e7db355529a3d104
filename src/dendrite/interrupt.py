"""What an interruption (Ctrl-C, SIGINT) leaves behind, recorded for the one line the CLI prints.

The library never prints; it marks its work here and the CLI's error boundary reads the marks:

- `critical(what)`: a short sequence of writes that must not be cut in half (a secrets change whose
  files, links and re-keyed secrets belong together). SIGINT is held back inside and delivered
  (as KeyboardInterrupt) as soon as the writes are done; each finished `what` is recorded.
- `pending(state)`: longer work that leaves a known state when cut short, with how to complete it
  ("the demo in X is incomplete; run ... again"). The innermost one interrupted is recorded.

Why hold SIGINT back rather than journal every secrets change: such a change is a few hundred
milliseconds of writes after all the slow work (planning, encryption) is done in memory, so waiting
for it costs the user nothing and leaves the store as it was before or after, never between.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_completed: list[str] = []
_interrupted_in: list[str] = []
_held: list[bool] = []  # one entry per open critical section; True once SIGINT arrived inside


def _hold(signum: int, frame: FrameType | None) -> None:
    _held[:] = [True] * len(_held)


@contextmanager
def critical(what: str) -> Iterator[None]:
    """Writes that complete even if SIGINT arrives meanwhile; then KeyboardInterrupt is raised.

    Only the main thread can change how signals are handled; elsewhere this records `what` only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        _completed.append(what)
        return
    outer = signal.getsignal(signal.SIGINT)
    _held.append(False)
    if len(_held) == 1:
        signal.signal(signal.SIGINT, _hold)
    try:
        yield
        _completed.append(what)
    finally:
        arrived = _held.pop()
        if not _held:
            signal.signal(signal.SIGINT, outer)
        elif arrived:
            _held[-1] = True
    if arrived and not _held:
        raise KeyboardInterrupt


@contextmanager
def pending(state: str | Callable[[], str]) -> Iterator[None]:
    """Work which, if interrupted, leaves `state`: a sentence that says how to complete it (or a
    function giving it, asked at the interruption, e.g. for how far the work got)."""
    try:
        yield
    except KeyboardInterrupt:
        if not _interrupted_in:
            _interrupted_in.append(state if isinstance(state, str) else state())
        raise


def report() -> str:
    """The one line for an interruption: where it was, what was completed, or that nothing changed."""
    if _interrupted_in:
        return f"interrupted; {_interrupted_in[0]}"
    if not _completed:
        return "interrupted; nothing was changed"
    if len(_completed) == 1:
        return f"interrupted; completed before it: {_completed[0]}; nothing else was changed"
    return (
        f"interrupted; completed before it: {len(_completed)} changes (the last: {_completed[-1]}); "
        "nothing else was changed"
    )


def completed() -> list[str]:
    """What finished under `critical` in this process, in order."""
    return list(_completed)
