"""Stability clocks: how long each host has run its new configuration without an open red flag.

The seed asks for every host to be "stable for 1-2 weeks" before the next one moves. A host's clock
starts when it is deployed (a `deployed` event). A red flag opened on the host stops it; resolving the
last open flag starts it again from zero, because stability means a whole window without trouble, not
a sum of good days. A rollback stops it until the host is deployed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dendrite.migration.journal import parse_ts


@dataclass(frozen=True)
class Flag:
    id: int
    host: str
    severity: str
    text: str
    opened: str  # journal timestamp
    resolved: str | None = None
    resolution: str = ""

    @property
    def is_open(self) -> bool:
        return self.resolved is None


@dataclass(frozen=True)
class ClockState:
    host: str
    window_days: int
    deployed_at: dt.datetime | None
    started_at: dt.datetime | None  # None: not running (not deployed, or stopped by a flag)
    stopped_by: tuple[int, ...]  # the open red flags on the host
    elapsed: dt.timedelta
    now: dt.datetime

    @property
    def deployed(self) -> bool:
        return self.deployed_at is not None

    @property
    def running(self) -> bool:
        return self.started_at is not None

    @property
    def stable(self) -> bool:
        return self.running and self.elapsed >= dt.timedelta(days=self.window_days)

    @property
    def stable_at(self) -> dt.datetime | None:
        """When the window will have elapsed, if nothing stops the clock."""
        return self.started_at + dt.timedelta(days=self.window_days) if self.started_at else None

    def describe(self) -> str:
        days = self.elapsed.total_seconds() / 86400
        if not self.deployed:
            return "not deployed"
        if self.stopped_by:
            return "stopped by red flag " + ", ".join(f"#{i}" for i in self.stopped_by)
        if self.stable:
            return f"stable: {days:.1f} of {self.window_days} days"
        assert self.stable_at is not None
        return (
            f"running: {days:.1f} of {self.window_days} days (stable at {self.stable_at:%Y-%m-%d %H:%M} UTC)"
        )


def clock(
    host: str,
    window_days: int,
    deployments: list[str],
    rollbacks: list[str],
    flags: list[Flag],
    now: dt.datetime,
) -> ClockState:
    """The clock of `host` from its deployment and rollback times and its red flags (timestamps as text)."""
    last_deploy = max(deployments, default=None)
    last_rollback = max(rollbacks, default=None)
    if last_deploy is None or (last_rollback is not None and last_rollback >= last_deploy):
        return ClockState(host, window_days, None, None, (), dt.timedelta(0), now)
    deployed_at = parse_ts(last_deploy)
    open_ids = tuple(sorted(f.id for f in flags if f.is_open))
    if open_ids:
        return ClockState(host, window_days, deployed_at, None, open_ids, dt.timedelta(0), now)
    start = max([last_deploy, *(f.resolved for f in flags if f.resolved and f.resolved > last_deploy)])
    started_at = parse_ts(start)
    return ClockState(
        host, window_days, deployed_at, started_at, (), max(now - started_at, dt.timedelta(0)), now
    )
