"""Issue 10, item 8: a var secret is encrypted to the default groups of its machine, not of every machine.

clan-core `pkgs/clan-cli/clan_lib/vars/secret_modules/sops.py`:
- `SecretStore._set`: `add_groups` is `config.clan.core.sops.defaultGroups` of `policy.machines[0]`
  ("The first machine (whoever that is) defines the sops.groups for a generator"); the var's machines
  are `[machine_name]`, the machine declaring it (`clan_lib/vars/generator.py`,
  `get_machine_generators`; for a shared generator, the first machine that declares it);
- `SecretStore.fix`: links the default groups of the machine being fixed.
The option is selected per machine (`clan_lib/nix_selectors.py`, `vars_sops_default_groups`).
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.vars import generate as generate_mod
from dendrite.vars import ops
from dendrite.vars.generate import generate
from tests.conftest import AgeKey, Keys, clean_env, new_key, run_cli, run_sops
from tests.vars.conftest import write_two_machine_inventory

TOML = """
[generators.tok]
script = 'echo -n "tok" > "$out/s"'
files.s = { secret = true }

[generators.site]
share = true
script = 'echo -n "site" > "$out/s"'
files.s = { secret = true }
"""


def _repo(tmp_path: Path, keys: Keys, ops_key: AgeKey) -> tuple[Path, SecretsStore]:
    root = tmp_path / "repo"
    root.mkdir()
    write_two_machine_inventory(root)
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.add_user("olga", [SopsKey("age", ops_key.public)])
    store.group_add("ops", "users", "olga")
    return root, store


def _readable_by(sops_bin: str, secret: Path, key: AgeKey) -> bool:
    env = clean_env({"SOPS_AGE_KEY": key.secret})
    return run_sops(sops_bin, ["decrypt", str(secret)], env, check=False).returncode == 0


def _groups(root: Path, rel: str) -> list[str]:
    d = root / "vars" / rel / "groups"
    return sorted(os.listdir(d)) if d.is_dir() else []


@pytest.mark.parametrize("parallel", [False, True], ids=["in-process", "process-pool"])
def test_a_machine_scoped_group_reaches_only_that_machines_secrets(
    tmp_path: Path, keys: Keys, sops_bin: str, parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`clan.core.sops.defaultGroups` in machines/cinnabar/configuration.nix: cinnabar's secret is linked
    and encrypted to the group (the real sops decrypts it with a member's key), orb's is not; the shared
    generator's secret gets the groups of its first declaring machine (cinnabar). The process-pool path
    of a large batch (`_prepare_all`, forced here from one item) resolves them the same way."""
    if parallel:
        monkeypatch.setattr(generate_mod, "_PARALLEL_PREPARE_FROM", 1)
    olga = new_key()
    root, store = _repo(tmp_path, keys, olga)
    (root / "dendrite.toml").write_text(TOML)
    (root / "machines/cinnabar").mkdir(parents=True)
    (root / "machines/cinnabar/configuration.nix").write_text(
        '{ lib, ... }: {\n  clan.core.sops.defaultGroups = lib.mkDefault [ "ops" ];\n}\n'
    )
    generate(root, ["cinnabar", "orb"], store=store)
    mine, theirs = "per-machine/cinnabar/tok/s", "per-machine/orb/tok/s"
    assert _groups(root, mine) == ["ops"] and _groups(root, theirs) == []
    assert _readable_by(sops_bin, root / "vars" / mine / "secret", olga)
    assert not _readable_by(sops_bin, root / "vars" / theirs / "secret", olga)
    assert _readable_by(sops_bin, root / "vars" / theirs / "secret", keys.a)  # the admin reads both
    assert _groups(root, "shared/site/s") == ["ops"]
    assert _readable_by(sops_bin, root / "vars/shared/site/s/secret", olga)
    # `vars fix orb` links orb's groups (none): nothing changes for orb's secret
    ops.fix(root, ["orb"], store=store)
    assert _groups(root, theirs) == []


def test_a_machine_scoped_group_inside_machines_attr_and_a_missing_one(tmp_path: Path, keys: Keys) -> None:
    """`clan.machines.orb = { … defaultGroups … }` is orb's alone; a group of orb that does not exist
    stops orb's run before anything is written (clan's `allow_member` raises)."""
    olga = new_key()
    root, store = _repo(tmp_path, keys, olga)
    (root / "dendrite.toml").write_text(TOML)
    (root / "flake.nix").write_text(
        "{ outputs = inputs: {\n"
        '  clan.machines.orb = { ... }: { clan.core.sops.defaultGroups = [ "nobody" ]; };\n'
        "}; }\n"
    )
    with pytest.raises(InputError, match="default group 'nobody'"):
        generate(root, ["orb"], store=store)
    assert not (root / "vars").exists()
    store.group_add("nobody", "users", "olga")
    generate(root, ["cinnabar", "orb"], store=store)
    assert _groups(root, "per-machine/orb/tok/s") == ["nobody"]
    assert _groups(root, "per-machine/cinnabar/tok/s") == []
    # the shared secret: cinnabar (its first machine) has no group, but clan's "Re-encrypt shared
    # secrets" pass (clan_lib/vars/generate.py) fixes it for orb in the same run, linking orb's groups
    assert _groups(root, "shared/site/s") == ["nobody"]


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix (Debian nix-bin) is not installed")
def test_nix_evaluates_each_machines_default_groups(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    """`vars generate --nix`: generators and default groups are evaluated per machine with clan's
    selectors; here cinnabar's groups are built with `map`, which a static reading cannot see."""
    olga = new_key()
    root, _store = _repo(tmp_path, keys, olga)
    system = f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"
    gen = (
        '{ tok = { share = false; dependencies = [ ]; script = "echo -n tok > $out/s"; '
        'files.s = { secret = true; deploy = true; owner = "root"; group = "root"; mode = "0400"; '
        'neededFor = "services"; }; prompts = { }; validationHash = null; }; }'
    )

    def machine(groups: str) -> str:
        return (
            f"{{ config.clan.core.vars.generators = {gen}; config.clan.core.sops.defaultGroups = {groups}; }}"
        )

    cinnabar, orb = machine('map (x: x) [ "ops" ]'), machine("[ ]")
    (root / "flake.nix").write_text(
        f"{{ outputs = _: {{ clanInternals.machines.{system} = {{\n  cinnabar = {cinnabar};\n  orb = {orb};\n}}; }}; }}\n"
    )
    env = {**keys.env, "NIX_CONFIG": "build-users-group =", "HOME": str(tmp_path)}
    res = run_cli(["--repo", str(root), "vars", "generate", "cinnabar", "orb", "--nix"], env)
    assert res.returncode == 0, res.stderr
    mine, theirs = "per-machine/cinnabar/tok/s", "per-machine/orb/tok/s"
    assert _groups(root, mine) == ["ops"] and _groups(root, theirs) == []
    assert _readable_by(sops_bin, root / "vars" / mine / "secret", olga)
    assert not _readable_by(sops_bin, root / "vars" / theirs / "secret", olga)
