"""clan's vars/ tree: public values in `value`, secrets as sops files with member links, validation hashes.

Every read and write goes through `RepoFS`: a symlink, FIFO or device planted anywhere in `vars/` is
refused, never followed (a `value` linked to `~/.ssh/id_ed25519` is not read into a public value).

Writes are transactions (`VarsStore.transaction`, built on `dendrite.undo`), so a run stores all it
was asked to or nothing: the directories it touches are snapshotted (ciphertext and public values
only) before the batch, and an interrupted run is rolled back by the next holder of the lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dendrite import names, undo
from dendrite.errors import InputError, UnsafePathError
from dendrite.fsutil import PendingWrite, atomic_write_many
from dendrite.generators import SHARED, Generator, PerMachine, Placement
from dendrite.repo import Repo
from dendrite.repofs import RepoFS
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.store import SecretsStore
from dendrite.sops.document import decrypt_stored

if TYPE_CHECKING:
    from dendrite.vars.groups import MachineGroups

VALIDATION = ".validation-hash"
_HASH_LIMIT = 4096


@dataclass(frozen=True)
class Item:
    """One generator's outputs to store for one machine (or once, for a shared generator)."""

    gen: Generator
    machines: list[str]  # the machines declaring it: recipients of its deployed secrets
    machine: str
    outputs: dict[str, bytes]
    touch_hash: bool = True  # write (or drop) the generator's validation hash, as a generate run does
    stored_hash: str | None = None  # an exported hash to restore (import)


