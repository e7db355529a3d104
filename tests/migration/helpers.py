"""Building plans, journals and repositories for the migration tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dendrite.migration import plan as plan_mod
from dendrite.migration.journal import Journal, stamp
from dendrite.migration.state import State, build

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def default_plan() -> plan_mod.Plan:
    return plan_mod.loads(plan_mod.dumps(plan_mod.default_plain(START.date())))


def ev(day: float, kind: str, **fields: Any) -> dict[str, Any]:
    return {"ts": stamp(START + dt.timedelta(days=day)), "type": kind, **fields}


def passed(day: float, phase: int, *criteria: str) -> list[dict[str, Any]]:
    return [ev(day, "attest", phase=phase, criterion=c, evidence="seen") for c in criteria]


def all_of(p: plan_mod.Plan, phase: int, day: float, *, but: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every recorded (non-clock) criterion of `phase` passed on `day`, except `but`."""
    ph = p.phase(phase)
    ids = [
        c.id
        for c in ph.criteria
        if c.id not in but and not (c.probe and c.probe.builtin in plan_mod.CLOCK_BUILTINS)
    ]
    return passed(day, phase, *ids)


def state(events: list[dict[str, Any]], day: float, p: plan_mod.Plan | None = None) -> State:
    return build(p or default_plan(), Journal(events=events), START + dt.timedelta(days=day))


def write_repo(root: Path, plan_text: str | None = None) -> Path:
    """A repository with a flake.nix and migration/plan.toml (the seed's, or `plan_text`)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    (root / "migration").mkdir(exist_ok=True)
    text = plan_text or plan_mod.dumps(plan_mod.default_plain(START.date()))
    (root / "migration" / "plan.toml").write_text(text)
    return root
