"""Running the real `nix-instantiate --parse` (Debian nix-bin) as the oracle of what is valid Nix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

NIX_INSTANTIATE = shutil.which("nix-instantiate")
needs_nix = pytest.mark.skipif(
    NIX_INSTANTIATE is None, reason="nix-instantiate (Debian nix-bin) is not installed"
)

NIX_ENV = {**os.environ, "NIX_CONFIG": "build-users-group =\nexperimental-features =", "HOME": "/tmp"}


def nix_accepts(path: Path) -> bool:
    assert NIX_INSTANTIATE is not None
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--parse", str(path)], capture_output=True, check=False, env=NIX_ENV, timeout=60
    )
    return proc.returncode == 0


def nix_verdicts(paths: list[Path]) -> list[bool]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(nix_accepts, paths))


def nix_eval_json(expr_file: Path) -> tuple[bool, str]:
    assert NIX_INSTANTIATE is not None
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--strict", "--json", str(expr_file)],
        capture_output=True,
        check=False,
        env=NIX_ENV,
        timeout=60,
    )
    return proc.returncode == 0, proc.stdout.decode() if proc.returncode == 0 else proc.stderr.decode()


def nix_eval_expr(expr: str, timeout: float = 60) -> Any:
    """The JSON value of a Nix expression, evaluated strictly by the real nix-instantiate (which must
    succeed: its error is the assertion's message)."""
    assert NIX_INSTANTIATE is not None
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        check=False,
        env=NIX_ENV,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)
