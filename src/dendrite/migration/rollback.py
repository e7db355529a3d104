"""A host's way back, by its class (seed: 04-migration-assessment.md "Rollback procedures").

darwin: `darwin-rebuild switch --flake <pre-migration ref>#HOST` (the seed's `.#HOST-nixos-unified`
output never existed, so the old git ref is the dependable target); NixOS: `nixos-rebuild switch
--rollback` on the host; cinnabar, a VPS made by terraform: `tofu destroy` (its secrets stay in sops/,
`tofu apply` and `clan machines install` bring it back). The command templates are the plan's
`[rollback]` table, so they can be changed, and tests can point them at `true` and `false`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import CommandTimeout, InputError, ToolMissing
from dendrite.migration.plan import Plan, substitution
from dendrite.process import RunOpts, run

TIMEOUT = 3600.0  # a rebuild can take long; a destroy needs the provider to answer


@dataclass(frozen=True)
class Step:
    command: tuple[str, ...]
    exit: int | None = None  # None: not run (dry run), or stopped / not found
    detail: str = ""

    @property
    def text(self) -> str:
        return shlex.join(self.command)


def commands(plan: Plan, host: str, root: Path) -> list[tuple[str, ...]]:
    h = plan.host(host)
    if h.rollback is None:
        raise InputError(
            f"host {host} has no rollback (class {h.cls})",
            hint="set `rollback` for it in migration/plan.toml",
        )
    sub = substitution(plan, str(root), host)
    return [tuple(shlex.split(sub.format(t))) for t in plan.rollback[h.rollback]]


def execute(argv: tuple[str, ...], root: Path) -> Step:
    """Run one rollback command; the first that fails stops the rollback (the caller's loop)."""
    try:
        out = run(argv, RunOpts(check=False, timeout=TIMEOUT, cwd=root))
    except ToolMissing as exc:
        return Step(argv, None, exc.message)
    except CommandTimeout:
        return Step(argv, None, f"timed out after {TIMEOUT:g} s and was stopped")
    tail = out.stderr_tail.splitlines()[-1] if out.stderr_tail else ""
    return Step(argv, out.returncode, tail)