class VarsStore:
    def __init__(self, root: Path, secrets: SecretsStore) -> None:
        self.root = root
        self.vars = Repo(root).vars_dir
        self.secrets = secrets
        self.fs = RepoFS(root)

    # ---- paths -------------------------------------------------------------------------------------

    def gen_dir(self, gen: Generator, machine: str) -> Path:
        return self.vars / gen.rel_dir(machine)

    def file_dir(self, gen: Generator, machine: str, name: str) -> Path:
        return self.gen_dir(gen, machine) / names.check("file", name, f"generator {gen.name}")

    def _entry(self, gen: Generator, machine: str, name: str) -> Path:
        spec = gen.file(name)
        return self.file_dir(gen, machine, name) / ("secret" if spec is None or spec.secret else "value")

    # ---- reads -------------------------------------------------------------------------------------

    def has_file(self, gen: Generator, machine: str, name: str) -> bool:
        """Something is stored there (a planted link counts: it is refused when read, never skipped)."""
        return self.fs.kind(self._entry(gen, machine, name)) is not None

    def planted(self, gen: Generator, machine: str, name: str) -> str | None:
        """Why the stored entry is not a file dendrite wrote (a link, a FIFO...), or None."""
        path = self._entry(gen, machine, name)
        try:
            kind = self.fs.kind(path)
        except UnsafePathError as exc:
            return exc.message
        if kind in (None, "file"):
            return None
        what = "a symbolic link" if kind == "link" else f"a {kind}, not a regular file"
        return f"{self.fs.rel(path)} is {what}; dendrite does not follow it"

    def stored_hash(self, gen: Generator, machine: str) -> str | None:
        p = self.gen_dir(gen, machine) / VALIDATION
        if self.fs.kind(p) is None:
            return None
        return self.fs.read_text(p, limit=_HASH_LIMIT).strip()

    def hash_valid(self, gen: Generator, machine: str) -> bool:
        """clan's hash_is_valid: both absent, or equal."""
        return self.stored_hash(gen, machine) == gen.validation_hash

    def exists(self, gen: Generator, machine: str) -> bool:
        return all(self.has_file(gen, machine, f.name) for f in gen.files) and self.hash_valid(gen, machine)

    def read(self, gen: Generator, machine: str, name: str) -> bytes:
        spec = gen.file(name)
        if spec is None:
            raise InputError(f"generator '{gen.name}' has no file '{name}'")
        d = self.file_dir(gen, machine, name)
        entry = d / ("secret" if spec.secret else "value")
        if self.fs.kind(entry) is None:
            raise InputError(
                f"{gen.name}/{name} of {machine} is not set ({entry} is missing)",
                hint=f"run 'dendrite vars generate {machine}'",
            )
        if spec.secret and self.fs.kind(d / "value") is not None:
            raise InputError(f"{d} holds a public value where a secret belongs (a backend collision)")
        data = self.fs.read_bytes(entry)  # refuses a link, a FIFO, a device: never followed
        if not spec.secret:
            return data
        return decrypt_stored(data, self.secrets.identities, where=str(entry))

    # ---- writes ------------------------------------------------------------------------------------

    def write(self, items: Sequence[Item], admin: str, groups: MachineGroups, scratch: Path) -> list[Path]:
        """Store `items` in one transaction (caller holds the repository lock). Returns the files written."""
        self.check_item_groups(items, groups)
        with self.transaction(self.touched_dirs(items)):
            batches = [self.prepare(i, admin, groups) for i in items]
            atomic_write_many([w for b in batches for w in b], scratch)
            for i in items:
                self.drop_stale_hash(i)
                self.drop_toggled(i)
        return [w.target for b in batches for w in b if w.target.name != VALIDATION]

    def check_item_groups(self, items: Sequence[Item], groups: MachineGroups) -> None:
        """The default groups of every item with a secret to write exist (each item's own machine's)."""
        secret = [i for i in items if any(f.secret and f.name in i.outputs for f in i.gen.files)]
        self.check_groups(list(dict.fromkeys(g for i in secret for g in groups.of_item(i))))

    def check_groups(self, default_groups: Sequence[str]) -> None:
        """Every default group exists, checked before anything is written.

        clan's encrypt_secret and its sops fix link each default group with allow_member, which raises
        when sops/groups/<group> does not exist (clan_cli/secrets/secrets.py).
        """
        layout = self.secrets.layout
        for g in default_groups:
            if not self.fs.is_dir(layout.group(g)):
                have = ", ".join(layout.names("groups")) or "none"
                raise InputError(
                    f"the default group '{g}' does not exist in {self.fs.rel(layout.groups())} (groups: {have})",
                    hint="create it: 'dendrite secrets groups add-user <group> <user>', or drop it from the default groups",
                )

    # ---- switching `share` (clan's StoreBase.set, _types.py) ----------------------------------------

    def toggled(self, item: Item) -> list[tuple[Placement, str]]:
        """Where the item's vars were stored before its generator's `share` was switched.

        clan: a per-machine generator looks in shared/; a shared one looks in per-machine/<m>/ of every
        machine declaring it.
        """
        gen = item.gen
        olds: list[Placement] = [PerMachine(m) for m in item.machines] if gen.share else [SHARED]
        return [(p, name) for p in olds for name in (f.name for f in gen.files) if name in item.outputs]

    def _old_entry(self, gen: Generator, placement: Placement, name: str) -> tuple[Path, str]:
        spec = gen.file(name)
        d = self.vars / placement.rel_dir(gen.name) / names.check("file", name, f"generator {gen.name}")
        return d, "secret" if spec is None or spec.secret else "value"

    def touched_dirs(self, items: Sequence[Item]) -> list[Path]:
        """The directories a batch writes, and those it removes a switched var from."""
        dirs = [self.gen_dir(i.gen, i.machine) for i in items]
        for i in items:
            dirs += [self.vars / p.rel_dir(i.gen.name) for p, _ in self.toggled(i)]
        return dirs

    def drop_toggled(self, item: Item, live: Collection[tuple[Placement, str]] = ()) -> list[Path]:
        """Remove the item's vars from their old place, as clan's set does before storing them.

        The store that holds the new var decides what is looked for (clan asks the same store): a
        secret's directory is removed whole (the sops store's delete); a public value is unlinked and
        its directory removed if that leaves it empty (in_repo's delete). Unlike clan, a place that
        another machine's generator of the same name still uses (`live`: (placement, generator)) is
        kept: one machine may declare it shared while another declares it per-machine.
        """
        removed = []
        for placement, name in self.toggled(item):
            if (placement, item.gen.name) in live:
                continue
            d, entry = self._old_entry(item.gen, placement, name)
            if self.fs.kind(d / entry) != "file":
                continue  # clan's exists(): nothing stored there (a planted entry is left alone)
            if entry == "secret":
                self.fs.remove_tree(d)
            else:
                self.fs.unlink(d / entry)
                if not self.fs.entries(d):
                    self.fs.remove_empty_dirs(d, d.parent)
            removed.append(d)
        return removed

    def drop_stale_hash(self, item: Item) -> None:
        if item.touch_hash and item.gen.validation_hash is None:
            self.fs.unlink(self.gen_dir(item.gen, item.machine) / VALIDATION)  # clan deletes it (#6011)

    def prepare(self, item: Item, admin: str, groups: MachineGroups) -> list[PendingWrite]:
        """Directories and member links made, contents encrypted: the writes, for one batch of many.

        The default groups are those of the var's first machine (clan's `_set`, see dendrite.vars.groups).
        """
        gen, machine, fs, layout = item.gen, item.machine, self.fs, self.secrets.layout
        written: list[PendingWrite] = []
        for spec in gen.files:
            if spec.name not in item.outputs:
                continue
            d = self.file_dir(gen, machine, spec.name)
            fs.make_dirs(d)
            if spec.secret:
                if fs.kind(d / "value") is not None:
                    raise InputError(f"{d} holds a public value where a secret belongs (a backend collision)")
                ref = SecretRef("var", str(d.relative_to(self.vars)), d)
                fs.link_to(d / "users" / admin, layout.user(admin))
                for m in item.machines if spec.deploy else []:
                    fs.link_to(d / "machines" / m, layout.machine(m))
                for g in groups.of_item(item):
                    if fs.is_dir(layout.group(g)):
                        fs.link_to(d / "groups" / g, layout.group(g))
                written.append(
                    PendingWrite(ref.file, self.secrets.encrypt_for_links(ref, item.outputs[spec.name]))
                )
            else:
                if fs.kind(d / "secret") is not None:
                    raise InputError(f"{d} holds a secret where a public value belongs (a backend collision)")
                written.append(PendingWrite(d / "value", item.outputs[spec.name]))
        hash_text = item.stored_hash
        if hash_text is None and item.touch_hash:
            hash_text = gen.validation_hash
        if hash_text is not None:
            written.append(PendingWrite(self.gen_dir(gen, machine) / VALIDATION, hash_text.encode()))
        return written

    # ---- the transaction ---------------------------------------------------------------------------

    def transaction(self, dirs: Sequence[Path]) -> contextlib.AbstractContextManager[None]:
        """Everything written below `dirs` inside is kept together or rolled back (`dendrite.undo`)."""
        return undo.transaction(self.fs, dirs)


def ensure_consistent(root: Path, secrets: SecretsStore) -> None:
    """For commands that read vars without the lock: finish (roll back) an interrupted run first.

    Taking the lock is enough: `repo_lock` rolls back a journal it finds.
    """
    if RepoFS(root).kind(undo.JOURNAL) is not None:
        with secrets.writing():
            pass
