"""The hostile-repository harness: a demo fleet someone else wrote, a sentinel tree beside it, and checks.

Every test in this folder plays an attacker with write access to the repository (a branch, a pull
request) and asserts what the threat model promises: the command either succeeds on legitimate input
or refuses with exit 2 and one sentence; nothing outside the repository is written, read into it or
deleted (the sentinel tree is byte-identical afterwards); no secret lands in a public file or on stdout;
and no command runs past its timeout.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import clean_env

TIMEOUT = 60


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every entry below `root`, never followed: kind, mode and content (or link target)."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p).encode())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes())
            else:
                out[rel] = ("other", stat.S_IMODE(st.st_mode), b"")
    return out


@dataclass
class Sentinel:
    """A tree outside the repository that no command may change: files, a private key, a directory."""

    root: Path
    before: dict[str, tuple[str, int, bytes]]

    @property
    def private_key(self) -> Path:
        return self.root / "home" / ".ssh" / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.root / "home" / ".ssh" / "authorized_keys"

    @property
    def victim_dir(self) -> Path:
        return self.root / "victim"

    def assert_unchanged(self) -> None:
        after = snapshot(self.root)
        assert after == self.before, _diff(self.before, after)


def _diff(a: dict[str, tuple[str, int, bytes]], b: dict[str, tuple[str, int, bytes]]) -> str:
    gone = sorted(set(a) - set(b))
    new = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return f"outside the repository: removed {gone}, added {new}, changed {changed}"


PRIVATE_MARK = "SENTINEL-PRIVATE-KEY-DO-NOT-LEAK"


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    root = tmp_path / "outside"
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PRIVATE_MARK}\n")
    (ssh / "authorized_keys").write_text("ssh-ed25519 AAAA admin@laptop\n")
    victim = root / "victim"
    (victim / "tmp").mkdir(parents=True)
    (victim / "tmp" / "keep.txt").write_text("keep me\n")
    (victim / "data.txt").write_text("precious\n")
    s = Sentinel(root, {})
    s.before = snapshot(root)
    yield s
    s.assert_unchanged()


@dataclass(frozen=True)
class Fleet:
    root: Path
    key_file: Path
    env: dict[str, str]


_TEMPLATE: list[Path] = []


def _template(tmp_factory: pytest.TempPathFactory) -> Path:
    if not _TEMPLATE:
        base = tmp_factory.mktemp("hostile-template")
        env = clean_env(home=base / "home")
        proc = subprocess.run(
            [sys.executable, "-m", "dendrite", "demo", str(base / "fleet")],
            check=False,
            env=env,
            capture_output=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        # handed over as a plain directory: the demo is a git repository of its own, where planted
        # files would be untracked and so not read at all; the tests that attack through git make one
        for repo in (base / "fleet", base / "fleet" / "nixos-unified"):
            shutil.rmtree(repo / ".git")
        _TEMPLATE.append(base / "fleet")
    return _TEMPLATE[0]


@pytest.fixture
def fleet(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """A copy of the demo fleet (secrets, inventory, vars), as a repository someone else wrote."""
    root = tmp_path / "repo"
    shutil.copytree(_template(tmp_path_factory), root, symlinks=True)
    key = root / ".keys" / "admin-age.txt"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(key), "DENDRITE_LOCK_TIMEOUT": "10"}, home)
    return Fleet(root, key, env)


def dendrite(
    args: list[str], env: dict[str, str], *, cwd: Path | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The real CLI in its own process, with a timeout every hostile input must respect."""
    return subprocess.run(
        [sys.executable, "-m", "dendrite", *args],
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        input=stdin,
        timeout=TIMEOUT,
    )


def assert_refused(res: subprocess.CompletedProcess[bytes], *words: str) -> str:
    """Exit 2, one clear message (an `error:` line, maybe a `hint:` line), no traceback."""
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 2, f"exit {res.returncode}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), err
    assert len([ln for ln in lines if ln.startswith("error:")]) == 1, err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
    return err


def public_files(root: Path) -> Iterator[Path]:
    """Every file of the repository that is not encrypted and not dendrite's own private state."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in (".dendrite", ".keys", ".git")]
        for f in filenames:
            p = Path(dirpath) / f
            if f != "secret" and p.is_file() and not p.is_symlink():
                yield p


def assert_no_leak(root: Path, needles: list[str], *outputs: bytes) -> None:
    for p in public_files(root):
        data = p.read_bytes()
        for n in needles:
            assert n.encode() not in data, f"{n!r} leaked into {p}"
    for out in outputs:
        for n in needles:
            assert n.encode() not in out, f"{n!r} leaked into the output"


def tree_bytes(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """The repository's state (without dendrite's scratch state), to prove a refusal changed nothing."""
    snap = snapshot(root)
    return {k: v for k, v in snap.items() if not k.startswith(".dendrite")}
