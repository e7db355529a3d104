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
