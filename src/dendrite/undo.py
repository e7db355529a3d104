"""An undo journal for a transaction over whole directory trees of the repository.

Why: a `vars generate` run writes many files in many directories, and the tree is only consistent as
a whole (a CA and the certificates it signed). Each file is atomic; the journal makes the set atomic:

1. Under the repository lock, the directories the transaction will touch are snapshotted (files, links
   and modes, as they are on disk: ciphertext and public values only, never a plaintext secret) into
   `.dendrite/vars-undo.json`, written atomically and synced.
2. The caller writes.
3. Deleting the journal is the commit point.

If step 2 fails, the directories are restored at once. If the process is killed between 1 and 3, the
journal is still there, and the next holder of the repository lock (`fsutil.repo_lock`, whatever the
command) rolls the directories back before anything else. Rolling back is idempotent, so a crash during
recovery is recovered the same way. Only paths below `vars/` may appear in a journal: `.dendrite/`
could come from someone else's copy of the repository.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dendrite import boundedjson
from dendrite.errors import InputError, UnsafePathError
from dendrite.repo import VARS_DIR
from dendrite.repofs import PRIVATE_FILE_MODE, STATE_DIR, RepoFS

JOURNAL = f"{STATE_DIR}/vars-undo.json"
_JOURNAL_VERSION = 1

Entry = tuple[str, str, int, str]  # (path below the root, kind "dir"|"file"|"link", mode, base64 or target)


@contextlib.contextmanager
def transaction(fs: RepoFS, dirs: Sequence[Path | str]) -> Iterator[None]:
    """Everything written below `dirs` inside is kept together or rolled back (see the module doc).

    The caller holds the repository lock. A planted link or special file in a directory is refused
    here, before anything is written.
    """
    journal = _snapshot(fs, sorted({fs.rel(d) for d in dirs}))
    fs.write_bytes(JOURNAL, json.dumps(journal).encode(), PRIVATE_FILE_MODE)
    try:
        yield
    except BaseException:
        _rollback(fs, journal)
        fs.unlink(JOURNAL)
        raise
    fs.unlink(JOURNAL)  # the commit point
    with fs.open_dir(STATE_DIR) as fd:
        os.fsync(fd)


def _snapshot(fs: RepoFS, dirs: list[str]) -> dict[str, Any]:
    """Each directory's tree as it is (None when absent), and the parents that do not exist yet."""
    out: dict[str, list[Entry] | None] = {}
    created: set[str] = set()
    for d in dirs:
        parts = fs.parts(d)
        if not parts or parts[0] != VARS_DIR:
            raise UnsafePathError(f"{d} is not below vars/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if fs.kind(parent) is None:
                created.add(parent)
        kind = fs.kind(d)
        if kind is None:
            out[d] = None
        elif kind != "dir":
            raise UnsafePathError(
                f"{d} in {fs.root} is a {'symbolic link' if kind == 'link' else kind}, not a directory",
                hint="dendrite does not follow symbolic links inside a repository; remove it",
            )
        else:
            out[d] = list(_tree(fs, d))
    return {"version": _JOURNAL_VERSION, "dirs": out, "created": sorted(created)}


def _tree(fs: RepoFS, d: str) -> Iterator[Entry]:
    st = fs.lstat(d)
    assert st is not None
    yield (d, "dir", stat.S_IMODE(st.st_mode), "")
    for e in fs.entries(d):
        path = f"{d}/{e.name}"
        if e.kind == "dir":
            yield from _tree(fs, path)
        elif e.kind == "link":
            yield (path, "link", 0, fs.readlink(path))
        elif e.kind == "file":
            mode = fs.lstat(path)
            assert mode is not None
            yield (path, "file", stat.S_IMODE(mode.st_mode), base64.b64encode(fs.read_bytes(path)).decode())
        else:
            raise UnsafePathError(f"{path} in {fs.root} is not a file, link or directory", hint="remove it")


def _check_journal(journal: Any) -> None:
    """A journal is only ever ours, but `.dendrite/` could come from a clone: every path must be in vars/."""
    if journal["version"] != _JOURNAL_VERSION:
        raise ValueError(f"version {journal['version']!r}")
    for d, entries in journal["dirs"].items():
        for path in [d, *(e[0] for e in entries or [])]:
            parts = RepoFS(Path("/")).parts(path)
            if not parts or parts[0] != VARS_DIR or not (path == d or path.startswith(f"{d}/")):
                raise ValueError(f"path {path!r} is not below vars/")
    for p in journal["created"]:
        if RepoFS(Path("/")).parts(p)[:1] != (VARS_DIR,):
            raise ValueError(f"path {p!r} is not below vars/")


def _rollback(fs: RepoFS, journal: dict[str, Any]) -> None:
    """Put every directory back exactly as snapshotted (idempotent: safe to repeat after a crash)."""
    for d, entries in journal["dirs"].items():
        fs.remove_tree(d)
        for path, kind, mode, data in entries or []:
            if kind == "dir":
                fs.make_dirs(path, mode=mode)
            elif kind == "file":
                fs.write_bytes(path, base64.b64decode(data, validate=True), mode)
            else:
                with fs.parent(path) as (dfd, name):
                    os.symlink(data, name, dir_fd=dfd)  # as it was, even if clan would not write it so
    for parent in sorted(journal["created"], key=lambda p: -p.count("/")):
        with contextlib.suppress(OSError, UnsafePathError), fs.parent(parent) as (dfd, name):
            os.rmdir(name, dir_fd=dfd)  # only if still empty: never another run's files


def recover(fs: RepoFS) -> bool:
    """Roll back a transaction a killed process left (the caller holds the lock). True if there was one.

    `repo_lock` calls this as soon as it holds the lock, so every writer (a secrets re-key as well as
    the next vars run) starts from the state before the interrupted transaction, never from half of it.
    """
    if fs.kind(JOURNAL) is None:
        return False
    try:
        journal = boundedjson.loads(fs.read_bytes(JOURNAL), str(fs.root / JOURNAL))
        _check_journal(journal)
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error, InputError) as exc:
        raise InputError(
            f"{fs.root / JOURNAL} (the undo journal of an interrupted vars run) is damaged ({exc})",
            hint="remove it, then run 'dendrite vars check' and regenerate what it reports",
        ) from None
    _rollback(fs, journal)
    fs.unlink(JOURNAL)
    return True
