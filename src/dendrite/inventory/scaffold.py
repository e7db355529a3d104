"""Writing an inventory as dendritic Nix files: one file for meta, one for machines, one per instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dendrite.nixlang.printer import key, to_nix

HEADER = "# {what}: part of clan.inventory, merged by the module system with the other files here\n"


def _module(path: str, value: Any, what: str) -> str:
    return HEADER.format(what=what) + "{\n  " + f"{path} = {to_nix(value, indent=1)};\n" + "}\n"


def write_inventory_modules(
    base: Path, meta: dict[str, Any], machines: dict[str, Any], instances: dict[str, Any]
) -> list[Path]:
    """modules/clan/meta.nix, modules/clan/inventory/machines.nix, modules/clan/inventory/services/<i>.nix."""
    written = []
    files = {
        base / "meta.nix": _module("clan.inventory.meta", meta, "the clan's name and domain"),
        base / "inventory" / "machines.nix": _module("clan.inventory.machines", machines, "every machine"),
    }
    for name, inst in instances.items():
        files[base / "inventory" / "services" / f"{name}.nix"] = _module(
            f"clan.inventory.instances.{key(name)}", inst, f"the {name} instance"
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
