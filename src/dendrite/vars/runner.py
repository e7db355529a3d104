"""Running one generator's script and reading back what it wrote, on the assumption that the script
(from a repository someone else wrote) is hostile.

Where plaintext exists, and for how long:

- Dependency secrets (`$in/<generator>/<file>`), prompt answers (`$prompts/<name>`) and the outputs
  (`$out/<file>`) live in a work dir `dendrite-vars-<pid>-<start time>-<random>` (mode 0700) on a
  memory-backed filesystem: /dev/shm, else $XDG_RUNTIME_DIR, when either is a tmpfs. Nothing of it
  reaches a disk unless the admin sets DENDRITE_VARS_ALLOW_DISK=1 (then it is in $TMPDIR or /tmp).
- The work dir exists from just before the script starts until its outputs are read, and is removed
  in a `finally`. If dendrite is killed (SIGKILL, power aside), it stays in memory until the next
  `vars generate` of the same user, which first removes every work dir whose process is dead, or until
  the machine reboots. The script dies with dendrite (bwrap --die-with-parent, PR_SET_PDEATHSIG).
- Inside the bwrap sandbox, the script's /tmp is a private tmpfs that vanishes with the sandbox;
  unsandboxed, its TMPDIR is inside the work dir.
- The script's stdout and stderr are kept in dendrite's memory only (their last 64 KiB); a failure's
  stderr tail goes into the error message.

The runner, not the script, owns `$out`: it holds a descriptor of the directory it made, refuses a run
after which `$out` is another file (a symbolic link to /proc/self, to a host directory...), and reads
each declared file relative to that descriptor with O_NOFOLLOW, refusing symbolic links, FIFOs,
devices, directories and anything over the output limit. It never opens a path the script chose.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.fsutil import write_private_at
from dendrite.generators import FileSpec, Generator
from dendrite.repofs import describe_mode
from dendrite.vars.sandbox import LIMIT_HINT, TIMEOUT, run_script

DEFAULT_MAX_OUTPUT = 1024 * 1024
"""Bytes one declared output file (and any file the script writes) may hold, unless configured."""
HARD_MAX_OUTPUT = 256 * 1024 * 1024
"""The most a repository's dendrite.toml may ask for: the repository is not trusted to lift the cap."""
MAX_OUTPUT_ENV = "DENDRITE_VARS_MAX_OUTPUT"
ALLOW_DISK_ENV = "DENDRITE_VARS_ALLOW_DISK"
PREFIX = "dendrite-vars-"

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MEMORY_FS = frozenset({"tmpfs", "ramfs"})
_WORKDIR = re.compile(re.escape(PREFIX) + r"(\d+)-(\d+)-[0-9a-f]+")
_LEGACY = re.compile(re.escape(PREFIX) + r"[a-z0-9_]{8}")  # mkdtemp's, before pids were in the name


