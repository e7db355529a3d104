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


def build(plan: Plan, journal: Journal, now: dt.datetime, latest: int = 30) -> State:
    flags: dict[int, Flag] = {}
    results: dict[tuple[int, str], Result] = {}
    workarounds: dict[tuple[int, str], str] = {}
    deployments: dict[str, list[str]] = {h: [] for h in plan.hosts}
    rollbacks: dict[str, list[str]] = {h: [] for h in plan.hosts}
    advanced: dict[int, dict[str, Any]] = {}
    decisions: dict[int, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for e in journal.events:
        kind = e["type"]
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "probe" or kind == "attest":
            key: tuple[int, str] = (e.get("phase"), e.get("criterion"))  # type: ignore[assignment]
            if kind == "probe":
                status = e.get("status", FAIL)
                status = status if status in (PASS, FAIL) else PENDING
                evidence = e.get("detail") or e.get("excerpt") or ""
            else:
                status, evidence = PASS, e.get("evidence", "")
            results[key] = Result(key[0], key[1], status, kind, e["ts"], str(evidence))
        elif kind == "workaround":
            workarounds[(e.get("phase"), e.get("criterion"))] = str(e.get("text", ""))  # type: ignore[index]
        elif kind == "flag":
            fid = e.get("id")
            if isinstance(fid, int):
                flags[fid] = Flag(
                    fid, str(e.get("host")), str(e.get("severity")), str(e.get("text")), e["ts"]
                )
        elif kind == "resolve":
            fid = e.get("id")
            if isinstance(fid, int) and fid in flags and flags[fid].is_open:
                f = flags[fid]
                flags[fid] = Flag(f.id, f.host, f.severity, f.text, f.opened, e["ts"], str(e.get("note", "")))
        elif kind == "deployed":
            deployments.setdefault(str(e.get("host")), []).append(e["ts"])
        elif kind == "rollback" and not e.get("dry_run"):
            rollbacks.setdefault(str(e.get("host")), []).append(e["ts"])
        elif kind == "advance":
            advanced[int(e.get("phase", -1))] = e
        elif kind == "decision":
            decisions[int(e.get("phase", -1))] = e
    by_host: dict[str, list[Flag]] = {}
    for f in flags.values():
        by_host.setdefault(f.host, []).append(f)
    clocks = {
        name: clock(name, h.stability_days, deployments[name], rollbacks[name], by_host.get(name, []), now)
        for name, h in plan.hosts.items()
    }
    for (phase_no, cid), text in workarounds.items():
        r = results.get((phase_no, cid), Result(phase_no, cid, PENDING, ""))
        results[(phase_no, cid)] = Result(r.phase, r.criterion, r.status, r.source, r.ts, r.evidence, text)
    for p in plan.phases:
        for c in p.criteria:
            if c.probe is not None and c.probe.builtin in CLOCK_BUILTINS:
                r = _clock_result(plan, p, c, clocks, set(advanced))
                w = workarounds.get((p.number, c.id))
                results[(p.number, c.id)] = Result(
                    r.phase, r.criterion, r.status, r.source, r.ts, r.evidence, w
                )
    events = journal.events
    return State(
        plan=plan,
        now=now,
        flags=flags,
        clocks=clocks,
        results=results,
        advanced=advanced,
        decisions=decisions,
        latest=list(reversed(events[-latest:])),
        counts=counts,
        first_ts=events[0]["ts"] if events else None,
        problems=journal.problems,
    )
