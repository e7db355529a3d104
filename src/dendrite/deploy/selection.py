"""Which machines `machines update` updates when none is named, as clan's `get_machines_for_update`.

clan_cli/machines/update.py, `get_machines_for_update` with no names (and no `--tags`): every machine
of the inventory (`list_machines`: the inventory's attribute set, so sorted by name) for which
`requires_explicit_update` holds, that is every machine except those whose evaluated
`clan.core.deployment.requireExplicitUpdate` is true (clan selects
`config.clan.deployment.requireExplicitUpdate`, the renamed option's old path, which reads the same
value). A machine whose option cannot be evaluated is updated (clan catches the ClanError).

`requires_explicit_update` also means to skip a machine without a target host (`m.target_host` in a
`try`), but `Machine.target_host` is a method that line never calls, so nothing is skipped for it; clan's
own test (`update_test.py`, `test_get_machines_for_update_implicit_all`) selects machines without one.
Such a machine is updated and fails when clan finds no way to reach it (`get_best_remote`,
NoRemoteError), while the others go on: dendrite does the same (see `dendrite.deploy.update`).

When nothing is selected and some machine was left out, clan prints a warning naming them
(`Selection.warning`); the update then runs for no machine and succeeds.

dendrite reads the option as it reads `clan.core.sops.defaultGroups` (`dendrite.nixoptions`): literal
`true`/`false` definitions (through `lib.mkDefault`/`lib.mkForce`, the lowest priority number winning),
a machine's own and every machine's; a definition that is not literal is reported, never guessed. With
`use_nix` each machine's option is evaluated, as clan does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import NixEvalError
from dendrite.nixlang.evaluate import NotLiteral, evaluate
from dendrite.nixoptions import Definition, definitions, unwrap

OPTIONS = (
    ("clan", "core", "deployment", "requireExplicitUpdate"),
    ("clan", "deployment", "requireExplicitUpdate"),  # the old path, renamed by clan (mkRenamedOptionModule)
)
SELECTOR = "config.clan.deployment.requireExplicitUpdate"  # clan's deployment_require_explicit_update
_NEEDLE = b"requireExplicitUpdate"


@dataclass(frozen=True)
class Selection:
    machines: tuple[str, ...]  # to update, in clan's order
    ignored: tuple[str, ...]  # requireExplicitUpdate = true
    notes: tuple[str, ...] = ()  # definitions not read, evaluations that failed

    @property
    def warning(self) -> str | None:
        """clan's warning when no machine is left to update but some were ignored."""
        if self.machines or not self.ignored:
            return None
        return (
            "WARNING: No machines to update.\n"
            "The following defined machines were ignored because they\n"
            "- Require explicit update (see 'requireExplicitUpdate')\n" + "\n".join(self.ignored)
        )


def select_all(root: Path, known: Sequence[str], *, use_nix: bool = False) -> Selection:
    """The machines of `known` (the inventory's) that `machines update` without names updates."""
    names = sorted(known)
    explicit, notes = _evaluated(root, names) if use_nix else _static(root, names)
    return Selection(
        tuple(m for m in names if m not in explicit),
        tuple(m for m in names if m in explicit),
        tuple(notes),
    )


def _evaluated(root: Path, names: Sequence[str]) -> tuple[set[str], list[str]]:
    from dendrite.nix import current_system, eval_flake_json

    system = current_system()
    explicit: set[str] = set()
    notes: list[str] = []
    for m in names:
        try:
            value = eval_flake_json(root, f"clanInternals.machines.{system}.{m}.{SELECTOR}")
        except NixEvalError as exc:  # clan: `except (ClanError, AttributeError): pass`, so it is updated
            notes.append(f"{m}: requireExplicitUpdate could not be evaluated ({exc.message}); updating it")
            continue
        if value:  # clan: `if res[m.name]: return False`
            explicit.add(m)
    return explicit, notes


def _static(root: Path, names: Sequence[str]) -> tuple[set[str], list[str]]:
    notes: list[str] = []
    literal: list[tuple[str | None, int, bool, str]] = []  # machine, priority, value, where
    for d in definitions(root, OPTIONS, _NEEDLE):
        got = _literal(d)
        if got is None:
            notes.append(f"{d.where()}: requireExplicitUpdate is not a literal true or false; use --nix")
        else:
            literal.append((d.machine, got[0], got[1], d.where()))
    explicit: set[str] = set()
    for m in names:
        mine = [(p, v, w) for owner, p, v, w in literal if owner in (None, m)]
        if not mine:
            continue
        best = min(p for p, _v, _w in mine)
        values = {v for p, v, _w in mine if p == best}
        if len(values) > 1:  # Nix refuses to merge them; clan then catches the error and updates it
            where = ", ".join(w for p, _v, w in mine if p == best)
            notes.append(f"{m}: requireExplicitUpdate is both true and false ({where}); updating it")
        elif values == {True}:
            explicit.add(m)
    return explicit, notes


def _literal(d: Definition) -> tuple[int, bool] | None:
    node, priority = unwrap(d.value)
    got = evaluate(node, call_functions_with_empty=False, where=d.parsed.location)
    if isinstance(got, NotLiteral) or not isinstance(got, bool):
        return None
    return priority, got
