"""`workers.forked`: children forked with the parent's memory, each sending one result back.

The re-key's workers run on it (`secrets.rekey._rewrap_all`); its interruption by a real SIGINT is
tests/cli/test_interrupt.py's. Here: results in fork order, a child's failure and a child's death
are the parent's error (never a hang, never a silent gap), and no child outlives the block.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dendrite import workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_each_child_sends_its_result_and_sees_the_parents_memory() -> None:
    big = [bytes([i]) * 100_000 for i in range(30)]  # 3 MB back: more than a pipe holds
    with workers.forked(lambda: (os.getpid(), big), 3) as results:
        got = results()
    pids = [pid for pid, _ in got]  # type: ignore[misc]
    assert len(set(pids)) == 3 and os.getpid() not in pids
    assert all(data == big for _, data in got)  # type: ignore[misc]
    assert not any(_alive(p) for p in pids)


def _fails() -> object:
    raise ValueError("no such thing")


def test_a_childs_failure_is_the_parents_error() -> None:
    with (
        pytest.raises(workers.WorkerLost, match="ValueError: no such thing"),
        workers.forked(_fails, 1) as results,
    ):
        results()


def test_a_child_that_dies_is_the_parents_error() -> None:
    with (
        pytest.raises(workers.WorkerLost, match="ended without sending"),
        workers.forked(lambda: os._exit(3), 1) as results,
    ):
        results()


def test_children_are_killed_when_the_parent_leaves_early(tmp_path: Path) -> None:
    def work() -> object:
        (tmp_path / str(os.getpid())).touch()
        time.sleep(60)
        return None

    with pytest.raises(KeyboardInterrupt), workers.forked(work, 2):
        deadline = time.monotonic() + 30
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert len(pids) == 2
    assert not any(_alive(p) for p in pids)
