"""Real flake-parts and import-tree as the oracle of what a dendritic tree defines.

The pinned sources and the evaluator (eval.nix, which runs under Debian's Nix 2.8 without flakes) live
in tests/oracle/, a pinned copy of the workspace's shared/oracle/ (its README names the commits); DENDRITE_ORACLE may point elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.nixlang.oracle import NIX_INSTANTIATE, nix_eval_expr

# A pinned copy lives in tests/oracle/ (from the workspace's shared/oracle/, MIT-licensed: flake-parts,
# import-tree, nixpkgs' lib), so a clean CI machine without the workspace still evaluates for real.
ORACLE = Path(os.environ.get("DENDRITE_ORACLE", Path(__file__).resolve().parents[1] / "oracle"))
needs_oracle = pytest.mark.skipif(
    NIX_INSTANTIATE is None or not (ORACLE / "eval.nix").is_file(),
    reason=f"nix-instantiate or the flake-parts oracle ({ORACLE}/eval.nix) is missing",
)


def _nix_string(text: str) -> str:
    return json.dumps(text).replace("${", "\\${")  # a JSON string is a Nix string, once `${` is escaped


def evaluate(tree: Path, expr: str, stubs: list[str], inputs: str = "{ }") -> Any:
    """`expr` (over `r`, the evaluator's result for `tree`) evaluated strictly by the real code, as JSON.

    `inputs` is a Nix attribute set of further inputs (eval.nix's `inputs` argument)."""
    assert NIX_INSTANTIATE is not None
    stub_list = " ".join(_nix_string(s) for s in stubs)
    program = (
        f"let r = import {ORACLE / 'eval.nix'} {{ tree = /. + {_nix_string(str(tree.resolve()))}; "
        f"stubs = [ {stub_list} ]; inputs = {inputs}; }}; in {expr}"
    )
    return nix_eval_expr(program, timeout=120)


def namespace(tree: Path, stubs: list[str]) -> dict[str, list[str]]:
    """flake.modules.<class> -> sorted names, as `nix eval .#modules.<class> --apply attrNames` gives."""
    found: dict[str, list[str]] = evaluate(tree, "r.namespace", stubs)
    return found


def configurations(tree: Path, stubs: list[str]) -> dict[str, list[str]]:
    """The names of nixosConfigurations and darwinConfigurations (their values are not evaluated)."""
    expr = (
        "{ nixos = builtins.attrNames (r.outputs.nixosConfigurations or { }); "
        "darwin = builtins.attrNames (r.outputs.darwinConfigurations or { }); }"
    )
    found: dict[str, list[str]] = evaluate(tree, expr, stubs)
    return found
