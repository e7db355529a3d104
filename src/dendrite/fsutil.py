"""File safety: atomic writes, the repository lock, private files.

Why: a secret store must never be left half-written. Every file is written to a temporary file in
dendrite's own scratch directory on the same filesystem, flushed, then renamed over the target, so a
reader sees either the old or the new bytes and never a partial file where a secret belongs. Temporary
files live outside the store's directories, and whoever takes the repository lock next removes any that
a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets as _random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import LockError

STATE_DIR = ".dendrite"
_TMP = "tmp"
_LOCK = "lock"


def state_dir(root: Path) -> Path:
    """The per-repository scratch directory, ignored by git."""
    d = root / STATE_DIR
    if not d.is_dir():
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        (d / ".gitignore").write_text("*\n")
    return d


def scratch_dir(root: Path) -> Path:
    d = state_dir(root) / _TMP
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_new(path: Path, mode: int) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)


def _temp_path(directory: Path, target: Path) -> Path:
    return directory / f"{target.name}.{os.getpid()}.{_random.token_hex(6)}.tmp"


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, scratch: Path | None = None) -> None:
    """Write `data` to `path` atomically and durably.

    The temporary file goes to `scratch` (same filesystem) when given, else beside the target.
    """
    tmp = _temp_path(scratch if scratch is not None else path.parent, path)
    fd = _open_new(tmp, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class PendingWrite:
    target: Path
    data: bytes
    mode: int = 0o644


def atomic_write_many(writes: Sequence[PendingWrite], scratch: Path) -> None:
    """Replace many files, each atomically, with two filesystem syncs in all instead of one per file.

    Why: re-keying a thousand secrets with an fsync per file costs more than the cryptography. Phase
    one writes every new content to scratch; one sync makes them durable; phase two renames them into
    place (each rename is atomic); a final sync makes the renames durable. A crash at any moment leaves
    every target either old or new.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for w in writes:
            tmp = _temp_path(scratch, w.target)
            fd = _open_new(tmp, w.mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(w.data)
            staged.append((tmp, w.target))
        os.sync()
        for tmp, target in staged:
            os.replace(tmp, target)
        os.sync()
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def write_private(path: Path, data: bytes) -> None:
    """Create or replace a file readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, mode=0o600)


def append_private(path: Path, data: bytes) -> None:
    """Append to a private key file, creating it 0600; existing content is never rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def repo_lock(root: Path, timeout: float | None = None) -> Iterator[Path]:
    """Hold the repository's exclusive write lock; yields the scratch directory.

    flock is released by the kernel when the holder dies, so a killed writer never leaves the
    repository locked. On entry the scratch directory is emptied: any file there belongs to a writer
    that died, since only the lock holder writes there.
    """
    if timeout is None:
        timeout = float(os.environ.get("DENDRITE_LOCK_TIMEOUT", "60"))
    sd = state_dir(root)
    fd = os.open(sd / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"another dendrite process holds the lock {sd / _LOCK} (waited {timeout:.0f}s)",
                        hint="wait for it to finish, or check for a stuck process",
                    ) from None
                time.sleep(0.05)
        scratch = sd / _TMP
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(mode=0o700)
        yield scratch
    finally:
        os.close(fd)


def relative_symlink(target: Path, link: Path) -> None:
    """Create (or replace) `link` pointing at `target` by a relative path, as clan does."""
    link.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(target, link.parent)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(rel, link)


def remove_empty_dirs(start: Path, stop: Path) -> None:
    """Remove `start` and its parents while they are empty, never going above `stop`."""
    cur = start
    while cur != stop and stop in cur.parents:
        try:
            cur.rmdir()
        except OSError:
            return
        cur = cur.parent
