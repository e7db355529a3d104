"""Which repository paths this process changed: what a git commit of the change must include.

Why here, at the door: clan commits every change it makes (`clan_lib/git/__init__.py`,
`commit_files`), with the paths each operation reports. dendrite's operations write through
`RepoFS` and `fsutil.atomic_write_many`; they note each file, link and tree they create, replace or
delete, so no operation can forget a path (a new var left untracked is invisible to a git flake) and
nothing else is ever named (the user's unrelated changes stay out of the commit).

Recording is off unless a `recording()` is open (the CLI opens one per run); a note then costs one
context-variable read. Paths are kept per repository root, relative to it, in the order first noted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path


class ChangeLog:
    """The paths noted while recording, per repository root (as the writer named it)."""

    def __init__(self) -> None:
        self._by_root: dict[str, dict[str, None]] = {}

    def note(self, root: Path | str, rel: str) -> None:
        self._by_root.setdefault(os.fspath(root), {})[rel] = None

    def paths(self, root: Path) -> list[str]:
        """Every path noted below `root` (however it was spelled), relative to it."""
        want = os.path.realpath(root)
        out: dict[str, None] = {}
        for spelled, rels in self._by_root.items():
            if os.path.realpath(spelled) == want:
                out.update(rels)
        return list(out)

    def take(self, root: Path, only: Iterable[str] | None = None) -> list[str]:
        """The paths below `root` that are `only` or lie under one of them (all when None), forgotten.

        Why take: a command that makes several of clan's commits (a machine's directory, then the
        inventory, then its key) hands out its paths group by group; what one commit took, the next
        does not repeat.
        """
        prefixes = None if only is None else tuple(p.strip("/") for p in only)
        want = os.path.realpath(root)
        taken: dict[str, None] = {}
        for spelled, rels in self._by_root.items():
            if os.path.realpath(spelled) != want:
                continue
            for rel in list(rels):
                if prefixes is None or any(rel == p or rel.startswith(f"{p}/") for p in prefixes):
                    taken[rel] = None
                    del rels[rel]
        return list(taken)


_CURRENT: ContextVar[ChangeLog | None] = ContextVar("dendrite_changes", default=None)


def active() -> bool:
    return _CURRENT.get() is not None


def note(root: Path | str, rel: str) -> None:
    """Record that `rel` (relative to `root`) was written, replaced or removed; nothing when not recording."""
    log = _CURRENT.get()
    if log is not None:
        log.note(root, rel)


def begin() -> ChangeLog:
    """Record from now on in this context, in a fresh log (the CLI's root callback: one per run)."""
    log = ChangeLog()
    _CURRENT.set(log)
    return log


def end() -> None:
    """Stop recording in this context: a run is over (an in-process caller, e.g. a test's CliRunner, may
    call the CLI many times; what one run recorded must not reach the next caller's writes)."""
    _CURRENT.set(None)


def current() -> ChangeLog | None:
    return _CURRENT.get()


@contextlib.contextmanager
def recording() -> Iterator[ChangeLog]:
    """Record the changes made inside (a fresh log; the previous one, if any, is restored after)."""
    log = ChangeLog()
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)
