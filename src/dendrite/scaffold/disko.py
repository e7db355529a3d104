"""`dendrite infra disko HOST`: the machine's disks as a disko configuration (spec §4.7).

`--luks` with ext4: GPT with an EFI system partition and LUKS holding an LVM volume group (`pool`,
logical volume `root`), the seed's plan. `--fs zfs`: a `zroot` pool with root/nixos, root/home and
root/nix datasets (the seed's actual cinnabar); with `--luks` the pool is encrypted by ZFS itself.

The passphrase is a clan var: the generator `luks-password` (file `password`, `neededFor =
"partitioning"`), so clan uploads it for `clan machines install` only and it is never in the store.
The file is a flake-parts module that merges into the host's `flake.modules.nixos."hosts/<name>"` (a
plain `disko.nix` beside it would be imported by import-tree as a flake-parts module and fail: the
seed's mistake §4.12.2). dendrite.toml learns the same generator, so `dendrite vars generate` makes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.nixlang.printer import string, to_nix
from dendrite.repofs import FILE_MODE, RepoFS
from dendrite.scaffold.hosts import HOSTS_DIR, has_host_layout

GENERATOR = "luks-password"
PASSWORD_FILE = "password"
CONFIG = "dendrite.toml"
FILESYSTEMS = ("ext4", "zfs")
_PATH = f"config.clan.core.vars.generators.{GENERATOR}.files.{PASSWORD_FILE}.path"
_PATH_MARK = "@@PASSWORD_PATH@@"  # a placeholder the printer quotes; replaced by the Nix expression


@dataclass(frozen=True)
class DiskoFiles:
    module: str  # modules/hosts/<name>/disko.nix
    config_changed: bool  # dendrite.toml gained the generator (or the machine in its list)


def host_id(machine: str) -> str:
    """ZFS needs networking.hostId: 8 hex digits, stable per machine (derived from its name)."""
    return hashlib.sha256(machine.encode()).hexdigest()[:8]


def _esp() -> dict[str, Any]:
    return {
        "size": "1G",
        "type": "EF00",
        "content": {
            "type": "filesystem",
            "format": "vfat",
            "mountpoint": "/boot",
            "mountOptions": ["umask=0077"],
        },
    }


def devices(machine: str, device: str, luks: bool, fs: str) -> dict[str, Any]:
    """disko.devices as a JSON-like value; the passphrase path is a placeholder for `_PATH`."""
    if fs not in FILESYSTEMS:
        raise InputError(f"--fs {fs!r} is not supported", hint="use ext4 or zfs")
    if fs == "ext4":
        root_fs = {"type": "filesystem", "format": "ext4", "mountpoint": "/"}
        if luks:
            main: dict[str, Any] = {
                "size": "100%",
                "content": {
                    "type": "luks",
                    "name": "cryptroot",
                    "passwordFile": _PATH_MARK,
                    "settings": {"allowDiscards": True, "bypassWorkqueues": True},
                    "content": {"type": "lvm_pv", "vg": "pool"},
                },
            }
        else:
            main = {"size": "100%", "content": {"type": "lvm_pv", "vg": "pool"}}
        return {
            "disk": {
                "main": {
                    "type": "disk",
                    "device": device,
                    "content": {"type": "gpt", "partitions": {"ESP": _esp(), "root": main}},
                }
            },
            "lvm_vg": {"pool": {"type": "lvm_vg", "lvs": {"root": {"size": "100%FREE", "content": root_fs}}}},
        }
    pool_options: dict[str, Any] = {
        "compression": "lz4",
        "acltype": "posixacl",
        "xattr": "sa",
        "mountpoint": "none",
    }
    if luks:  # ZFS's own encryption: the key file at install, a passphrase prompt at boot
        pool_options |= {
            "encryption": "aes-256-gcm",
            "keyformat": "passphrase",
            "keylocation": "file://" + _PATH_MARK,
        }
    datasets = {
        "root": {"type": "zfs_fs", "options": {"mountpoint": "none"}},
        "root/nixos": {"type": "zfs_fs", "mountpoint": "/", "options": {"mountpoint": "legacy"}},
        "root/home": {"type": "zfs_fs", "mountpoint": "/home", "options": {"mountpoint": "legacy"}},
        "root/nix": {
            "type": "zfs_fs",
            "mountpoint": "/nix",
            "options": {"mountpoint": "legacy", "atime": "off"},
        },
    }
    pool: dict[str, Any] = {"type": "zpool", "rootFsOptions": pool_options, "datasets": datasets}
    if luks:
        pool["postCreateHook"] = 'zfs set keylocation="prompt" zroot'
    zfs_part = {"size": "100%", "content": {"type": "zfs", "pool": "zroot"}}
    return {
        "disk": {
            "main": {
                "type": "disk",
                "device": device,
                "content": {"type": "gpt", "partitions": {"ESP": _esp(), "zfs": zfs_part}},
            }
        },
        "zpool": {"zroot": pool},
    }


def generator_nix() -> str:
    """The vars generator in clan's format (clan.core.vars.generators), as bindings of a module body."""
    return (
        f"  clan.core.vars.generators.{GENERATOR} = {{\n"
        f'    files.{PASSWORD_FILE}.neededFor = "partitioning";\n'
        "    runtimeInputs = [\n      pkgs.coreutils\n      pkgs.xkcdpass\n    ];\n"
        "    script = ''\n"
        f'      xkcdpass --numwords 6 --delimiter - | tr -d "\\n" > "$out/{PASSWORD_FILE}"\n'
        "    '';\n"
        "  };\n"
    )


