"""Stability clocks: a red flag stops the host's clock, resolving it starts the clock again from zero."""

from __future__ import annotations

import datetime as dt

from tests.migration.helpers import START, ev, state


def test_clock_runs_stops_on_a_flag_and_restarts_on_resolve() -> None:
    events = [ev(0, "deployed", host="cinnabar")]
    ck = state(events, 5).clocks["cinnabar"]
    assert ck.running and not ck.stable and ck.elapsed == dt.timedelta(days=5)
    assert ck.stable_at == START + dt.timedelta(days=14)

    events.append(ev(6, "flag", id=1, host="cinnabar", severity="minor", text="log errors"))
    events.append(ev(7, "flag", id=2, host="cinnabar", severity="major", text="zerotier down"))
    ck = state(events, 20).clocks["cinnabar"]
    assert not ck.running and not ck.stable and ck.stopped_by == (1, 2)
    assert "stopped by red flag #1, #2" in ck.describe()

    events.append(ev(8, "resolve", id=2))  # one of two resolved: still stopped
    assert state(events, 20).clocks["cinnabar"].stopped_by == (1,)

    events.append(ev(9, "resolve", id=1))  # the last one: the clock restarts from zero on day 9
    ck = state(events, 20).clocks["cinnabar"]
    assert ck.running and ck.elapsed == dt.timedelta(days=11) and not ck.stable
    assert state(events, 23).clocks["cinnabar"].stable


def test_a_flag_on_another_host_leaves_the_clock_alone() -> None:
    events = [
        ev(0, "deployed", host="cinnabar"),
        ev(3, "flag", id=1, host="blackphos", severity="critical", text="x"),
    ]
    assert state(events, 14).clocks["cinnabar"].stable


def test_rollback_stops_the_clock_until_the_next_deployment() -> None:
    events = [ev(0, "deployed", host="blackphos"), ev(4, "rollback", host="blackphos", ok=True, steps=[])]
    ck = state(events, 20).clocks["blackphos"]
    assert not ck.deployed and not ck.stable
    events.append(ev(5, "deployed", host="blackphos"))
    assert state(events, 18).clocks["blackphos"].elapsed == dt.timedelta(days=13)
    assert state(events, 19).clocks["blackphos"].stable


def test_the_window_is_the_hosts_own() -> None:
    from dendrite.migration import plan as plan_mod

    plain = plan_mod.default_plain(START.date())
    for h in plain["hosts"]:
        if h["name"] == "cinnabar":
            h["stability_days"] = 7
    p = plan_mod.loads(plan_mod.dumps(plain))
    events = [ev(0, "deployed", host="cinnabar")]
    assert state(events, 7, p).clocks["cinnabar"].stable
    assert not state(events, 6.9, p).clocks["cinnabar"].stable
