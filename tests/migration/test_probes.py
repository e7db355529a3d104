"""Probes run real commands with timeouts and expectations; the builtins call dendrite's library."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

from dendrite.migration import plan as plan_mod
from dendrite.migration import probes
from tests.migration.helpers import START


def _plan(criteria: str) -> plan_mod.Plan:
    text = f"""
[migration]
start = {START.date()}

[[hosts]]
name = "cinnabar"
class = "nixos"
target = "root@{{host}}.{{domain}}"

[[phases]]
number = 0
name = "probes"
hosts = ["cinnabar"]
weeks = 1
{textwrap.dedent(criteria)}
"""
    return plan_mod.loads(text)


def _run(p: plan_mod.Plan, cid: str, root: Path) -> probes.ProbeResult:
    ph = p.phase(0)
    return probes.run_probe(p, ph, ph.criterion(cid), root)


def test_hanging_probe_is_stopped_and_recorded_failed(tmp_path: Path) -> None:
    p = _plan(
        """
        [[phases.criteria]]
        id = "hangs"
        text = "a probe that never ends"
        critical = true
        probe = "command"
        command = ["sleep", "60"]
        timeout = 1
        """
    )
    r = _run(p, "hangs", tmp_path)
    assert r.status == "fail" and r.exit is None
    assert r.detail == "timed out after 1 s and was stopped"
    assert r.event()["status"] == "fail"


def test_expectations_exit_code_pattern_and_json_path(tmp_path: Path) -> None:
    p = _plan(
        """
        [[phases.criteria]]
        id = "exit"
        text = "exit code 3 expected"
        critical = true
        probe = "command"
        command = ["sh", "-c", "exit 3"]
        expect_exit = 3

        [[phases.criteria]]
        id = "pattern"
        text = "output pattern, with the host's target substituted"
        critical = true
        probe = "command"
        command = ["echo", "200 info {target} 1.14 ONLINE"]
        expect_output = "^200 info root@cinnabar\\\\.zt \\\\S+ ONLINE"

        [[phases.criteria]]
        id = "json-ok"
        text = "JSON path"
        critical = true
        probe = "command"
        command = ["echo", '[{{"nwid": "db43", "status": "OK"}}]']  # literal braces doubled
        expect_json = "[0].status"
        expect_value = "OK"

        [[phases.criteria]]
        id = "json-bad"
        text = "JSON path with another value"
        critical = true
        probe = "command"
        command = ["echo", '[{{"nwid": "db43", "status": "ACCESS_DENIED"}}]']
        expect_json = "[0].status"
        expect_value = "OK"

        [[phases.criteria]]
        id = "wrong-exit"
        text = "exit 1 where 0 is expected"
        critical = true
        probe = "command"
        command = ["sh", "-c", "echo boom >&2; exit 1"]

        [[phases.criteria]]
        id = "missing"
        text = "a program that is not installed"
        critical = true
        probe = "command"
        command = ["dendrite-no-such-program-xyz"]
        """
    )
    got = {c.id: _run(p, c.id, tmp_path) for c in p.phase(0).criteria}
    assert {k: r.status for k, r in got.items()} == {
        "exit": "pass",
        "pattern": "pass",
        "json-ok": "pass",
        "json-bad": "fail",
        "wrong-exit": "fail",
        "missing": "unavailable",
    }
    assert got["json-bad"].detail == "[0].status is 'ACCESS_DENIED', expected 'OK'"
    assert got["wrong-exit"].detail == "exit 1, expected 0" and "boom" in got["wrong-exit"].excerpt
    assert got["pattern"].command == "echo 200 info root@cinnabar.zt 1.14 ONLINE"


def test_probe_per_host_needs_all_to_pass(tmp_path: Path) -> None:
    (tmp_path / "ok-cinnabar").write_text("")
    p = _plan(
        """
        [[phases.criteria]]
        id = "each"
        text = "a file per host"
        critical = true
        probe = "command"
        command = ["test", "-e", "ok-{host}"]
        """
    )
    assert _run(p, "each", tmp_path).status == "pass"
    (tmp_path / "ok-cinnabar").unlink()
    assert _run(p, "each", tmp_path).status == "fail"


def test_builtins_read_the_repository_through_the_library(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "modules" / "base").mkdir(parents=True)
    (repo / "modules" / "base" / "nix.nix").write_text(
        '{ ... }: { flake.modules.nixos.base = { nix.settings.experimental-features = [ "flakes" ]; }; }\n'
    )
    p = _plan(
        """
        [[phases.criteria]]
        id = "modules"
        text = "import-tree discovers all dendritic modules"
        critical = true
        probe = "builtin"
        builtin = "layout-modules"

        [[phases.criteria]]
        id = "lint"
        text = "lint"
        critical = true
        probe = "builtin"
        builtin = "layout-lint"
        """
    )
    r = _run(p, "modules", repo)
    assert r.status == "pass" and r.detail.startswith("1 files discovered, 1 flake.modules definitions"), (
        r.detail
    )
    assert _run(p, "lint", repo).status == "pass"
    (repo / "modules" / "base" / "broken.nix").write_text("{ flake.modules.nixos.x = ")
    assert _run(p, "modules", repo).status == "fail"
    assert dt.date(2026, 1, 5) == p.start
