"""Host modules in the seed's layout: `modules/hosts/<name>/default.nix`, one flake-parts module per
machine that publishes `flake.modules.<class>."hosts/<name>"` and registers it with `clan.machines`.

Why clan.machines and no nixosSystem generator: clan-core makes nixosConfigurations and
darwinConfigurations itself; a second generator is the seed's mistake (spec §2.4 shape 4, §4.12.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dendrite import names
from dendrite.nixlang.printer import string
from dendrite.repofs import RepoFS

HOSTS_DIR = "modules/hosts"
STATE_VERSION = {"nixos": '"25.05"', "darwin": "6"}  # nix-darwin's stateVersion is an integer


@dataclass(frozen=True)
class Host:
    name: str
    machine_class: str  # nixos | darwin
    system: str
    description: str = ""


def host_path(name: str) -> str:
    return f"{HOSTS_DIR}/{names.machine_name(name)}/default.nix"


def module_name(name: str) -> str:
    return f"hosts/{name}"


def host_module(host: Host) -> str:
    """The text of a host's flake-parts module.

    The lower-level module is an attribute set that reads only lexical values (`modules`), so it needs
    no `pkgs` and names no argument the host evaluation must supply.
    """
    cls, name = host.machine_class, host.name
    ref = f'config.flake.modules.{cls}."hosts/{name}"'
    about = f"# {name}: {host.description}\n" if host.description else f"# {name}: a {cls} machine\n"
    return (
        about
        + "# clan makes the configuration from clan.machines; this file only composes modules.\n"
        + "{ config, ... }:\n"
        + "let\n"
        + f"  modules = config.flake.modules.{cls};\n"
        + "in\n"
        + "{\n"
        + f'  flake.modules.{cls}."hosts/{name}" = {{\n'
        + "    imports = with modules; [\n      base\n      shell\n      users\n    ];\n"
        + f"    nixpkgs.hostPlatform = {string(host.system)};\n"
        + f"    system.stateVersion = {STATE_VERSION[cls]};\n"
        + "  };\n"
        + f"  clan.machines.{name}.imports = [ {ref} ];\n"
        + "}\n"
    )


def has_host_layout(root: Path) -> bool:
    """True when the repository keeps host modules as `dendrite init` lays them out."""
    fs = RepoFS(root)
    return fs.kind(HOSTS_DIR) == "dir" and fs.kind("modules/flake-parts/clan.nix") == "file"


DEFAULT_SYSTEMS = {"nixos": "x86_64-linux", "darwin": "aarch64-darwin"}


def planned_host_module(root: Path, name: str, machine_class: str) -> tuple[str, str] | None:
    """(path, text) of a new machine's host module when the repository has init's layout, else None."""
    if not has_host_layout(root):
        return None
    host = Host(name, machine_class, DEFAULT_SYSTEMS[machine_class])
    return host_path(name), host_module(host)


def host_module_dir(root: Path, name: str) -> str | None:
    """modules/hosts/<name> when the repository has init's layout, else None."""
    return f"{HOSTS_DIR}/{names.machine_name(name)}" if has_host_layout(root) else None
