"""Many files at once: `check_files` spreads a big batch over worker processes, and must give exactly what
checking the files one by one gives, in the order given (dendrite.nixlang.check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.nixlang.check import POOL_MIN_FILES, _jobs, check_file, check_files
from tests.conftest import clean_env, run_cli

GOOD = "{ pkgs, lib, ... }:\n{\n  services.x@N@.enable = lib.mkDefault true;\n  environment.etc.\"x@N@\".text = ''\n    line ${toString @N@}\n  '';\n}\n"
BROKEN = "{\n  a@N@ = ;\n  b = 2\n}\n"


def _batch(root: Path, n: int) -> list[Path]:
    root.mkdir()
    paths = []
    for i in range(n):
        p = root / f"m{i:04d}.nix"
        if i % 7 == 3:
            p.write_text(BROKEN.replace("@N@", str(i)))
        elif i == 11:
            p.write_bytes(b"\x7fELF\x00\x01\x02 not nix\x00" * 20)
        else:
            p.write_text(GOOD.replace("@N@", str(i)))
        paths.append(p)
    return paths


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


@pytest.mark.skipif(_cpus() < 2, reason="one core: the batch is checked in this process")
def test_a_big_batch_uses_workers_and_matches_one_by_one(tmp_path: Path) -> None:
    paths = _batch(tmp_path / "mods", 3 * POOL_MIN_FILES)
    assert _jobs(len(paths)) > 1  # the pool path is the one under test
    pooled = check_files(paths)
    assert pooled == [check_file(p) for p in paths]
    assert [r.path for r in pooled] == [str(p) for p in paths]
    bad = [r for r in pooled if not r.ok]
    assert len(bad) == sum(1 for i in range(len(paths)) if i % 7 == 3) + 1
    binary = pooled[11].diagnostics
    assert len(binary) == 1 and binary[0].message.startswith("binary data, not Nix source")


def test_the_first_unreadable_file_in_order_is_the_error(tmp_path: Path) -> None:
    paths = _batch(tmp_path / "mods", 2 * POOL_MIN_FILES)
    for i in (40, 90):  # sparse files over the size limit: refused before any byte is read
        with paths[i].open("wb") as f:
            f.truncate(33 * 2**20)
    with pytest.raises(InputError, match=r"m0040\.nix is 34\.6 MB"):
        check_files(paths)


def test_check_syntax_of_a_directory_reports_in_file_order(tmp_path: Path) -> None:
    paths = _batch(tmp_path / "mods", 2 * POOL_MIN_FILES)
    res = run_cli(["nix", "check-syntax", str(tmp_path / "mods")], clean_env(home=tmp_path))
    assert res.returncode == 1, res.stderr
    expected = [str(d) for p in sorted(paths) for d in check_file(p).diagnostics]
    assert res.stdout.decode().splitlines() == expected
    bad = sum(1 for p in paths if not check_file(p).ok)
    assert res.stderr.decode().splitlines()[-1] == f"{len(paths)} file(s) checked, {bad} with errors"


_MODULES_AT_EXIT = """
import atexit, os, sys
modules = lambda: sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
atexit.register(modules)
real_exit, me = os._exit, os.getpid()
def _exit(code):
    if os.getpid() == me:  # not in a forked checker
        modules()
        sys.stderr.flush()
    real_exit(code)
os._exit = _exit  # the fast path leaves by os._exit, without atexit
sys.argv = ["dendrite", *sys.argv[1:]]
from dendrite.cli.entry import run
run()
"""


def test_plain_check_syntax_skips_the_cli_framework_and_prints_exactly_what_the_full_cli_prints(
    tmp_path: Path,
) -> None:
    """`dendrite nix check-syntax PATH...` (cli.entry's fast path, cli.check_syntax.quick) against the
    same command through Typer (a global option in front sends it there): same bytes, same exit code,
    for errors, a binary file, untracked files in a git work tree, and a missing file."""
    env = clean_env(home=tmp_path)
    subprocess.run(["git", "init", "-q", str(tmp_path)], env=env, check=True)
    paths = _batch(tmp_path / "mods", 80)
    subprocess.run(["git", "-C", str(tmp_path), "add", "mods/m0001.nix"], env=env, check=True)
    (tmp_path / "one.nix").write_text("{ a = 1; a = 2; }\n")
    codes = []
    for args in (
        ["nix", "check-syntax", str(tmp_path / "mods"), str(tmp_path / "one.nix")],
        ["nix", "check-syntax", str(paths[0])],
        ["nix", "check-syntax", str(paths[3]), str(tmp_path / "nope.nix")],
    ):
        quick = subprocess.run(
            [sys.executable, "-c", _MODULES_AT_EXIT, *args], env=env, capture_output=True, check=False
        )
        full = run_cli(["-C", str(tmp_path), *args], env)
        stderr, _, modules = quick.stderr.decode().rpartition("\nMODULES ")
        assert (quick.returncode, quick.stdout.decode(), stderr) == (
            full.returncode,
            full.stdout.decode(),
            full.stderr.decode(),
        )
        codes.append(quick.returncode)
        if quick.returncode != 2:  # answered without the framework; an error goes through the full CLI
            assert not [m for m in modules.split() if m.split(".")[0] in ("typer", "click", "rich")]
    assert codes == [1, 0, 2]
    first = run_cli(["nix", "check-syntax", str(tmp_path / "mods")], env)
    assert "untracked, so the flake does not see it: " + str(paths[2]) in first.stderr.decode()
    assert "m0001.nix" not in first.stderr.decode()  # git tracks it


def _child_that_dies(paths: object, queue: int, out: int) -> None:
    """A child killed after taking files from the queue, before it sent anything."""
    os.read(queue, 40)  # ten files taken
    os._exit(9)


@pytest.mark.skipif(_cpus() < 2, reason="one core: the batch is checked in this process")
@pytest.mark.parametrize("failure", ["child dies", "fork refused", "no memfd"])
def test_files_a_child_never_checked_are_checked_by_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    paths = _batch(tmp_path / "mods", 2 * POOL_MIN_FILES)
    expected = [check_file(p) for p in paths]
    if failure == "child dies":
        monkeypatch.setattr("dendrite.nixlang.check._child", _child_that_dies)
    elif failure == "fork refused":

        def no_fork() -> int:
            raise BlockingIOError(11, "Resource temporarily unavailable")

        monkeypatch.setattr(os, "fork", no_fork)
    else:

        def no_memfd(name: str, flags: int = 0) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(os, "memfd_create", no_memfd)
    assert check_files(paths) == expected
