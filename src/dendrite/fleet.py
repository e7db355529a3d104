"""The sample fleet from the seed, shipped as package data so the demo and tests work anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class FleetMachine:
    name: str
    machine_class: str
    system: str
    tags: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class FleetSecret:
    name: str
    groups: tuple[str, ...]
    machines: tuple[str, ...]
    value: str


@dataclass(frozen=True)
class Fleet:
    name: str
    domain: str
    instances: dict[str, Any]
    admin_user: str
    admin_groups: tuple[str, ...]
    machines: tuple[FleetMachine, ...]
    secrets: tuple[FleetSecret, ...]


def sample_fleet() -> Fleet:
    raw = json.loads(resources.files("dendrite.data").joinpath("fleet.json").read_text())
    return Fleet(
        name=raw["name"],
        domain=raw.get("domain", "clan"),
        instances=raw.get("instances", {}),
        admin_user=raw["admin"]["user"],
        admin_groups=tuple(raw["admin"]["groups"]),
        machines=tuple(
            FleetMachine(m["name"], m["class"], m["system"], tuple(m["tags"]), m["description"])
            for m in raw["machines"]
        ),
        secrets=tuple(
            FleetSecret(s["name"], tuple(s["groups"]), tuple(s["machines"]), s["value"])
            for s in raw["secrets"]
        ),
    )
