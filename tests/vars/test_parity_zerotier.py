"""The ZeroTier vars migration, on clan-shaped repositories in each older layout.

Every fixture is written on disk in clan's format: real sops files (encrypted with the real store
code, decrypted here with the real `sops` binary), relative member links at clan's depths, the
inventory of clan's own migration test (clan_lib/vars/migrations/test_migrate_zerotier.py,
TWO_NETWORK_INVENTORY: two networks, two controllers, four peers and a stray machine).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dendrite.errors import InputError, UnsafePathError
from dendrite.generators import FileSpec, Generator
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.vars import ops
from dendrite.vars.generate import Report, generate
from dendrite.vars.groups import MachineGroups
from dendrite.vars.migrations import needs_zerotier_migration
from dendrite.vars.storage import Item, VarsStore
from tests.conftest import AgeKey, Keys, clean_env, new_key, run_cli, run_sops
from tests.hostile.conftest import tree_bytes

MACHINE_INSTANCE = {
    "controller1": "zt-net1",
    "peer1": "zt-net1",
    "peer2": "zt-net1",
    "controller2": "zt-net2",
    "peer3": "zt-net2",
    "peer4": "zt-net2",
}
CONTROLLERS = {"controller1": "zt-net1", "controller2": "zt-net2"}
PER_MACHINE_DEPTH = "../../../../../../"
SHARED_DEPTH = "../../../../../"

# the generator of clan's former zerotier module: one per machine, the network id on the controller
LEGACY = Generator(
    "zerotier",
    (
        FileSpec("zerotier-identity-secret"),
        FileSpec("zerotier-ip", secret=False, deploy=False),
        FileSpec("zerotier-network-id", secret=False, deploy=False),
    ),
)
OLD_IDENTITY = Generator("zerotier-identity", (FileSpec("identity-secret"),))


def _inventory(instances: dict[str, dict[str, list[str]]] | None = None) -> dict[str, object]:
    nets = instances or {
        "zt-net1": {"controller": ["controller1"], "peer": ["controller1", "peer1", "peer2"]},
        "zt-net2": {"controller": ["controller2"], "peer": ["controller2", "peer3", "peer4"]},
    }
    machines = sorted({*MACHINE_INSTANCE, "stray"})
    return {
        "meta": {"name": "zt-migration-test"},
        "machines": {m: {"machineClass": "nixos"} for m in machines},
        "instances": {
            name: {
                "module": {"name": "zerotier"},
                "roles": {role: {"machines": {m: {} for m in ms}} for role, ms in roles.items()},
            }
            for name, roles in nets.items()
        },
    }


class ZtRepo:
    """A clan repository with an admin (alice), a key per machine, and helpers to plant old layouts."""

    def __init__(self, root: Path, keys: Keys) -> None:
        self.root = root
        self.keys = keys
        self.machine_keys: dict[str, AgeKey] = {}
        root.mkdir()
        (root / "inventory.json").write_text(json.dumps(_inventory(), indent=2))
        (root / "dendrite.toml").write_text('[secrets]\ndefault_groups = ["admins"]\n')
        store = self.store()
        store.add_user("alice", [SopsKey("age", keys.a.public)])
        store.group_add("admins", "users", "alice")
        for m in sorted({*MACHINE_INSTANCE, "stray"}):
            self.machine_keys[m] = new_key()
            store.add_machine(m, SopsKey("age", self.machine_keys[m].public))

    def store(self) -> SecretsStore:
        return SecretsStore(self.root, self.keys.identities)

    def write(self, gen: Generator, machine: str, outputs: dict[str, bytes]) -> None:
        """Vars as clan wrote them (no validation hash: the old generators had none)."""
        store = self.store()
        with store.writing() as scratch:
            VarsStore(self.root, store).write(
                [Item(gen, [machine], machine, outputs, False)], "alice", MachineGroups(), scratch
            )

    def legacy(self, machines: set[str] | None = None) -> None:
        for m, inst in MACHINE_INSTANCE.items():
            if machines is not None and m not in machines:
                continue
            out = {
                "zerotier-identity-secret": f"identity-of-{m}".encode(),
                "zerotier-ip": f"fd00::{m}".encode(),
            }
            if m in CONTROLLERS:
                out["zerotier-network-id"] = f"net-{inst}".encode()
            self.write(LEGACY, m, out)

    def old_final(self) -> None:
        for m, inst in MACHINE_INSTANCE.items():
            self.write(OLD_IDENTITY, m, {"identity-secret": f"identity-of-{m}".encode()})
            ip_secret = m in CONTROLLERS  # clan's fixture: the controllers' addresses were secret
            self.write(
                Generator(f"zerotier-ip-{inst}", (FileSpec("ip", secret=ip_secret),)), m, {"ip": b"fd00::1"}
            )
        for inst in ("zt-net1", "zt-net2"):
            gen = Generator(f"zerotier-network-{inst}", (FileSpec("network-id", secret=False),), share=True)
            self.write(gen, "controller1", {"network-id": f"net-{inst}".encode()})
        for ctl in CONTROLLERS:  # the shared copy that generated the network: the per-machine one wins
            gen = Generator(f"zerotier-identity-{ctl}", (FileSpec("identity-secret"),), share=True)
            self.write(gen, ctl, {"identity-secret": b"shared-stale-copy"})

    def generate(self, **kw: object) -> Report:
        return generate(self.root, store=self.store(), **kw)  # type: ignore[arg-type]

    def sops_decrypt(self, secret: Path, key: AgeKey) -> bytes:
        from tests.conftest import SOPS

        if SOPS is None:
            pytest.skip("the sops binary is not installed")
        return run_sops(SOPS, ["decrypt", str(secret)], clean_env({"SOPS_AGE_KEY": key.secret})).stdout


@pytest.fixture
def zt(tmp_path: Path, keys: Keys) -> ZtRepo:
    return ZtRepo(tmp_path / "repo", keys)


def _assert_final(zt: ZtRepo, controller_ip_secret: bool = False) -> None:
    """clan's _assert_final_state: every var at its all-shared name, links re-pointed, nothing old left."""
    v = zt.root / "vars"
    for m in MACHINE_INSTANCE:
        d = v / f"shared/zerotier-identity-{m}/identity-secret"
        assert os.readlink(d / "users/alice") == f"{SHARED_DEPTH}sops/users/alice"
        assert os.readlink(d / "machines" / m) == f"{SHARED_DEPTH}sops/machines/{m}"
        # the machine itself decrypts the moved ciphertext with its own age key (real sops)
        assert zt.sops_decrypt(d / "secret", zt.machine_keys[m]) == f"identity-of-{m}".encode()
    for ctl, inst in CONTROLLERS.items():
        assert (v / f"shared/zerotier-network-{inst}/network-id/value").read_bytes() == f"net-{inst}".encode()
        ip = v / f"shared/zerotier-ip-{ctl}-{inst}/ip"
        assert (ip / ("secret" if controller_ip_secret else "value")).is_file()
    for m, inst in MACHINE_INSTANCE.items():
        if m not in CONTROLLERS:
            assert (v / f"shared/zerotier-ip-{m}-{inst}/ip/value").is_file()
        d = v / "per-machine" / m
        assert not (d / "zerotier").exists() and not (d / "zerotier-identity").exists()
        assert not list(d.glob("zerotier-ip-*"))
    assert not (v / "shared/zerotier-controller").exists()
    assert not needs_zerotier_migration(zt.root)


