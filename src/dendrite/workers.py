"""Forked worker processes that an interruption stops at once, with no traceback and no hang.

Why not a bare ProcessPoolExecutor: Ctrl-C sends SIGINT to the whole foreground process group. Each
worker then dies with a KeyboardInterrupt traceback of its own, possibly while holding the pool's
queue lock, and the executor's shutdown (and the interpreter's exit, which joins the executor's
thread) waits for a result that never comes: `secrets groups add-user` over 2,408 secrets hung so.
Here workers ignore SIGINT. When the parent is interrupted inside the pool it cancels what is queued
and kills the workers at once (they only compute in memory, so nothing is lost; a generator's script
may run for minutes). A worker killed while it writes a result leaves half a message in the result
pipe, and the executor's thread then waits for the rest forever, so the interpreter's exit would hang
joining it: a process interrupted here must end with `os._exit` (the CLI does, after its one line).
Any other exception inside the pool cancels what is queued and waits for the items already running,
which ends the executor cleanly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


def can_fork() -> bool:
    import multiprocessing as mp  # here, not at import: a command that never forks does not load it

    return "fork" in mp.get_all_start_methods()


def _start(initializer: Callable[..., object] | None, initargs: tuple[Any, ...]) -> None:
    # forked with SIGINT blocked (see fork_pool): ignore it for good, then unblock; a SIGINT that
    # arrived meanwhile is discarded by SIG_IGN, and the parent decides (see the module doc)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if initializer is not None:
        initializer(*initargs)


def _ready() -> None:
    """A first task: makes the pool fork every worker now, in this thread (a fork pool starts them all
    at its first submit, in the submitting thread). Not waited for: the workers start up while the
    caller goes on (a re-key's parent works beside them)."""


@contextlib.contextmanager
def fork_pool(
    workers: int, initializer: Callable[..., object] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """A ProcessPoolExecutor of forked workers; on an exception inside, stopped without waiting.

    The workers are forked while SIGINT is blocked in this thread: between the fork and `_start`, a
    child runs the parent's handlers (logging's at-fork hooks, multiprocessing's bootstrap), where a
    KeyboardInterrupt would print a traceback. A SIGINT meanwhile reaches the parent when unblocked.

    The objects that exist at the fork are frozen for the pool's life (`gc.freeze`): parent and workers
    share their memory pages until one writes to them, and a collection passing over them would write
    to every page, copying them in both (a re-key's parent spends about a sixth less time).
    """
    import gc
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(
        workers, mp_context=mp.get_context("fork"), initializer=_start, initargs=(initializer, initargs)
    )
    gc.freeze()
    try:
        main = threading.current_thread() is threading.main_thread()
        if main:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pool.submit(_ready)
        finally:
            if main:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        yield pool
    except KeyboardInterrupt:
        stop(pool)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        gc.unfreeze()


def stop(pool: ProcessPoolExecutor) -> None:
    """Cancel queued work and kill the workers (their work is in memory only), then reap them.

    The process must then end with `os._exit` (see the module doc)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(5)


class WorkerLost(RuntimeError):
    """A forked child ended without sending its result (killed, or failed): a bug or the machine's doing."""


@contextlib.contextmanager
def forked(work: Callable[[], object], count: int) -> Iterator[Callable[[], list[object]]]:
    """`count` children forked now, each running `work()` once; yields a function that waits for all
    and returns their results (in fork order), each sent back pickled through a pipe of its own.

    Why beside `fork_pool`: a pool imports `concurrent.futures` and `multiprocessing` (about 10 ms),
    and hands over tasks and results by threads of the parent's that wait for the interpreter lock
    while the parent computes; a child that only needs the memory it was forked with, and sends one
    answer at the end, needs none of it (the re-key's workers).

    The same rules as `fork_pool`: forked with SIGINT blocked, a child ignores SIGINT for good and
    the parent decides; on any exception inside (Ctrl-C included) the children are killed and reaped
    before it goes on, and they only ever compute in memory. A child leaves by `os._exit`, so it runs
    no `atexit` hook nor flushes any buffer it inherited. The objects that exist at the fork are
    frozen meanwhile (`gc.freeze`, see `fork_pool`).
    """
    import gc
    import pickle

    children: list[tuple[int, int]] = []  # (pid, read end)
    gc.freeze()
    try:
        main = threading.current_thread() is threading.main_thread()
        for _ in range(count):
            read_end, write_end = os.pipe()
            if main:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                pid = os.fork()
                if pid == 0:
                    _child(work, read_end, write_end, pickle.dumps)  # never returns
            finally:
                if main:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            os.close(write_end)
            children.append((pid, read_end))

        def results() -> list[object]:
            out = []
            while children:
                pid, read_end = children[0]
                data = _read_all(read_end)
                os.close(read_end)
                os.waitpid(pid, 0)
                children.pop(0)
                if not data:
                    raise WorkerLost(f"worker {pid} ended without sending its result")
                ok, value = pickle.loads(data)
                if not ok:
                    raise WorkerLost(f"worker {pid} failed: {value}")
                out.append(value)
            return out

        yield results
    finally:
        for pid, _ in children:  # still here: the caller did not wait (an exception, Ctrl-C)
            with contextlib.suppress(ProcessLookupError, OSError):
                os.kill(pid, signal.SIGKILL)
        for pid, read_end in children:
            with contextlib.suppress(OSError):
                os.close(read_end)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        gc.unfreeze()


def _child(
    work: Callable[[], object], read_end: int, write_end: int, dumps: Callable[[object], bytes]
) -> None:
    """A forked child: run `work`, send (ok, result or the error's text) through `write_end`, leave."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        os.close(read_end)
        try:
            data = dumps((True, work()))
        except BaseException as exc:  # sent as text: the parent reports it, with the child's pid
            data = dumps((False, f"{type(exc).__name__}: {exc}"))
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view) :]
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)
