"""Syntax checks of many Nix files: each file's diagnostics, in input order, on every core for big batches.

A large batch (a whole repository) is split over a few forked worker processes: parsing is pure Python,
so one process uses one core. Only the diagnostics travel back, never the trees. Below POOL_MIN_FILES
files, or where `fork` is not the safe default (macOS, Windows), the files are checked in this process:
starting workers would cost more than it saves.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError, InputError
from dendrite.nixlang.source import Diagnostic, ParsedFile, parse_file

BINARY_LOOK = 8192  # bytes looked at to tell binary data from Nix source
POOL_MIN_FILES = 64  # fewer files are parsed faster than two processes start
MAX_JOBS = 8  # worker processes at most, whatever the machine
CHUNKS_PER_JOB = 4  # each worker takes files in a few chunks, so one slow chunk does not idle the rest


@dataclass(frozen=True)
class FileCheck:
    path: str
    ok: bool
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class _Unreadable:
    """A file that could not be checked at all (missing, too big, not readable): the error to raise."""

    message: str
    hint: str | None


def diagnostics(parsed: ParsedFile) -> list[Diagnostic]:
    """The file's syntax errors; a binary file (a NUL byte, or bytes that are not UTF-8, near its
    start) is one error, not one per byte the parser meets."""
    found = parsed.diagnostics
    head = parsed.text[:BINARY_LOOK]
    if len(found) > 1 and ("\x00" in head or any("\udc80" <= c <= "\udcff" for c in head)):
        return [
            Diagnostic(
                parsed.path,
                found[0].position,
                f"binary data, not Nix source ({len(found)} syntax errors from here on)",
            )
        ]
    return found


def check_file(path: Path) -> FileCheck:
    parsed = parse_file(path)
    return FileCheck(parsed.path, parsed.ok, tuple(diagnostics(parsed)))


def _check_in_worker(path: Path) -> FileCheck | _Unreadable:
    try:
        return check_file(path)
    except DendriteError as exc:  # raised again in the parent, in input order
        return _Unreadable(exc.message, exc.hint)


def _ignore_interrupt() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the pool), not a traceback per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _jobs(files: int) -> int:
    if files < POOL_MIN_FILES or sys.platform != "linux":
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS, files // (POOL_MIN_FILES // 2)))


def check_files(paths: Sequence[Path]) -> list[FileCheck]:
    """Every file's check, in the order given; the first unreadable file (in that order) raises.

    The cycle collector is paused meanwhile (and so in the forked workers): a parse makes no reference
    cycles, its tree is freed by reference counting, yet the collector would walk every live node
    again and again as a file's tokens and nodes are made (a tenth of the time).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_all(paths)
    finally:
        if was_enabled:
            gc.enable()


def _check_all(paths: Sequence[Path]) -> list[FileCheck]:
    jobs = _jobs(len(paths))
    if jobs == 1:
        return [check_file(p) for p in paths]
    import multiprocessing  # only a big batch pays for it

    chunk = max(1, len(paths) // (jobs * CHUNKS_PER_JOB))
    results: list[FileCheck] = []
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_ignore_interrupt) as pool:
        for r in pool.imap(_check_in_worker, paths, chunksize=chunk):
            if isinstance(r, _Unreadable):
                raise InputError(r.message, hint=r.hint)
            results.append(r)
    return results
