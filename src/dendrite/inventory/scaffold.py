"""Writing an inventory as dendritic Nix files: one file for meta, one for machines, one per instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.nixlang.printer import key, to_nix
from dendrite.repofs import DIR_MODE, FILE_MODE, RepoFS

HEADER = "# {what}: part of clan.inventory, merged by the module system with the other files here\n"


def _module(path: str, value: Any, what: str) -> str:
    return HEADER.format(what=what) + "{\n  " + f"{path} = {to_nix(value, indent=1)};\n" + "}\n"


def _make_dirs(path: Path) -> None:
    """`path` and its missing parents (the caller's own tree), 0755 whatever the umask."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=DIR_MODE, exist_ok=True)
        p.chmod(DIR_MODE)


def write_inventory_modules(
    base: Path, meta: dict[str, Any], machines: dict[str, Any], instances: dict[str, Any]
) -> list[Path]:
    """modules/clan/meta.nix, modules/clan/inventory/machines.nix, modules/clan/inventory/services/<i>.nix.

    Written below `base` through RepoFS (atomic, explicit modes, no link followed); an instance name
    becomes a file name, so it is checked first and nothing is written when one is not valid.
    """
    files = {
        base / "meta.nix": _module("clan.inventory.meta", meta, "the clan's name and domain"),
        base / "inventory" / "machines.nix": _module("clan.inventory.machines", machines, "every machine"),
    }
    for name, inst in instances.items():
        names.check("instance", name, "the inventory's instances")
        files[base / "inventory" / "services" / f"{name}.nix"] = _module(
            f"clan.inventory.instances.{key(name)}", inst, f"the {name} instance"
        )
    _make_dirs(base)
    fs = RepoFS(base)
    for path, text in files.items():
        fs.write_text(path, text, FILE_MODE)
    return list(files)
