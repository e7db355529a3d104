"""The operations behind `dendrite migrate …`: each reads the plan, acts, and records in the journal.

Writes go through the repository lock: the plan is replaced atomically (`RepoFS.write_text`), events
are appended and fsynced one by one (`journal.append`), so a `check` stopped half-way keeps the results
it had.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dendrite.errors import InputError
from dendrite.fsutil import repo_lock
from dendrite.migration import PLAN_FILE, journal, plan, probes, rollback
from dendrite.migration.decide import GO, Decision, decide
from dendrite.migration.journal import utcnow
from dendrite.migration.load import load_plan as load_plan
from dendrite.migration.load import load_state as load_state
from dendrite.migration.state import State
from dendrite.repofs import RepoFS
from dendrite.text import did_you_mean


def init(root: Path, start: dt.date | None = None, *, force: bool = False, record: bool = True) -> Path:
    """Write the seed's plan to migration/plan.toml (refused over an existing plan unless `force`)."""
    fs = RepoFS(root)
    start = start or utcnow().date()
    text = plan.dumps(plan.default_plain(start))
    plan.loads(text)  # the default must always load; a failure here is a bug, not the user's
    with repo_lock(root):
        if fs.exists(PLAN_FILE) and not force:
            raise InputError(
                f"{root / PLAN_FILE} exists",
                hint="edit it, or pass --force to replace it with the seed's plan",
            )
        fs.write_text(PLAN_FILE, text)
    if record:
        journal.append(root, "init", {"start": start.isoformat(), "by": _who()})
    return root / PLAN_FILE


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _probes_of(
    state: State, phase_name: str | None, criterion: str | None
) -> tuple[plan.Phase, list[plan.Criterion]]:
    phase = state.plan.phase(phase_name) if phase_name is not None else state.current
    if phase is None:
        raise InputError(
            "every phase is advanced; name one to check it again", hint="dendrite migrate check 6"
        )
    todo = probes.checkable(phase)
    if criterion is not None:
        c = phase.criterion(criterion)
        if c not in todo:
            raise InputError(
                f"criterion '{criterion}' of Phase {phase.number} is not a probe that `check` runs"
            )
        todo = [c]
    return phase, todo


def planned_checks(
    root: Path, phase_name: str | None, criterion: str | None = None
) -> list[tuple[plan.Criterion, list[str]]]:
    """The commands `check` would run, per criterion, without running them."""
    state = load_state(root)
    phase, todo = _probes_of(state, phase_name, criterion)
    return [(c, probes.planned_commands(state.plan, phase, c, root)) for c in todo]


