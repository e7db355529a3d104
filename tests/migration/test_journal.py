"""The journal: append-only JSON lines; a corrupt line is reported with its number and the rest read; an
event dated in the future is refused on append and left out (reported) on read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.migration import JOURNAL_FILE, journal
from tests.migration.helpers import START, ev, write_repo

NOW = START + dt.timedelta(days=30)


def test_append_and_read_back(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    journal.append(root, "deployed", {"host": "cinnabar"}, at=START, now=NOW)
    f1 = journal.append(
        root, "flag", {"host": "cinnabar", "severity": "major", "text": "x"}, now=NOW, assign_flag_id=True
    )
    f2 = journal.append(
        root, "flag", {"host": "cinnabar", "severity": "minor", "text": "y"}, now=NOW, assign_flag_id=True
    )
    assert (f1["id"], f2["id"]) == (1, 2)
    j = journal.read(root, NOW)
    assert [e["type"] for e in j.events] == ["deployed", "flag", "flag"] and not j.problems
    lines = (root / JOURNAL_FILE).read_bytes().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["ts"] == "2026-01-05T09:00:00Z"


def test_corrupt_line_is_reported_with_its_number_and_the_rest_read(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    good = [
        ev(1, "deployed", host="cinnabar"),
        ev(2, "flag", id=1, host="cinnabar", severity="major", text="x"),
    ]
    body = (
        journal.encode(good[0])
        + b'{"ts": "2026-01-06T09:00:00Z", "type": "att\n'
        + b"[1, 2]\n"
        + journal.encode(good[1])
    )
    (root / "migration" / "journal.jsonl").write_bytes(body)
    j = journal.read(root, NOW)
    assert j.events == good
    assert [p.line for p in j.problems] == [2, 3]
    assert "not valid JSON" in j.problems[0].message and "not a JSON object" in j.problems[1].message


def test_torn_last_line_does_not_swallow_the_next_event(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    (root / "migration" / "journal.jsonl").write_bytes(
        journal.encode(ev(1, "deployed", host="cinnabar")) + b'{"ts": "20'
    )
    journal.append(root, "deployed", {"host": "blackphos"}, now=NOW)
    j = journal.read(root, NOW)
    assert [e["host"] for e in j.events] == ["cinnabar", "blackphos"]
    assert [p.line for p in j.problems] == [2]


def test_future_event_refused_on_append_and_left_out_on_read(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    with pytest.raises(InputError, match="in the future"):
        journal.append(root, "deployed", {"host": "cinnabar"}, at=NOW + dt.timedelta(days=1), now=NOW)
    assert not (root / JOURNAL_FILE).exists()  # nothing written
    future = ev(40, "flag", id=1, host="cinnabar", severity="critical", text="from the future")
    (root / JOURNAL_FILE).write_bytes(
        journal.encode(ev(1, "deployed", host="cinnabar")) + journal.encode(future)
    )
    j = journal.read(root, NOW)
    assert len(j.events) == 1 and j.problems[0].line == 2 and "in the future" in j.problems[0].message
    assert (root / JOURNAL_FILE).read_bytes().count(b"\n") == 2  # reported, never deleted


def test_unknown_event_type_and_bad_timestamp_are_reported(tmp_path: Path) -> None:
    j = journal.parse(
        b'{"ts":"yesterday","type":"flag"}\n{"ts":"2026-01-06T09:00:00Z","type":"party"}\n', NOW
    )
    assert not j.events and [p.line for p in j.problems] == [1, 2]


def test_cached_fold_sees_appends_edits_and_events_that_come_of_age(tmp_path: Path) -> None:
    from dendrite.migration import cache

    root = write_repo(tmp_path / "r")
    f = root / JOURNAL_FILE
    f.write_bytes(
        journal.encode(ev(1, "deployed", host="cinnabar"))
        + journal.encode(ev(2, "flag", id=1, host="cinnabar", severity="major", text="x"))
    )
    red, _ = cache.reduce(root, NOW)
    assert (root / cache.CACHE).exists() and red.flags["1"]["resolved"] is None
    journal.append(root, "resolve", {"id": 1}, at=START + dt.timedelta(days=3), now=NOW)
    red, problems = cache.reduce(root, NOW)  # from the cache, plus the appended line
    assert red.flags["1"]["resolved"] == "2026-01-08T09:00:00Z" and not problems
    # a hand edit of an earlier line, same length: the cache no longer matches and is not used
    f.write_bytes(f.read_bytes().replace(b'"severity":"major"', b'"severity":"minor"'))
    red, _ = cache.reduce(root, NOW)
    assert red.flags["1"]["severity"] == "minor"
    assert cache.reduce(root, NOW)[0].to_json() == cache.reduce(root, NOW, use_cache=False)[0].to_json()
    # an event dated after NOW is left out today and counts once its day has come
    with f.open("ab") as fh:
        fh.write(journal.encode(ev(40, "deployed", host="blackphos")) + b'{"torn')
    red, problems = cache.reduce(root, NOW)
    assert "blackphos" not in red.deployed and [p.line for p in problems] == [4, 5]
    red, problems = cache.reduce(root, NOW + dt.timedelta(days=20))
    assert red.deployed["blackphos"] == "2026-02-14T09:00:00Z" and [p.line for p in problems] == [5]