def test_legacy_layout_moves_to_the_shared_names_and_the_network_is_kept(zt: ZtRepo) -> None:
    """clan_lib/vars/migrations/zerotier.py migrate_zerotier, LEGACY -> FINAL (test_migrate_zerotier.py
    test_legacy); clan_lib/vars/generate.py run_generators runs it first, then stops (sys.exit(0))."""
    zt.legacy()
    stray = zt.root / "vars/per-machine/stray/zerotier"
    zt.write(LEGACY, "stray", {"zerotier-identity-secret": b"x", "zerotier-ip": b"y"})
    report = zt.generate()
    assert report.migration.changed and report.generated == []  # stopped after migrating
    assert ("vars/per-machine/peer1/zerotier/zerotier-ip", "vars/shared/zerotier-ip-peer1-zt-net1/ip") in (
        report.migration.moved
    )
    assert "vars/per-machine/stray/zerotier" in report.migration.removed
    _assert_final(zt)
    assert not stray.exists()
    # the next run generates no zerotier var again: same identities, same network id (no split)
    again = zt.generate()
    assert not again.migration.changed
    assert not [g for g in again.generated if g.key.name.startswith("zerotier-")]
    _assert_final(zt)
    assert ops.check(zt.root, store=zt.store()) == []


def test_canonical_layout_drops_the_controller_directory(zt: ZtRepo) -> None:
    """zerotier.py: CANONICAL's vars/shared/zerotier-controller is deleted, the per-machine vars moved
    (test_migrate_zerotier.py test_canonical)."""
    zt.legacy()
    ctl = Generator(
        "zerotier-controller",
        tuple(FileSpec(n) for n in ("zerotier-identity-secret", "zerotier-network-id", "zerotier-ip")),
        share=True,
    )
    zt.write(ctl, "controller1", {n.name: b"stale-canonical-data" for n in ctl.files})
    report = zt.generate()
    assert "vars/shared/zerotier-controller" in report.migration.removed
    _assert_final(zt)


