"""Evaluating inventory pieces with the real Nix, to compare with what dendrite reads statically."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.nixlang.oracle import NIX_ENV, NIX_INSTANTIATE

PIECE = (
    "let v = import {path}; m = if builtins.isFunction v "
    "then v (builtins.mapAttrs (n: _: null) (builtins.functionArgs v)) else v; in m.clan.inventory or {{ }}"
)


def nix_inventory_piece(path: Path) -> Any:
    assert NIX_INSTANTIATE is not None
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--strict", "--json", "-E", PIECE.format(path=path)],
        capture_output=True,
        check=False,
        env=NIX_ENV,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def nix_merge(pieces: list[Any]) -> Any:
    """The module system's merge for plain data: sets merge, lists concatenate, equal scalars agree."""
    out: dict[str, Any] = {}

    def put(target: dict[str, Any], key: str, value: Any) -> None:
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict):
            for k, v in value.items():
                put(target[key], k, v)
        elif isinstance(target[key], list) and isinstance(value, list):
            target[key] = target[key] + value
        else:
            assert target[key] == value, (key, target[key], value)

    for p in pieces:
        for k, v in p.items():
            put(out, k, v)
    return out
