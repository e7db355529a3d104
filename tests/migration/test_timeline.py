"""Planned against actual dates, the slip, and the projected end."""

from __future__ import annotations

import datetime as dt

from dendrite.migration.timeline import timeline
from tests.migration.helpers import START, default_plan, ev, state

D0 = START.date()


def test_planned_dates_follow_the_weeks() -> None:
    tl = timeline(state([], 0))
    assert [(s.phase, s.planned_start, s.planned_end) for s in tl.spans[:3]] == [
        (0, D0, D0 + dt.timedelta(weeks=1)),
        (1, D0 + dt.timedelta(weeks=1), D0 + dt.timedelta(weeks=3)),
        (2, D0 + dt.timedelta(weeks=3), D0 + dt.timedelta(weeks=6)),
    ]
    assert tl.planned_end == D0 + dt.timedelta(weeks=default_plan().total_weeks) and tl.slip_days == 0


def test_a_late_phase_0_slips_everything_after_it() -> None:
    events = [ev(0, "init"), ev(10, "advance", phase=0, outcome="GO"), ev(11, "deployed", host="cinnabar")]
    tl = timeline(state(events, 12))
    p0, p1 = tl.spans[0], tl.spans[1]
    assert (p0.actual_start, p0.actual_end, p0.slip_days) == (D0, D0 + dt.timedelta(days=10), 3)
    # Phase 1 runs since day 10: its 2 weeks, but not before cinnabar's window (day 11 + 14) can elapse
    assert p1.actual_start == D0 + dt.timedelta(days=10) and p1.actual_end is None
    assert p1.projected_end == D0 + dt.timedelta(days=25)
    assert tl.slip_days == (p1.projected_end - p1.planned_end).days == 4


def test_an_open_red_flag_pushes_the_projection_a_whole_window_from_today() -> None:
    events = [
        ev(0, "init"),
        ev(6, "advance", phase=0, outcome="GO"),
        ev(7, "deployed", host="cinnabar"),
        ev(15, "flag", id=1, host="cinnabar", severity="major", text="x"),
    ]
    tl = timeline(state(events, 16))
    assert tl.spans[1].projected_end == D0 + dt.timedelta(days=16 + 14)
    assert tl.spans[2].projected_start == tl.spans[1].projected_end
