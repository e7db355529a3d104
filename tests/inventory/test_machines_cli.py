"""machines create/delete with clan's semantics, and the inventory commands as users run them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from tests.conftest import Keys, run_cli, run_sops
from tests.inventory.test_sources import make_repo


def snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".dendrite"]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            out[rel] = os.readlink(p) if p.is_symlink() else (p.read_bytes() if p.is_file() else "dir")
    return out


def test_create_then_delete_leaves_the_repository_as_it_was(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    repo = make_repo(tmp_path / "repo")
    store = SecretsStore(repo, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.add_user("bob", [SopsKey("age", keys.b.public)])
    store.set("shared-token", b"t0k", users=["bob"])
    before = snapshot(repo)
    cli = ["--repo", str(repo)]
    created = run_cli(
        [*cli, "machines", "create", "orb", "--class", "nixos", "--tag", "lab", "--target-host", "root@orb"],
        keys.env,
    )
    assert created.returncode == 0, created.stderr
    data = json.loads((repo / "inventory.json").read_text())
    assert data["machines"]["orb"] == {
        "name": "orb",
        "machineClass": "nixos",
        "tags": ["lab"],
        "deploy": {"targetHost": "root@orb"},
    }
    assert (repo / "inventory.json").read_text().endswith("}")  # clan's json.dump: no trailing newline
    assert (repo / "machines/orb/configuration.nix").exists() and (
        repo / "sops/machines/orb/key.json"
    ).exists()
    listed = json.loads(run_cli([*cli, "machines", "list", "--tag", "lab", "--json"], keys.env).stdout)
    assert list(listed) == ["orb"]
    # the machine reads a secret, then goes away: the secret is re-keyed and still decrypts for bob (real sops)
    assert (
        run_cli([*cli, "secrets", "machines", "add-secret", "orb", "shared-token"], keys.env).returncode == 0
    )
    secret = repo / "sops/secrets/shared-token/secret"
    assert len(json.loads(secret.read_text())["sops"]["age"]) == 3
    assert (
        run_cli([*cli, "secrets", "machines", "remove-secret", "orb", "shared-token"], keys.env).returncode
        == 0
    )
    assert (
        run_cli([*cli, "secrets", "machines", "add-secret", "orb", "shared-token"], keys.env).returncode == 0
    )
    deleted = run_cli([*cli, "machines", "delete", "orb"], keys.env)
    assert deleted.returncode == 0, deleted.stderr
    assert "removed sops/secrets/orb-age.key" in deleted.stdout.decode()
    recipients = {e["recipient"] for e in json.loads(secret.read_text())["sops"]["age"]}
    assert recipients == {keys.a.public, keys.b.public}
    only_b = tmp_path / "b.txt"
    only_b.write_text(keys.b.secret)
    assert (
        run_sops(sops_bin, ["decrypt", str(secret)], {**keys.env, "SOPS_AGE_KEY_FILE": str(only_b)}).stdout
        == b"t0k"
    )
    after = snapshot(repo)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= {"inventory.json", "sops/secrets/shared-token/secret"}, changed
    assert json.loads((repo / "inventory.json").read_text()) == {"machines": {}}


def test_delete_refuses_a_machine_defined_in_nix(tmp_path: Path, keys: Keys) -> None:
    repo = make_repo(tmp_path)
    res = run_cli(["--repo", str(repo), "machines", "delete", "cinnabar"], keys.env)
    assert res.returncode == 2 and b"defined in Nix" in res.stderr and b"machines.nix:7" in res.stderr


def test_inventory_commands(tmp_path: Path, keys: Keys) -> None:
    repo = make_repo(tmp_path)
    cli = ["--repo", str(repo)]
    shown = json.loads(run_cli([*cli, "inventory", "show", "--json"], keys.env).stdout)
    assert shown["meta"] == {"name": "test-clan", "domain": "zt"} and set(shown["machines"]) == {
        "cinnabar",
        "blackphos",
        "stibnite",
    }
    val = run_cli([*cli, "inventory", "validate", "--json"], keys.env)
    findings = json.loads(val.stdout)
    assert val.returncode == 0 and {f["code"] for f in findings} == {"class-no-module", "catalogue-revision"}
    view = json.loads(run_cli([*cli, "inventory", "machine", "cinnabar", "--json"], keys.env).stdout)
    assert [r["role"] for r in view["roles"]] == ["controller"] and view["roles"][0]["settings"][
        "allowedIps"
    ] == ["fd00::1"]
    assert "zerotier-network-zerotier" in view["generators"]
    graph = run_cli([*cli, "inventory", "graph", "--format", "dot"], keys.env).stdout.decode()
    assert '"i:zerotier" -> "m:cinnabar" [label="controller", style=bold];' in graph
    tags = json.loads(run_cli([*cli, "tags", "list", "--json"], keys.env).stdout)
    assert tags["workstation"] == ["blackphos", "stibnite"] and tags["all"] == [
        "cinnabar",
        "blackphos",
        "stibnite",
    ]
    bad = run_cli([*cli, "inventory", "machine", "cinabar"], keys.env)
    assert bad.returncode == 2 and b"did you mean 'cinnabar'" in bad.stderr
    (repo / "inventory.json").write_text('{"machines": {"x": {"machineClass": 3}}}')
    broken = run_cli([*cli, "inventory", "validate"], keys.env)
    assert broken.returncode == 2 and b"machineClass is 3" in broken.stderr
    assert (repo / "inventory.json").read_text() == '{"machines": {"x": {"machineClass": 3}}}'