def test_old_final_layout_keeps_the_identity_the_machine_ran_with(zt: ZtRepo) -> None:
    """zerotier.py OLD_FINAL: per-machine/M/zerotier-identity wins over the controller's shared copy,
    per-machine/M/zerotier-ip-I moves to shared/zerotier-ip-M-I (test_old_final_real)."""
    zt.old_final()
    report = zt.generate()
    assert report.migration.changed
    _assert_final(zt, controller_ip_secret=True)


def test_empty_skeletons_never_replace_real_values(zt: ZtRepo) -> None:
    """zerotier.py _migrate_leaf: a directory with no value/secret is removed, not moved over the
    migrated var (test_legacy_with_empty_skeletons, the data-loss regression)."""
    zt.legacy()
    v = zt.root / "vars"
    for m, inst in MACHINE_INSTANCE.items():
        for sub in ("groups", "machines", "users"):
            (v / f"per-machine/{m}/zerotier-identity/identity-secret/{sub}").mkdir(
                parents=True, exist_ok=True
            )
        (v / f"per-machine/{m}/zerotier-ip-{inst}/ip").mkdir(parents=True, exist_ok=True)
    zt.generate()
    _assert_final(zt)


def test_mixed_state_migrates_what_is_there(zt: ZtRepo) -> None:
    """test_migrate_zerotier.py test_mixed_state: only zt-net1's machines have legacy vars; nothing is
    made for the others."""
    zt.legacy({"controller1", "peer1", "peer2"})
    zt.generate()
    v = zt.root / "vars/shared"
    assert (v / "zerotier-network-zt-net1/network-id/value").read_bytes() == b"net-zt-net1"
    assert (v / "zerotier-ip-peer2-zt-net1/ip/value").is_file()
    assert (
        not (v / "zerotier-identity-controller2").exists() and not (v / "zerotier-network-zt-net2").exists()
    )


