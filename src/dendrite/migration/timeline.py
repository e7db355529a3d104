"""Planned against actual dates of the phases, the slip, and the projected end.

Planned: the plan's start date and each phase's weeks, one after the other. Actual: a phase starts when
the one before it is advanced (Phase 0 at the journal's first event) and ends when it is advanced
itself. Projected: a running phase ends no sooner than its planned length after its actual start and
no sooner than now, nor before its hosts' stability windows can have elapsed; the phases after it follow at their planned lengths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dendrite.migration.journal import parse_ts
from dendrite.migration.state import State


@dataclass(frozen=True)
class Span:
    phase: int
    name: str
    planned_start: dt.date
    planned_end: dt.date
    actual_start: dt.date | None
    actual_end: dt.date | None
    projected_start: dt.date
    projected_end: dt.date

    @property
    def slip_days(self) -> int:
        return (self.projected_end - self.planned_end).days

    @property
    def done(self) -> bool:
        return self.actual_end is not None


@dataclass(frozen=True)
class Timeline:
    spans: tuple[Span, ...]
    today: dt.date

    @property
    def planned_end(self) -> dt.date:
        return self.spans[-1].planned_end if self.spans else self.today

    @property
    def projected_end(self) -> dt.date:
        return self.spans[-1].projected_end if self.spans else self.today

    @property
    def slip_days(self) -> int:
        return (self.projected_end - self.planned_end).days


def _windows_end(state: State, hosts: tuple[str, ...], today: dt.date) -> dt.date:
    """The earliest day every host of a running phase can be stable: a window not started yet (not
    deployed, or stopped by a red flag) takes a whole window from today."""
    end = today
    for h in hosts:
        host = state.plan.hosts[h]
        if not host.has_window:
            continue
        ck = state.clocks[h]
        stable_at = ck.stable_at.date() if ck.stable_at else today + dt.timedelta(days=host.stability_days)
        end = max(end, stable_at)
    return end


def timeline(state: State) -> Timeline:
    today = state.now.date()
    spans: list[Span] = []
    planned = state.plan.start
    cursor: dt.date | None = None  # projected end of the previous phase
    prev_end: dt.date | None = parse_ts(state.first_ts).date() if state.first_ts else None
    for i, p in enumerate(state.plan.phases):
        length = dt.timedelta(weeks=p.weeks)
        p_start, p_end = planned, planned + length
        planned = p_end
        actual_start = prev_end if (i == 0 or state.plan.phases[i - 1].number in state.advanced) else None
        adv = state.advanced.get(p.number)
        actual_end = parse_ts(adv["ts"]).date() if adv else None
        if actual_end is not None and actual_start is None:
            actual_start = actual_end
        if actual_end is not None:
            assert actual_start is not None
            j_start, j_end = actual_start, actual_end
        elif actual_start is not None:
            j_start, j_end = (
                actual_start,
                max(actual_start + length, today, _windows_end(state, p.hosts, today)),
            )
        else:
            j_start = max(cursor or p_start, today) if cursor is not None else max(p_start, today)
            j_end = j_start + length
        spans.append(Span(p.number, p.name, p_start, p_end, actual_start, actual_end, j_start, j_end))
        cursor = j_end
        prev_end = actual_end
    return Timeline(tuple(spans), today)
