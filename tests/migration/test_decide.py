"""The seed's decision framework (04-migration-assessment.md, as issue 12 states it) on a table of cases."""

from __future__ import annotations

from typing import Any

import pytest

from dendrite.migration.decide import CONDITIONAL, GO, NO_GO, decide
from dendrite.migration.plan import ALTERNATIVES
from tests.migration.helpers import all_of, default_plan, ev, state

P = default_plan()
PHASE0_DONE = [*all_of(P, 0, 1), ev(2, "advance", phase=0, outcome="GO")]
# cinnabar deployed on day 3, all of Phase 1 recorded on day 4, Phase 1 advanced on day 18
PHASE1_DONE = [
    *PHASE0_DONE,
    ev(3, "deployed", host="cinnabar"),
    *all_of(P, 1, 4),
    ev(18, "advance", phase=1, outcome="GO"),
]
PHASE2_READY = [*PHASE1_DONE, ev(19, "deployed", host="blackphos"), *all_of(P, 2, 20)]

CASES: list[tuple[str, int, list[dict[str, Any]], float, str, set[str]]] = [
    ("phase 0, everything passed", 0, all_of(P, 0, 1), 2, GO, {"ok"}),
    (
        "a critical probe failed",
        0,
        [
            *all_of(P, 0, 1),
            ev(1.5, "probe", phase=0, criterion="vars-generation", status="fail", detail="2 problems"),
        ],
        2,
        NO_GO,
        {"critical-failed"},
    ),
    (
        "a critical criterion pending counts as not passed",
        0,
        all_of(P, 0, 1, but=("no-critical-blockers",)),
        2,
        NO_GO,
        {"critical-pending"},
    ),
    (
        "a probe that could not run (no nix) leaves the criterion pending",
        0,
        [
            *all_of(P, 0, 1, but=("test-vm-builds",)),
            ev(1, "probe", phase=0, criterion="test-vm-builds", status="unavailable"),
        ],
        2,
        NO_GO,
        {"critical-pending"},
    ),
    (
        "a non-critical criterion pending with a workaround",
        0,
        [
            *all_of(P, 0, 1, but=("patterns-extracted",)),
            ev(1, "workaround", phase=0, criterion="patterns-extracted", text="write them in Phase 1"),
        ],
        2,
        CONDITIONAL,
        {"workaround", "ok"},
    ),
    (
        "a non-critical criterion failed, without a workaround",
        0,
        all_of(P, 0, 1, but=("findings-documented",)),
        2,
        NO_GO,
        {"no-workaround"},
    ),
    (
        "an open major red flag on the phase's host",
        0,
        [*all_of(P, 0, 1), ev(1, "flag", id=1, host="test-vm", severity="major", text="eval error")],
        2,
        NO_GO,
        {"red-flag"},
    ),
    (
        "an open minor red flag does not block",
        0,
        [*all_of(P, 0, 1), ev(1, "flag", id=1, host="test-vm", severity="minor", text="slow eval")],
        2,
        GO,
        {"ok"},
    ),
    (
        "a resolved critical red flag does not block",
        0,
        [
            *all_of(P, 0, 1),
            ev(1, "flag", id=1, host="test-vm", severity="critical", text="x"),
            ev(1.5, "resolve", id=1),
        ],
        2,
        GO,
        {"ok"},
    ),
    ("phase 2 after cinnabar's window and blackphos's", 2, PHASE2_READY, 34, GO, {"ok"}),
    (
        "an open critical red flag on a host migrated before (cinnabar) blocks phase 2",
        2,
        [*PHASE2_READY, ev(33, "flag", id=1, host="cinnabar", severity="critical", text="zerotier down")],
        34,
        NO_GO,
        {"red-flag", "window"},
    ),
    (
        "the previous host's window has not elapsed (its clock was restarted by a resolved flag)",
        2,
        [
            *PHASE2_READY,
            ev(25, "flag", id=1, host="cinnabar", severity="minor", text="x"),
            ev(26, "resolve", id=1),
        ],
        34,
        NO_GO,
        {"window"},
    ),
    (
        "phase 2's own window (the `stable` criterion) is still running",
        2,
        PHASE2_READY,
        30,
        NO_GO,
        {"critical-pending"},
    ),
]


@pytest.mark.parametrize(
    ("name", "phase", "events", "day", "outcome", "codes"), CASES, ids=[c[0] for c in CASES]
)
def test_decision_table(
    name: str, phase: int, events: list[dict[str, Any]], day: float, outcome: str, codes: set[str]
) -> None:
    d = decide(state(events, day), P.phase(phase))
    assert d.outcome == outcome, d.reasons
    assert {r.code for r in d.reasons} == codes, d.reasons
    assert d.alternatives == (ALTERNATIVES if outcome == NO_GO else ())


def test_every_reason_is_named() -> None:
    """Several failures at once: each one is its own reason, naming the criterion, flag or host."""
    events = [
        *all_of(P, 2, 20, but=("no-regressions",)),
        ev(20, "probe", phase=2, criterion="builds", status="fail", detail="exit 1"),
        ev(19, "deployed", host="cinnabar"),
        ev(21, "flag", id=4, host="blackphos", severity="major", text="zerotier peer not joining"),
    ]
    d = decide(state(events, 22), P.phase(2))
    texts = "\n".join(r.text for r in d.blocking)
    assert d.outcome == NO_GO
    for needle in ("'builds'", "'no-regressions'", "'stable'", "#4", "blackphos", "cinnabar has not elapsed"):
        assert needle in texts
