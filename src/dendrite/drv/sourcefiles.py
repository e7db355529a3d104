"""The files of a flake source that a derivation names: did they change, though the source moved?

A derivation that says `${self}/files/banner` holds `/nix/store/<hash>-source/files/banner`. When the
flake source moves (any file of the repository changed), the diff normalises `<hash>-source` away; what
must still be the same is the file named below it. Its contents are compared in the store: a file
byte for byte, a directory by its listing and contents, a symbolic link by its target (never followed).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024  # more than this below one referenced path: not compared, so a change
SHOWN = 120  # a small text file is shown as it is; anything else by its digest
_SUBPATH = r"((?:/[A-Za-z0-9+\-._?=@,~%]+)+)"


def referenced(strings: Iterable[str], source: str) -> set[str]:
    """The subpaths below `source` that the strings name (`files/banner`), without `..` tricks."""
    pattern = re.compile(re.escape(source) + _SUBPATH)
    found: set[str] = set()
    for s in strings:
        if source in s:
            found.update(m.group(1).lstrip("/") for m in pattern.finditer(s))
    return {p for p in found if ".." not in p.split("/")}


def describe(path: Path, base: Path | None = None) -> str | None:
    """What `path` holds, for comparing and showing: a short text as it is, else a digest; None if unreadable.

    With `base` (the flake source `path` lies below), every directory between them must be a real
    directory: a source's `files -> /proc/self` must not make `files/environ` (dendrite's environment,
    your keys) or `files -> /home/you/.ssh` a file shown in the diff.
    """
    if base is not None and not _below_without_links(base, path):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISREG(st.st_mode) and st.st_size <= SHOWN:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            return repr(data.decode())
        except UnicodeDecodeError:
            pass
    h = hashlib.sha256()
    if not _feed(h, path, [MAX_BYTES]):
        return None
    return f"sha256:{h.hexdigest()[:16]}"


def _below_without_links(base: Path, path: Path) -> bool:
    try:
        rel = path.relative_to(base)
    except ValueError:
        return False
    cur = base
    for part in rel.parts[:-1]:
        cur = cur / part
        try:
            if not stat.S_ISDIR(os.lstat(cur).st_mode):
                return False
        except OSError:
            return False
    return True


def _feed(h: hashlib._Hash, path: Path, budget: list[int]) -> bool:
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            h.update(b"link:" + os.fsencode(os.readlink(path)) + b"\0")
        elif stat.S_ISDIR(st.st_mode):
            h.update(b"dir\0")
            for name in sorted(os.listdir(path)):
                h.update(os.fsencode(name) + b"\0")
                if not _feed(h, path / name, budget):
                    return False
        elif stat.S_ISREG(st.st_mode):
            budget[0] -= st.st_size
            if budget[0] < 0:
                return False
            h.update(b"file:" + (b"x" if st.st_mode & 0o111 else b"-") + b"\0")
            with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        else:
            return False  # a FIFO or a device is nothing a store holds
    except OSError:
        return False
    return True
