"""GO / CONDITIONAL GO / NO-GO for a phase, by the seed's decision framework (04-migration-assessment.md).

- GO: every critical criterion of the phase passes; no open critical or major red flag on the phase's
  hosts or on any host migrated before; the stability window of the previous host has elapsed.
- CONDITIONAL GO: the same, except that non-critical criteria fail, and each has a recorded workaround.
- NO-GO otherwise, with every reason named. A critical criterion still pending counts as not passed.
  The seed's alternatives are listed with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dendrite.migration.plan import ALTERNATIVES, Phase
from dendrite.migration.state import PASS, State

GO, CONDITIONAL, NO_GO = "GO", "CONDITIONAL GO", "NO-GO"
BLOCKING_SEVERITIES = ("critical", "major")


@dataclass(frozen=True)
class Reason:
    code: str  # critical-failed, critical-pending, red-flag, window, no-workaround, workaround, ok
    text: str


@dataclass(frozen=True)
class Decision:
    phase: int
    outcome: str
    reasons: tuple[Reason, ...]
    alternatives: tuple[str, ...] = ()

    @property
    def blocking(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.code not in ("ok", "workaround"))

    def to_json(self) -> dict[str, object]:
        return {
            "phase": self.phase,
            "outcome": self.outcome,
            "reasons": [{"code": r.code, "text": r.text} for r in self.reasons],
            "alternatives": list(self.alternatives),
        }


def hosts_so_far(state: State, phase: Phase) -> list[str]:
    """The phase's hosts and every host of the phases before it, in plan order."""
    out: list[str] = []
    for p in state.plan.phases:
        out += [h for h in p.hosts if h not in out]
        if p.number == phase.number:
            break
    return out


def previous_host(state: State, phase: Phase) -> str | None:
    """The last host with a stability window in the phases before this one."""
    before: list[str] = []
    for p in state.plan.phases:
        if p.number == phase.number:
            break
        before += [h for h in p.hosts if state.plan.hosts[h].has_window]
    return before[-1] if before else None


def decide(state: State, phase: Phase) -> Decision:
    blocking: list[Reason] = []
    conditions: list[Reason] = []
    passed = 0
    for c in phase.criteria:
        r = state.result(phase, c)
        if r.status == PASS:
            passed += 1
            continue
        said = f" ({r.evidence})" if r.evidence else ""
        if c.critical:
            code = "critical-failed" if r.status == "fail" else "critical-pending"
            verb = "failed" if r.status == "fail" else "is still pending, which counts as not passed"
            blocking.append(Reason(code, f"critical criterion '{c.id}' ({c.text}) {verb}{said}"))
        elif r.workaround:
            conditions.append(
                Reason("workaround", f"'{c.id}' ({c.text}) is {r.status}; workaround: {r.workaround}")
            )
        else:
            blocking.append(
                Reason(
                    "no-workaround",
                    f"non-critical criterion '{c.id}' ({c.text}) is {r.status} and has no recorded workaround",
                )
            )
    scope = hosts_so_far(state, phase)
    for f in sorted(state.open_flags(set(scope)), key=lambda f: f.id):
        if f.severity in BLOCKING_SEVERITIES:
            blocking.append(
                Reason("red-flag", f"red flag #{f.id} ({f.severity}) is open on {f.host}: {f.text}")
            )
    prev = previous_host(state, phase)
    window_ok = True
    if prev is not None:
        ck = state.clocks[prev]
        if not ck.stable:
            window_ok = False
            blocking.append(
                Reason("window", f"the stability window of {prev} has not elapsed: {ck.describe()}")
            )
    if blocking:
        return Decision(phase.number, NO_GO, (*blocking, *conditions), ALTERNATIVES)
    ok = [Reason("ok", f"{passed} of {len(phase.criteria)} criteria pass, every critical one among them")]
    ok.append(Reason("ok", f"no open critical or major red flag on {', '.join(scope) or 'any host'}"))
    if prev is not None and window_ok:
        ok.append(
            Reason("ok", f"the stability window of {prev} has elapsed ({state.clocks[prev].describe()})")
        )
    if conditions:
        return Decision(phase.number, CONDITIONAL, (*conditions, *ok))
    return Decision(phase.number, GO, tuple(ok))
