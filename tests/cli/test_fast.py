"""`secrets get` on the fast path (cli/fast.py, no Typer) behaves exactly as the Typer command.

Each case runs twice as a separate process: the `dendrite` console script, as users run it (which
takes the fast path for these shapes: `fast.request` is checked to accept each), and the Typer tree
itself (`cli.main.run`, what the console script runs for every other command line). Both must write
the same bytes to stdout and stderr and exit with the same code. The store, the keys, sops and the
hostile-repository checks are the real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dendrite.cli import fast
from dendrite.repo import MARKERS
from dendrite.secrets import SecretsStore
from tests.cli.twopaths import BOTH, DENDRITE, TYPER
from tests.conftest import Keys, clean_env


@dataclass(frozen=True)
class World:
    repo: Path
    outside: Path
    keys: Keys


@pytest.fixture
def world(tmp_path: Path, keys: Keys, one_secret_repo: Path) -> World:
    repo = one_secret_repo
    SecretsStore(repo, keys.identities).set("binary", bytes(range(256)))
    # a hostile repository: the secret file is a link to a file outside it
    (repo / "sops/secrets/linked").mkdir()
    (repo / "sops/secrets/linked/secret").symlink_to(repo / "sops/secrets/db-password/secret")
    outside = tmp_path / "outside"
    outside.mkdir()
    for d in (outside, *outside.parents):
        if any((d / m).exists() for m in MARKERS):
            pytest.skip(f"{d} has a repository marker, so the temporary directory is inside a repository")
    return World(repo, outside, keys)


Case = Callable[[World], tuple[list[str], dict[str, str], Path]]


def _in_repo(*args: str) -> Case:
    return lambda w: (list(args), w.keys.env, w.repo)


def _from_outside(*args: str, env: dict[str, str] | None = None) -> Case:
    def case(w: World) -> tuple[list[str], dict[str, str], Path]:
        given = [str(w.repo) if a == "{repo}" else a for a in args]
        extra = {k: str(w.repo) if v == "{repo}" else v for k, v in (env or {}).items()}
        return given, {**w.keys.env, **extra}, w.outside

    return case


def _no_key(w: World) -> tuple[list[str], dict[str, str], Path]:
    return ["secrets", "get", "db-password"], clean_env(home=w.repo.parent / "home"), w.repo


def _key_in_env(w: World) -> tuple[list[str], dict[str, str], Path]:
    env = clean_env({"SOPS_AGE_KEY": w.keys.a.secret}, w.repo.parent / "home")
    return ["secrets", "get", "db-password"], env, w.repo


def _key_file_others_read(w: World) -> tuple[list[str], dict[str, str], Path]:
    w.keys.file.chmod(0o644)  # a warning at exit, after the value
    return ["secrets", "get", "db-password"], w.keys.env, w.repo


def _coloured(w: World) -> tuple[list[str], dict[str, str], Path]:
    env = {**w.keys.env, "FORCE_COLOR": "1", "TERM": "xterm-256color"}  # rich styles the error: bold red
    return ["secrets", "get", "db-pasword"], env, w.repo


CASES: dict[str, Case] = {
    "success": _in_repo("secrets", "get", "db-password"),
    "binary value": _in_repo("secrets", "get", "binary"),
    "typo, did you mean": _in_repo("secrets", "get", "db-pasword"),
    "missing, nothing near": _in_repo("secrets", "get", "zzz"),
    "a name clan refuses": _in_repo("secrets", "get", "../db-password"),
    "an empty name": _in_repo("secrets", "get", ""),
    "a name with an escape character": _in_repo("secrets", "get", "db\x1b[2Jpassword"),
    "a name that is not UTF-8": _in_repo("secrets", "get", os.fsdecode(b"db-\xffpassword")),
    "a name with a space": _in_repo("secrets", "get", "db password"),
    "a link planted as the secret": _in_repo("secrets", "get", "linked"),
    "no key": _no_key,
    "an error in colour": _coloured,
    "the key in SOPS_AGE_KEY": _key_in_env,
    "a key file others can read": _key_file_others_read,
    "outside a repository": _from_outside("secrets", "get", "db-password"),
    "-C": _from_outside("-C", "{repo}", "secrets", "get", "db-password"),
    "--repo DIR": _from_outside("--repo", "{repo}", "secrets", "get", "db-password"),
    "--repo=DIR": _from_outside("--repo={repo}", "secrets", "get", "db-password"),
    "-C, a typo": _from_outside("-C", "{repo}", "secrets", "get", "db-pasword"),
    "-C, a directory that is not there": _from_outside("-C", "nowhere", "secrets", "get", "db-password"),
    "-C, a directory without a store": _from_outside("-C", ".", "secrets", "get", "db-password"),
    "--no-commit": _from_outside("--no-commit", "-C", "{repo}", "secrets", "get", "db-password"),
    "$DENDRITE_REPO": _from_outside("secrets", "get", "db-password", env={"DENDRITE_REPO": "{repo}"}),
    "-C over $DENDRITE_REPO": _from_outside(
        "-C", "{repo}", "secrets", "get", "db-password", env={"DENDRITE_REPO": "/nonexistent"}
    ),
}


def _both(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[bytes], ...]:
    return tuple(
        subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False, timeout=120)
        for argv in ([DENDRITE, *args], [sys.executable, "-c", TYPER, *args])
    )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_fast_path_is_the_typer_command(world: World, case: str) -> None:
    args, env, cwd = CASES[case](world)
    assert fast.request(args, env) is not None, "this shape does not take the fast path"
    quick, typer = _both(args, env, cwd)
    assert (quick.returncode, quick.stdout, quick.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    assert quick.returncode in (0, 2) and b"Traceback" not in quick.stderr, quick.stderr


def test_the_cases_cover_success_and_every_error(world: World) -> None:
    """The table above is not a table of one outcome: values, hints and refusals all occur."""
    seen = {}
    cases = ("success", "binary value", "typo, did you mean", "no key", "outside a repository")
    for case in (*cases, "a link planted as the secret", "a key file others can read", "an error in colour"):
        args, env, cwd = CASES[case](world)
        seen[case] = subprocess.run([DENDRITE, *args], env=env, cwd=cwd, capture_output=True, check=False)
    assert seen["success"].stdout == b"hunter2" and seen["success"].stderr == b""
    assert seen["binary value"].stdout == bytes(range(256))
    assert b"did you mean 'db-password'?" in seen["typo, did you mean"].stderr
    assert seen["no key"].returncode == 2 and seen["no key"].stderr.startswith(b"error: ")
    assert b"not in a clan repository" in seen["outside a repository"].stderr
    assert seen["a link planted as the secret"].returncode == 2
    assert seen["a link planted as the secret"].stdout == b""
    assert seen["an error in colour"].stderr.startswith(b"\x1b[1;31merror: ")
    warned = seen["a key file others can read"]
    assert warned.stdout == b"hunter2" and warned.stderr.startswith(b"warning: "), warned.stderr


def _reader_leaves(world: World, name: str, after: int) -> list[tuple[int, bytes]]:
    """Run `secrets get NAME` on both paths; the reader closes the pipe after `after` bytes."""
    results = []
    for argv in BOTH:
        proc = subprocess.Popen(
            [*argv, "secrets", "get", name],
            env=world.keys.env,
            cwd=world.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(after) == b"x" * after
        proc.stdout.close()
        results.append((proc.wait(timeout=120), proc.stderr.read()))
        proc.stderr.close()
    return results


def test_a_reader_that_has_left_is_the_same_quiet_exit(world: World) -> None:
    """`dendrite secrets get x | true`: exit 1, nothing on stderr, on both paths (click's answer to
    EPIPE; the fast path's is the error boundary's). The reader leaves before the write."""
    assert _reader_leaves(world, "db-password", 0) == [(1, b""), (1, b"")]


def test_a_reader_that_leaves_part_way_through_a_large_value_is_not_a_success(world: World) -> None:
    """`dendrite secrets get big | head -c1` under pipefail: exit 1 as `cat` would, on both paths.

    The value is larger than the pipe, so the reader leaves while the write is under way; the kernel
    then answers that write with a short count, not EPIPE, and a buffered writer that accepts the
    short count would end with exit 0 having written a fragment.
    """
    SecretsStore(world.repo, world.keys.identities).set("big", b"x" * 2_000_000)
    assert _reader_leaves(world, "big", 1) == [(1, b""), (1, b"")]


@pytest.mark.parametrize(
    ("argv", "taken"),
    [
        (["secrets", "get", "x"], fast.Request("x")),
        (["-C", "d", "secrets", "get", "x"], fast.Request("x", "d")),
        (["--repo=d", "--no-commit", "secrets", "get", "x"], fast.Request("x", "d", no_commit=True)),
        (["--no-commit", "--repo", "d", "secrets", "get", "x"], fast.Request("x", "d", no_commit=True)),
        (["secrets", "get", "--help"], None),
        (["secrets", "get", "-h"], None),
        (["--help", "secrets", "get", "x"], None),
        (["secrets", "get", "x", "y"], None),
        (["secrets", "get", "--", "x"], None),
        (["secrets", "get"], None),
        (["secrets", "list"], None),
        (["--debug", "secrets", "get", "x"], None),
        (["--version", "secrets", "get", "x"], None),
        (["-C", "d", "-C", "e", "secrets", "get", "x"], None),
        (["--no-commit", "--no-commit", "secrets", "get", "x"], None),
        (["-Cd", "secrets", "get", "x"], None),
        (["-C", "--debug", "secrets", "get", "x"], None),
        (["-C", "", "secrets", "get", "x"], None),
        (["--repo=", "secrets", "get", "x"], None),
        (["-C"], None),
        (["--bogus", "secrets", "get", "x"], None),
        (["secrets", "get", "-x"], None),
    ],
)
def test_which_command_lines_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], taken: fast.Request | None
) -> None:
    monkeypatch.chdir(tmp_path)  # "d" does not exist here: Typer would take it as it is
    assert fast.request(argv, {}) == taken


def test_a_path_typer_refuses_is_left_to_typer(tmp_path: Path) -> None:
    """A file, or a directory that cannot be read, given as -C: Typer's own message (a usage error)."""
    (tmp_path / "file").write_text("")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    try:
        for where in ("file", "locked"):
            readable = where == "locked" and os.access(locked, os.R_OK)  # root reads everything
            assert (
                fast.request(["-C", str(tmp_path / where), "secrets", "get", "x"], {}) is None
            ) != readable
        assert fast.request(["-C", str(tmp_path), "secrets", "get", "x"], {}) == fast.Request(
            "x", str(tmp_path)
        )
    finally:
        locked.chmod(0o700)


def test_a_completion_request_is_left_to_typer() -> None:
    assert fast.request(["secrets", "get", "x"], {"_DENDRITE_COMPLETE": "complete_bash"}) is None
