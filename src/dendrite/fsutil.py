"""File safety: atomic writes, the repository lock, private files.

Why: a secret store must never be left half-written. Every file is written to a temporary file in
dendrite's own scratch directory on the same filesystem, flushed, then renamed over the target, so a
reader sees either the old or the new bytes and never a partial file where a secret belongs. Temporary
files live outside the store's directories, and whoever takes the repository lock next removes any that
a killed writer left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dendrite import lazy
from dendrite.errors import InputError, LockError, UnsafePathError
from dendrite.repo import Repo
from dendrite.repofs import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, STATE_DIR, RepoFS, naming

if TYPE_CHECKING:
    from dendrite import undo
else:  # only the repository lock uses it (recovery of a killed transaction): loaded when one is taken
    undo = lazy.module("dendrite.undo")

_TMP = "tmp"
_LOCK = "lock"


def state_dir(root: Path) -> Path:
    """The per-repository scratch directory, ignored by git: a real directory of ours, mode 0700.

    Why the checks: `.dendrite` could be committed by someone else. A symlink there would make the lock
    step empty a directory elsewhere; one owned by another user could be read by them.
    """
    d = Repo(root).state_dir
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
        st = os.lstat(d)
        RepoFS(root).write_text(f"{STATE_DIR}/.gitignore", "*\n")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(
            f"{d} is not a directory (a symbolic link or a file)",
            hint="dendrite keeps its lock and scratch files there: remove it and run again",
        )
    if st.st_uid != os.geteuid():
        raise UnsafePathError(
            f"{d} belongs to another user (uid {st.st_uid})", hint="remove it and run again"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(d, 0o700, follow_symlinks=False)
    return d


def scratch_dir(root: Path) -> Path:
    state_dir(root)
    RepoFS(root).make_dirs(f"{STATE_DIR}/{_TMP}", mode=0o700)
    return Repo(root).state_dir / _TMP


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_new(path: Path | str, mode: int, dir_fd: int | None = None) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, mode, dir_fd=dir_fd)


def _temp_name(target: str) -> str:
    return f"{target}.{os.getpid()}.{os.urandom(6).hex()}.tmp"


def atomic_write(path: Path, data: bytes, mode: int = 0o644, *, scratch: Path | None = None) -> None:
    """Write `data` to a path the user named (outside any repository's rules) atomically and durably.

    Repository files go through `RepoFS.write_bytes`, which refuses symlinks on the way; this is for
    files the user chose (`sops encrypt --in-place`, their own key file). The temporary file goes to
    `scratch` (same filesystem) when given, else beside the target; the mode is exact, whatever the umask.
    """
    with naming(path):
        _atomic_write(path, data, mode, scratch)


def _atomic_write(path: Path, data: bytes, mode: int, scratch: Path | None) -> None:
    tmp = (scratch if scratch is not None else path.parent) / _temp_name(path.name)
    fd = _open_new(tmp, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
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


_SPARES = "spares"
_CHUNK = 128


def _load_libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.renameat2  # noqa: B018  (probe: glibc >= 2.28)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()
_RENAME_EXCHANGE = 2


def _exchange(src_dir: int, src: str, dst_dir: int, dst: str) -> None:
    """Swap two directory entries atomically (Linux renameat2 RENAME_EXCHANGE), both by directory handle."""
    assert _LIBC is not None
    if _LIBC.renameat2(src_dir, os.fsencode(src), dst_dir, os.fsencode(dst), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), dst)


def _syncfs(fd: int) -> None:
    """Flush the filesystem holding the directory `fd` (syncfs where there is one, else sync)."""
    if _LIBC is not None and hasattr(_LIBC, "syncfs") and _LIBC.syncfs(fd) == 0:
        return
    os.sync()


def _open_spare(spares: int, slot: str, mode: int, euid: int) -> tuple[int, os.stat_result | None]:
    """A spare of ours to overwrite: a regular file with one link, never a link planted there.

    Why: `.dendrite/spares/` could hold a symlink or a hard link to a file elsewhere; writing into
    it would write ciphertext through to that file. Anything but our own plain file is replaced.
    Returns the handle and the spare's status as opened (None: made just now, empty, with `mode`).
    """
    try:
        fd = os.open(slot, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=spares)
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == euid:
            return fd, st
        os.close(fd)
    except FileNotFoundError:
        return _open_new(slot, mode, spares), None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EACCES):
            raise
    RepoFS.remove_entry(spares, slot)
    return _open_new(slot, mode, spares), None


def _write_into(spares: int, slot: str, data: bytes, mode: int, euid: int | None = None) -> None:
    """Overwrite a spare in place and cut it to length: reusing its blocks spares the allocator.

    The status the spare was opened with says its length and mode, so neither is asked or set again
    when it is already right (`euid`: the caller's, asked once per batch).
    """
    fd, st = _open_spare(spares, slot, mode, os.geteuid() if euid is None else euid)
    try:
        if st is not None and st.st_size > len(data):
            os.ftruncate(fd, len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if st is None or stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)  # explicit, whatever the umask (a new spare) or the old target's mode
    finally:
        os.close(fd)


def _target_dir(
    fs: RepoFS, target: Path, root: int | None = None, parts: tuple[str, ...] | None = None
) -> tuple[int, str]:
    """A handle on the target's directory, opened safely, and its name; what is there must be a regular file.

    `root`: a handle on the repository's root the caller holds (`RepoFS.root_handle`), from which the
    directory is opened in one openat2 where the kernel has it (no link on the way, nothing outside
    the root), else by the walk, which names a link on the way. `parts`: `fs.parts(target)`, when
    the caller has them.
    """
    if parts is None:
        parts = fs.parts(target)
    if root is not None:
        fd = fs.open_dir_from(root, parts[:-1])
    else:
        with fs.open_dir("/".join(parts[:-1]) or ".") as opened:
            fd = os.dup(opened)
    try:
        st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return fd, parts[-1]  # a new file
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePathError(
            f"{fs.rel(target)} in {fs.root} is not a regular file",
            hint="dendrite does not follow symbolic links inside a repository; remove it",
        )
    return fd, parts[-1]


def _many_by_exchange(fs: RepoFS, writes: Sequence[PendingWrite], spares: int) -> list[tuple[str, ...]]:
    """Write each new content into a spare inode, sync, then swap it with its target.

    Why: on many disks creating an inode costs far more than writing one (0.6 ms against 0.15 ms on
    the CI machine), and a re-key replaces a thousand files. The spares are kept between runs, so no
    inode is created at all; after a swap a spare holds the old ciphertext until the next run (never
    plaintext). Per chunk, one filesystem sync makes the new contents durable before any swap.

    Chunks alternate between two sets of spares: after its swaps a set holds the old versions of
    that chunk's targets, and it is written again only two chunks later, once the next chunk's sync
    has made those swaps durable. Written again by the very next chunk, a crash during that chunk's
    sync could leave a swap undone on disk while the old inode it points back to already holds
    another file's new content (the data of an overwritten inode is not ordered with the journal).

    Each target's directory is opened from one handle on the root held for the whole batch. Returns
    each target's components (`RepoFS.parts`), for the change log.
    """
    euid = os.geteuid()
    done: list[tuple[str, ...]] = []
    with fs.root_handle() as root:
        for n, start in enumerate(range(0, len(writes), _CHUNK)):
            chunk = writes[start : start + _CHUNK]
            targets: list[tuple[int, str]] = []
            try:
                for w in chunk:
                    parts = fs.parts(w.target)
                    targets.append(_target_dir(fs, w.target, root, parts))
                    done.append(parts)
                first = (n % 2) * _CHUNK
                slots = [f"spare-{first + i:03d}" for i in range(len(chunk))]
                for slot, w in zip(slots, chunk, strict=True):
                    with naming(w.target):
                        _write_into(spares, slot, w.data, w.mode, euid)
                _syncfs(spares)
                for slot, (dfd, name) in zip(slots, targets, strict=True):
                    _exchange(spares, slot, dfd, name)
            finally:
                for dfd, _ in targets:
                    os.close(dfd)
    _syncfs(spares)
    return done


def _many_by_rename(fs: RepoFS, writes: Sequence[PendingWrite], scratch: int) -> None:
    staged: list[tuple[str, PendingWrite]] = []
    try:
        for w in writes:
            tmp = _temp_name(w.target.name)
            with naming(w.target):
                fd = _open_new(tmp, w.mode, scratch)
                staged.append((tmp, w))
                with os.fdopen(fd, "wb") as fh:
                    os.fchmod(fh.fileno(), w.mode)
                    fh.write(w.data)
        _syncfs(scratch)
        for tmp, w in staged:
            dfd, name = _target_dir(fs, w.target)
            try:
                os.replace(tmp, name, src_dir_fd=scratch, dst_dir_fd=dfd)
            finally:
                os.close(dfd)
        _syncfs(scratch)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=scratch)


def atomic_write_many(
    writes: Sequence[PendingWrite], scratch: Path, *, kinds: Sequence[str | None] | None = None
) -> None:
    """Replace or create many files below one repository, each atomically, with one sync per chunk.

    A crash at any moment leaves every target either old or new, never partial, and no temporary file
    beside a target. `scratch` is the lock holder's scratch directory `<root>/.dendrite/tmp` (see
    `repo_lock`); every target must lie below that root and is reached without following a symlink.
    `kinds`: what a caller holding the lock found at each target (`RepoFS.kind`) just before, which
    spares looking again; each target is checked once more, by handle, when it is replaced.
    """
    if not writes:
        return
    if scratch.parent.name != STATE_DIR:
        raise ValueError(f"{scratch} is not a repository's scratch directory")
    fs = RepoFS(scratch.parent.parent)
    if kinds is None or len(kinds) != len(writes):
        kinds = [fs.kind(w.target) for w in writes]  # refuses a symlink on the way before any write
    for w, kind in zip(writes, kinds, strict=True):
        if kind not in (None, "file"):
            raise UnsafePathError(
                f"{fs.rel(w.target)} in {fs.root} is a {'symbolic link' if kind == 'link' else kind}, "
                "not a regular file; nothing was written",
                hint="dendrite does not follow symbolic links inside a repository; remove it",
            )
    if _LIBC is not None and all(k == "file" for k in kinds):
        with fs.open_dir(f"{STATE_DIR}/{_SPARES}", create=True, mode=0o700) as spares:
            try:
                for parts in _many_by_exchange(fs, writes, spares):
                    fs.changed(parts)
                return
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                # this filesystem cannot exchange entries: fall back to creating and renaming
    for w in writes:
        fs.make_dirs(w.target.parent)
    with fs.open_dir(f"{STATE_DIR}/{_TMP}", create=True, mode=0o700) as sfd:
        _many_by_rename(fs, writes, sfd)
    _note_changed(fs, writes)


def _note_changed(fs: RepoFS, writes: Sequence[PendingWrite]) -> None:
    """Every target is in the change log (`dendrite.changes`): the git commit that follows names it."""
    for w in writes:
        fs.changed(w.target)


# Private files (0600), one home: a file the user named (`write_private`, `append_private`) and a new
# file in a directory dendrite holds a handle on (`write_private_at`); a repository's own private files
# go through `RepoFS.write_bytes(..., PRIVATE_FILE_MODE)`, which refuses links on the way.


def write_private(path: Path, data: bytes) -> None:
    """Create or replace a file the user named, readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    atomic_write(path, data, mode=PRIVATE_FILE_MODE)


def write_private_at(dir_fd: int, name: str, data: bytes) -> None:
    """Create `name` (it must not exist, nor be a link) in the directory `dir_fd`, 0600 whatever the umask."""
    fd = _open_new(name, PRIVATE_FILE_MODE, dir_fd)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), PRIVATE_FILE_MODE)
        fh.write(data)