def test_migration_is_idempotent(zt: ZtRepo) -> None:
    """zerotier.py: FINAL is a no-op, so the migration runs before every generate (test_idempotent)."""
    zt.legacy()
    zt.generate()
    before = tree_bytes(zt.root)
    from dendrite.inventory import analyse
    from dendrite.vars.migrations import run_migrations

    with zt.store().writing():
        again = run_migrations(zt.root, analyse(zt.root).inventory)
    assert not again.changed and again.moved == [] and again.removed == []
    assert tree_bytes(zt.root) == before


def test_a_machine_in_two_networks_stops_the_migration_before_anything_moves(zt: ZtRepo) -> None:
    """zerotier.py: a machine in several zerotier instances raises ("Automatic zerotier vars migration
    failed"), test_multi_network_error. dendrite refuses with exit 2 and changes nothing."""
    inv = _inventory(
        {
            "zt-net1": {"controller": ["controller1"], "peer": ["controller1", "peer1"]},
            "zt-net2": {"controller": ["controller2"], "peer": ["controller2", "peer1"]},
        }
    )
    (zt.root / "inventory.json").write_text(json.dumps(inv))
    zt.legacy({"peer1"})
    before = tree_bytes(zt.root)
    with pytest.raises(InputError, match="more than one zerotier instance"):
        zt.generate()
    assert tree_bytes(zt.root) == before
    res = run_cli(["--repo", str(zt.root), "vars", "generate"], zt.keys.env)
    assert res.returncode == 2 and b"peer1 in zt-net1 (peer), zt-net2 (peer)" in res.stderr
    assert b"Traceback" not in res.stderr


def test_unknown_entries_in_a_legacy_directory_are_reported_before_anything_moves(zt: ZtRepo) -> None:
    """zerotier.py removes the legacy directory with rmdir(), which fails half-way when something else
    is in it; dendrite names it and moves nothing."""
    zt.legacy()
    (zt.root / "vars/per-machine/peer1/zerotier/.validation-hash").write_text("abc")
    before = tree_bytes(zt.root)
    with pytest.raises(InputError, match="does not know"):
        zt.generate()
    assert tree_bytes(zt.root) == before


def test_a_member_link_leaving_the_repository_is_refused(zt: ZtRepo, tmp_path: Path) -> None:
    """migrate_var.py re-points every link it moves; a link out of the repository is not carried along."""
    zt.legacy({"peer1"})
    evil = zt.root / "vars/per-machine/peer1/zerotier/zerotier-identity-secret/users/eve"
    evil.symlink_to(os.path.relpath(tmp_path, evil.parent))
    before = tree_bytes(zt.root)
    with pytest.raises(UnsafePathError, match="outside the repository"):
        zt.generate()
    assert tree_bytes(zt.root) == before  # the transaction rolled the moves back


def test_check_reports_a_legacy_layout_as_missing_and_generate_prints_the_moves(zt: ZtRepo) -> None:
    """clan_lib/vars/check.py vars_status does not migrate: the vars are missing at their new names.
    `vars generate` migrates, prints what moved and stops with exit 0 (zerotier.py's notice)."""
    zt.legacy({"controller1", "peer1", "peer2"})
    cli = ["--repo", str(zt.root), "vars"]
    check = run_cli([*cli, "check", "--json"], zt.keys.env)
    found = json.loads(check.stdout)
    assert check.returncode == 1
    ident = [p for p in found if p["var"] == "zerotier-identity-peer1/identity-secret"]
    assert ident and ident[0]["kind"] == "missing" and "older zerotier layout" in ident[0]["message"]
    res = run_cli([*cli, "generate"], zt.keys.env)
    out, err = res.stdout.decode(), res.stderr.decode()
    assert res.returncode == 0, err
    assert "moved vars/per-machine/peer1/zerotier/zerotier-identity-secret -> " in out
    assert "run the same command again" in err and "migrate: move zerotier vars" in err
    check = run_cli([*cli, "check", "--json"], zt.keys.env)
    assert not [p for p in json.loads(check.stdout) if p["var"].startswith("zerotier-identity-peer1")]
