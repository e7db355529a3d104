"""Creating and deleting machines with clan's semantics: inventory.json, machines/<name>/, keys, vars."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.fsutil import atomic_write, repo_lock
from dendrite.inventory.model import CLASSES, machine_from_plain
from dendrite.inventory.sources import INVENTORY_JSON, load, read_inventory_json
from dendrite.repofs import RepoFS
from dendrite.secrets.store import SecretsStore

CONFIGURATION_NIX = """# {name}: a clan machine ({cls}). clan imports this file automatically.
{{ ... }}:
{{
}}
"""


def write_inventory_json(root: Path, data: dict[str, Any]) -> None:
    """clan's style: indent 2, key order kept, a trailing newline; written atomically."""
    atomic_write(root / INVENTORY_JSON, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


@dataclass(frozen=True)
class Created:
    name: str
    public_key: str
    files: tuple[str, ...]


def create_machine(
    root: Path, name: str, machine_class: str, tags: list[str], target_host: str | None, store: SecretsStore
) -> Created:
    names.machine_name(name)
    if machine_class not in CLASSES:
        raise InputError(f"machine class {machine_class!r} is not known", hint="use nixos or darwin")
    loaded = load(root)
    if name in loaded.merged.value.get("machines", {}):
        where = ", ".join(str(x) for x in loaded.merged.where(("machines", name)))
        raise InputError(f"machine '{name}' already exists ({where})")
    entry: dict[str, Any] = {"name": name, "machineClass": machine_class, "tags": list(dict.fromkeys(tags))}
    if target_host:
        entry["deploy"] = {"targetHost": target_host}
    machine_from_plain(name, entry)  # validate before anything is written
    data = read_inventory_json(root) or {}
    data.setdefault("machines", {})[name] = entry
    mdir = root / "machines" / name
    key, _ = store.add_machine(name, None)  # the admin is needed: fail before the inventory is touched
    mdir.mkdir(parents=True, exist_ok=True)
    (mdir / "configuration.nix").write_text(CONFIGURATION_NIX.format(name=name, cls=machine_class))
    with repo_lock(root):
        write_inventory_json(root, data)
    return Created(
        name,
        key.publickey,
        (
            INVENTORY_JSON,
            f"machines/{name}/configuration.nix",
            f"sops/machines/{name}/key.json",
            f"sops/secrets/{name}-age.key",
        ),
    )


@dataclass(frozen=True)
class Deleted:
    name: str
    removed: tuple[str, ...]
    rekeyed: int


def delete_machine(root: Path, name: str, store: SecretsStore) -> Deleted:
    """Remove the machine everywhere clan does; Nix-defined entries are left to the user, with a message."""
    names.machine_name(name)
    loaded = load(root)
    data = read_inventory_json(root) or {}
    in_json = name in data.get("machines", {})
    known = name in loaded.merged.value.get("machines", {})
    if not known and not (root / "sops" / "machines" / name).exists():
        raise InputError(f"machine '{name}' is not in the inventory", hint="see 'dendrite machines list'")
    nix_places = [str(x) for x in loaded.merged.where(("machines", name)) if x.file.endswith(".nix")]
    if nix_places:
        raise InputError(
            f"machine '{name}' is defined in Nix ({', '.join(nix_places)}); remove it there first",
            hint="dendrite only edits inventory.json, as clan does",
        )
    removed: list[str] = []
    rekeyed = 0
    if (root / "sops" / "machines" / name).exists():
        rekeyed = store.remove_machine(name)
        removed.append(f"sops/machines/{name}")
        RepoFS(root).remove_empty_dirs(root / "sops" / "machines", root)
    for secret in store.secrets():
        if secret.startswith(f"{name}-"):
            store.remove(secret)
            removed.append(f"sops/secrets/{secret}")
    with repo_lock(root):
        for rel in (f"machines/{name}", f"vars/per-machine/{name}"):
            if (root / rel).exists():
                shutil.rmtree(root / rel)
                removed.append(rel)
        parent = root / "vars" / "per-machine"
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            if not any((root / "vars").iterdir()):
                (root / "vars").rmdir()
        machines_dir = root / "machines"
        if machines_dir.is_dir() and not any(machines_dir.iterdir()):
            machines_dir.rmdir()
        if in_json:
            del data["machines"][name]
            write_inventory_json(root, data)
            removed.append(f"{INVENTORY_JSON}: machines.{name}")
    return Deleted(name, tuple(removed), rekeyed)