def nixos_module(machine: str, device: str, luks: bool, fs: str) -> str:
    """The disks as a NixOS module (a function of the NixOS arguments), without comments."""
    names.machine_name(machine)
    body = to_nix(devices(machine, device, luks, fs), indent=1)
    body = body.replace(string(_PATH_MARK), _PATH).replace(
        string("file://" + _PATH_MARK), f'"file://${{{_PATH}}}"'
    )
    text = ("{ config, pkgs, ... }:\n" if luks else "{ ... }:\n") + "{\n"
    if luks:
        text += generator_nix()
    text += "  boot.loader.systemd-boot.enable = true;\n"
    text += "  boot.loader.efi.canTouchEfiVariables = true;\n"
    if fs == "zfs":
        text += f"  networking.hostId = {string(host_id(machine))};\n"
        if luks:
            text += "  boot.zfs.requestEncryptionCredentials = true;\n"
    return text + f"  disko.devices = {body};\n}}\n"


def module(machine: str, device: str, luks: bool, fs: str, wrapped: bool = True) -> str:
    """The file's text: wrapped as a flake-parts module merging into `flake.modules.nixos."hosts/<m>"`
    (init's layout), or the plain NixOS module clan loads from machines/<m>/disko.nix."""
    inner = nixos_module(machine, device, luks, fs)
    what = (
        ("LUKS on LVM, ext4" if luks else "LVM, ext4")
        if fs == "ext4"
        else ("encrypted ZFS" if luks else "ZFS")
    )
    where = "merged into its host module" if wrapped else "loaded by clan from machines/<name>/disko.nix"
    head = f"# {machine}'s disks ({what}), {where}. Written by `dendrite infra disko`.\n" + (
        "# The passphrase is the clan var luks-password/password, needed only while partitioning.\n"
        if luks
        else "# Unencrypted: `dendrite infra disko --luks` adds a passphrase from a clan var.\n"
    )
    if not wrapped:
        return head + inner
    indented = "".join(("    " + line if line.strip() else line) for line in inner.splitlines(keepends=True))
    return head + "{\n" + f'  flake.modules.nixos."hosts/{machine}" =\n' + indented.rstrip("\n") + ";\n}\n"


def module_path(machine: str, wrapped: bool = True) -> str:
    name = names.machine_name(machine)
    return f"{HOSTS_DIR}/{name}/disko.nix" if wrapped else f"machines/{name}/disko.nix"


def _config_text(current: str | None, machine: str) -> str | None:
    """dendrite.toml with the generator for `machine` (None: nothing to change)."""
    if current is not None:
        try:
            parsed = tomllib.loads(current)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{CONFIG}: {exc}", hint="fix the TOML; nothing was written") from None
        existing = parsed.get("generators", {}).get(GENERATOR)
        if existing is not None:
            wanted = existing.get("machines")
            if wanted is None or machine in wanted:
                return None
            block = re.search(rf"^\[generators\.{re.escape(GENERATOR)}\]\n(?:(?!\[).*\n?)*", current, re.M)
            line = re.compile(r"^machines[ \t]*=[ \t]*\[.*\][ \t]*$", re.M)
            if block is None or not line.search(block.group(0)):
                raise InputError(
                    f"{CONFIG}: generators.{GENERATOR}.machines is not a one-line list dendrite can extend",
                    hint=f'add "{machine}" to it by hand',
                )
            new_block = line.sub(f"machines = {json.dumps([*wanted, machine])}", block.group(0), count=1)
            text = current[: block.start()] + new_block + current[block.end() :]
            tomllib.loads(text)
            return text
    table = (
        f"\n[generators.{GENERATOR}]           # the disk passphrase, written by `dendrite infra disko`\n"
        f'recipe = "{GENERATOR}"\n'
        f'files.{PASSWORD_FILE} = {{ neededFor = "partitioning" }}\n'
        f"machines = {json.dumps([machine])}\n"
    )
    text = (current or "") + ("" if not current or current.endswith("\n") else "\n") + table
    tomllib.loads(text)
    return text


def write(
    root: Path, machine: str, device: str = "/dev/sda", luks: bool = False, fs: str = "ext4"
) -> DiskoFiles:
    """Write the disko module (and, with --luks, the generator in dendrite.toml) through RepoFS."""
    wrapped = has_host_layout(root)
    text = module(machine, device, luks, fs, wrapped)
    repofs = RepoFS(root)
    config = None
    if luks:
        current = repofs.read_text(CONFIG) if repofs.kind(CONFIG) == "file" else None
        config = _config_text(current, machine)
    path = module_path(machine, wrapped)
    repofs.make_dirs(str(Path(path).parent))
    repofs.write_text(path, text, FILE_MODE)
    if config is not None:
        repofs.write_text(CONFIG, config, FILE_MODE)
    return DiskoFiles(path, config is not None)