def max_output(configured: int | None = None) -> int:
    """The per-file output limit: $DENDRITE_VARS_MAX_OUTPUT (the admin's) over the repository's
    `[vars] max_output` (passed in as `configured`, at most HARD_MAX_OUTPUT) over the default."""
    raw = os.environ.get(MAX_OUTPUT_ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise InputError(f"{MAX_OUTPUT_ENV} is {raw!r}, not a positive number of bytes")
        return int(raw)
    return DEFAULT_MAX_OUTPUT if configured is None else configured


def config_max_output(config: Mapping[str, Any]) -> int | None:
    """`[vars] max_output` of dendrite.toml, checked; None when it is not set."""
    value = (config.get("vars") or {}).get("max_output")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= HARD_MAX_OUTPUT:
        raise InputError(
            f"dendrite.toml: vars.max_output must be a number of bytes from 1 to {HARD_MAX_OUTPUT}",
            hint=f"a larger limit can only come from the environment ({MAX_OUTPUT_ENV})",
        )
    return value


def run_generator(
    gen: Generator,
    machine: str,
    inputs: Mapping[str, Mapping[str, bytes]],
    prompts: Mapping[str, str],
    *,
    sandbox: bool,
    limit: int | None = None,
) -> dict[str, bytes]:
    """The declared files the script wrote (a missing one is simply absent), or an InputError."""
    label = f"'{gen.name}' ({machine})"
    cap = max_output(limit)
    with _workdir(label) as (work, rootfd):
        dirfds: dict[str, int] = {}
        try:
            for name in ("in", "out", "prompts", "tmp"):
                dirfds[name] = _subdir(rootfd, name)
            _write_inputs(dirfds["in"], dirfds["prompts"], inputs, prompts, label)
            env = {name: str(work / name) for name in ("in", "out", "prompts")}
            run_script(
                gen.script, work, env, gen.runtime_inputs, sandbox=sandbox, label=label, max_file_size=cap
            )
            _check_still_ours(work / "out", dirfds["out"], label)
            return _read_outputs(dirfds["out"], gen.files, label, cap)
        finally:
            for fd in dirfds.values():
                os.close(fd)


@contextlib.contextmanager
def _workdir(label: str) -> Iterator[tuple[Path, int]]:
    """A fresh 0700 work dir on memory-backed storage, and a descriptor of it; always removed."""
    base = memory_base(label)
    sweep_leftovers()
    name = f"{PREFIX}{os.getpid()}-{_start_time(os.getpid())}-{secrets.token_hex(8)}"
    basefd = os.open(base, _DIR_FLAGS)
    try:
        os.mkdir(name, 0o700, dir_fd=basefd)
        rootfd = os.open(name, _DIR_FLAGS, dir_fd=basefd)
        try:
            yield base / name, rootfd
        finally:
            os.close(rootfd)
            # rmtree by descriptor: a symbolic link the script left anywhere inside is removed, not followed
            shutil.rmtree(name, ignore_errors=True, dir_fd=basefd)
    finally:
        os.close(basefd)


def memory_base(label: str) -> Path:
    """Where work dirs go: /dev/shm or $XDG_RUNTIME_DIR if on tmpfs, else (opted out) the temp dir."""
    for cand in _bases():
        if cand is not None and _is_memory_fs(cand) and os.access(cand, os.W_OK | os.X_OK):
            return cand
    if os.environ.get(ALLOW_DISK_ENV) == "1":
        return Path(tempfile.gettempdir())
    raise InputError(
        f"generator {label} was not run: neither /dev/shm nor $XDG_RUNTIME_DIR is a memory-backed "
        "filesystem (tmpfs), so its secrets would be written to disk; no var was changed",
        hint=f"mount a tmpfs there, or set {ALLOW_DISK_ENV}=1 to accept plaintext in the temp dir",
    )


def _bases() -> list[Path | None]:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return [Path("/dev/shm"), Path(xdg) if xdg and os.path.isabs(xdg) else None]


def _is_memory_fs(path: Path) -> bool:
    """Whether `path` is on tmpfs/ramfs, by the longest mount point in /proc/self/mounts above it."""
    try:
        real = os.path.realpath(path)
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            mounts = [line.split()[1:3] for line in fh if len(line.split()) >= 3]
    except OSError:
        return False
    best, fstype = "", ""
    for point, kind in mounts:
        point = _unescape(point)
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, kind
    return fstype in _MEMORY_FS


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def sweep_leftovers() -> list[Path]:
    """Remove this user's work dirs whose process is dead (killed before its `finally`); the removed.

    Why here: a SIGKILL leaves plaintext behind, and the next run is the first moment dendrite can act.
    """
    removed = []
    bases = {p for p in [*_bases(), Path(tempfile.gettempdir()), Path("/tmp")] if p is not None}
    for base in sorted(bases):
        try:
            names = [n for n in os.listdir(base) if n.startswith(PREFIX)]
        except OSError:
            continue
        for n in names:
            if _abandoned(base / n):
                shutil.rmtree(base / n, ignore_errors=True)
                removed.append(base / n)
    return removed


def _abandoned(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        return False
    m = _WORKDIR.fullmatch(path.name)
    if m is not None:
        return _start_time(int(m.group(1))) != int(m.group(2))
    # an older dendrite's dir carries no pid: only one older than any script may run is surely dead
    return _LEGACY.fullmatch(path.name) is not None and time.time() - st.st_mtime > TIMEOUT + 60


def _start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (0 if it does not exist): with the pid, an
    identity that a recycled pid does not share."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0


def _subdir(parentfd: int, name: str) -> int:
    os.mkdir(name, 0o700, dir_fd=parentfd)
    return os.open(name, _DIR_FLAGS, dir_fd=parentfd)


def _component(name: str, kind: names.Kind, label: str) -> str:
    """`name` as one path component: the loaders check names already; the runner does not rely on it."""
    return names.check(kind, name, where=f"generator {label} (no var was changed)")


def _write_inputs(
    infd: int,
    promptfd: int,
    inputs: Mapping[str, Mapping[str, bytes]],
    prompts: Mapping[str, str],
    label: str,
) -> None:
    for dep, files in inputs.items():
        depfd = _subdir(infd, _component(dep, "generator", label))
        try:
            for fname, data in files.items():
                write_private_at(depfd, _component(fname, "file", label), data)
        finally:
            os.close(depfd)
    for pname, value in prompts.items():
        write_private_at(promptfd, _component(pname, "prompt", label), value.encode())


def _check_still_ours(out: Path, outfd: int, label: str) -> None:
    """Refuse a run after which $out is no longer the directory the runner made (same device, inode)."""
    mine = os.fstat(outfd)
    try:
        now = os.lstat(out)
    except OSError:
        now = None
    if now is None or not stat.S_ISDIR(now.st_mode) or (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
        raise InputError(
            f"generator {label} replaced its output directory $out (with a symbolic link or another "
            "file), so dendrite read none of it; no var was changed"
        )


def _read_outputs(
    outfd: int, files: tuple[FileSpec, ...] | list[FileSpec], label: str, cap: int
) -> dict[str, bytes]:
    out = {}
    for f in files:
        data = _read_output(outfd, _component(f.name, "file", label), label, cap)
        if data is not None:
            out[f.name] = data
    return out


def _read_output(outfd: int, name: str, label: str, cap: int) -> bytes | None:
    """One declared file's bytes (None if absent): a regular file of at most `cap` bytes, or refused."""
    where = f"generator {label} wrote $out/{name} as"
    try:
        st = os.stat(name, dir_fd=outfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{where} a {describe_mode(st.st_mode)}, not a regular file; no var was changed")
    try:
        fd = os.open(name, _FLAGS, dir_fd=outfd)
    except OSError as exc:
        # swapped for a link or something else between the check and the open
        kind = "a symbolic link" if exc.errno == errno.ELOOP else f"something unreadable ({exc.strerror})"
        raise InputError(f"{where} {kind}, not a regular file; no var was changed") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{where} a {describe_mode(st.st_mode)}, not a regular file; no var was changed")
        data = _read_at_most(fd, cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise InputError(
            f"{where} a file over the output limit of {cap} bytes; no var was changed", hint=LIMIT_HINT
        )
    return data


def _read_at_most(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
