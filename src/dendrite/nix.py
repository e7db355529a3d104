"""The one place dendrite asks the real `nix` for a flake's value, through dendrite.process.

Everything else in dendrite answers from files; this is for `--nix`, where the user asks for the
evaluated truth of a flake.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dendrite import boundedjson
from dendrite.errors import InputError, NixEvalError
from dendrite.process import RunOpts, run


def current_system() -> str:
    """This host's Nix system (`x86_64-linux`, `aarch64-darwin`…): clan's `current_system`, which its
    selectors (`clanInternals.machines.<system>.<m>`) evaluate a machine's configuration for."""
    import platform

    return f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"


def flake_eval_command(root: Path, attr: str) -> list[str]:
    """`nix eval --json path:<root>#<attr>`, flakes enabled for this call only (no nix.conf change)."""
    return [
        "nix",
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
        f"path:{root}#{attr}",
    ]


def eval_flake_json(root: Path, attr: str, *, timeout: float = 600, purpose: str = "--nix") -> Any:
    """The JSON value of `<root>#<attr>`; a NixEvalError (an InputError) when nix rejects the flake."""
    opts = RunOpts(
        check=True,
        timeout=timeout,
        what=f"nix eval of {root}#{attr}",
        hint="check the attribute path with --attr",
        needed_for=purpose,
        missing_hint="install Nix, or drop --nix to read the repository statically",
        error=NixEvalError,
    )
    out = run(flake_eval_command(root, attr), opts)
    try:
        return boundedjson.loads(out.stdout, f"the output of nix eval {attr}")
    except json.JSONDecodeError:
        raise InputError(f"nix eval of {attr} did not print JSON") from None