def check(
    root: Path,
    phase_name: str | None,
    criterion: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[plan.Phase, list[probes.ProbeResult]]:
    """Run the phase's probes (default: the current phase) and record each result as it comes."""
    state = load_state(root)
    phase, todo = _probes_of(state, phase_name, criterion)
    results = []
    for i, c in enumerate(todo):
        if progress:
            progress(i, len(todo))
        r = probes.run_probe(state.plan, phase, c, root)
        journal.append(root, "probe", r.event())
        results.append(r)
    return phase, results


def attest(
    root: Path, phase_name: str, criterion: str, text: str, *, workaround: bool = False
) -> dict[str, Any]:
    if not text.strip():
        raise InputError(
            "the evidence is empty", hint="say what shows the criterion holds: a file, a log, a URL"
        )
    p = load_plan(root)
    phase = p.phase(phase_name)
    c = phase.criterion(criterion)
    if workaround:
        return journal.append(
            root, "workaround", {"phase": phase.number, "criterion": c.id, "text": text, "by": _who()}
        )
    return journal.append(
        root, "attest", {"phase": phase.number, "criterion": c.id, "evidence": text, "by": _who()}
    )


def flag(root: Path, host: str, text: str, severity: str) -> dict[str, Any]:
    if severity not in plan.SEVERITIES:
        raise InputError(f"unknown severity '{severity}'", hint=did_you_mean(severity, plan.SEVERITIES))
    if not text.strip():
        raise InputError("the red flag's text is empty", hint="say what is wrong")
    load_plan(root).host(host)
    return journal.append(
        root, "flag", {"host": host, "severity": severity, "text": text, "by": _who()}, assign_flag_id=True
    )


def resolve(root: Path, flag_id: int, note: str = "") -> dict[str, Any]:
    state = load_state(root)
    f = state.flags.get(flag_id)
    if f is None or not f.is_open:
        open_ids = [str(i) for i, g in state.flags.items() if g.is_open]
        why = "is already resolved" if f is not None else "does not exist"
        raise InputError(
            f"red flag #{flag_id} {why}", hint=f"open red flags: {', '.join(open_ids) or 'none'}"
        )
    return journal.append(root, "resolve", {"id": flag_id, "host": f.host, "note": note, "by": _who()})


def deployed(root: Path, host: str, at: dt.datetime | None = None, note: str = "") -> dict[str, Any]:
    load_plan(root).host(host)
    return journal.append(root, "deployed", {"host": host, "note": note, "by": _who()}, at=at)


def record_update(
    root: Path, host: str, steps: list[dict[str, Any]], ok: bool, error: str | None = None
) -> dict[str, Any] | None:
    """`machines update`'s result for one host, when the repository is being migrated (it has a plan).

    A success is a `deployed` event, the one `migrate deployed` writes, so the host's stability clock
    starts; a failure is a `deploy-failed` event, which leaves the clock as it was. Both keep the
    pipeline's steps. Without a plan nothing is written: deploying must not start a migration journal.
    Hosts outside the plan are recorded too (the journal is the fleet's history); no clock reads them.
    """
    if not RepoFS(root).exists(PLAN_FILE):
        return None
    fields: dict[str, Any] = {"host": host, "note": "dendrite machines update", "by": _who(), "steps": steps}
    if ok:
        return journal.append(root, "deployed", fields)
    return journal.append(root, "deploy-failed", {**fields, "error": error or "failed"})


def decision(root: Path, phase_name: str, *, record: bool = True) -> Decision:
    state = load_state(root)
    d = decide(state, state.plan.phase(phase_name))
    if record:
        journal.append(root, "decision", {**d.to_json(), "by": _who()})
    return d


def advance(root: Path, phase_name: str, accept_risk: str | None) -> tuple[Decision, dict[str, Any] | None]:
    """Declare the phase done. Anything but GO is refused (returned without an event) unless the risk is
    accepted in words, which the journal keeps with the decision it overrode."""
    state = load_state(root)
    phase = state.plan.phase(phase_name)
    if phase.number in state.advanced:
        raise InputError(f"Phase {phase.number} was advanced on {state.advanced[phase.number]['ts']}")
    missing = [d for d in phase.depends if d not in state.advanced]
    if missing:
        raise InputError(
            f"Phase {phase.number} depends on Phase {missing[0]}, which is not advanced yet",
            hint=f"dendrite migrate decide {missing[0]}",
        )
    d = decide(state, phase)
    if d.outcome != GO and not (accept_risk and accept_risk.strip()):
        return d, None
    fields: dict[str, Any] = {"phase": phase.number, "outcome": d.outcome, "by": _who()}
    if d.outcome != GO:
        fields["accepted_risk"] = accept_risk
        fields["reasons"] = [r.text for r in d.blocking]
    return d, journal.append(root, "advance", fields)


def rollback_host(root: Path, host: str, *, dry_run: bool) -> list[rollback.Step]:
    """The host's rollback commands; without `dry_run` they run in order, the first failure stops the
    rest, and the journal records each command and its exit code (the host's clock stops)."""
    p = load_plan(root)
    cmds = rollback.commands(p, host, root)
    if dry_run:
        return [rollback.Step(c) for c in cmds]
    steps: list[rollback.Step] = []
    for c in cmds:
        step = rollback.execute(c, root)
        steps.append(step)
        if step.exit != 0:
            break
    ok = len(steps) == len(cmds) and all(s.exit == 0 for s in steps)
    journal.append(
        root,
        "rollback",
        {
            "host": host,
            "ok": ok,
            "steps": [{"command": s.text, "exit": s.exit, "detail": s.detail} for s in steps],
            "by": _who(),
        },
    )
    return steps
