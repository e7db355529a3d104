"""Reading a long journal fast: the folded state of its first bytes is cached, the rest read anew.

Why: `migrate status` on 100,000 events would parse 25 MB of JSON every time; the journal only grows,
so the fold (`state.Reducer`) of the bytes up to the last complete line is kept in dendrite's own
scratch directory (`.dendrite/`, 0700, ignored by git) with a SHA-256 of those bytes. The next read
hashes the same prefix: unchanged, only the lines appended since are parsed; changed in any way (a
hand edit, a rewrite), the cache is dropped and the whole journal read. A prefix holding an event
dated in the future is never cached, since that event may count later. The cache is only ever an
optimisation: when it cannot be read or written (a read-only checkout), the journal is read whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from pathlib import Path

from dendrite import boundedjson
from dendrite.errors import DendriteError
from dendrite.fsutil import state_dir
from dendrite.migration import JOURNAL_FILE
from dendrite.migration.journal import READ_LIMIT, Problem, parse
from dendrite.migration.state import Reducer
from dendrite.repofs import STATE_DIR, RepoFS

CACHE = f"{STATE_DIR}/migration-journal.json"
VERSION = 1


def _journal_id(fs: RepoFS) -> str:
    """The journal file's identity (device, inode), which the cache must name.

    Why: a repository handed over as a directory can carry its own `.dendrite/` with a cache matching
    its journal's SHA-256, folded into any state (a GO the journal does not hold) or into values the
    fold cannot take. The inode of the journal as it lies on your disk is not something a sender can
    know, so only a cache written here, for this very file, is used; appends keep the inode.
    """
    st = fs.lstat(JOURNAL_FILE)
    return "" if st is None else f"{st.st_dev}:{st.st_ino}"


def _load(fs: RepoFS, data: bytes) -> tuple[Reducer, list[Problem], int, int] | None:
    try:
        if not fs.exists(CACHE):
            return None
        c = boundedjson.loads(fs.read_bytes(CACHE, limit=64 << 20), CACHE)
        offset = int(c["offset"])
        if c["version"] != VERSION or offset > len(data) or c.get("journal") != _journal_id(fs):
            return None
        if hashlib.sha256(memoryview(data)[:offset]).hexdigest() != c["sha256"]:  # no 25 MB copy
            return None
        problems = [Problem(int(p["line"]), str(p["message"])) for p in c["problems"]]
        return Reducer(c["reducer"]), problems, offset, int(c["lines"])
    except (DendriteError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _save(
    root: Path, data: bytes, reducer: Reducer, problems: list[Problem], offset: int, lines: int
) -> None:
    doc = {
        "version": VERSION,
        "journal": _journal_id(RepoFS(root)),
        "offset": offset,
        "lines": lines,
        "sha256": hashlib.sha256(memoryview(data)[:offset]).hexdigest(),
        "problems": [{"line": p.line, "message": p.message} for p in problems],
        "reducer": reducer.to_json(),
    }
    with contextlib.suppress(DendriteError, OSError):
        state_dir(root)
        RepoFS(root).write_bytes(CACHE, json.dumps(doc, separators=(",", ":")).encode(), 0o600)


def reduce(root: Path, now: dt.datetime, *, use_cache: bool = True) -> tuple[Reducer, list[Problem]]:
    """The journal of `root` folded, and the lines left out (numbered as in the file)."""
    fs = RepoFS(root)
    if not fs.exists(JOURNAL_FILE):
        return Reducer(), []
    data = fs.read_bytes(JOURNAL_FILE, limit=READ_LIMIT)
    end = data.rfind(b"\n") + 1  # the last complete line; a torn tail is read but never cached
    cached = _load(fs, data) if use_cache else None
    reducer, problems, offset, lines = cached if cached else (Reducer(), [], 0, 0)
    if end > offset:
        j = parse(data[offset:end], now, first_line=lines + 1)
        reducer.feed(j.events)
        problems = problems + j.problems
        if use_cache and not any(p.future for p in problems):
            _save(root, data, reducer, problems, end, lines + data.count(b"\n", offset, end))
        lines += data.count(b"\n", offset, end)
    if end < len(data):
        tail = parse(data[end:], now, first_line=lines + 1)
        reducer.feed(tail.events)
        problems = problems + tail.problems
    return reducer, problems
