"""The one door through which dendrite touches a repository's files.

Why: a repository is written by other people (a branch, a pull request) and may hold symlinks, FIFOs,
devices, huge files or names like `..` where dendrite expects its own files. Every access here is made
relative to a directory handle, one path component at a time, with `O_NOFOLLOW`: a symlink anywhere
below the repository's root is refused (clan's stores keep their member links, which are read with
`readlink` and never followed), so nothing dendrite reads, writes or deletes can lie outside the root.
Reads check for a regular file before reading (a FIFO never blocks) and stop at a size cap. Files and
directories are created with explicit modes, whatever the umask. Deletes never cross a symlink.

The root itself is trusted: the user named it or ran dendrite inside it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dendrite import changes
from dendrite.errors import UnsafePathError

STATE_DIR = ".dendrite"  # dendrite's own lock, scratch and journal, git-ignored
READ_LIMIT = 64 * 1024 * 1024  # no file of clan's stores comes near; a cap keeps memory bounded
DIR_MODE = 0o755
PRIVATE_DIR_MODE = 0o700
FILE_MODE = 0o644
PRIVATE_FILE_MODE = 0o600

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO never blocks


@contextlib.contextmanager
def naming(path: Path | str) -> Iterator[None]:
    """Re-raise an OSError as one about `path`.

    Why: errors of os.write and fsync carry no file name, and one about a temporary file means nothing
    to the user; the CLI turns "no space left" or "read-only file system" into a sentence naming this.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


@dataclass(frozen=True)
class Entry:
    """One directory entry, never followed: kind is 'file', 'dir', 'link' or 'other'."""

    name: str
    kind: str


@dataclass(frozen=True)
class Node:
    """One entry of `RepoFS.tree`, never followed: a link's target as text, a directory's entries."""

    kind: str  # 'file', 'dir', 'link' or 'other'
    target: str | None = None  # a link's target (None: it could not be read, or not a link)
    children: dict[str, Node] | None = None  # a directory's entries, when read to that depth


def _entry_kind(e: os.DirEntry[str]) -> str:
    """The kind of a directory entry from the type the listing gave (one lstat where it gave none)."""
    if e.is_symlink():
        return "link"
    if e.is_dir(follow_symlinks=False):
        return "dir"
    if e.is_file(follow_symlinks=False):
        return "file"
    return "other"


def _read_tree(fd: int, depth: int) -> dict[str, Node]:
    """The entries of the directory `fd`, sorted by name, to `depth` levels, every one by handle."""
    with os.scandir(fd) as it:
        kinds = {e.name: _entry_kind(e) for e in it}
    out: dict[str, Node] = {}
    for name in sorted(kinds):
        kind = kinds[name]
        if kind == "link":
            try:
                out[name] = Node("link", os.readlink(name, dir_fd=fd))
            except OSError:  # replaced meanwhile: asked again, by path, by whoever needs it
                out[name] = Node("link")
        elif kind == "dir" and depth > 1:
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed meanwhile
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                st = _lstat_at(fd, name)  # replaced by a link or a file meanwhile: never followed
                if st is not None:
                    out[name] = Node(_kind(st.st_mode))
                continue
            try:
                out[name] = Node("dir", children=_read_tree(sub, depth - 1))
            finally:
                os.close(sub)
        else:
            out[name] = _LEAVES[kind]
    return out


# frozen, so one of each kind is shared by every entry that holds no more than its kind
_LEAVES = {kind: Node(kind) for kind in ("file", "dir", "link", "other")}


def _kind(mode: int) -> str:
    return next((kind for test, kind in _KINDS if test(mode)), "other")


_KINDS = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "link"))


