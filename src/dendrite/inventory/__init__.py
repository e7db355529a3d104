"""clan's inventory: model, sources, service catalogue, resolution, validation, machines."""

from dataclasses import dataclass
from pathlib import Path

from dendrite.findings import Finding
from dendrite.inventory.catalogue import Catalogue
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
    catalogue: Catalogue | None = None  # the clan-core services it was checked against

    @property
    def assignments(self) -> list[Assignment]:
        """One entry per (machine, instance, role), expanded from the groups when asked."""
        return resolve(self.inventory, self.groups, self.catalogue)


def analyse(root: Path, *, use_nix: bool = False, attr: str = "clan.inventory") -> Resolved:
    """Load, check, resolve and validate the inventory of a repository, against the services of the
    clan-core its flake.lock pins when that source is on this machine (`revision.choose`)."""
    from dendrite.inventory.revision import choose  # reads flake.lock and maybe the Nix store

    loaded = load(root, use_nix=use_nix, attr=attr)
    inv = inventory_from_plain(loaded.merged.value)
    choice = choose(root)
    groups = resolve_groups(inv, choice.catalogue)
    findings = validate(inv, loaded.merged, groups, choice.catalogue, (choice.severity, choice.message))
    return Resolved(inv, loaded.merged, loaded.notes, groups, findings, choice.catalogue)


__all__ = [
    "Assignment",
    "Catalogue",
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
