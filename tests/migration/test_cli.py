"""`dendrite migrate …` as a user runs it: a separate process, real commands, the journal checked after."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dendrite.migration import plan as plan_mod
from tests.conftest import clean_env, run_cli
from tests.migration.helpers import START, write_repo


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_cli(["-C", str(root), "migrate", *args], clean_env(home=root.parent / "home"))


def _events(root: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in (root / "migration" / "journal.jsonl").read_text().splitlines()]


def _plan_with(**rollback: list[str]) -> str:
    plain = plan_mod.default_plain(START.date())
    plain["rollback"].update(rollback)
    return plan_mod.dumps(plain)


def test_init_plan_show_and_refusing_to_overwrite(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    res = _cli(root, "init", "--start", "2026-01-05")
    assert res.returncode == 0, res.stderr
    assert plan_mod.loads((root / "migration" / "plan.toml").read_text()).start == START.date()
    show = _cli(root, "plan", "--show").stdout.decode()
    assert "inventory-evaluates" in show and "probe: builtin inventory-validate" in show
    assert "findings-documented" in show and "attestation" in show
    again = _cli(root, "init")
    assert again.returncode == 2 and b"exists" in again.stderr and b"--force" in again.stderr
    as_json = json.loads(_cli(root, "plan", "--json").stdout)
    kinds = {c["id"]: c["kind"] for c in as_json["phases"][0]["criteria"]}
    assert kinds["vars-generation"] == "probe" and kinds["no-critical-blockers"] == "attestation"


def test_unknown_names_exit_2_with_did_you_mean(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    cases = [
        (("attest", "0", "findings-documnted", "--evidence", "x"), b"did you mean 'findings-documented'?"),
        (("decide", "7"), b"the plan has no phase '7'"),
        (("flag", "cinabar", "down", "--severity", "major"), b"did you mean 'cinnabar'?"),
        (("flag", "cinnabar", "down", "--severity", "majr"), b"did you mean 'major'?"),
        (("rollback", "blackphox", "--dry-run"), b"did you mean 'blackphos'?"),
        (("resolve", "9"), b"red flag #9 does not exist"),
    ]
    for args, words in cases:
        res = _cli(root, *args)
        assert res.returncode == 2, (args, res.stderr)
        assert words in res.stderr and b"Traceback" not in res.stderr, res.stderr
    assert not (root / "migration" / "journal.jsonl").exists()  # nothing recorded for bad input


def test_flag_resolve_and_advance_refused_then_accepted_with_risk(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    assert _cli(root, "flag", "test-vm", "eval error in test-clan", "--severity", "critical").returncode == 0
    refused = _cli(root, "advance", "0")
    assert refused.returncode == 1
    assert b"NO-GO" in refused.stdout and b"red flag #1 (critical)" in refused.stdout
    assert b"--accept-risk" in refused.stderr
    assert [e["type"] for e in _events(root)] == ["flag"]
    assert _cli(root, "resolve", "1", "--note", "pinned nixpkgs").returncode == 0
    assert _cli(root, "resolve", "1").returncode == 2  # already resolved
    ok = _cli(root, "advance", "0", "--accept-risk", "test-clan is a throwaway; nix is missing here")
    assert ok.returncode == 0, ok.stderr
    adv = _events(root)[-1]
    assert adv["type"] == "advance" and adv["outcome"] == "NO-GO"
    assert adv["accepted_risk"] == "test-clan is a throwaway; nix is missing here"
    assert any("critical criterion 'vars-generation'" in r for r in adv["reasons"])  # type: ignore[union-attr]
    assert _cli(root, "advance", "0", "--accept-risk", "again").returncode == 2  # already advanced
    assert _cli(root, "advance", "2", "--accept-risk", "skip").returncode == 2  # phase 1 not advanced


def test_rollback_dry_run_prints_the_command_per_host_class(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    expected = {
        "blackphos": f"darwin-rebuild switch --flake 'git+file://{root}?ref=pre-migration#blackphos'",
        "argentum": f"darwin-rebuild switch --flake 'git+file://{root}?ref=pre-migration#argentum'",
        "cinnabar": "tofu -chdir=terraform destroy -auto-approve -target=hcloud_server.cinnabar",
    }
    for host, line in expected.items():
        res = _cli(root, "rollback", host, "--dry-run")
        assert res.returncode == 0 and res.stdout.decode().strip() == line, res
    assert _cli(root, "rollback", "test-vm", "--dry-run").returncode == 2  # a test host has none
    assert not (root / "migration" / "journal.jsonl").exists()  # a dry run records nothing
    # a NixOS host by the seed's other class: nixos-rebuild --rollback on its target
    plain = plan_mod.default_plain(START.date())
    plain["hosts"].append({"name": "pyrite", "class": "nixos", "rollback": "nixos", "stability_days": 7})
    write_repo(root, plan_mod.dumps(plain))
    res = _cli(root, "rollback", "pyrite", "--dry-run")
    assert res.stdout.decode().strip() == "nixos-rebuild switch --rollback --target-host root@pyrite.zt"


def test_rollback_runs_the_commands_and_records_them(tmp_path: Path) -> None:
    marker = tmp_path / "rolled-back"
    root = write_repo(
        tmp_path / "r",
        _plan_with(
            darwin=[f"touch {marker}-{{host}}", "true {host}"],
            tofu=["false", f"touch {marker}-never"],
        ),
    )
    ok = _cli(root, "rollback", "blackphos")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "rolled-back-blackphos").exists()
    bad = _cli(root, "rollback", "cinnabar")
    assert bad.returncode == 1 and b"FAILED" in bad.stderr
    assert not (tmp_path / "rolled-back-never").exists()  # the first failure stops the rest
    first, second = _events(root)
    assert first["type"] == "rollback" and first["ok"] is True and first["host"] == "blackphos"
    assert [s["exit"] for s in first["steps"]] == [0, 0]  # type: ignore[index]
    assert second["ok"] is False and second["steps"] == [{"command": "false", "exit": 1, "detail": ""}]


def test_check_stops_a_hanging_probe_and_records_it_failed(tmp_path: Path) -> None:
    plain = plan_mod.default_plain(START.date())
    phase0 = plain["phases"][0]
    phase0["criteria"] = [
        {
            "id": "hangs",
            "text": "hangs",
            "critical": True,
            "probe": "command",
            "command": ["sleep", "60"],
            "timeout": 1,
        },
        {"id": "fine", "text": "fine", "critical": True, "probe": "command", "command": ["true"]},
    ]
    root = write_repo(tmp_path / "r", plan_mod.dumps(plain))
    dry = _cli(root, "check", "0", "--dry-run")  # what a plan from someone else would run, run nothing
    assert dry.returncode == 0 and dry.stdout.decode().splitlines() == ["hangs: sleep 60", "fine: true"]
    assert not (root / "migration" / "journal.jsonl").exists()
    res = _cli(root, "check", "0")
    assert res.returncode == 1, res.stderr
    probes = {e["criterion"]: e for e in _events(root)}
    assert probes["hangs"]["status"] == "fail" and probes["hangs"]["exit"] is None
    assert probes["hangs"]["detail"] == "timed out after 1 s and was stopped"
    assert probes["fine"]["status"] == "pass" and probes["fine"]["exit"] == 0
    status = json.loads(_cli(root, "status", "--json").stdout)
    crits = {c["id"]: c["status"] for c in status["phases"][0]["criteria"]}
    assert crits == {"hangs": "fail", "fine": "pass"}


def test_bad_plan_corrupt_journal_and_future_event(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    text = (root / "migration" / "plan.toml").read_text()
    (root / "migration" / "plan.toml").write_text(text.replace("weeks = 2", "weeks = two", 1))
    line = next(
        n
        for n, ln in enumerate(text.replace("weeks = 2", "weeks = two", 1).splitlines(), 1)
        if "weeks = two" in ln
    )
    res = _cli(root, "status")
    assert res.returncode == 2 and f"migration/plan.toml:{line}:".encode() in res.stderr, res.stderr
    (root / "migration" / "plan.toml").write_text(text)

    (root / "migration" / "journal.jsonl").write_text(
        '{"ts":"2026-01-06T09:00:00Z","type":"deployed","host":"cinnabar"}\n{"ts": "2026-01-0\n'
        '{"ts":"2026-01-07T09:00:00Z","type":"flag","id":1,"host":"cinnabar","severity":"minor","text":"x"}\n'
    )
    res = _cli(root, "status", "--json")
    assert res.returncode == 0
    assert b"journal.jsonl:2: this line is not valid JSON" in res.stderr
    s = json.loads(res.stdout)
    assert [f["id"] for f in s["open_flags"]] == [1] and s["journal_problems"][0]["line"] == 2

    future = _cli(root, "deployed", "blackphos", "--at", "2999-01-01T00:00:00Z")
    assert future.returncode == 2 and b"in the future" in future.stderr
    assert (
        len((root / "migration" / "journal.jsonl").read_text().splitlines()) == 3
    )  # nothing lost, nothing added


def test_status_decide_and_markdown_report(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    assert (
        _cli(root, "attest", "0", "findings-documented", "--evidence", "INTEGRATION-FINDINGS.md").returncode
        == 0
    )
    assert (
        _cli(root, "attest", "0", "patterns-extracted", "--workaround", "extract them in Phase 1").returncode
        == 0
    )
    d = _cli(root, "decide", "0", "--json")
    assert d.returncode == 1 and json.loads(d.stdout)["outcome"] == "NO-GO"
    text = _cli(root, "status").stdout.decode()
    assert "Phase 0 test-clan validation [current]" in text and "next:" in text
    assert "INTEGRATION-FINDINGS.md" in text
    out = tmp_path / "docs"
    assert _cli(root, "report", "--markdown", str(out)).returncode == 0
    findings = (out / "INTEGRATION-FINDINGS.md").read_text()
    assert "## Decision after Phase 0: NO-GO" in findings and "INTEGRATION-FINDINGS.md" in findings
    assert (
        'workaround for "Patterns extracted for cinnabar": extract them in Phase 1'
        in (out / "PATTERNS.md").read_text()
    )
