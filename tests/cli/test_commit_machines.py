"""`dendrite machines create|delete` in a git repository: clan's commits, in clan's order.

clan's behaviour: clan_cli/machines/create.py (`commit_file(machine_dir, ..., "machines: add <m>")`,
then `InventoryStore.write(..., message="add machine <m>")`, committed as "inventory.json: <message>"
by clan_lib/persist/inventory_store.py), clan_lib/machines/delete.py (`InventoryStore.delete`,
"inventory.json: delete keys {('machines', '<m>')}", then clan_cli/secrets/machines.py
`remove_machine`, "secrets: remove machine <m>"), and clan_lib/vars/secret_modules/sops.py
`ensure_machine_key` for the machine's key ("secrets: update <m>-age.key", "secrets: add machine <m>").
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Keys, run_cli
from tests.gitutil import git, git_env, init, status, subjects
from tests.inventory.test_sources import FILES


def _touched(root: Path, rev: str) -> set[str]:
    return set(git(root, "show", "--name-only", "--format=", rev).split())


def test_create_and_delete_commit_as_clan_does(tmp_path: Path, keys: Keys) -> None:
    root = tmp_path / "fleet"
    init(root, FILES)
    env = {**keys.env, **git_env(Path(keys.env["HOME"])), "SOPS_AGE_KEY_FILE": str(keys.file)}
    cli = ["--repo", str(root)]
    assert run_cli([*cli, "secrets", "users", "add", "alice", keys.a.public], env).returncode == 0
    assert run_cli([*cli, "secrets", "set", "orb-wifi"], env, stdin=b"psk").returncode == 0
    base = len(subjects(root))

    created = run_cli([*cli, "machines", "create", "orb", "--tag", "lab"], env)
    assert created.returncode == 0, created.stderr
    assert subjects(root)[base:] == [
        "machines: add orb",
        "inventory.json: add machine orb",
        "secrets: update orb-age.key",
        "secrets: add machine orb",
    ]
    assert _touched(root, "HEAD~3") == {"machines/orb/configuration.nix"}
    assert _touched(root, "HEAD~2") == {"inventory.json"}
    assert _touched(root, "HEAD~1") == {
        "sops/secrets/orb-age.key/secret",
        "sops/secrets/orb-age.key/users/alice",
    }
    assert _touched(root, "HEAD") == {"sops/machines/orb/key.json"}
    assert status(root) == []

    deleted = run_cli([*cli, "machines", "delete", "orb"], env)
    assert deleted.returncode == 0, deleted.stderr
    assert subjects(root)[base + 4 :] == [
        "inventory.json: delete keys {('machines', 'orb')}",
        "machines: delete orb",  # clan leaves these removals uncommitted; dendrite commits them
        "secrets: remove machine orb",
    ]
    assert _touched(root, "HEAD~1") == {
        "machines/orb/configuration.nix",
        "sops/secrets/orb-age.key/secret",
        "sops/secrets/orb-age.key/users/alice",
        "sops/secrets/orb-wifi/secret",
        "sops/secrets/orb-wifi/users/alice",
    }
    assert _touched(root, "HEAD") == {"sops/machines/orb/key.json"}
    assert status(root) == []
