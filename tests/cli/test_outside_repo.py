"""Outside a repository (no flake.nix, sops/ or .git from the working directory up to /), commands say
so and change nothing: they never take the working directory for a repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from dendrite.repo import MARKERS
from tests.conftest import Keys, run_cli

READS = [
    ["secrets", "get", "foo"],
    ["secrets", "list"],
    ["secrets", "check"],
    ["secrets", "users", "list"],
    ["vars", "check"],
    ["vars", "list", "cinnabar"],
    ["inventory", "show"],
    ["machines", "list"],
]
WRITES = [
    ["secrets", "set", "foo"],
    ["secrets", "users", "add", "alice", "{key}"],
    ["secrets", "groups", "add-user", "admins", "alice"],
    ["secrets", "machines", "add", "cinnabar"],
    ["secrets", "fix"],
    ["vars", "generate"],
    ["vars", "fix"],
    ["machines", "create", "orb", "--class", "nixos"],
]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    here = tmp_path / "somewhere"
    here.mkdir()
    for d in (here, *here.parents):
        if any((d / m).exists() for m in MARKERS):
            pytest.skip(f"{d} has a repository marker, so the temporary directory is inside a repository")
    return here


def _expected(here: Path) -> str:
    return (
        f"error: not in a clan repository (looked from {here.resolve()} up to /); "
        "use -C DIR or run `dendrite init`"
    )


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_says_it_is_not_in_a_repository(outside: Path, keys: Keys, args: list[str]) -> None:
    res = run_cli(args, keys.env, cwd=outside)
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert err.splitlines() == [_expected(outside)], err  # one sentence: never "does not exist"
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("args", WRITES, ids=" ".join)
def test_a_write_creates_nothing_there(outside: Path, keys: Keys, args: list[str]) -> None:
    argv = [a.replace("{key}", keys.b.public) for a in args]
    res = run_cli(argv, keys.env, cwd=outside, stdin=b"s3cret")
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert err.splitlines() == [_expected(outside)], err
    assert list(outside.iterdir()) == [], "no sops/ nor .dendrite/ outside a repository"


def test_a_subdirectory_of_a_repository_finds_its_root(tmp_path: Path, keys: Keys) -> None:
    root = tmp_path / "fleet"
    (root / "sops").mkdir(parents=True)
    deep = root / "modules" / "hosts"
    deep.mkdir(parents=True)
    assert run_cli(["secrets", "users", "add", "alice", keys.a.public], keys.env, cwd=deep).returncode == 0
    assert (root / "sops/users/alice/key.json").is_file()
    assert not (deep / "sops").exists() and not (deep / ".dendrite").exists()
    res = run_cli(["secrets", "get", "foo"], keys.env, cwd=deep)
    assert res.returncode == 2 and b"'foo' does not exist" in res.stderr, res.stderr


@pytest.mark.parametrize("marker", ["flake.nix", ".git", "sops"])
def test_each_marker_makes_a_repository(tmp_path: Path, keys: Keys, marker: str) -> None:
    root = tmp_path / "fleet"
    root.mkdir()
    if marker == "flake.nix":
        (root / marker).write_text("{ outputs = _: { }; }\n")
    else:
        (root / marker).mkdir()
    res = run_cli(["secrets", "list"], keys.env, cwd=root)
    assert res.returncode == 0 and res.stdout == b"", res.stderr


def test_named_directories_are_taken_as_they_are(outside: Path, keys: Keys) -> None:
    # -C and $DENDRITE_REPO name the repository: the user chose it, so a new store may start there
    res = run_cli(["-C", str(outside), "secrets", "users", "add", "alice", keys.a.public], keys.env)
    assert res.returncode == 0, res.stderr
    assert (outside / "sops/users/alice/key.json").is_file()
    env = {**keys.env, "DENDRITE_REPO": str(outside)}
    listed = run_cli(["secrets", "users", "list"], env, cwd=outside.parent)
    assert listed.returncode == 0 and listed.stdout.decode().split() == ["alice"], listed.stderr
