"""Who may read a secret var: clan's sops `fix` for one machine (clan_lib/vars/secret_modules/sops.py).

For each secret var of a machine's generators clan's SecretStore.fix
- removes the machine's link when the file is not deployed (`disallow_member`, which refuses to remove
  the last key of a secret),
- links the machine when it cannot read the file yet (`allow_member`, after `ensure_machine_key`),
- links every default group (`allow_member` raises when the group does not exist),
- and re-encrypts when the file's recipients differ from those its links name.

`vars fix` runs it for every generator of the machines asked for; `vars generate` runs it after every
run for each existing shared secret and every machine declaring its generator ("Re-encrypt shared
secrets" in clan_lib/vars/generate.py), so a machine that joins a shared generator later can read it.

Here everything is checked before anything is changed (clan stops half-way on a refusal): the plan is
made first, then links are made and removed and the drifted files re-keyed in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import InputError, UnsafePathError
from dendrite.generators import FileSpec, Generator
from dendrite.secrets import rekey
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.recipients import Resolver
from dendrite.secrets.store import SecretsStore
from dendrite.vars.groups import MachineGroups
from dendrite.vars.storage import VarsStore

MIN_KEYS_FOR_REMOVAL = 2  # clan_cli/secrets/secrets.py MIN_KEYS_FOR_GROUP_REMOVAL


@dataclass(frozen=True)
class Target:
    """One secret var to fix for one machine (for a shared generator, any machine declaring it)."""

    gen: Generator
    machine: str
    file: FileSpec


@dataclass
class Plan:
    add: dict[Path, Path] = field(default_factory=dict)  # link -> member directory
    remove: list[Path] = field(default_factory=list)  # machine links of files not deployed
    refs: dict[Path, SecretRef] = field(default_factory=dict)  # var directory -> its secret


def stored_targets(vs: VarsStore, targets: Sequence[Target]) -> list[Target]:
    """The targets whose secret is stored as dendrite writes it (a planted entry is left to `vars check`)."""
    return [
        t
        for t in targets
        if t.file.secret
        and vs.planted(t.gen, t.machine, t.file.name) is None
        and vs.has_file(t.gen, t.machine, t.file.name)
    ]


def machines_without_key(secrets: SecretsStore, targets: Sequence[Target]) -> list[str]:
    """Machines that must read a deployed secret but have no age key yet (clan's ensure_machine_key)."""
    fs, layout = secrets.layout.fs, secrets.layout
    out = []
    for t in targets:
        if t.file.deploy and t.machine not in out and fs.kind(layout.machine(t.machine) / "key.json") is None:
            out.append(t.machine)
    return out


def ensure_machine_keys(secrets: SecretsStore, machines: Iterable[str], groups: MachineGroups) -> None:
    """clan's `ensure_machine_key` (clan_lib/vars/secret_modules/sops.py): a machine a secret is deployed
    to gets an age key first when it has none, its private key encrypted to the machine's default groups
    as resolved for the run (evaluated ones with `--nix`). `add_machine` takes the repository lock
    itself: call this before taking it."""
    layout = secrets.layout
    for m in dict.fromkeys(machines):
        if layout.fs.kind(layout.machine(m) / "key.json") is None:
            secrets.add_machine(m, None, default_groups=groups.of_new_key(m))


def plan(vs: VarsStore, targets: Sequence[Target], groups: MachineGroups) -> Plan:
    """What fixing `targets` changes; raises (before anything is changed) where clan would refuse.

    Each target gets its machine's default groups (clan's fix reads them for the machine it fixes).
    """
    secrets, fs = vs.secrets, vs.fs
    layout = secrets.layout
    resolver = Resolver(layout)
    out = Plan()
    removed: dict[Path, set[SopsKey]] = {}
    if targets:
        vs.check_groups(groups.union(t.machine for t in targets))
    for t in targets:
        d = vs.file_dir(t.gen, t.machine, t.file.name)
        ref = out.refs.setdefault(d, SecretRef("var", str(d.relative_to(vs.vars)), d))
        link = d / "machines" / t.machine
        if not t.file.deploy:
            if fs.kind(link) == "link":
                key = secrets.machine_key(t.machine) if fs.is_dir(layout.machine(t.machine)) else None
                left = resolver.collect(ref).keys - removed.setdefault(d, set())
                if len(left) < MIN_KEYS_FOR_REMOVAL:
                    raise InputError(
                        f"cannot remove {t.machine} from {t.gen.name}/{t.file.name}: no key would be left "
                        "to decrypt it (nothing was changed)",
                        hint=f"link a user to {fs.rel(d)} first, or remove the var",
                    )
                if key is not None:
                    removed[d].add(key)
                out.remove.append(link)
        else:
            if fs.kind(layout.machine(t.machine) / "key.json") is None:
                raise InputError(
                    f"machine {t.machine} has no age key, so {t.gen.name}/{t.file.name} cannot be encrypted for it",
                    hint=f"dendrite secrets machines add {t.machine}",
                )
            key = secrets.machine_key(t.machine)
            current = rekey.file_recipients(ref, fs)
            wanted = resolver.collect(ref).keys
            # clan links the machine when it is no recipient; dendrite also when no link names it
            # (clan would then re-encrypt it away, and link it back on the next run)
            if key not in current or key not in wanted:
                out.add[link] = layout.machine(t.machine)
        for g in groups.of_machine(t.machine):
            glink = d / "groups" / g
            if fs.kind(glink) != "link":
                out.add[glink] = layout.group(g)
    for link in out.add:
        kind = fs.kind(link)
        if kind not in (None, "link"):  # clan: "exists but is not a symlink"; refused before any change
            raise UnsafePathError(
                f"{fs.rel(link)} in {fs.root} is a {kind} where a member link belongs", hint="remove it"
            )
    return out


def apply(vs: VarsStore, p: Plan, scratch: Path) -> int:
    """Make the planned links, remove the planned ones, re-key what drifted; returns the files re-keyed.

    The caller holds the repository lock. One transaction: all of it, or (killed, failed) none.
    """
    fs, layout = vs.fs, vs.secrets.layout
    if not p.refs:
        return 0
    with vs.transaction(list(p.refs)):
        for link, member in p.add.items():
            fs.link_to(link, member)
        for link in p.remove:
            fs.unlink(link)
            fs.remove_empty_dirs(link.parent, link.parent.parent)
        drifts = rekey.find_drift(layout, list(p.refs.values()), strict=False)
        return rekey.apply(drifts, vs.secrets.identities, scratch) if drifts else 0
