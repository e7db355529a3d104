"""`vars fix --nix`, `vars set --nix`, `vars import --nix`: default groups evaluated per machine, as clan.

clan-core reads `config.clan.core.sops.defaultGroups` per machine with its selector
(`clan_lib/nix_selectors.py`, `vars_sops_default_groups`) in `clan_lib/vars/secret_modules/sops.py`:
- `SecretStore.fix` (`clan vars fix`): the groups of the machine being fixed are linked;
- `SecretStore._set` (`clan vars set`, `clan_lib/vars/set.py` `set_var`; and `clan vars import`,
  `clan_lib/vars/import_vars.py` `import_vars`, which calls `set_var` for every file): the groups of the
  var's first machine.

Each test builds cinnabar's groups with `map`, which the static reading cannot see (it reports such a
definition and adds nothing), so only the real `nix eval` of the flake links the group `ops`; orb's
groups are empty. The real sops then decrypts cinnabar's secret with a member's key, and not orb's.
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

import pytest

from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from tests.conftest import AgeKey, Keys, clean_env, new_key, run_cli, run_sops
from tests.vars.conftest import write_two_machine_inventory

pytestmark = pytest.mark.skipif(shutil.which("nix") is None, reason="nix (Debian nix-bin) is not installed")

TOML = """
[generators.tok]
script = 'echo -n "tok" > "$out/s"'
files.s = { secret = true }

[generators.pw]
prompts.p = { type = "line", description = "a password" }
script = 'cat "$prompts/p" > "$out/p"'
runtimeInputs = ["cat"]
files.p = { secret = true }
"""
MINE, THEIRS = "per-machine/cinnabar/tok/s", "per-machine/orb/tok/s"


def _system() -> str:
    return f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"


def _repo(tmp_path: Path, keys: Keys) -> tuple[Path, AgeKey, dict[str, str]]:
    """Two machines whose generators dendrite.toml declares; the flake holds only their evaluated
    `clan.core.sops.defaultGroups` (the attribute clan selects), cinnabar's made with `map`."""
    olga = new_key()
    root = tmp_path / "repo"
    root.mkdir()
    write_two_machine_inventory(root)
    (root / "dendrite.toml").write_text(TOML)
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.add_user("olga", [SopsKey("age", olga.public)])
    store.group_add("ops", "users", "olga")

    def machine(groups: str) -> str:
        return f"{{ config.clan.core.sops.defaultGroups = {groups}; }}"

    cinnabar, orb = machine('map (x: x) [ "ops" ]'), machine("[ ]")
    (root / "flake.nix").write_text(
        f"{{ outputs = _: {{ clanInternals.machines.{_system()} = {{\n"
        f"  cinnabar = {cinnabar};\n  orb = {orb};\n}}; }}; }}\n"
    )
    env = {**keys.env, "NIX_CONFIG": "build-users-group =", "HOME": str(tmp_path)}
    return root, olga, env


def _run(root: Path, env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    res = run_cli(["--repo", str(root), *args], env, stdin=stdin)
    assert res.returncode == 0, res.stderr.decode()
    return res.stderr.decode()


def _groups(root: Path, rel: str) -> list[str]:
    d = root / "vars" / rel / "groups"
    return sorted(os.listdir(d)) if d.is_dir() else []


def _readable_by(sops_bin: str, secret: Path, key: AgeKey) -> bool:
    env = clean_env({"SOPS_AGE_KEY": key.secret})
    return run_sops(sops_bin, ["decrypt", str(secret)], env, check=False).returncode == 0


def test_fix_nix_links_and_encrypts_to_each_machines_evaluated_groups(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    """clan_lib/vars/secret_modules/sops.py `SecretStore.fix`: the fixed machine's evaluated groups."""
    root, olga, env = _repo(tmp_path, keys)
    _run(root, env, "vars", "generate", "-g", "tok")
    _run(root, env, "vars", "fix")  # statically: `map` is not read, so nothing to link
    assert _groups(root, MINE) == [] and not _readable_by(sops_bin, root / "vars" / MINE / "secret", olga)
    _run(root, env, "vars", "fix", "--nix")
    assert _groups(root, MINE) == ["ops"] and _groups(root, THEIRS) == []
    assert _readable_by(sops_bin, root / "vars" / MINE / "secret", olga)
    assert not _readable_by(sops_bin, root / "vars" / THEIRS / "secret", olga)


def test_set_nix_encrypts_to_the_first_machines_evaluated_groups(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    """clan_lib/vars/set.py `set_var` -> `SecretStore._set`: the groups of the var's first machine, for
    a file set alone and for a prompt's answer, whose generator runs again with it."""
    root, olga, env = _repo(tmp_path, keys)
    _run(root, env, "vars", "set", "orb", "tok/s", "--nix", stdin=b"theirs")
    _run(root, env, "vars", "set", "cinnabar", "tok/s", stdin=b"static")
    assert _groups(root, MINE) == []  # without --nix the `map` is not seen
    _run(root, env, "vars", "set", "cinnabar", "tok/s", "--nix", stdin=b"mine")
    assert _groups(root, MINE) == ["ops"] and _groups(root, THEIRS) == []
    got = run_sops(
        sops_bin, ["decrypt", str(root / "vars" / MINE / "secret")], clean_env({"SOPS_AGE_KEY": olga.secret})
    )
    assert got.stdout == b"mine"
    assert not _readable_by(sops_bin, root / "vars" / THEIRS / "secret", olga)
    _run(root, env, "vars", "set", "cinnabar", "pw/p", "--nix", stdin=b"hunter2\n")
    assert _groups(root, "per-machine/cinnabar/pw/p") == ["ops"]
    assert _readable_by(sops_bin, root / "vars/per-machine/cinnabar/pw/p/secret", olga)


def test_import_nix_encrypts_each_var_to_its_machines_evaluated_groups(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    """clan_lib/vars/import_vars.py `import_vars`: every file through `set_var`, so `_set`'s groups of
    the generator's first machine."""
    root, olga, env = _repo(tmp_path, keys)
    _run(root, env, "vars", "generate", "-g", "tok")
    dump = tmp_path / "dump"
    _run(root, env, "vars", "export", str(dump))
    _run(root, env, "vars", "import", str(dump))
    assert _groups(root, MINE) == []
    _run(root, env, "vars", "import", str(dump), "--nix")
    assert _groups(root, MINE) == ["ops"] and _groups(root, THEIRS) == []
    assert _readable_by(sops_bin, root / "vars" / MINE / "secret", olga)
    assert not _readable_by(sops_bin, root / "vars" / THEIRS / "secret", olga)


def test_a_new_machine_key_is_encrypted_to_the_evaluated_groups(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    """clan_lib/vars/secret_modules/sops.py `ensure_machine_key`, called by `_set` for every machine the
    secret is deployed to: the new `<m>-age.key` is encrypted to the machine's default groups."""
    root, olga, env = _repo(tmp_path, keys)
    assert not (root / "sops/machines/cinnabar").exists()
    _run(root, env, "vars", "set", "cinnabar", "tok/s", "--nix", stdin=b"mine")
    key = root / "sops/secrets/cinnabar-age.key"
    assert sorted(os.listdir(key / "groups")) == ["ops"]
    assert _readable_by(sops_bin, key / "secret", olga)
    _run(root, env, "vars", "fix", "orb", "--nix")  # nothing of orb is stored yet: no key is made
    assert not (root / "sops/machines/orb").exists()
