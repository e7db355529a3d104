"""`dendrite migrate verify` on a nixos-unified fleet and its `migrate convert` output, under the real Nix.

The fleet's systems are the miniature NixOS of tests/drv/minisystem.py, evaluated by Debian's Nix 2.8
with no network through the `--expr` entry expression (flakes would fetch their inputs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dendrite.drv.verify import verify_hosts
from tests.conftest import clean_env, run_cli
from tests.drv.minisystem import write_entry, write_repo
from tests.drv.nixdrv import needs_nix
from tests.layout.flake_oracle import needs_oracle

pytestmark = [needs_nix, needs_oracle]

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture
def fleet(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """(repository, entry expression, environment): commit `before` is nixos-unified, HEAD converted."""
    repo = tmp_path / "repo"
    repo.mkdir()
    write_repo(repo)
    (tmp_path / "entry").mkdir()
    entry = write_entry(tmp_path / "entry")
    env = clean_env({"NIX_CONFIG": "build-users-group =\nexperimental-features ="}, home=tmp_path / "home")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "nixos-unified")
    git(repo, "tag", "before")
    res = run_cli(["--repo", str(repo), "migrate", "convert", "--out", "dendritic", "--flake"], env)
    assert res.returncode == 0, res.stderr.decode()
    (repo / "flake.dendritic.nix").replace(repo / "flake.nix")  # the switch
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "dendritic")
    return repo, entry, env


def verify(
    fleet: tuple[Path, Path, dict[str, str]], *args: str, old: str = "before"
) -> subprocess.CompletedProcess[bytes]:
    repo, entry, env = fleet
    return run_cli(["--repo", str(repo), "migrate", "verify", *args, "--old", old, "--expr", str(entry)], env)


def test_the_converted_fleet_is_the_same_system(fleet: tuple[Path, Path, dict[str, str]]) -> None:
    res = verify(fleet, "alpha", "beta")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines[0].startswith("alpha: identical (/nix/store/") and lines[0].endswith(
        "-nixos-system-alpha.drv)"
    )
    # beta's /etc/banner is a file of the repository: its path moved with the flake source, nothing else
    assert lines[1].startswith("beta: same system, sources moved")
    data = json.loads(verify(fleet, "alpha", "beta", "--json", "--new", "HEAD").stdout)
    assert [(h["host"], h["verdict"], h["differences"]) for h in data] == [
        ("alpha", "identical", 0),
        ("beta", "same system, sources moved", 0),
    ]
    assert data[1]["tree"]["inputs"][0]["sourcesMoved"]  # etc holds the moved source


def test_a_one_line_change_is_named(fleet: tuple[Path, Path, dict[str, str]]) -> None:
    repo = fleet[0]
    module = repo / "dendritic/nixos/default.nix"
    module.write_text(
        module.read_text().replace('"welcome to the fleet"', '"welcome to the dendritic fleet"')
    )
    res = verify(fleet, "alpha")
    assert res.returncode == 1, res.stderr.decode()
    out = res.stdout.decode()
    assert "alpha: different, 1 derivation changed" in out and "nixos-system-alpha > etc" in out
    assert '"motd":"welcome to the fleet"' in out and '"motd":"welcome to the dendritic fleet"' in out
    (host,) = json.loads(verify(fleet, "alpha", "--json").stdout)
    assert host["verdict"] == "different" and host["differences"] == 1
    (env,) = host["tree"]["inputs"][0]["env"]
    assert env["key"] == "files" and "dendritic fleet" in env["new"]


def test_the_library_gives_the_probe_a_summary(fleet: tuple[Path, Path, dict[str, str]]) -> None:
    repo, entry, env = fleet
    old = repo.parent / "old"
    old.mkdir()
    write_repo(old)  # a directory, as the nixos-unified tree kept beside the converted one
    (verdict,) = verify_hosts(["alpha"], old=str(old), new="HEAD", repo_root=repo, expr=entry, env=env)
    assert verdict.summary() == {"host": "alpha", "verdict": "identical", "differences": 0}


def one_error(res: subprocess.CompletedProcess[bytes]) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    errors = [ln for ln in res.stderr.decode().splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in res.stderr.decode()
    return res.stderr.decode()


def test_a_host_on_one_side_only(fleet: tuple[Path, Path, dict[str, str]]) -> None:
    repo = fleet[0]
    (repo / "dendritic/hosts/nixos/beta.nix").unlink()
    err = one_error(verify(fleet, "beta"))
    assert "host beta is not defined in the new tree" in err and "its hosts: alpha" in err
    assert "host gamma is not defined in the old tree (before)" in one_error(verify(fleet, "gamma"))


def test_an_evaluation_error_on_either_side_shows_its_first_lines(
    fleet: tuple[Path, Path, dict[str, str]],
) -> None:
    repo = fleet[0]
    module = repo / "dendritic/nixos/default.nix"
    module.write_text(module.read_text().replace('"welcome to the fleet"', '"welcome" + 1'))
    err = one_error(verify(fleet, "alpha"))
    assert (
        "error: evaluating host alpha from the new tree" in err
        and "cannot coerce an integer to a string" in err
    )
    assert "dendritic/nixos/default.nix:" in err  # where, from nix's own message
    git(repo, "checkout", "-qf", "before")
    (repo / "configurations/nixos/alpha.nix").write_text(
        "{ flake, ... }: { imports = [ undefinedThing ]; }\n"
    )
    err = one_error(verify(fleet, "alpha", "--new", "main", old=str(repo)))
    assert "from the old tree" in err and "undefined variable 'undefinedThing'" in err


def test_a_missing_ref_missing_nix_and_a_timeout(
    fleet: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, entry, env = fleet
    err = one_error(
        run_cli(
            ["--repo", str(repo), "migrate", "verify", "alpha", "--old", "nope", "--expr", str(entry)], env
        )
    )
    assert "--old nope is neither a directory nor a commit of the repository" in err
    bare = tmp_path / "bin"
    bare.mkdir()
    git_exe = shutil.which("git")
    assert git_exe is not None
    os.symlink(git_exe, bare / "git")
    no_nix = {**env, "PATH": str(bare)}
    err = one_error(
        run_cli(["--repo", str(repo), "migrate", "verify", "alpha", "--expr", str(entry)], no_nix)
    )
    assert "migrate verify needs the nix-instantiate command, which is not installed" in err
    err = one_error(run_cli(["--repo", str(repo), "migrate", "verify", "alpha"], no_nix))  # as a flake
    assert "migrate verify needs the nix command" in err
    slow = tmp_path / "slow.nix"
    slow.write_text("{ src }: builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 100000000)\n")
    res = run_cli(
        ["--repo", str(repo), "migrate", "verify", "alpha", "--expr", str(slow), "--timeout", "1"], env
    )
    assert "did not finish within 1 s" in one_error(res)


FLAKE = """{
  outputs = { self }: {
    nixosConfigurations.alpha.config.system.build.toplevel = builtins.derivation {
      name = "toplevel"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ];
      banner = "${self}/banner";
    };
    darwinConfigurations.mac.system = builtins.derivation {
      name = "darwin-system"; system = "aarch64-darwin"; builder = "/bin/sh";
    };
  };
}
"""


def test_a_flake_without_inputs_is_evaluated_as_a_flake(tmp_path: Path) -> None:
    env = clean_env({"NIX_CONFIG": "build-users-group =\nexperimental-features ="}, home=tmp_path / "home")
    for side in ("old", "new"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "flake.nix").write_text(FLAKE)
        (tmp_path / side / "banner").write_text("hello\n")
    base = [
        "--repo",
        str(tmp_path / "new"),
        "migrate",
        "verify",
        "alpha",
        "mac",
        "--old",
        str(tmp_path / "old"),
    ]
    res = run_cli([*base, "--new", str(tmp_path / "new")], env)
    assert res.returncode == 0 and res.stdout.decode().count(": identical") == 2, res.stderr.decode()
    (tmp_path / "new" / "README").write_text("moved\n")
    res = run_cli(base, env)
    assert res.returncode == 0 and b"alpha: same system, sources moved" in res.stdout, res.stderr.decode()
    (tmp_path / "new" / "banner").write_text("changed\n")
    res = run_cli(base, env)
    assert (
        res.returncode == 1 and b"file banner of the flake source: 'hello\\n' -> 'changed\\n'" in res.stdout
    )


VERIFY_PLAN = """
[migration]
start = 2026-12-01
old_ref = "before"

