"""The journal `migration/journal.jsonl`: what happened, one JSON event a line, append-only.

Why JSON lines: an append is one write of one line, so a crash can at worst leave a torn last line,
never damage an earlier event; each append is fsynced before the command reports success. Reading is
forgiving: a corrupt line (a torn write, a bad hand edit) is reported with its number and the other
lines are read; an event dated in the future (a wrong clock, a bad edit) is reported and left out of
every clock and decision, never deleted. Appending an event dated in the future is refused.

Times are UTC, written `2026-12-01T09:30:00Z`: that form sorts as text, so reading 100,000 events
compares strings instead of parsing dates.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite.boundedjson import MAX_DEPTH, json_depth_exceeds
from dendrite.errors import InputError
from dendrite.fsutil import repo_lock
from dendrite.migration import JOURNAL_FILE
from dendrite.repofs import RepoFS

EVENT_TYPES = (
    "init",  # the plan was written
    "probe",  # a criterion checked by a machine: status, command, exit code, seconds, output excerpt
    "attest",  # a criterion a person vouches for, with evidence
    "workaround",  # a failing non-critical criterion lives with this workaround (CONDITIONAL GO)
    "flag",  # a red flag opened on a host: id, severity, text
    "resolve",  # a red flag resolved
    "deployed",  # a host now runs its dendritic configuration: its stability clock starts
    "deploy-failed",  # `machines update` failed on a host: its steps; the clock is left as it was
    "decision",  # GO / CONDITIONAL GO / NO-GO for a phase, with the reasons
    "advance",  # a phase declared done (with the risk accepted, if it was not GO)
    "rollback",  # a host's rollback: the commands and their exit codes
)
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SKEW = dt.timedelta(minutes=5)  # clocks of two machines writing one journal may differ a little
READ_LIMIT = 64 << 20  # 100,000 events are about 25 MB; parsed, a journal takes ~7x its size in memory,
# so a 1 GiB one written by someone else would take a CI runner's memory

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime(TS_FORMAT)


def parse_ts(ts: str) -> dt.datetime:
    return dt.datetime.strptime(ts, TS_FORMAT).replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Problem:
    line: int
    message: str
    future: bool = False  # dated in the future: it may count later, so it is read again every time


@dataclass
class Journal:
    """The events that count (in file order) and the lines that were left out, with why."""

    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def _check_event(e: Any, future: str) -> str | None:
    """Why the event `e` cannot be used, or None."""
    if not isinstance(e, dict):
        return "is not a JSON object"
    ts, kind = e.get("ts"), e.get("type")
    if not isinstance(ts, str) or len(ts) != 20 or not _TS.match(ts):
        return "has no valid `ts` (UTC, like 2026-12-01T09:30:00Z)"
    if kind not in EVENT_TYPES:
        return f"has an unknown type {kind!r}"
    if ts > future:
        return f"is dated {ts}, in the future; left out of clocks and decisions"
    return None


def parse(data: bytes, now: dt.datetime, first_line: int = 1) -> Journal:
    """Events from the journal's bytes (line numbers from `first_line`). Fast path: one JSON array."""
    future = stamp(now + SKEW)
    text = data.decode(errors="replace")
    lines = text.split("\n")
    journal = Journal()
    try:
        raw = json.loads("[" + ",".join(ln for ln in lines if ln.strip()) + "]")
        numbered: list[tuple[int, Any]] | None = None
    except (ValueError, RecursionError):  # a bad line, or one nesting past the stack: line by line
        raw, numbered = [], []
        for n, ln in enumerate(lines, first_line):
            if not ln.strip():
                continue
            if json_depth_exceeds(ln):
                journal.problems.append(Problem(n, f"nests deeper than {MAX_DEPTH} levels"))
                continue
            try:
                numbered.append((n, json.loads(ln)))
            except json.JSONDecodeError as exc:
                journal.problems.append(Problem(n, f"is not valid JSON ({exc.msg}, column {exc.colno})"))
    if numbered is None:
        numbered = []
        it = iter(raw)
        for n, ln in enumerate(lines, first_line):
            if ln.strip():
                numbered.append((n, next(it)))
    for n, e in numbered:
        why = _check_event(e, future)
        if why is None:
            journal.events.append(e)
        else:
            journal.problems.append(Problem(n, why, why.startswith("is dated")))
    return journal


def read(root: Path, now: dt.datetime | None = None) -> Journal:
    fs = RepoFS(root)
    if not fs.exists(JOURNAL_FILE):
        return Journal()
    return parse(fs.read_bytes(JOURNAL_FILE, limit=READ_LIMIT), now or utcnow())


def encode(event: Mapping[str, Any]) -> bytes:
    return (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _append_locked(root: Path, lines: bytes) -> None:
    fs = RepoFS(root)
    with fs.parent(JOURNAL_FILE, create=True) as (dfd, name):
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o644, dir_fd=dfd)
        try:
            st = os.fstat(fd)
            if st.st_size:  # a torn last line must not swallow the next event
                last = os.pread(fd, 1, st.st_size - 1)
                if last != b"\n":
                    lines = b"\n" + lines
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.fsync(dfd)


def append(
    root: Path,
    kind: str,
    fields: Mapping[str, Any],
    *,
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    assign_flag_id: bool = False,
) -> dict[str, Any]:
    """Append one event under the repository lock, fsynced; returns it as written.

    `at` dates the event (a deployment recorded afterwards); a date in the future is refused. With
    `assign_flag_id`, the event gets the next red flag number, read under the same lock.
    """
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown event type {kind}")
    now = now or utcnow()
    when = at or now
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when > now + SKEW:
        raise InputError(
            f"the event would be dated {stamp(when)}, in the future (now {stamp(now)})",
            hint="give a date and time up to now, in UTC",
        )
    event: dict[str, Any] = {"ts": stamp(when), "type": kind, **fields}
    with repo_lock(root):
        if assign_flag_id:
            from dendrite.migration.cache import reduce  # the fold of the journal, cached

            event["id"] = 1 + max((int(k) for k in reduce(root, now)[0].flags), default=0)
        _append_locked(root, encode(event))
    return event


def append_many(root: Path, events: list[dict[str, Any]], now: dt.datetime | None = None) -> None:
    """Append ready events (each with `ts` and `type`) in one write: the demo, imports, benchmarks."""
    future = stamp((now or utcnow()) + SKEW)
    for e in events:
        why = _check_event(e, future)
        if why is not None:
            raise InputError(f"event {e!r} {why}")
    with repo_lock(root):
        _append_locked(root, b"".join(encode(e) for e in events))
