"""The one place dendrite runs the real `nix`: flake evaluation with a timeout and one-sentence errors.

Everything else in dendrite answers from files; this is for `--nix`, where the user asks for the
evaluated truth of a flake.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from dendrite import boundedjson
from dendrite.errors import InputError


def eval_flake_json(root: Path, attr: str, *, timeout: float = 600, purpose: str = "--nix") -> Any:
    """`nix eval --json path:<root>#<attr>` (flakes enabled for this call only)."""
    nix = shutil.which("nix")
    if nix is None:
        raise InputError(
            f"{purpose} needs the nix command, which is not installed",
            hint="install Nix, or drop --nix to read the repository statically",
        )
    cmd = [
        nix,
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
        f"path:{root}#{attr}",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputError(f"nix eval of {attr} took over {timeout:.0f} s") from None
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise InputError(
            f"nix eval of {root}#{attr} failed: {last[-1] if last else 'no output'}",
            hint="check the attribute path with --attr",
        )
    try:
        return boundedjson.loads(proc.stdout, f"the output of nix eval {attr}")
    except json.JSONDecodeError:
        raise InputError(f"nix eval of {attr} did not print JSON") from None
