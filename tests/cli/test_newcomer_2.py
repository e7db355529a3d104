"""A second newcomer's walk through README.md: each test pins a trap found by following it as written."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env, run_cli

BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """The demo fleet as `make demo` builds it, with the environment its "Try next" lines expect."""
    base = tmp_path_factory.mktemp("nc2")
    env = _no_git_identity(clean_env(home=base / "home"))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    res = run_cli(["demo", str(base / "demo-fleet")], env)
    assert res.returncode == 0, res.stderr
    fleet = base / "demo-fleet"
    env["SOPS_AGE_KEY_FILE"] = str(fleet / ".keys" / "admin-age.txt")
    return fleet, res.stdout.decode(), env


def _no_git_identity(env: dict[str, str]) -> dict[str, str]:
    """A fresh machine's environment: git knows no user.name or user.email (no ~/.gitconfig)."""
    drop = ("EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
    return {**{k: v for k, v in env.items() if k not in drop}, "GIT_CONFIG_NOSYSTEM": "1"}


def _copy(fleet: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "demo-fleet"
    shutil.copytree(fleet, copy, symlinks=True)
    return copy


def _try_next(stdout: str) -> list[str]:
    lines = stdout.split("Try next", 1)[1].splitlines()[2:]
    return [ln.strip() for ln in lines if ln.startswith("  ")]


def test_the_last_printed_command_shows_the_changes_the_others_made(
    demo: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    """Every command commits its change (clan_lib/git/__init__.py `commit_files`), so the demo's
    last hint must show commits: `git status --short` printed nothing after the printed commands."""
    fleet, stdout, env = demo
    copy = _copy(fleet, tmp_path)
    res = run_cli(["secrets", "set", "grafana-admin", "--group", "admins"], env, cwd=copy, stdin=b"s3cret\n")
    assert res.returncode == 0, res.stderr
    last = _try_next(stdout)[-1].split("#", 1)[0].strip()
    shown = subprocess.run(
        ["bash", "-c", last], cwd=copy, env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "grafana-admin" in shown, (last, shown)


def test_printed_commands_commit_on_a_machine_without_a_git_identity(
    demo: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    """clan_lib/git/__init__.py `commit_files` runs a plain `git commit`, which fails without an identity;
    the demo's printed commands failed with exit 2 after writing their change on a fresh machine."""
    fleet, _, env = demo
    copy = _copy(fleet, tmp_path)
    probe = subprocess.run(
        ["git", "var", "GIT_COMMITTER_IDENT"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert probe.returncode != 0, "the test needs an environment without a git identity"
    res = run_cli(["machines", "create", "orb", "--class", "nixos"], env, cwd=copy)
    assert res.returncode == 0, res.stderr
    log = subprocess.run(
        ["git", "log", "--format=%an %s"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "machines: add orb" in log and "error" not in res.stderr.decode()


def test_a_configured_identity_stays_the_users(tmp_path: Path) -> None:
    """The demo's repository carries the demo's identity in its own .git/config (so every command works
    on a machine that has none), and a user's own identity in the environment still wins."""
    env = clean_env(home=tmp_path / "home", extra={"GIT_AUTHOR_NAME": "Ada", "GIT_COMMITTER_NAME": "Ada"})
    env.update({"GIT_AUTHOR_EMAIL": "ada@example.org", "GIT_COMMITTER_EMAIL": "ada@example.org"})
    fleet = tmp_path / "fleet"
    assert run_cli(["demo", str(fleet)], env).returncode == 0
    env["SOPS_AGE_KEY_FILE"] = str(fleet / ".keys" / "admin-age.txt")
    assert run_cli(["secrets", "set", "x"], env, cwd=fleet, stdin=b"v\n").returncode == 0
    config = subprocess.run(
        ["git", "config", "--local", "--list"],
        cwd=fleet,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "user.email=" in config  # the demo's, for machines without one
    log = subprocess.run(
        ["git", "log", "-1", "--format=%an"],
        cwd=fleet,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert log.strip() == "Ada"


def test_vars_keygen_names_the_user_as_clan_does(
    demo: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    """clan_lib/vars/keygen.py `get_user_or_default`: getpass.getuser(), so without $LOGNAME and $USER
    the password database's name; dendrite registered a user "admin", which sorted before crs58 and so
    became "you" for every later `secrets set`."""
    fleet, _, env = demo
    copy = _copy(fleet, tmp_path)
    env = {k: v for k, v in env.items() if k not in ("LOGNAME", "USER", "LNAME", "USERNAME")}
    res = run_cli(["vars", "keygen"], env, cwd=copy)
    assert res.returncode == 0, res.stderr
    login = pwd.getpwuid(os.getuid()).pw_name
    assert f"sops/users/{login}" in res.stderr.decode()
    assert (copy / "sops" / "users" / login / "key.json").is_file()
    assert not (copy / "sops" / "users" / "admin").exists()


def test_infra_names_the_nearest_machine(demo: tuple[Path, str, dict[str, str]]) -> None:
    """A mistyped machine gets "did you mean", as every other command answers it (README, top)."""
    fleet, _, env = demo
    res = run_cli(["infra", "disko", "cinabar"], env, cwd=fleet)
    assert res.returncode == 2
    assert "did you mean 'cinnabar'?" in res.stderr.decode()
    res = run_cli(["infra", "disko", "blackphos"], env, cwd=fleet)
    assert res.returncode == 2
    assert "nixos machines: cinnabar" in res.stderr.decode()
    assert "Traceback" not in res.stderr.decode()


def test_init_commits_on_a_machine_without_a_git_identity(tmp_path: Path) -> None:
    """clan_lib/clan/create.py (`create_clan`, setup_git): after `git init`, a missing user.name or
    user.email is set in the new repository to clan-tool / clan@example.com; `dendrite init` failed
    with "unable to auto-detect email address" (exit 2) after writing everything."""
    env = _no_git_identity(clean_env(home=tmp_path / "home"))
    res = run_cli(["init", str(tmp_path / "test-clan")], env)
    assert res.returncode == 0, res.stderr
    clan = tmp_path / "test-clan"
    log = subprocess.run(
        ["git", "log", "--format=%an <%ae>"],
        cwd=clan,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert log.splitlines() and set(log.splitlines()) == {"clan-tool <clan@example.com>"}
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=clan,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert status == ""


def test_eval_literal_names_the_nearest_attribute(demo: tuple[Path, str, dict[str, str]]) -> None:
    """A mistyped --attr gets "did you mean", as a mistyped name does everywhere else."""
    fleet, _, env = demo
    res = run_cli(
        ["nix", "eval-literal", "modules/clan/meta.nix", "--attr", "clan.inventory.mta"], env, cwd=fleet
    )
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "not found (at 'mta')" in err and "did you mean 'meta'?" in err and "Traceback" not in err


def test_layout_hosts_gives_a_darwin_clan_machine_its_class(tmp_path: Path) -> None:
    """A clan.machines entry composing flake.modules.darwin is a darwin host (clan reads the class from
    the inventory, default nixos: clan_lib/machines/machines.py `Machine._class_`); `layout hosts`
    called every clan.machines host nixos."""
    env = clean_env(home=tmp_path / "home")
    env["DENDRITE_NO_COMMIT"] = "1"
    clan = tmp_path / "test-clan"
    assert run_cli(["init", str(clan)], env).returncode == 0
    res = run_cli(["layout", "hosts"], env, cwd=clan)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.decode().splitlines()
    assert "blackphos (darwin, via clan.machines): hosts/blackphos" in lines, lines
    assert "cinnabar (nixos, via clan.machines): hosts/cinnabar" in lines, lines


def test_layout_modules_and_hosts_say_when_there_is_nothing(demo: tuple[Path, str, dict[str, str]]) -> None:
    """The demo fleet's modules/ holds only clan.inventory pieces: both commands printed nothing at all."""
    fleet, _, env = demo
    for cmd, said in (("modules", "no flake.modules definition"), ("hosts", "no host in the files")):
        res = run_cli(["layout", cmd], env, cwd=fleet)
        assert res.returncode == 0, res.stderr
        assert res.stdout == b""
        assert said in res.stderr.decode(), res.stderr


def test_demo_on_a_file_says_it_is_not_a_directory(tmp_path: Path) -> None:
    """`dendrite demo FILE` said the file "is not empty and is not a dendrite demo"."""
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    res = run_cli(["demo", str(target)], clean_env(home=tmp_path / "home"))
    assert res.returncode == 2
    assert f"{target} exists and is not a directory; nothing was changed" in res.stderr.decode()
    assert target.read_text() == "mine\n"


SCRIPT = Path(sys.executable).parent / "dendrite"


@pytest.mark.skipif(not SCRIPT.exists(), reason="the dendrite script is not installed beside python")
def test_infra_completes_machine_names(demo: tuple[Path, str, dict[str, str]]) -> None:
    """README: Tab completes the repository's machine names; `infra disko <Tab>` offered nothing."""
    fleet, _, env = demo
    for words, cword in (("dendrite infra disko ci", "3"), ("dendrite infra hetzner --machine ci", "4")):
        completion = {**env, "_DENDRITE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        proc = subprocess.run(
            [str(SCRIPT)], env=completion, cwd=fleet, capture_output=True, check=False, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().split() == ["cinnabar"], (words, proc.stdout)


def test_migrate_help_and_report_say_what_they_do(demo: tuple[Path, str, dict[str, str]]) -> None:
    """`dendrite --help` described migrate as scan/convert only, though most of it is migration control;
    `migrate report` alone said "give one of --html FILE and --markdown DIR", with no example."""
    fleet, _, env = demo
    top = run_cli(["--help"], {**env, "COLUMNS": "200"}, cwd=fleet).stdout.decode()
    line = next(ln for ln in top.splitlines() if " migrate " in ln)
    assert "plan" in line and "convert" in line, line
    res = run_cli(["migrate", "report"], env, cwd=fleet)
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "exactly one of --html FILE" in err and "--markdown DIR" in err and "hint: e.g." in err
