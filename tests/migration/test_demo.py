"""`dendrite demo` leaves a migration in progress: Phase 0 done, Phase 1 in its window after a resolved flag."""

from __future__ import annotations

from pathlib import Path

from dendrite.migration import ops
from dendrite.migration.decide import NO_GO, decide
from tests.conftest import clean_env, run_cli


def test_demo_migration_in_progress(tmp_path: Path) -> None:
    target = tmp_path / "fleet"
    res = run_cli(["demo", str(target)], clean_env(home=tmp_path / "home"))
    assert res.returncode == 0, res.stderr
    text = res.stdout.decode()
    report = target / "migration" / "report.html"
    assert f"HTML report: {report}" in text and report.read_text().startswith("<!DOCTYPE html>")
    assert "clock cinnabar: running:" in text

    state = ops.load_state(target)
    assert list(state.advanced) == [0] and state.current is not None and state.current.number == 1
    flag = state.flags[1]
    assert flag.host == "cinnabar" and flag.resolved is not None and not state.open_flags()
    clock = state.clocks["cinnabar"]
    assert clock.running and not clock.stable and clock.started_at is not None
    assert clock.started_at.strftime("%Y-%m-%dT%H:%M:%SZ") == flag.resolved  # restarted by the resolve
    d = decide(state, state.plan.phase(1))
    assert d.outcome == NO_GO and any("'stable'" in r.text for r in d.blocking)
