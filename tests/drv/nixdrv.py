"""Derivations written by the real Nix here (Debian's nix-instantiate 2.8, the default store, as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NIX_INSTANTIATE = shutil.which("nix-instantiate")
needs_nix = pytest.mark.skipif(
    NIX_INSTANTIATE is None or not os.access("/nix/store", os.W_OK),
    reason="nix-instantiate and a writable /nix/store are needed to write real .drv files",
)
NIX_ENV = {**os.environ, "NIX_CONFIG": "build-users-group =\nexperimental-features =", "HOME": "/tmp"}


def instantiate(expr_file: Path, *attrs: str, argstr: dict[str, str] | None = None) -> list[str]:
    """The .drv paths nix-instantiate writes for `expr_file` (one per attribute, or the whole file)."""
    assert NIX_INSTANTIATE is not None
    args = [a for attr in attrs for a in ("-A", attr)]
    args += [a for k, v in (argstr or {}).items() for a in ("--argstr", k, v)]
    proc = subprocess.run(
        [NIX_INSTANTIATE, str(expr_file), *args],
        capture_output=True,
        check=False,
        env=NIX_ENV,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().split()
