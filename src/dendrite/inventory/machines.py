"""Creating and deleting machines with clan's semantics: inventory.json, machines/<name>/, keys, vars.

Why the order of the steps: the repository may be hostile (a symlinked `machines/`, `vars/per-machine`
or `vars/per-machine/<name>`). Every path a command will touch is checked first, before the secrets
store or any file changes, so a refusal leaves the repository byte-identical; the writes and deletes
then go through RepoFS, which refuses a link on the way even if one appears meanwhile. inventory.json
is read, changed and written under the repository lock, so two commands never lose each other's entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError, UnsafePathError
from dendrite.fsutil import repo_lock
from dendrite.generators import PER_MACHINE_DIR, PerMachine
from dendrite.inventory.model import CLASSES, machine_from_plain
from dendrite.inventory.sources import load, read_inventory_json
from dendrite.repo import INVENTORY_JSON, MACHINES_DIR, Repo
from dendrite.repofs import FILE_MODE, RepoFS
from dendrite.scaffold.hosts import host_module_dir, planned_host_module
from dendrite.secrets.layout import Layout
from dendrite.secrets.store import SecretsStore

CONFIGURATION_NIX = """# {name}: a clan machine ({cls}). clan imports this file automatically.
{{ ... }}:
{{
}}
"""

_KINDS = {"file": "file", "dir": "directory", "link": "symbolic link", "other": "special file"}


def write_inventory_json(root: Path, data: dict[str, Any]) -> None:
    """As clan's InventoryStore writes it (`clan_lib/persist/inventory_store.py`, `json.dump(..., indent=2)`):
    indent 2, key order kept, ASCII escapes, no trailing newline; written atomically, mode 0644."""
    text = json.dumps(data, indent=2)
    RepoFS(root).write_bytes(INVENTORY_JSON, text.encode(), FILE_MODE)


def _check_paths(fs: RepoFS, wanted: Iterable[tuple[str, tuple[str | None, ...]]]) -> None:
    """Refuse before anything changes: each path absent or of an allowed kind, with no link on the way."""
    for rel, allowed in wanted:
        try:
            kind = fs.kind(rel)  # opens every directory above with O_NOFOLLOW: a link there is refused
        except UnsafePathError as exc:
            raise UnsafePathError(f"{exc.message}; nothing was changed", hint=exc.hint) from None
        if kind not in allowed:
            want = " or ".join(_KINDS[k] for k in allowed if k is not None) or "nothing"
            raise UnsafePathError(
                f"{rel} in {fs.root} is a {_KINDS[kind or 'other']} where a {want} belongs; nothing was changed",
                hint="dendrite does not follow symbolic links inside a repository; remove or replace it",
            )


@dataclass(frozen=True)
class _Paths:
    """One machine's paths below the root, as RepoFS takes them and messages show them: from the
    repository handle, the sops/ layout and the machine's vars placement."""

    dir: str  # machines/<name>
    configuration: str  # machines/<name>/configuration.nix
    vars: str  # vars/per-machine/<name>
    vars_base: str  # vars/per-machine
    key_dir: str  # sops/machines/<name>
    keys_base: str  # sops/machines
    layout: Layout

    @classmethod
    def of(cls, root: Path, name: str) -> _Paths:
        repo, layout = Repo(root), Layout(root)
        rel = repo.fs.rel
        machine_dir = repo.machine_dir(name)
        placement = PerMachine(name)
        return cls(
            rel(machine_dir),
            rel(machine_dir / "configuration.nix"),
            rel(repo.vars_dir / placement.base),
            rel(repo.vars_dir / PER_MACHINE_DIR),
            rel(layout.machine(name)),
            rel(layout.machines()),
            layout,
        )

    def secret(self, secret: str) -> str:
        """sops/secrets/<secret>"""
        return self.layout.fs.rel(self.layout.secret(secret).path)


@dataclass(frozen=True)
class Created:
    name: str
    public_key: str
    files: tuple[str, ...]


def _new_entry(name: str, machine_class: str, tags: list[str], target_host: str | None) -> dict[str, Any]:
    names.machine_name(name)
    if machine_class not in CLASSES:
        raise InputError(f"machine class {machine_class!r} is not known", hint="use nixos or darwin")
    entry: dict[str, Any] = {"name": name, "machineClass": machine_class, "tags": list(dict.fromkeys(tags))}
    if target_host:
        entry["deploy"] = {"targetHost": target_host}
    machine_from_plain(name, entry)  # validate before anything is written
    return entry


def _refuse_existing(root: Path, name: str) -> None:
    loaded = load(root)
    if name in loaded.merged.value.get("machines", {}):
        where = ", ".join(str(x) for x in loaded.merged.where(("machines", name)))
        raise InputError(f"machine '{name}' already exists ({where})")


