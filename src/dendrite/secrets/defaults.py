"""`clan.core.sops.defaultGroups`: the groups every new secret of a machine is also encrypted to.

clan evaluates the option per machine (`clan_lib/nix_selectors.py`, `vars_sops_default_groups`) and
adds the groups to a machine's `<machine>-age.key` (`clan_lib/vars/secret_modules/sops.py`,
`ensure_machine_key`) and to the vars secrets of generators whose first machine it is (`_set`).

dendrite reads it three ways, and takes the union (a `listOf str` option concatenates its definitions):
- `dendrite.toml`'s `[secrets] default_groups`, for every machine;
- statically, every literal definition in the repository's Nix files (the files the flake sees, and
  everything below `machines/<m>/`): a definition below `machines/<m>/`, inside `machines.<m>` of an
  attribute set (`clan.machines.<m> = …`) or inside a host module `modules.<class>."hosts/<m>"`, is
  that machine's; any other is every machine's (`dendrite.nixoptions` finds them). A
  definition that is not a literal list of strings (`lib.mkDefault` and `lib.mkForce` around a
  literal list are read through) is reported, never guessed;
- with `--nix`, by evaluating the machine's option, as clan does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dendrite import names
from dendrite.errors import InputError
from dendrite.nixlang.evaluate import NotLiteral, evaluate, has_markers
from dendrite.nixoptions import Definition, definitions, unwrap

OPTION = ("clan", "core", "sops", "defaultGroups")
_NEEDLE = b"defaultGroups"


@dataclass(frozen=True)
class DefaultGroups:
    everywhere: tuple[str, ...] = ()
    by_machine: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()  # `file:line:col: why` of each definition that is not literal

    def for_machine(self, machine: str | None) -> list[str]:
        extra = self.by_machine.get(machine, ()) if machine is not None else ()
        return list(dict.fromkeys((*self.everywhere, *extra)))


def static_default_groups(root: Path) -> DefaultGroups:
    """Every literal `clan.core.sops.defaultGroups` definition in the repository's Nix files."""
    everywhere: list[str] = []
    by_machine: dict[str, list[str]] = {}
    unknown: list[str] = []
    for d in definitions(root, (OPTION,), _NEEDLE):
        groups = _literal_groups(d, unknown)
        target = by_machine.setdefault(d.machine, []) if d.machine else everywhere
        target.extend(g for g in groups if g not in target)
    return DefaultGroups(tuple(everywhere), {m: tuple(g) for m, g in by_machine.items()}, tuple(unknown))


def _literal_groups(d: Definition, unknown: list[str]) -> list[str]:
    """`lib.mkDefault [ … ]` and the like: the list inside (priority does not change a list's items)."""
    node, _priority = unwrap(d.value)
    first = node.first_token()
    where = d.parsed.location(first.start if first is not None else 0)
    got = evaluate(node, call_functions_with_empty=False, where=d.parsed.location)
    if isinstance(got, NotLiteral) or not isinstance(got, list) or has_markers(got):
        unknown.append(
            f"{where}: clan.core.sops.defaultGroups is not a literal list; use --nix to evaluate it"
        )
        return []
    if not all(isinstance(g, str) for g in got):
        raise InputError(f"{where}: clan.core.sops.defaultGroups must be a list of strings (group names)")
    return [names.check("group", g, where) for g in got]


def nix_default_groups(root: Path, machine: str, system: str | None = None) -> list[str]:
    """`--nix`: the machine's evaluated `clan.core.sops.defaultGroups`, with clan's selector."""
    from dendrite.nix import current_system, eval_flake_json

    system = system or current_system()
    attr = f"clanInternals.machines.{system}.{machine}.config.clan.core.sops.defaultGroups"
    got = eval_flake_json(root, attr)
    if not isinstance(got, list) or not all(isinstance(g, str) for g in got):
        raise InputError(f"{attr} is not a list of strings")
    return [names.check("group", g, attr) for g in got]


def default_groups_for(root: Path, machine: str | None, *, use_nix: bool = False) -> list[str]:
    """A machine's default groups: dendrite.toml's, and Nix's (statically, or evaluated with `use_nix`)."""
    from dendrite.vars.sources import default_groups, read_config  # vars imports the secrets layer

    toml = default_groups(dict(read_config(root)))  # a plain copy: the TOML's groups alone
    if use_nix and machine is not None:
        nix = nix_default_groups(root, machine)
    else:
        nix = static_default_groups(root).for_machine(machine)
    return list(dict.fromkeys((*toml, *nix)))
