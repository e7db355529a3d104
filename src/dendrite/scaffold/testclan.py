"""`dendrite init`: a Phase 0 test-clan repository as the seed lays it out (spec §4.9, §5).

Order, so that a refusal leaves nothing behind: every name is checked and every text computed first;
then the files are written through RepoFS (atomic, no link followed); then the admin's age key is
registered in sops/ (clan's `secrets users add` + `groups add-user admins`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError, UnsafePathError
from dendrite.fleet import Fleet, sample_fleet
from dendrite.inventory.model import CLASSES
from dendrite.process import RunOpts, run
from dendrite.repofs import DIR_MODE, FILE_MODE, RepoFS
from dendrite.scaffold import templates
from dendrite.scaffold.hosts import Host, host_module, host_path
from dendrite.secrets import keyfile
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore

SYSTEMS = {"nixos": "x86_64-linux", "darwin": "aarch64-darwin"}
ADMIN_GROUP = "admins"


@dataclass(frozen=True)
class Initialised:
    root: Path
    files: tuple[str, ...]
    machines: tuple[Host, ...]
    admin: str
    admin_key: str
    key_file: str
    key_created: bool
    git_initialised: bool
    warnings: tuple[str, ...] = field(default=())


def parse_machines(specs: list[str], fleet: Fleet) -> list[Host]:
    """`NAME` or `NAME:CLASS` (comma-separated lists allowed); a sample-fleet name keeps its class."""
    known = {m.name: m for m in fleet.machines}
    hosts: dict[str, Host] = {}
    for spec in (s.strip() for item in specs for s in item.split(",")):
        if not spec:
            continue
        name, _, cls = spec.partition(":")
        names.check("machine", name, "--machines")
        sample = known.get(name)
        cls = cls or (sample.machine_class if sample else "nixos")
        if cls not in CLASSES:
            raise InputError(
                f"--machines: class {cls!r} of {name} is not known", hint="use NAME:nixos or NAME:darwin"
            )
        if name in hosts:
            raise InputError(f"--machines: {name} is given twice")
        system = sample.system if sample and sample.machine_class == cls else SYSTEMS[cls]
        hosts[name] = Host(name, cls, system, sample.description if sample else "")
    if not hosts:
        raise InputError("--machines names no machine", hint="e.g. --machines cinnabar,blackphos:darwin")
    return list(hosts.values())


def inventory(hosts: list[Host], fleet: Fleet) -> tuple[dict[str, Any], dict[str, Any]]:
    """machines and instances: zerotier (controller: the first NixOS machine), sshd, emergency-access.

    Tags: each machine keeps the sample fleet's tags when it is one of the fleet; the roles use the
    built-in tags `nixos`/`darwin`/`all`, which need no declaration.
    """
    known = {m.name: m for m in fleet.machines}
    machines: dict[str, Any] = {}
    for h in hosts:
        entry: dict[str, Any] = {"machineClass": h.machine_class}
        sample = known.get(h.name)
        entry["tags"] = list(sample.tags) if sample else []
        if h.description:
            entry["description"] = h.description
        machines[h.name] = entry
    nixos = [h.name for h in hosts if h.machine_class == "nixos"]
    instances: dict[str, Any] = {}
    if nixos:
        controller = nixos[0]
        instances["zerotier"] = {
            "module": {"name": "zerotier", "input": "clan-core"},
            "roles": {"controller": {"machines": {controller: {}}}, "peer": {"tags": {"nixos": {}}}},
        }
        machines[controller]["deploy"] = {"targetHost": f"root@{controller}.{fleet.domain}"}
    instances["sshd"] = {
        "module": {"name": "sshd", "input": "clan-core"},
        "roles": {
            "server": {"tags": {"nixos": {}}, "settings": {"certificate": {"searchDomains": [fleet.domain]}}},
            "client": {"tags": {"nixos": {}}},
        },
    }
    instances["emergency-access"] = {
        "module": {"name": "emergency-access", "input": "clan-core"},
        "roles": {"default": {"tags": {"nixos": {}}}},
    }
    instances[f"users-{fleet.admin_user}"] = {
        "module": {"name": "users", "input": "clan-core"},
        "roles": {
            "default": {
                "tags": {"nixos": {}},
                "settings": {"user": fleet.admin_user, "groups": ["wheel"], "share": True, "prompt": False},
            }
        },
    }
    return machines, instances


def texts(hosts: list[Host], fleet: Fleet, name: str) -> dict[str, str]:
    """Every file of the test-clan, by path relative to its root."""
    machines, instances = inventory(hosts, fleet)
    systems = sorted({h.system for h in hosts} | set(SYSTEMS.values()))
    admin = fleet.admin_user
    nixos = [h.name for h in hosts if h.machine_class == "nixos"]
    files = {
        "flake.nix": templates.flake_nix(f"{name}: dendritic flake-parts + clan-core (Phase 0)"),
        "modules/flake-parts/flake-parts.nix": templates.flake_parts_module(name, systems, admin),
        "modules/flake-parts/clan.nix": templates.clan_module(
            {"name": name, "domain": fleet.domain}, machines, instances
        ),
        "modules/flake-parts/terranix.nix": templates.TERRANIX_FLAKE_NIX,
        "modules/base/nix.nix": templates.BASE_NIX,
        "modules/nixos/base.nix": templates.NIXOS_NIX,
        "modules/darwin/base.nix": templates.DARWIN_NIX,
        "modules/shell/fish.nix": templates.SHELL_NIX,
        "modules/dev/git.nix": templates.DEV_NIX,
        "modules/terranix/base.nix": templates.TERRANIX_BASE_NIX,
        f"modules/users/{admin}.nix": templates.user_module(admin, f"{admin}@{name}.{fleet.domain}"),
        ".gitignore": templates.GITIGNORE,
        "dendrite.toml": templates.DENDRITE_TOML,
        "README.md": templates.readme(name, admin, [h.name for h in hosts], nixos[0] if nixos else None),
    }
    for h in hosts:
        files[host_path(h.name)] = host_module(h)
    return files


def _check_target(root: Path, force: bool) -> None:
    if root.is_symlink():
        raise UnsafePathError(
            f"{root} is a symbolic link; nothing was written", hint="give the real directory"
        )
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} exists and is not a directory; nothing was written")
    if os.path.islink(root / ".git"):  # `git init` would make its repository where the link points
        raise UnsafePathError(
            f"{root / '.git'} is a symbolic link; nothing was written",
            hint="remove the link, or give another directory",
        )
    if root.is_dir() and any(root.iterdir()) and not force:
        raise InputError(
            f"{root} is not empty; nothing was written",
            hint="choose an empty or new directory, or pass --force to write the test-clan's files into it",
        )


def _git_init(root: Path) -> bool:
    """`git init` when root is not inside a work tree yet: the flake only sees files git knows."""
    if os.path.lexists(root / ".git"):
        return False
    run(["git", "-C", str(root), "init", "-q"], RunOpts(check=True, what=f"git init in {root}"))
    # As clan_lib/clan/create.py does after its `git init`: without a name or an email configured,
    # the repository gets clan's placeholders, so that its first commit (and every later one) works.
    for key, placeholder in (("user.name", "clan-tool"), ("user.email", "clan@example.com")):
        probe = run(
            ["git", "-C", str(root), "config", key], RunOpts(check=False, what=f"git config in {root}")
        )
        if not probe.ok:
            run(
                ["git", "-C", str(root), "config", key, placeholder],
                RunOpts(check=True, what=f"git config in {root}"),
            )
    return True


def _write(root: Path, files: dict[str, str], admin: str, public: str) -> None:
    fs = RepoFS(root)
    for rel in files:  # refuse a link or a directory where a file goes, before anything is written
        kind = fs.kind(rel)
        if kind not in (None, "file"):
            raise UnsafePathError(f"{rel} in {root} is a {kind}, not a file; nothing was written")
    for rel, text in files.items():
        fs.write_text(rel, text, FILE_MODE)
    _register_admin(SecretsStore(root), admin, public)


def _build_then_rename(root: Path, files: dict[str, str], admin: str, public: str) -> None:
    """Build the repository in a sibling directory and rename it into place: `root` appears complete
    or not at all (an interrupted run leaves only the hidden sibling, removed when it can be)."""
    root.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.init-", dir=root.parent))
    try:
        staging.chmod(DIR_MODE)
        _write(staging, files, admin, public)
        os.rename(staging, root)  # replaces an empty directory too (POSIX rename)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _register_admin(store: SecretsStore, user: str, public: str) -> None:
    """clan's `secrets users add` and `groups add-user admins`; a re-run (--force) adds only what is missing."""
    if store.layout.fs.kind(store.layout.user(user) / "key.json") is None:
        store.add_user(user, [SopsKey("age", public)])
    elif all(k.publickey != public for k in store.user_keys(user)):
        store.add_user_keys(user, [SopsKey("age", public)])
    if store.layout.fs.kind(store.layout.group(ADMIN_GROUP) / "users" / user) is None:
        store.group_add(ADMIN_GROUP, "users", user)


