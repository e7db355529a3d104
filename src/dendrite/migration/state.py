"""Where the migration stands: the plan read against the journal, in one pass over the events.

Everything the commands show (status, decide, the timeline, the reports) is computed from this, so
they can never disagree. The latest event about a criterion wins (a probe or an attestation); the
clock criteria (`stable`, `all-migrated`) are computed from the clocks now, not read from the journal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dendrite.migration.clock import ClockState, Flag, clock
from dendrite.migration.journal import Journal, Problem
from dendrite.migration.plan import CLOCK_BUILTINS, Criterion, Phase, Plan

PASS, FAIL, PENDING = "pass", "fail", "pending"


@dataclass(frozen=True)
class Result:
    phase: int
    criterion: str
    status: str  # pass, fail, pending
    source: str  # probe, attest, clock, or "" when nothing was recorded
    ts: str | None = None
    evidence: str = ""
    workaround: str | None = None


@dataclass(frozen=True)
class State:
    plan: Plan
    now: dt.datetime
    flags: dict[int, Flag]
    clocks: dict[str, ClockState]
    results: dict[tuple[int, str], Result]
    advanced: dict[int, dict[str, Any]]  # phase -> its latest advance event
    decisions: dict[int, dict[str, Any]]  # phase -> its latest decision event
    latest: list[dict[str, Any]]  # the last events, newest first
    counts: dict[str, int]  # events by type
    first_ts: str | None
    problems: list[Problem]

    def result(self, phase: Phase, c: Criterion) -> Result:
        return self.results.get((phase.number, c.id), Result(phase.number, c.id, PENDING, ""))

    def open_flags(self, hosts: set[str] | None = None) -> list[Flag]:
        return [f for f in self.flags.values() if f.is_open and (hosts is None or f.host in hosts)]

    @property
    def current(self) -> Phase | None:
        """The first phase not advanced yet; None when all are done."""
        return next((p for p in self.plan.phases if p.number not in self.advanced), None)


def _clock_result(
    plan: Plan, phase: Phase, c: Criterion, clocks: dict[str, ClockState], advanced: set[int]
) -> Result:
    assert c.probe is not None
    if c.probe.builtin == "stable":
        hosts = [h for h in phase.hosts if plan.hosts[h].has_window]
        states = [clocks[h] for h in hosts]
        ok = bool(states) and all(s.stable for s in states)
        evidence = "; ".join(f"{s.host}: {s.describe()}" for s in states) or "no host with a window"
    else:  # all-migrated
        hosts = [h for p in plan.phases if 1 <= p.number <= 5 for h in p.hosts if plan.hosts[h].has_window]
        missing = [p.number for p in plan.phases if 1 <= p.number <= 5 and p.number not in advanced]
        unstable = [h for h in hosts if not clocks[h].stable]
        ok = not missing and not unstable
        parts = []
        if missing:
            parts.append("phases not advanced: " + ", ".join(map(str, missing)))
        if unstable:
            parts.append("not stable: " + ", ".join(f"{h} ({clocks[h].describe()})" for h in unstable))
        evidence = "; ".join(parts) or f"{len(hosts)} hosts deployed, advanced and stable"
    return Result(phase.number, c.id, PASS if ok else PENDING, "clock", None, evidence)


class Reducer:
    """The journal folded into what the state needs, in one pass; plain data, so it can be cached.

    Only the latest event per criterion, the flags, the last deployment and rollback per host, the
    latest advance and decision per phase, counts and the last events are kept: everything the state
    derives from 100,000 events fits in a few kilobytes.
    """

    LATEST = 30

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        d = data or {}
        self.last: dict[str, dict[str, Any]] = d.get("last", {})  # "phase/criterion" -> probe or attest
        self.workarounds: dict[str, str] = d.get("workarounds", {})
        self.flags: dict[str, dict[str, Any]] = d.get("flags", {})
        self.deployed: dict[str, str] = d.get("deployed", {})  # host -> its latest deployment
        self.rolled_back: dict[str, str] = d.get("rolled_back", {})
        self.advanced: dict[str, dict[str, Any]] = d.get("advanced", {})
        self.decisions: dict[str, dict[str, Any]] = d.get("decisions", {})
        self.counts: dict[str, int] = d.get("counts", {})
        self.first_ts: str | None = d.get("first_ts")
        self.latest: list[dict[str, Any]] = d.get("latest", [])

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    def feed(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        if self.first_ts is None:
            self.first_ts = events[0]["ts"]
        last, counts, flags = self.last, self.counts, self.flags
        for e in events:
            kind = e["type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "probe" or kind == "attest":
                last[f"{e.get('phase')}/{e.get('criterion')}"] = e
            elif kind == "workaround":
                self.workarounds[f"{e.get('phase')}/{e.get('criterion')}"] = str(e.get("text", ""))
            elif kind == "flag":
                fid = e.get("id")
                if isinstance(fid, int):
                    flags[str(fid)] = {
                        "host": str(e.get("host")),
                        "severity": str(e.get("severity")),
                        "text": str(e.get("text")),
                        "opened": e["ts"],
                        "resolved": None,
                        "resolution": "",
                    }
            elif kind == "resolve":
                f = flags.get(str(e.get("id")))
                if f is not None and f["resolved"] is None:
                    f["resolved"], f["resolution"] = e["ts"], str(e.get("note", ""))
            elif kind == "deployed":
                self.deployed[str(e.get("host"))] = max(e["ts"], self.deployed.get(str(e.get("host")), ""))
            elif kind == "rollback" and not e.get("dry_run"):
                self.rolled_back[str(e.get("host"))] = max(
                    e["ts"], self.rolled_back.get(str(e.get("host")), "")
                )
            elif kind == "advance":
                self.advanced[str(e.get("phase"))] = e
            elif kind == "decision":
                self.decisions[str(e.get("phase"))] = e
        self.latest = (self.latest + events[-self.LATEST :])[-self.LATEST :]

    def finish(self, plan: Plan, now: dt.datetime, problems: list[Problem]) -> State:
        flags = {
            int(k): Flag(
                int(k), f["host"], f["severity"], f["text"], f["opened"], f["resolved"], f["resolution"]
            )
            for k, f in self.flags.items()
        }
        results: dict[tuple[int, str], Result] = {}
        for p in plan.phases:
            for c in p.criteria:
                key = f"{p.number}/{c.id}"
                e = self.last.get(key)
                if e is None:
                    r = Result(p.number, c.id, PENDING, "")
                elif e["type"] == "probe":
                    status = e.get("status", FAIL)
                    status = status if status in (PASS, FAIL) else PENDING
                    evidence = e.get("detail") or e.get("excerpt") or ""
                    r = Result(p.number, c.id, status, "probe", e["ts"], str(evidence))
                else:
                    r = Result(p.number, c.id, PASS, "attest", e["ts"], str(e.get("evidence", "")))
                w = self.workarounds.get(key)
                results[(p.number, c.id)] = Result(
                    r.phase, r.criterion, r.status, r.source, r.ts, r.evidence, w
                )
        by_host: dict[str, list[Flag]] = {}
        for f in flags.values():
            by_host.setdefault(f.host, []).append(f)
        clocks = {
            name: clock(
                name,
                h.stability_days,
                [self.deployed[name]] if name in self.deployed else [],
                [self.rolled_back[name]] if name in self.rolled_back else [],
                by_host.get(name, []),
                now,
            )
            for name, h in plan.hosts.items()
        }
        advanced = {int(k): v for k, v in self.advanced.items() if k.lstrip("-").isdigit()}
        for p in plan.phases:
            for c in p.criteria:
                if c.probe is not None and c.probe.builtin in CLOCK_BUILTINS:
                    r = _clock_result(plan, p, c, clocks, set(advanced))
                    w = self.workarounds.get(f"{p.number}/{c.id}")
                    results[(p.number, c.id)] = Result(
                        r.phase, r.criterion, r.status, r.source, r.ts, r.evidence, w
                    )
        return State(
            plan=plan,
            now=now,
            flags=flags,
            clocks=clocks,
            results=results,
            advanced=advanced,
            decisions={int(k): v for k, v in self.decisions.items() if k.lstrip("-").isdigit()},
            latest=list(reversed(self.latest)),
            counts=dict(self.counts),
            first_ts=self.first_ts,
            problems=problems,
        )


def build(plan: Plan, journal: Journal, now: dt.datetime) -> State:
    """The state of a journal read as a whole (tests, small journals); `cache.reduce` is the fast path."""
    r = Reducer()
    r.feed(journal.events)
    return r.finish(plan, now, journal.problems)
