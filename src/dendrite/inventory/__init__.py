"""clan's inventory: model, sources, service catalogue, resolution, validation, machines."""

from dataclasses import dataclass
from pathlib import Path

from dendrite.findings import Finding
from dendrite.inventory.merge import Merged
from dendrite.inventory.model import Inventory, inventory_from_plain, inventory_to_plain
from dendrite.inventory.resolve import Assignment, Group, machine_view, resolve, resolve_groups
from dendrite.inventory.sources import Loaded, Note, load
from dendrite.inventory.validate import validate


@dataclass
class Resolved:
    inventory: Inventory
    merged: Merged
    notes: list[Note]
    groups: list[Group]
    findings: list[Finding]

    @property
    def assignments(self) -> list[Assignment]:
        """One entry per (machine, instance, role), expanded from the groups when asked."""
        return resolve(self.inventory, self.groups)


def analyse(root: Path, *, use_nix: bool = False, attr: str = "clan.inventory") -> Resolved:
    """Load, check, resolve and validate the inventory of a repository."""
    loaded = load(root, use_nix=use_nix, attr=attr)
    inv = inventory_from_plain(loaded.merged.value)
    groups = resolve_groups(inv)
    return Resolved(inv, loaded.merged, loaded.notes, groups, validate(inv, loaded.merged, groups))


__all__ = [
    "Assignment",
    "Finding",
    "Inventory",
    "Loaded",
    "Note",
    "Resolved",
    "analyse",
    "inventory_from_plain",
    "inventory_to_plain",
    "load",
    "machine_view",
    "resolve",
    "validate",
]
