"""Progress bars: on a terminal, while long work runs; nothing at all in a pipe or a file.

The library reports progress through a callback `(done, total)` and never prints; this module turns
the callback into a bar on stderr. Three rules:

- Only when stderr is a terminal (`isatty`): output that is piped or captured stays exactly as it was.
- A bar appears at its first report, not before: a command that asks something first (a prompt of
  `vars generate`) asks it on a clean line.
- While the user is asked anything, every bar is stopped (`paused`, or `asking` around a function)
  and resumed afterwards, so a bar never draws over a prompt; an interruption stops them all
  (`stop_all`) before its one line is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

Callback = Callable[[int, int], None]


class Bar:
    """A live bar on stderr, started by its first report."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._live: Any = None  # rich.progress.Progress once started (rich is imported only then)
        self._task: Any = None
        self._last: tuple[int, int] | None = None
        self._paused = False

    def __call__(self, done: int, total: int) -> None:
        self._last = (done, total)
        if self._paused:
            return
        if self._live is None:
            self._start()
        self._live.update(self._task, completed=done, total=total or None)

    def _start(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from dendrite.cli.console import err, real_console

        self._live = Progress(
            TextColumn(self.label),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=real_console(err),
            transient=True,
        )
        self._task = self._live.add_task(self.label, total=None)
        self._live.start()

    def stop(self) -> None:
        """Take the bar off the screen (it may be started again by `resume` or the next report)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def pause(self) -> None:
        self._paused = True
        self.stop()

    def resume(self) -> None:
        self._paused = False
        if self._last is not None:
            self(*self._last)


_ACTIVE: list[Bar] = []


@contextmanager
def progress(label: str) -> Iterator[Callback | None]:
    """A bar on a terminal (stderr), None otherwise: the callback the library takes."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = Bar(label)
    _ACTIVE.append(bar)
    try:
        yield bar
    finally:
        bar.stop()
        _ACTIVE.remove(bar)


@contextmanager
def paused() -> Iterator[None]:
    """No bar on the screen inside: for asking the user something."""
    bars = list(_ACTIVE)
    for b in bars:
        b.pause()
    try:
        yield
    finally:
        for b in bars:
            b.resume()


def asking(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` (a prompt) run with every bar paused."""

    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with paused():
            return fn(*args, **kwargs)

    return wrapped


def stop_all() -> None:
    """Take every bar off the screen: an interruption's or an error's line is printed next."""
    for b in list(_ACTIVE):
        b.stop()
