"""Issue 10, items 7 and 8: `<machine>-age.key` and the default groups.

clan-core `pkgs/clan-cli/clan_lib/vars/secret_modules/sops.py`, `SecretStore.ensure_machine_key`: the
private key from `clan_cli/secrets/sops.py` `generate_private_key` (the one age-keygen line that is not a
comment) is encrypted with `encrypt_secret(..., add_groups=<defaultGroups of the machine>)`; the groups are
`config.clan.core.sops.defaultGroups` (`clan_lib/nix_selectors.py`, `vars_sops_default_groups`), and a
group that does not exist is an error (`secrets.py`, `allow_member`).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest

from dendrite.errors import InputError
from dendrite.secrets.defaults import default_groups_for, static_default_groups
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.vars.sources import default_groups, read_config
from tests.conftest import AgeKey, clean_env, new_key, run_cli, run_sops


def _store(root: Path, admin: AgeKey, ops: AgeKey) -> SecretsStore:
    root.mkdir(parents=True, exist_ok=True)
    store = SecretsStore(root, env={"SOPS_AGE_KEY": admin.secret})
    store.add_user("alice", [SopsKey("age", admin.public)])
    store.add_user("olga", [SopsKey("age", ops.public)])
    store.group_add("ops", "users", "olga")
    return store


def test_age_key_is_bare_and_encrypted_to_the_default_groups(tmp_path: Path, sops_bin: str) -> None:
    """The secret is the bare AGE-SECRET-KEY-1… (no comment, no newline), readable by the group's members
    with the real sops, and not encrypted to the machine itself."""
    admin, ops = new_key(), new_key()
    root = tmp_path / "repo"
    store = _store(root, admin, ops)
    (root / "machines/cinnabar").mkdir(parents=True)
    (root / "machines/cinnabar/configuration.nix").write_text(
        '{ lib, ... }: {\n  clan.core.sops.defaultGroups = lib.mkDefault [ "ops" ];\n}\n'
    )
    key, _ = store.add_machine("cinnabar", None)
    secret = root / "sops/secrets/cinnabar-age.key"
    assert sorted(os.listdir(secret / "groups")) == ["ops"] and sorted(os.listdir(secret / "users")) == [
        "alice"
    ]
    assert not (secret / "machines").exists()
    plain = run_sops(
        sops_bin, ["decrypt", str(secret / "secret")], clean_env({"SOPS_AGE_KEY": ops.secret})
    ).stdout
    assert plain.startswith(b"AGE-SECRET-KEY-1") and b"\n" not in plain and b"#" not in plain
    assert str(pyrage.x25519.Identity.from_str(plain.decode()).to_public()) == key.publickey


def test_a_missing_default_group_is_an_error_before_any_change(tmp_path: Path) -> None:
    admin, ops = new_key(), new_key()
    root = tmp_path / "repo"
    store = _store(root, admin, ops)
    (root / "dendrite.toml").write_text('[secrets]\ndefault_groups = ["nobody"]\n')
    with pytest.raises(InputError, match="default group 'nobody'"):
        store.add_machine("cinnabar", None)
    assert not (root / "sops/machines/cinnabar").exists()
    assert not (root / "sops/secrets/cinnabar-age.key").exists()


def test_static_reading_matches_nix_eval(tmp_path: Path) -> None:
    """Literal definitions read statically equal what the real `nix-instantiate --eval` gives."""
    root = tmp_path / "repo"
    (root / "modules").mkdir(parents=True)
    f = root / "modules/sops.nix"
    f.write_text('{\n  clan = { core.sops.defaultGroups = [ "admins" "ops" ]; };\n}\n')
    res = subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            "-E",
            f"(import {f}).clan.core.sops.defaultGroups",
        ],
        capture_output=True,
        check=True,
    )
    assert static_default_groups(root).everywhere == tuple(json.loads(res.stdout))


def test_scopes_and_what_is_not_literal(tmp_path: Path) -> None:
    """A definition under machines/<m>/ or inside machines.<m> is that machine's; others every machine's;
    a definition that is not literal is reported, never guessed."""
    root = tmp_path / "repo"
    (root / "machines/a").mkdir(parents=True)
    (root / "machines/b").mkdir(parents=True)
    (root / "machines/a/configuration.nix").write_text('{ clan.core.sops.defaultGroups = [ "a-only" ]; }\n')
    (root / "flake.nix").write_text(
        "{ outputs = inputs: {\n"
        '  clan.machines.b = { config, ... }: { clan.core.sops.defaultGroups = [ "b-only" ]; };\n'
        '  clan.core.sops.defaultGroups = [ "all" ];\n'
        "  x.clan.core.sops.defaultGroups = import ./groups.nix;\n"
        "}; }\n"
    )
    found = static_default_groups(root)
    assert found.for_machine("a") == ["all", "a-only"]
    assert found.for_machine("b") == ["all", "b-only"]
    assert len(found.unknown) == 1 and "flake.nix:4" in found.unknown[0]
    # vars reads the groups that hold for every machine with dendrite.toml's
    (root / "dendrite.toml").write_text('[secrets]\ndefault_groups = ["toml"]\n')
    assert default_groups(read_config(root)) == ["toml", "all"]
    assert default_groups_for(root, "a") == ["toml", "all", "a-only"]


def test_a_bad_group_name_in_nix_is_one_sentence(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "flake.nix").write_text('{ clan.core.sops.defaultGroups = [ "../etc" ]; }\n')
    with pytest.raises(InputError, match=r"flake\.nix"):
        static_default_groups(root)


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix (Debian nix-bin) is not installed")
def test_nix_evaluates_the_machines_default_groups(tmp_path: Path, sops_bin: str) -> None:
    """`secrets machines add M --nix`: the groups are the evaluated option, with clan's selector
    (`clanInternals.machines.<system>.<m>.config.clan.core.sops.defaultGroups`); here a group a static
    reading cannot see (built with `map`)."""
    admin, ops = new_key(), new_key()
    root = tmp_path / "repo"
    _store(root, admin, ops)
    system = f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"
    (root / "flake.nix").write_text(
        "{ outputs = _: { clanInternals.machines."
        + system
        + '.cinnabar.config.clan.core.sops.defaultGroups = map (x: x) [ "ops" ]; }; }\n'
    )
    env = clean_env(
        {"SOPS_AGE_KEY": admin.secret, "NIX_CONFIG": "build-users-group =", "HOME": str(tmp_path)}
    )
    res = run_cli(["--repo", str(root), "secrets", "machines", "add", "cinnabar", "--nix"], env)
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(root / "sops/secrets/cinnabar-age.key/groups")) == ["ops"]
    plain = run_sops(
        sops_bin,
        ["decrypt", str(root / "sops/secrets/cinnabar-age.key/secret")],
        clean_env({"SOPS_AGE_KEY": ops.secret}),
    ).stdout
    assert plain.startswith(b"AGE-SECRET-KEY-1")
    # statically, the same file gives no group (not literal, reported), so nothing but the admin
    assert static_default_groups(root).for_machine("cinnabar") == []