def append_private(path: Path, data: bytes) -> None:
    """Append to a private key file, creating it 0600; existing content is never rewritten.

    A file that others can read is refused: a private key must never be appended to it.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        st = os.fstat(fd)
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise UnsafePathError(
                f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                "no private key was written to it",
                hint=f"chmod 600 {path}, then run again",
            )
        with naming(path):
            os.write(fd, data)
            os.fsync(fd)
    finally:
        os.close(fd)


_HELD_LOCK_FDS: set[int] = set()
_PR_SET_PDEATHSIG = 1


def detach_forked_worker() -> None:
    """Call first thing in a process forked while the repository lock is held.

    Why: a forked child shares the lock's open file description; if the parent is killed, a child
    that lives on keeps the repository locked. Closing the child's copy never releases the parent's
    flock (that needs every copy closed), and on Linux the child is told to die with its parent.
    """
    for fd in list(_HELD_LOCK_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCK_FDS.clear()
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@contextlib.contextmanager
def repo_lock(root: Path, timeout: float | None = None) -> Iterator[Path]:
    """Hold the repository's exclusive write lock; yields the scratch directory.

    flock is released by the kernel when the holder dies, so a killed writer never leaves the
    repository locked. On entry the scratch directory is emptied (any file there belongs to a writer
    that died, since only the lock holder writes there) and an interrupted transaction is rolled back.
    """
    if timeout is None:
        timeout = float(os.environ.get("DENDRITE_LOCK_TIMEOUT", "60"))
    sd = state_dir(root)
    fs = RepoFS(root)
    with fs.open_dir(STATE_DIR) as sdfd:
        fd = os.open(
            _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600, dir_fd=sdfd
        )
    deadline = time.monotonic() + timeout
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"{sd / _LOCK} is not a regular file", hint="remove it and run again")
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
        _HELD_LOCK_FDS.add(fd)
        fs.remove_tree(f"{STATE_DIR}/{_TMP}")
        fs.make_dirs(f"{STATE_DIR}/{_TMP}", mode=0o700)
        undo.recover(fs)  # a transaction a killed writer left is rolled back before anyone writes
        yield sd / _TMP
    finally:
        _HELD_LOCK_FDS.discard(fd)
        os.close(fd)


def read_regular_file(path: Path, *, limit: int) -> bytes:
    """The bytes of `path`, refusing anything but a regular file of at most `limit` bytes."""
    return read_regular_file_stat(path, limit=limit)[0]


def read_regular_file_stat(path: Path, *, limit: int) -> tuple[bytes, os.stat_result]:
    """`read_regular_file`, with the opened file's stat (its mode, for a key file's permission warning).

    Why O_NONBLOCK and fstat: a FIFO planted where a file belongs would block a plain open forever; a
    non-blocking open returns at once, and fstat on the opened descriptor (not the path, which may be
    swapped meanwhile) says what it is. OSError (missing, unreadable) is left to the caller.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path} is not a regular file", hint="replace it with a plain file")
        if st.st_size > limit:
            raise InputError(
                f"{path} is {st.st_size:,} bytes, over dendrite's limit of {limit:,} for this file",
                hint="is it really the file dendrite expects here?",
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size) or 1):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # the file grew while read
                raise InputError(f"{path} is over dendrite's limit of {limit:,} bytes for this file")
        return b"".join(chunks), st
    finally:
        os.close(fd)
