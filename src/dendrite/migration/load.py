"""The plan and the folded journal of a repository: what `migrate status` needs, and no more.

A module of its own so that reading the state (the most frequent command) does not import the probes,
the rollback runner and the decision rules that `ops` drives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dendrite.errors import InputError
from dendrite.migration import PLAN_FILE, cache, plan
from dendrite.migration.journal import utcnow
from dendrite.migration.state import State
from dendrite.repofs import RepoFS


def load_plan(root: Path) -> plan.Plan:
    fs = RepoFS(root)
    if not fs.exists(PLAN_FILE):
        raise InputError(
            f"{root} has no {PLAN_FILE}", hint="run `dendrite migrate init` to write the seed's plan"
        )
    return plan.loads(fs.read_text(PLAN_FILE, limit=4 << 20), PLAN_FILE)


def load_state(root: Path, now: dt.datetime | None = None) -> State:
    now = now or utcnow()
    p = load_plan(root)
    reducer, problems = cache.reduce(root, now)
    return reducer.finish(p, now, problems)
