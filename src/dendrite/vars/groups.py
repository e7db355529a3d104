"""Which default groups a var secret is encrypted to: clan resolves them per machine.

clan-core `clan_lib/vars/secret_modules/sops.py`:
- `SecretStore._set` (a generator's secret is written): the groups are
  `config.clan.core.sops.defaultGroups` of `policy.machines[0]`, "the first machine (whoever that is)";
  `policy.machines` is the var's `machines`, which `clan_lib/vars/generator.py` `get_machine_generators`
  sets to `[machine_name]`, the machine declaring it (for a shared generator, the first machine that
  declares it);
- `SecretStore.fix` (and `collect_keys_for_secret`): the groups of the machine being fixed.

The option is read per machine (`clan_lib/nix_selectors.py`, `vars_sops_default_groups`). dendrite
resolves it once per machine per run: dendrite.toml's `[secrets] default_groups` with the literal
definitions read statically (`dendrite.secrets.defaults`), or, with `--nix`, with the evaluated option.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite.vars.storage import Item


@dataclass(frozen=True)
class MachineGroups:
    """Default groups by machine; `common` for a machine not resolved (the groups every machine has)."""

    by_machine: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    common: tuple[str, ...] = ()
    # a shared var gets the groups of every machine declaring it: `vars generate`, where clan's
    # "Re-encrypt shared secrets" pass (clan_lib/vars/generate.py) fixes each shared secret, the one
    # just written included, for every machine declaring it
    shared_to_all: bool = False

    @classmethod
    def everywhere(cls, groups: Iterable[str]) -> MachineGroups:
        return cls({}, tuple(groups))

    def of_machine(self, machine: str) -> tuple[str, ...]:
        return self.by_machine.get(machine, self.common)

    def of_item(self, item: Item) -> tuple[str, ...]:
        """clan's `_set`: the groups of the first machine of the var (the one declaring it)."""
        if self.shared_to_all and item.gen.share and item.machines:
            return tuple(self.union(item.machines))
        return self.of_machine(item.machines[0] if item.machines else item.machine)

    def of_new_key(self, machine: str) -> list[str] | None:
        """The groups a machine's new `<m>-age.key` is encrypted to (clan's `ensure_machine_key`): the
        machine's resolved groups, evaluated ones with `--nix`; None when it was not resolved here (then
        `SecretsStore.add_machine` reads them itself, statically)."""
        got = self.by_machine.get(machine)
        return None if got is None else list(got)

    def union(self, machines: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(g for m in machines for g in self.of_machine(m)))


def resolve(
    root: Path,
    config: Mapping[str, Any],
    machines: Iterable[str],
    *,
    use_nix: bool = False,
    shared_to_all: bool = False,
) -> MachineGroups:
    """Each machine's default groups, each machine resolved (and with `use_nix` evaluated) once."""
    from dendrite.secrets.defaults import nix_default_groups, static_default_groups
    from dendrite.vars.sources import default_groups

    toml = default_groups(dict(config))  # a plain copy: dendrite.toml's groups alone
    wanted = list(dict.fromkeys(machines))
    if use_nix:
        return MachineGroups(
            {m: tuple(dict.fromkeys((*toml, *nix_default_groups(root, m)))) for m in wanted},
            tuple(toml),
            shared_to_all,
        )
    static = static_default_groups(root)
    common = tuple(dict.fromkeys((*toml, *static.everywhere)))
    by_machine = {m: tuple(dict.fromkeys((*toml, *static.for_machine(m)))) for m in wanted}
    return MachineGroups(by_machine, common, shared_to_all)
