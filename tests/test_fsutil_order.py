"""The order of a batch replacement's writes, syncs and swaps (`fsutil.atomic_write_many`), on real files.

What makes "after a crash every file is its old or its new whole version" hold: a spare is written
only after the swap that last put an old target's inode into it is durable, that is after a later
filesystem sync; and every swap comes after the sync that made its new content durable. The calls are
recorded as they happen (the real syscalls still run) and the order is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dendrite import fsutil
from dendrite.fsutil import PendingWrite, atomic_write_many, repo_lock


@pytest.mark.parametrize("count", [1, 130, 3 * fsutil._CHUNK + 5])
def test_a_spare_is_written_again_only_after_its_last_swap_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    repo = tmp_path / "repo"
    targets = [repo / "sops" / "secrets" / f"s{i:04d}" / "secret" for i in range(count)]
    for t in targets:
        t.parent.mkdir(parents=True)
        t.write_bytes(b"old " + t.parent.name.encode())
    events: list[tuple[str, str]] = []

    def record(name: str, slot_arg: int | None) -> None:
        real = getattr(fsutil, name)

        def wrapper(*args: object) -> None:
            events.append((name, str(args[slot_arg]) if slot_arg is not None else ""))
            real(*args)

        monkeypatch.setattr(fsutil, name, wrapper)

    record("_write_into", 1)
    record("_exchange", 1)
    record("_syncfs", None)
    for run in range(2):  # the second run reuses the spares the first one left
        events.clear()
        with repo_lock(repo) as scratch:
            atomic_write_many(
                [PendingWrite(t, f"new {run} {t.parent.name}".encode()) for t in targets], scratch
            )
        assert all(t.read_bytes() == f"new {run} {t.parent.name}".encode() for t in targets)
        content_synced: set[str] = set()  # slots whose new content a sync has made durable
        unsynced_swap: set[str] = set()  # slots swapped since the last sync
        written: set[str] = set()
        for what, slot in events:
            if what == "_syncfs":
                content_synced |= written
                written.clear()
                unsynced_swap.clear()
            elif what == "_write_into":
                assert slot not in unsynced_swap, f"{slot} written before its last swap was synced"
                written.add(slot)
                content_synced.discard(slot)
            else:
                assert slot in content_synced, f"{slot} swapped before its new content was synced"
                unsynced_swap.add(slot)
        assert events[-1] == ("_syncfs", "")
        assert sum(1 for e in events if e[0] == "_exchange") == count
