"""The status of the migration as plain data: what `migrate status` shows and `--json` prints."""

from __future__ import annotations

from typing import Any

from dendrite.migration.decide import decide
from dendrite.migration.plan import Phase
from dendrite.migration.state import PASS, State
from dendrite.migration.timeline import timeline


def next_action(state: State) -> str:
    """The one thing to do next, in the seed's order: red flags, probes, attestations, the window, the gate."""
    phase = state.current
    if phase is None:
        return "every phase is advanced: the migration is complete"
    flags = sorted(state.open_flags(), key=lambda f: f.id)
    if flags:
        f = flags[0]
        return f"deal with red flag #{f.id} on {f.host} ({f.text}), then `dendrite migrate resolve {f.id}`"
    for c in phase.criteria:
        r = state.result(phase, c)
        if r.status == PASS or r.workaround:
            continue
        if c.probe is None:
            return f'dendrite migrate attest {phase.number} {c.id} --evidence "..."   # {c.text}'
        if c.probe.builtin not in ("stable", "all-migrated"):
            verb = "fix it, then run" if r.status == "fail" else "run"
            return f"{verb} `dendrite migrate check {phase.number}`   # {c.id}: {c.text}"
    for h in phase.hosts:
        ck = state.clocks[h]
        if state.plan.hosts[h].has_window and not ck.deployed:
            return f"`dendrite machines update {h}` (it records the deployment), or deploy {h} otherwise, then `dendrite migrate deployed {h}`"
        if ck.stable_at is not None and not ck.stable:
            return f"wait for {h}'s stability window: stable at {ck.stable_at:%Y-%m-%d %H:%M} UTC"
    return f"dendrite migrate decide {phase.number}, then `dendrite migrate advance {phase.number}`"


def _phase(state: State, p: Phase) -> dict[str, Any]:
    criteria = []
    for c in p.criteria:
        r = state.result(p, c)
        criteria.append(
            {
                "id": c.id,
                "text": c.text,
                "critical": c.critical,
                "kind": c.kind,
                "status": r.status,
                "source": r.source,
                "ts": r.ts,
                "evidence": r.evidence,
                "workaround": r.workaround,
            }
        )
    counts = {s: sum(1 for c in criteria if c["status"] == s) for s in ("pass", "fail", "pending")}
    adv = state.advanced.get(p.number)
    return {
        "number": p.number,
        "name": p.name,
        "hosts": list(p.hosts),
        "weeks": p.weeks,
        "advanced": adv["ts"] if adv else None,
        "accepted_risk": adv.get("accepted_risk") if adv else None,
        "counts": counts,
        "criteria": criteria,
    }


def summary(state: State) -> dict[str, Any]:
    tl = timeline(state)
    current = state.current
    return {
        "plan": state.plan.name,
        "now": state.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "current_phase": current.number if current else None,
        "decision": decide(state, current).outcome if current else None,
        "next": next_action(state),
        "phases": [_phase(state, p) for p in state.plan.phases],
        "hosts": [
            {
                "name": h.name,
                "class": h.cls,
                "phase": next((p.number for p in state.plan.phases if h.name in p.hosts), None),
                "clock": state.clocks[h.name].describe() if h.has_window else "no window (test host)",
                "stable": state.clocks[h.name].stable,
                "window_days": h.stability_days,
            }
            for h in state.plan.hosts.values()
        ],
        "open_flags": [
            {"id": f.id, "host": f.host, "severity": f.severity, "text": f.text, "opened": f.opened}
            for f in sorted(state.open_flags(), key=lambda f: f.id)
        ],
        "timeline": {
            "start": state.plan.start.isoformat(),
            "planned_end": tl.planned_end.isoformat(),
            "projected_end": tl.projected_end.isoformat(),
            "slip_days": tl.slip_days,
        },
        "events": sum(state.counts.values()),
        "journal_problems": [{"line": p.line, "message": p.message} for p in state.problems],
    }