[[hosts]]
name = "alpha"
class = "nixos"
target = "root@alpha"

[[hosts]]
name = "beta"
class = "nixos"
target = "root@beta"

[[phases]]
number = 2
name = "alpha and beta"
hosts = ["alpha", "beta"]
weeks = 1

[[phases.criteria]]
id = "no-regressions"
text = "All functionality preserved (no regressions)"
critical = true
probe = "builtin"
builtin = "verify"
expr = "@ENTRY@"
timeout = 300
"""


def test_the_verify_probe_records_the_verdicts_in_the_journal(
    fleet: tuple[Path, Path, dict[str, str]],
) -> None:
    """Issue 14 item 4: the plan's `builtin = "verify"` probe runs `verify_hosts` for the phase's hosts
    (old: the plan's old_ref, new: the repository) and `migrate check` journals the verdicts."""
    from dendrite.migration import journal

    repo, entry, env = fleet
    (repo / "migration").mkdir()
    (repo / "migration" / "plan.toml").write_text(VERIFY_PLAN.replace("@ENTRY@", str(entry)))
    shown = run_cli(["--repo", str(repo), "migrate", "plan", "--show"], env)
    assert shown.returncode == 0, shown.stderr.decode()
    assert f"builtin verify: `dendrite migrate verify {{host}} --old {{old_ref}} --expr {entry}`" in (
        shown.stdout.decode()
    )
    dry = run_cli(["--repo", str(repo), "migrate", "check", "2", "--dry-run"], env)
    assert dry.stdout.decode().strip() == (
        f"no-regressions: dendrite migrate verify alpha beta --old before --new {repo} --expr {entry}"
    )

    res = run_cli(["--repo", str(repo), "migrate", "check", "2"], env)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
    assert "alpha: identical; beta: same system, sources moved" in res.stdout.decode()

    module = repo / "dendritic/nixos/default.nix"  # a one-line change in the working tree
    module.write_text(module.read_text().replace('"welcome to the fleet"', '"welcome, dendritic"'))
    res = run_cli(["--repo", str(repo), "migrate", "check", "2"], env)
    assert res.returncode == 1, res.stdout.decode() + res.stderr.decode()
    assert "alpha: different, 1 derivation(s) differ" in res.stdout.decode()

    probes = journal.read(repo).of_type("probe")
    assert [(p["criterion"], p["status"]) for p in probes] == [
        ("no-regressions", "pass"),
        ("no-regressions", "fail"),
    ]
    assert probes[0]["verify"] == [
        {"host": "alpha", "verdict": "identical", "differences": 0},
        {"host": "beta", "verdict": "same system, sources moved", "differences": 0},
    ]
    assert probes[1]["verify"][0] == {"host": "alpha", "verdict": "different", "differences": 1}
    status = json.loads(run_cli(["--repo", str(repo), "migrate", "status", "--json"], env).stdout)
    (phase,) = status["phases"]
    assert status["decision"] == "NO-GO"
    (criterion,) = phase["criteria"]
    assert (criterion["status"], criterion["source"]) == ("fail", "probe")
    assert criterion["evidence"].startswith("alpha: different, 1 derivation(s) differ; beta: ")
