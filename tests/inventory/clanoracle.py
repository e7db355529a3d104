"""clan-core's service interfaces evaluated by the real Nix module system (tests/inventory/clan_interface.nix
with nixpkgs' `lib` from tests/oracle), to compare with what dendrite extracts statically."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.nixlang.oracle import NIX_ENV, NIX_INSTANTIATE

CLAN_CORE = Path("/work/clan-core")
CLAN_CORE_REV = "d7c35d9127af3f773b57d8e792818597a9aaa29c"
CLAN_CORE_DATE = "2026-08-22"
NIX_LIB = (
    Path(__file__).resolve().parents[1] / "oracle" / "nixpkgs-lib" / "lib"
)  # the pinned copy in tests/oracle
EXPR = Path(__file__).with_name("clan_interface.nix")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "clan-services"

needs_clan_core = pytest.mark.skipif(
    not (CLAN_CORE / "clanServices").is_dir(),
    reason="clan-core's source is not unpacked at /work/clan-core (the fixture tests still run)",
)
needs_nix = pytest.mark.skipif(
    NIX_INSTANTIATE is None or not NIX_LIB.is_dir(),
    reason="nix-instantiate or the oracle's nixpkgs lib (tests/oracle/nixpkgs-lib) is missing",
)


def _run(services: Path, attr: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert NIX_INSTANTIATE is not None
    return subprocess.run(
        [
            NIX_INSTANTIATE,
            "--eval",
            "--strict",
            "--json",
            str(EXPR),
            "-A",
            attr,
            "--arg",
            "libPath",
            str(NIX_LIB),
            "--arg",
            "servicesDir",
            str(services),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=NIX_ENV,
        timeout=300,
    )


def nix_options(services: Path) -> Any:
    """service -> role -> nested options, each {type, default: {success, value}} (module system's view)."""
    proc = _run(services, "options")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def nix_check(services: Path, checks: list[tuple[str, str, dict[str, Any]]]) -> tuple[bool, str]:
    """Whether the real module system accepts every (service, role, settings); its error if not."""
    proc = _run(services, "check", "--argstr", "checksJSON", json.dumps(checks))
    return proc.returncode == 0, proc.stderr
