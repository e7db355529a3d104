"""Which generators each machine has: from its services (the inventory's catalogue), from the repository's
dendrite.toml, or with --nix from the clan flake's evaluated NixOS options."""

from __future__ import annotations

import platform
import tomllib
from pathlib import Path
from typing import Any

from dendrite.errors import InputError
from dendrite.inventory import Assignment, Resolved, analyse, machine_view
from dendrite.inventory.resolve import role_members_of
from dendrite.nix import eval_flake_json
from dendrite.vars.model import Generator, from_catalogue, from_plain

CONFIG = "dendrite.toml"


def read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}", hint="fix the TOML; nothing was generated") from None


def default_groups(config: dict[str, Any]) -> list[str]:
    groups = config.get("secrets", {}).get("default_groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InputError(f"{CONFIG}: secrets.default_groups must be a list of group names")
    return groups


def custom_generators(config: dict[str, Any], machine: str, tags: tuple[str, ...]) -> dict[str, Generator]:
    out = {}
    for name, raw in (config.get("generators") or {}).items():
        if not isinstance(raw, dict):
            raise InputError(f"{CONFIG}: generators.{name} must be a table")
        only = raw.get("machines")
        want_tags = raw.get("tags")
        if only is not None and machine not in only:
            continue
        if want_tags is not None and not set(want_tags) & set(tags):
            continue
        out[name] = from_plain(name, raw, CONFIG)
    return out


def machine_generators(
    root: Path, resolved: Resolved | None = None
) -> tuple[Resolved, dict[str, dict[str, Generator]]]:
    """Every machine's generators: its services' built-ins plus dendrite.toml's custom ones."""
    resolved = resolved or analyse(root)
    config = read_config(root)
    assignments = resolved.assignments
    members = role_members_of(assignments)
    by_machine: dict[str, list[Assignment]] = {}
    for a in assignments:
        by_machine.setdefault(a.machine, []).append(a)
    out: dict[str, dict[str, Generator]] = {}
    for name in resolved.inventory.machines:
        view = machine_view(resolved.inventory, name, by_machine.get(name, []), members)
        gens = {g.name: from_catalogue(g, "") for g in view.generators}
        for gname, gen in custom_generators(config, name, view.tags).items():
            if gname in gens:
                raise InputError(
                    f"{CONFIG}: generator '{gname}' of {name} is also a built-in of its services"
                )
            gens[gname] = gen
        out[name] = gens
    return resolved, out


def nix_generators(
    root: Path, machines: list[str], system: str | None = None
) -> dict[str, dict[str, Generator]]:
    """The generators of a real clan flake, as clan-cli selects them (one nix eval per machine)."""
    system = system or f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"
    out: dict[str, dict[str, Generator]] = {}
    for m in machines:
        data = eval_flake_json(root, f"clanInternals.machines.{system}.{m}.config.clan.core.vars.generators")
        if not isinstance(data, dict):
            raise InputError(f"the generators of {m} are not an attribute set")
        out[m] = {name: from_plain(name, _strip_computed(raw), f"nix {m}") for name, raw in data.items()}
    return out


def _strip_computed(raw: dict[str, Any]) -> dict[str, Any]:
    keep = {"share", "dependencies", "files", "prompts", "script", "runtimeInputs", "validation"}
    out = {k: v for k, v in raw.items() if k in keep}
    out["files"] = {
        f: {k: v for k, v in spec.items() if k in ("secret", "deploy", "owner", "group", "mode", "neededFor")}
        for f, spec in (raw.get("files") or {}).items()
    }
    out["prompts"] = {
        p: {k: v for k, v in spec.items() if k in ("type", "description", "persist")}
        for p, spec in (raw.get("prompts") or {}).items()
    }
    out["runtimeInputs"] = []
    return out
