"""One deployment event per host in the migration journal, when the repository keeps one.

The journal is `migration/journal.jsonl`: append-only, one JSON object per line, each line written
with one O_APPEND write and fsynced, so concurrent hosts never interleave and a crash loses at most the
line being written. Nothing is written when `migration/` does not exist: a repository that is not
being migrated has no journal, and deploying must not create one.

This is the one function `machines update` calls; the migration journal module, when it exists,
takes its place here.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JOURNAL = Path("migration") / "journal.jsonl"


def record_deployment(root: Path, host: str, steps: Sequence[dict[str, Any]], ok: bool) -> bool:
    """Append {"ts", "kind": "deployment", "host", "steps", "ok"}; False when there is no journal."""
    folder = root / JOURNAL.parent
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode):  # a link planted as migration/ is not followed
        return False
    event = {
        "ts": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kind": "deployment",
        "host": host,
        "steps": list(steps),
        "ok": ok,
    }
    line = (json.dumps(event, sort_keys=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(root / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