def create_machine(
    root: Path, name: str, machine_class: str, tags: list[str], target_host: str | None, store: SecretsStore
) -> Created:
    entry = _new_entry(name, machine_class, tags, target_host)
    _refuse_existing(root, name)
    fs, paths = RepoFS(root), _Paths.of(root, name)
    host = planned_host_module(
        root, name, machine_class
    )  # in `dendrite init`'s layout: modules/hosts/<name>/
    _check_paths(
        fs,
        [
            (INVENTORY_JSON, (None, "file")),
            (paths.configuration, (None, "file")),
            *([(host[0], (None,))] if host else []),
            (paths.key_dir, (None, "dir")),
            (paths.secret(f"{name}-age.key"), (None, "dir")),
        ],
    )
    key, _ = store.add_machine(name, None)  # the admin is needed: fail before the inventory is touched
    with repo_lock(root):
        # read under the lock: a concurrent create's entry is in what we write back
        data = read_inventory_json(root) or {}
        if name in data.get("machines", {}):
            raise InputError(f"machine '{name}' was added to {INVENTORY_JSON} meanwhile")
        data.setdefault("machines", {})[name] = entry
        fs.write_text(paths.configuration, CONFIGURATION_NIX.format(name=name, cls=machine_class))
        if host:
            fs.make_dirs(str(Path(host[0]).parent))
            fs.write_text(*host)
        write_inventory_json(root, data)
    return Created(
        name,
        key.publickey,
        (
            INVENTORY_JSON,
            paths.configuration,
            *([host[0]] if host else []),
            f"{paths.key_dir}/key.json",
            paths.secret(f"{name}-age.key"),
        ),
    )


@dataclass(frozen=True)
class Deleted:
    name: str
    removed: tuple[str, ...]
    rekeyed: int


def _refuse_unknown_or_nix(root: Path, name: str) -> None:
    loaded = load(root)
    known = name in loaded.merged.value.get("machines", {})
    if not known and not RepoFS(root).is_dir(_Paths.of(root, name).key_dir):
        raise InputError(f"machine '{name}' is not in the inventory", hint="see 'dendrite machines list'")
    nix_places = [str(x) for x in loaded.merged.where(("machines", name)) if x.file.endswith(".nix")]
    if nix_places:
        raise InputError(
            f"machine '{name}' is defined in Nix ({', '.join(nix_places)}); remove it there first",
            hint="dendrite only edits inventory.json, as clan does",
        )


def _remove_files(fs: RepoFS, paths: _Paths) -> list[str]:
    """machines/<name> and vars/per-machine/<name>, then the parents they leave empty (as clan does)."""
    removed = []
    for rel in (paths.dir, paths.vars):
        if fs.exists(rel):
            fs.remove_tree(rel)  # never crosses a link, even one planted after the checks
            removed.append(rel)
    fs.remove_empty_dirs(paths.vars_base, ".")
    fs.remove_empty_dirs(MACHINES_DIR, ".")
    return removed


def delete_machine(root: Path, name: str, store: SecretsStore) -> Deleted:
    """Remove the machine everywhere clan does; Nix-defined entries are left to the user, with a message."""
    names.machine_name(name)
    _refuse_unknown_or_nix(root, name)
    fs, paths = RepoFS(root), _Paths.of(root, name)
    has_key = fs.is_dir(paths.key_dir)
    own_secrets = [s for s in store.secrets() if s.startswith(f"{name}-")]
    host_dir = host_module_dir(root, name)  # `dendrite init`'s layout: its clan.machines entry goes too
    _check_paths(
        fs,
        [
            (INVENTORY_JSON, (None, "file")),
            (paths.dir, (None, "dir")),
            *([(host_dir, (None, "dir"))] if host_dir else []),
            (paths.vars, (None, "dir")),
            (paths.key_dir, (None, "dir")),
            *((paths.secret(s), ("dir",)) for s in own_secrets),
        ],
    )
    removed: list[str] = []
    rekeyed = 0
    if has_key:
        rekeyed = store.remove_machine(name)
        removed.append(paths.key_dir)
        fs.remove_empty_dirs(paths.keys_base, ".")
    for secret in own_secrets:
        store.remove(secret)
        removed.append(paths.secret(secret))
    with repo_lock(root):
        removed += _remove_files(fs, paths)
        if host_dir and fs.exists(host_dir):
            fs.remove_tree(host_dir)
            removed.append(host_dir)
        data = read_inventory_json(root) or {}  # read under the lock: keep what others wrote meanwhile
        if name in data.get("machines", {}):
            del data["machines"][name]
            write_inventory_json(root, data)
            removed.append(f"{INVENTORY_JSON}: machines.{name}")
    return Deleted(name, tuple(removed), rekeyed)
