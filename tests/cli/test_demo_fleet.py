"""`dendrite demo`: its own git repository, every printed command works, and a rebuild never loses work."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env, run_cli

BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A demo built as `make demo` builds it: ./demo-fleet inside a git checkout that ignores it."""
    base = tmp_path_factory.mktemp("demo")
    env = clean_env(home=base / "home")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # dendrite, sops, python3 with pyrage
    checkout = base / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "-q", str(checkout)], check=True, env=env, timeout=60)
    (checkout / ".gitignore").write_text("demo-fleet/\n")
    res = run_cli(["demo", "demo-fleet"], env, cwd=checkout)
    assert res.returncode == 0, res.stderr
    return checkout / "demo-fleet", res.stdout.decode(), env


def _try_next(stdout: str) -> list[str]:
    lines = stdout.split("Try next", 1)[1].splitlines()[2:]
    return [ln.strip() for ln in lines if ln.startswith("  ")]


def _git(fleet: Path, *args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        ["git", "-C", str(fleet), *args], check=True, env=env, capture_output=True, text=True, timeout=60
    ).stdout


def test_the_demo_is_its_own_repository_with_every_file_committed(
    built: tuple[Path, str, dict[str, str]],
) -> None:
    fleet, _, env = built
    assert _git(fleet, "rev-parse", "--show-toplevel", env=env).strip() == str(fleet.resolve())
    assert _git(fleet, "status", "--porcelain", "--untracked-files=all", env=env) == ""
    tracked = _git(fleet, "ls-files", env=env).splitlines()
    assert "flake.nix" in tracked and "dendrite.toml" in tracked
    assert any(t.startswith("sops/secrets/") for t in tracked) and any(t.startswith("vars/") for t in tracked)
    assert not any(t.startswith(".keys/") for t in tracked), "the demo's private key must not be committed"
    log = _git(fleet, "log", "--format=%an <%ae> %aI %cI", env=env).splitlines()
    assert log == [
        "dendrite demo <demo@dendrite.invalid> 2026-01-01T00:00:00+00:00 2026-01-01T00:00:00+00:00"
    ]
    legacy = fleet / "nixos-unified"
    assert _git(legacy, "status", "--porcelain", "--untracked-files=all", env=env) == ""
    assert "dendritic/hosts/nixos/cinnabar.nix" in _git(legacy, "ls-files", env=env).splitlines()


def test_every_command_it_prints_works_as_printed(
    built: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    fleet, stdout, env = built
    # a copy, so that the rebuild tests below see the demo as built
    copy = tmp_path / "demo-fleet"
    subprocess.run(["cp", "-a", str(fleet), str(copy)], check=True, timeout=60)
    commands = [c.replace(str(fleet.resolve()), str(copy)) for c in _try_next(stdout)]
    assert len(commands) >= 15, commands
    script = ["set -u"]
    for c in commands:
        script.append(f"{c}\nrc=$?; if [ $rc -ne 0 ]; then echo FAILED $rc: {shlex.quote(c)} >&2; exit 1; fi")
    res = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    assert "correct-horse-battery-staple" in res.stdout.decode()  # `secrets get`, as printed


def test_again_unchanged_says_so_and_prints_the_commands(built: tuple[Path, str, dict[str, str]]) -> None:
    fleet, stdout, env = built
    before = _git(fleet, "rev-parse", "HEAD", env=env)
    res = run_cli(["demo", str(fleet)], env)
    assert res.returncode == 0, res.stderr
    assert "already holds the demo fleet, unchanged" in res.stdout.decode()
    assert _try_next(res.stdout.decode()) == _try_next(stdout)
    assert _git(fleet, "rev-parse", "HEAD", env=env) == before, "an unchanged demo is not rebuilt"


def test_changes_are_never_wiped_without_force(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    fleet = tmp_path / "fleet"
    assert run_cli(["demo", str(fleet)], env).returncode == 0
    (fleet / "notes.txt").write_text("mine")
    with (fleet / "dendrite.toml").open("a") as fh:
        fh.write("# my edit\n")
    res = run_cli(["demo", str(fleet)], env)
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert "notes.txt" in err and "dendrite.toml" in err and "--force" in err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert (fleet / "notes.txt").read_text() == "mine"
    # --force rebuilds and says what was lost, file by file
    res = run_cli(["demo", "--force", str(fleet)], env)
    assert res.returncode == 0, res.stderr
    lost = res.stderr.decode()
    assert "lost" in lost and "?? notes.txt" in lost and "M dendrite.toml" in lost
    assert not (fleet / "notes.txt").exists()


def test_a_foreign_directory_is_refused_even_with_force(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    for args in (["demo", str(mine)], ["demo", "--force", str(mine)]):
        res = run_cli(args, env)
        assert res.returncode == 2 and b"not a dendrite demo" in res.stderr, res.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["precious.txt"]
