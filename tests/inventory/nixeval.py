"""Evaluating inventory pieces with the real Nix, to compare with what dendrite reads statically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.nixlang.oracle import nix_eval_expr

PIECE = (
    "let v = import {path}; m = if builtins.isFunction v "
    "then v (builtins.mapAttrs (n: _: null) (builtins.functionArgs v)) else v; in m.clan.inventory or {{ }}"
)


def nix_inventory_piece(path: Path) -> Any:
    return nix_eval_expr(PIECE.format(path=path))


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