def init(
    root: Path,
    machines: list[str] | None = None,
    force: bool = False,
    name: str = "test-clan",
    env: Mapping[str, str] | None = None,
) -> Initialised:
    """Write the test-clan into `root` (created when missing) and register the admin's age key.

    The key is the one sops and clan find (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, the default key file);
    when there is none, a new one is appended to the key file, as `dendrite vars keygen` does.
    """
    env = os.environ if env is None else env
    fleet = sample_fleet()
    hosts = (
        parse_machines(machines, fleet)
        if machines
        else [Host(m.name, m.machine_class, m.system, m.description) for m in fleet.machines]
    )
    names.check("user", fleet.admin_user, "the sample fleet")
    if not names.is_valid("secret", name):
        raise InputError(f"the clan name {name!r} is not a valid name", hint="use letters, digits and '-'")
    _check_target(root, force)
    files = texts(hosts, fleet, name)

    key = keyfile.generate(env=env)  # before the repository: a refused key file leaves no directory
    if root.exists() and any(root.iterdir()):  # --force: written into place, other files kept
        _write(root, files, fleet.admin_user, key.publickey)
    else:
        _build_then_rename(root, files, fleet.admin_user, key.publickey)
    git_new = _git_init(root)
    return Initialised(
        root,
        tuple(files),
        tuple(hosts),
        fleet.admin_user,
        key.publickey,
        str(key.path),
        key.created,
        git_new,
        key.warnings,
    )