@dataclass(frozen=True)
class RepoFS:
    """Safe access below `root`. Paths may be absolute (under root) or relative to root."""

    root: Path

    # ---- paths -------------------------------------------------------------------------------------

    def parts(self, path: Path | str) -> tuple[str, ...]:
        """The components of `path` below the root; refuses anything that leaves it.

        Plain string work, not pathlib: a re-key asks this thousands of times.
        """
        text = os.fspath(path)
        if text.startswith("/"):
            root = os.fspath(self.root)
            if text == root:
                return ()
            if not text.startswith(root.rstrip("/") + "/"):
                raise UnsafePathError(
                    f"{path} is outside the repository {self.root}",
                    hint="dendrite only touches files below the repository's root",
                )
            text = text[len(root.rstrip("/")) + 1 :]
        parts = tuple(x for x in text.split("/") if x not in ("", "."))
        if ".." in parts or "\x00" in text:
            raise UnsafePathError(f"{path} leaves the repository {self.root}")
        return parts

    def rel(self, path: Path | str) -> str:
        return "/".join(self.parts(path)) or "."

    def changed(self, path: Path | str | tuple[str, ...]) -> None:
        """Note `path` as changed by dendrite (see `dendrite.changes`); its own `.dendrite/` is never noted.

        `path` may be given as its components (`parts`), when the caller has them."""
        if changes.active():
            parts = path if isinstance(path, tuple) else self.parts(path)
            if parts and parts[0] != STATE_DIR:
                changes.note(self.root, "/".join(parts))

    def _refuse(self, parts: tuple[str, ...], what: str, hint: str | None = None) -> UnsafePathError:
        return UnsafePathError(
            f"{'/'.join(parts) or '.'} in {self.root} {what}",
            hint=hint or "dendrite does not follow symbolic links inside a repository; remove or replace it",
        )

    # ---- directory handles -------------------------------------------------------------------------

    def _open_root(self) -> int:
        return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _step(self, fd: int, parts: tuple[str, ...], i: int, create: bool, mode: int) -> int:
        name = parts[i]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
        with contextlib.suppress(FileExistsError):  # made meanwhile: opened below with the same checks
            os.mkdir(name, mode, dir_fd=fd)
        new = os.open(name, _DIR_FLAGS, dir_fd=fd)
        os.fchmod(new, mode)  # explicit, whatever the umask
        return new

    @contextlib.contextmanager
    def open_dir(self, path: Path | str, *, create: bool = False, mode: int = DIR_MODE) -> Iterator[int]:
        """A handle on the directory `path`, no symbolic link followed on the way.

        With `create`, missing directories are made with `mode` (umask does not apply). A symlink or a
        non-directory on the way is refused; a missing one raises FileNotFoundError.
        """
        fd = self._open_parts(self.parts(path), create, mode)
        try:
            yield fd
        finally:
            os.close(fd)

    def _open_parts(self, parts: tuple[str, ...], create: bool, mode: int) -> int:
        """One openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) where the kernel has it, else a walk.

        Why both: openat2 resolves the whole path in one system call with the same guarantee as the
        walk (no link, nothing outside the root), which makes a thousand-file re-key several times
        faster; the walk remains for older kernels, for making missing directories, and to say which
        component is the link.
        """
        root = self._open_root()
        if not parts:
            return root
        try:
            fd = _openat2(root, "/".join(parts))
        except OSError as exc:
            fd = None
            if exc.errno == errno.ENOENT and not create:
                os.close(root)
                raise
        if fd is not None:
            os.close(root)
            return fd
        return self._walk(root, parts, create, mode)

    def _walk(self, fd: int, parts: tuple[str, ...], create: bool, mode: int) -> int:
        """Open `parts` below `fd` one component at a time with O_NOFOLLOW (consumes `fd`)."""
        try:
            for i in range(len(parts)):
                try:
                    nxt = self._step(fd, parts, i, create, mode)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self._refuse(parts[: i + 1], "is a symbolic link or not a directory") from None
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextlib.contextmanager
    def root_handle(self) -> Iterator[int]:
        """A handle on the root, for many `open_dir_from` calls (a batch holds it, not one per file)."""
        fd = self._open_root()
        try:
            yield fd
        finally:
            os.close(fd)

    def open_dir_from(self, root: int, parts: tuple[str, ...]) -> int:
        """`open_dir`'s handle on the directory of components `parts` (`RepoFS.parts`), resolved from
        `root_handle`'s handle; the caller closes it."""
        if not parts:
            return os.dup(root)
        fd = _openat2(root, "/".join(parts))
        return fd if fd is not None else self._walk(os.dup(root), parts, False, DIR_MODE)

    @contextlib.contextmanager
    def parent(
        self, path: Path | str, *, create: bool = False, mode: int = DIR_MODE
    ) -> Iterator[tuple[int, str]]:
        """(handle on the parent directory, last component) of `path`."""
        parts = self.parts(path)
        if not parts:
            raise UnsafePathError(f"{path} names the repository root, not a file in it")
        fd = self._open_parts(parts[:-1], create, mode)
        try:
            yield fd, parts[-1]
        finally:
            os.close(fd)

    # ---- queries -----------------------------------------------------------------------------------

    def lstat(self, path: Path | str) -> os.stat_result | None:
        """The entry itself (never followed), or None when it or a directory above it is missing."""
        try:
            with self.parent(path) as (fd, name):
                return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def kind(self, path: Path | str) -> str | None:
        st = self.lstat(path)
        return None if st is None else _kind(st.st_mode)

    def is_file(self, path: Path | str) -> bool:
        return self.kind(path) == "file"

    def is_dir(self, path: Path | str) -> bool:
        if not self.parts(path):
            return True
        return self.kind(path) == "dir"

    def exists(self, path: Path | str) -> bool:
        return self.kind(path) is not None

    def readlink(self, path: Path | str) -> str:
        with self.parent(path) as (fd, name):
            return os.readlink(name, dir_fd=fd)

    def entries(self, path: Path | str) -> list[Entry]:
        """The entries of a directory, sorted by name, none followed; [] when it does not exist."""
        try:
            with self.open_dir(path) as fd:
                out = []
                with os.scandir(fd) as it:
                    for e in it:
                        st = e.stat(follow_symlinks=False)
                        out.append(Entry(e.name, _kind(st.st_mode)))
        except FileNotFoundError:
            return []
        return sorted(out, key=lambda e: e.name)

    def tree(self, path: Path | str, depth: int = 1) -> dict[str, Node] | None:
        """The entries of the directory `path` to `depth` levels, links read and never followed.

        None when it does not exist; a symbolic link or non-directory on the way is refused. Each
        directory below `path` is opened by handle from its parent (O_NOFOLLOW), so one call reads a
        secret's directory and its member links with one path resolution.
        """
        try:
            fd = self._open_parts(self.parts(path), False, DIR_MODE)
        except FileNotFoundError:
            return None
        try:
            return _read_tree(fd, depth)
        finally:
            os.close(fd)

    # ---- reads -------------------------------------------------------------------------------------

    def read_bytes(self, path: Path | str, *, limit: int = READ_LIMIT) -> bytes:
        """A regular file's bytes. Symlinks, FIFOs, devices and directories are refused without blocking."""
        return self.read_bytes_stat(path, limit=limit)[0]

    def read_bytes_stat(self, path: Path | str, *, limit: int = READ_LIMIT) -> tuple[bytes, os.stat_result]:
        """`read_bytes`, and the file's status as it was opened (its mode, without a second lookup)."""
        root = self._open_root()
        try:
            return self._read_stat(root, path, limit)
        finally:
            os.close(root)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Callable[[Path | str, int], tuple[bytes, os.stat_result]]]:
        """`read_bytes_stat` for many files, through one handle on the root held meanwhile.

        Why: a re-key reads a thousand secrets; opening the root for each was a third of the system
        calls of its reads. Each file is still resolved below the root with no link followed.
        """
        root = self._open_root()
        try:
            yield lambda path, limit: self._read_stat(root, path, limit)
        finally:
            os.close(root)

    def _read_stat(self, root: int, path: Path | str, limit: int) -> tuple[bytes, os.stat_result]:
        """Open the file in one openat2 (no link anywhere, nothing outside the root), else by the walk.

        Any failure of the one-call open (a link, a missing file, a kernel without openat2) is asked
        again by the walk, which words the error and names the component.
        """
        parts = self.parts(path)
        fd = None
        if parts:
            with contextlib.suppress(OSError):
                fd = _openat2(root, "/".join(parts), _FILE_FLAGS)
        if fd is None:
            with self.parent(path) as (dfd, name):
                try:
                    fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise self._refuse(parts, "is a symbolic link") from None
                    raise
        try:
            return self._read_open(fd, parts, limit)
        finally:
            os.close(fd)

    def _read_open(self, fd: int, parts: tuple[str, ...], limit: int) -> tuple[bytes, os.stat_result]:
        """The bytes of the opened `fd` (`parts` names it), refused unless a regular file within `limit`."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise self._refuse(
                parts, f"is a {describe_mode(st.st_mode)}, not a regular file", hint="remove it"
            )
        if st.st_size > limit:
            raise self._refuse(
                parts,
                f"is {st.st_size} bytes, over dendrite's limit of {limit} bytes for this file",
                hint="this is not a file dendrite wrote; check where it came from",
            )
        chunks = []
        left = limit + 1
        # the size fstat saw, plus one byte to see the end, in one read: a 25 MB journal is not read in
        # 1 MiB pieces and joined again; a read shorter than asked is the end of a regular file (one
        # system call less per file of a re-key), a file that grows meanwhile is read on in pieces
        want = st.st_size + 1 if st.st_size else 1 << 20
        while left > 0:
            ask = min(left, want)
            b = os.read(fd, ask)
            want = 1 << 20
            if not b:
                break
            chunks.append(b)
            left -= len(b)
            if len(b) < ask:
                break
        data = b"".join(chunks)
        if len(data) > limit:
            raise self._refuse(parts, f"grew over the limit of {limit} bytes while read")
        return data, st

    def read_text(self, path: Path | str, *, limit: int = READ_LIMIT) -> str:
        data = self.read_bytes(path, limit=limit)
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise UnsafePathError(
                f"{self.rel(path)} in {self.root} is not UTF-8 text (byte {exc.start})"
            ) from None

    # ---- writes ------------------------------------------------------------------------------------

    def make_dirs(self, path: Path | str, mode: int = DIR_MODE) -> None:
        with self.open_dir(path, create=True, mode=mode):
            pass

    def write_bytes(
        self, path: Path | str, data: bytes, mode: int = FILE_MODE, *, dir_mode: int = DIR_MODE
    ) -> None:
        """Create or replace a file atomically and durably, with exactly `mode`.

        A temporary file is made beside the target (O_EXCL|O_NOFOLLOW), synced, and renamed over it;
        a reader sees the old bytes or the new, never a part. A directory at the target is refused.
        """
        with naming(self.root / self.rel(path)), self.parent(path, create=True, mode=dir_mode) as (dfd, name):
            st = _lstat_at(dfd, name)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise self._refuse(self.parts(path), "is a directory where a file belongs", hint="remove it")
            tmp = f".{name}.{os.getpid()}.{os.urandom(6).hex()}.tmp"
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd
            )
            try:
                try:
                    os.fchmod(fd, mode)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dfd)
                raise
            os.fsync(dfd)
        self.changed(path)

    def write_text(self, path: Path | str, text: str, mode: int = FILE_MODE) -> None:
        self.write_bytes(path, text.encode(), mode)

    def symlink(self, path: Path | str, target: str, *, dir_mode: int = DIR_MODE) -> None:
        """Create (or replace a link at) `path` pointing at the relative `target`.

        Only a link is ever replaced: a file or directory planted where the link belongs is refused.
        """
        if target.startswith("/"):
            raise UnsafePathError(f"link target {target} for {self.rel(path)} is absolute")
        with self.parent(path, create=True, mode=dir_mode) as (dfd, name):
            st = _lstat_at(dfd, name)
            if st is not None:
                if not stat.S_ISLNK(st.st_mode):
                    raise self._refuse(
                        self.parts(path),
                        f"is a {describe_mode(st.st_mode)} where a link belongs",
                        hint="remove it",
                    )
                if os.readlink(name, dir_fd=dfd) == target:
                    return
                os.unlink(name, dir_fd=dfd)
            os.symlink(target, name, dir_fd=dfd)
        self.changed(path)

    def link_to(self, link: Path | str, target: Path | str) -> None:
        """A relative symlink at `link` to `target` (both below the root), as clan writes member links."""
        lp, tp = self.parts(link), self.parts(target)
        rel = os.path.relpath(os.path.join("/", *tp), os.path.join("/", *lp[:-1]))
        self.symlink(link, rel)

    # ---- deletes -----------------------------------------------------------------------------------

    def unlink(self, path: Path | str, *, missing_ok: bool = True) -> None:
        """Remove a file or a link (never what it points to); a directory is refused."""
        try:
            with self.parent(path) as (dfd, name):
                st = _lstat_at(dfd, name)
                if st is None:
                    if missing_ok:
                        return
                    raise FileNotFoundError(errno.ENOENT, "not found", str(path))
                if stat.S_ISDIR(st.st_mode):
                    raise self._refuse(self.parts(path), "is a directory where a file belongs")
                os.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            if not missing_ok:
                raise
            return
        self.changed(path)

    def remove_tree(self, path: Path | str) -> None:
        """Remove a directory and everything in it, never crossing a symlink (links are removed as links).

        A symlink on the way to `path` is refused; a link at `path` itself is removed as a link.
        """
        try:
            with self.parent(path) as (dfd, name):
                st = _lstat_at(dfd, name)
                if st is None:
                    return
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=dfd)
                else:
                    shutil.rmtree(name, dir_fd=dfd)  # fd-based on Linux: never follows a link inside
                    os.fsync(dfd)
        except FileNotFoundError:
            return
        self.changed(path)

    @staticmethod
    def remove_entry(dir_fd: int, name: str) -> None:
        """Remove `name` in the directory `dir_fd`, whatever it is, never following a link."""
        st = _lstat_at(dir_fd, name)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)

    def remove_empty_dirs(self, start: Path | str, stop: Path | str) -> None:
        """Remove `start` and its parents while they are empty, never `stop` or above it."""
        parts, stop_parts = self.parts(start), self.parts(stop)
        while len(parts) > len(stop_parts) and parts[: len(stop_parts)] == stop_parts:
            try:
                with self.parent(Path(*parts)) as (dfd, name):
                    os.rmdir(name, dir_fd=dfd)
            except (OSError, UnsafePathError):
                return
            parts = parts[:-1]


def _lstat_at(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


_WHAT_IT_IS = (
    (stat.S_ISLNK, "symbolic link"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
)


def describe_mode(mode: int) -> str:
    """What a non-regular entry is, for messages: 'symbolic link', 'FIFO', 'device'..."""
    return next((what for test, what in _WHAT_IT_IS if test(mode)), "special file")


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine()) if sys.platform == "linux" else None
_RESOLVE = 0x02 | 0x04 | 0x08  # RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH
_LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True) if _SYS_OPENAT2 is not None else None
_HOW: dict[int, _OpenHow] = {}
_HOW_SIZE = ctypes.sizeof(_OpenHow)
_HAS_OPENAT2 = [_LIBC is not None]  # cleared at the first ENOSYS/EPERM (old kernel, seccomp filter)


def _openat2(dir_fd: int, rel: str, flags: int = _DIR_FLAGS) -> int | None:
    """The directory (with `flags`: the file) `rel` below `dir_fd` with no link and no `..` escape, or
    None to use the walk.

    A missing component raises FileNotFoundError; a link or non-directory on the way returns None so
    that the walk names the component.
    """
    if not _HAS_OPENAT2[0] or _LIBC is None or _SYS_OPENAT2 is None:
        return None
    how = _HOW.get(flags)
    if how is None:
        how = _HOW[flags] = _OpenHow(flags, 0, _RESOLVE)  # read only by the kernel: one per flags
    fd = int(_LIBC.syscall(_SYS_OPENAT2, dir_fd, os.fsencode(rel), ctypes.byref(how), _HOW_SIZE))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err == errno.ENOENT:
        raise FileNotFoundError(err, os.strerror(err), rel)
    if err in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
        _HAS_OPENAT2[0] = False
    return None
