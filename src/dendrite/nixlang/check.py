"""Syntax checks of many Nix files: each file's diagnostics, in input order, on every core for big batches.

A large batch (a whole repository) is shared by this process and a few forked children: parsing is
pure Python, so one process uses one core. Only the diagnostics travel back, never the trees. Below
POOL_MIN_FILES files, or where `fork` is not the safe default (macOS, Windows), the files are checked
in this process alone: forking would cost more than it saves.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from dendrite.errors import DendriteError, InputError
from dendrite.nixlang.recognise import valid
from dendrite.nixlang.source import Diagnostic, ParsedFile, decode, parse_bytes, read_nix_file

BINARY_LOOK = 8192  # bytes looked at to tell binary data from Nix source
POOL_MIN_FILES = 64  # fewer files are parsed faster than two processes start
MAX_JOBS = 8  # worker processes at most, whatever the machine


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
    """One file's check: the recogniser answers for a file without errors, the parser for any other
    (its diagnostics are the parser's, whichever way the file went)."""
    data = read_nix_file(path)
    if valid(decode(data)):
        return FileCheck(str(path), True, ())
    parsed = parse_bytes(data, str(path))
    return FileCheck(parsed.path, parsed.ok, tuple(diagnostics(parsed)))


def _check_in_worker(path: Path) -> FileCheck | _Unreadable:
    try:
        return check_file(path)
    except DendriteError as exc:  # raised again in the parent, in input order
        return _Unreadable(exc.message, exc.hint)


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
    checked = [check_file(p) for p in paths] if jobs == 1 else _check_shared(paths, jobs)
    results: list[FileCheck] = []
    for r in checked:
        if isinstance(r, _Unreadable):
            raise InputError(r.message, hint=r.hint)
        results.append(r)
    return results


def _check_shared(paths: Sequence[Path], jobs: int) -> list[FileCheck | _Unreadable]:
    """Every file's check, by this process and `jobs - 1` forked children taking files from one queue.

    Why not multiprocessing.Pool: importing it and starting its workers costs more than a tenth of a
    whole repository's check, and the parent would sit idle. Here the queue is an anonymous file of
    file numbers, biggest file first (so the last pieces of work are small), shared by every process:
    a read of one entry from a shared file offset is atomic, so each file is taken once. A child sends
    back what it checked; whatever a child did not send (it failed or was killed), the parent checks.
    """
    order = sorted(range(len(paths)), key=lambda i: _size(paths[i]), reverse=True)
    try:
        queue = os.memfd_create("dendrite-check-queue", os.MFD_CLOEXEC)
    except OSError:  # a kernel before 3.17, or a sandbox that refuses it: one process does it all
        return [_check_in_worker(p) for p in paths]
    children: dict[int, int] = {}  # pid -> read end of the pipe its results come through
    try:
        _write_all(queue, b"".join(i.to_bytes(_ENTRY, "little") for i in order))
        os.lseek(queue, 0, os.SEEK_SET)
        for _ in range(jobs - 1):
            r, w = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no more processes allowed: those started (or this one) do the rest
                os.close(r)
                os.close(w)
                break
            if pid == 0:  # pragma: no cover (a child; coverage does not follow it)
                os.close(r)
                _child(paths, queue, w)
            os.close(w)
            children[pid] = r
        done = dict(_take(paths, queue))
        while children:
            pid, r = next(iter(children.items()))
            found = _receive(r)
            del children[pid]
            os.close(r)
            os.waitpid(pid, 0)
            done.update(found)
        return [done[i] if i in done else _check_in_worker(p) for i, p in enumerate(paths)]
    finally:
        os.close(queue)
        for pid, r in children.items():  # an error or Ctrl-C here: the children's work is not wanted
            os.close(r)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)


_ENTRY = 4  # bytes per queue entry: a file's number


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # checked (and reported) later
        return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _take(paths: Sequence[Path], queue: int) -> Iterator[tuple[int, FileCheck | _Unreadable]]:
    """Files from the shared queue until it is empty, each with its check."""
    while len(entry := os.read(queue, _ENTRY)) == _ENTRY:
        i = int.from_bytes(entry, "little")
        yield i, _check_in_worker(paths[i])


def _child(paths: Sequence[Path], queue: int, out: int) -> NoReturn:
    """In a forked child: check files from the queue, send (number, check) pairs, and leave at once
    (no atexit handler or `finally` of the parent's must run twice)."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        found: list[tuple[int, FileCheck | _Unreadable]] = []
        with contextlib.suppress(Exception):  # a failure stops this child; the parent meets it again
            found.extend(_take(paths, queue))
        _write_all(out, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:
        status = 1
    finally:
        os._exit(status)


def _receive(fd: int) -> list[tuple[int, FileCheck | _Unreadable]]:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    try:
        found: list[tuple[int, FileCheck | _Unreadable]] = pickle.loads(b"".join(chunks))
    except Exception:  # the child was cut short: the parent checks its files
        return []
    return found
