"""Issue 10, items 11a and 12a: `secrets import-sops`, and output and files written for scripts.

clan-core `pkgs/clan-cli/clan_cli/secrets/import_sops.py` (`import_sops`): `sops --output-type json
--decrypt`, then per top-level key: not a `str` -> "WARNING: … is not a string …, skipping"; the secret's
`secret` file exists -> "WARNING: … already exists, skipping". `clan_cli/secrets/machines.py`
(`get_command`: `print(pubkey)`), `users.py` (`get_command`: `json.dump(..., indent=2, sort_keys=True)`),
`sops.py` (`write_keys`: `json.dump(contents, f, indent=2)` of keys sorted by public key),
`clan_lib/persist/inventory_store.py` (`_write`: `json.dump(content, f, indent=2)`).
"""

from __future__ import annotations

import json
from pathlib import Path

from dendrite.inventory.machines import write_inventory_json
from dendrite.secrets.importer import import_sops
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from tests.conftest import clean_env, new_key, run_cli, run_sops

YAML = b"""\
password: hunter2
port: 5432
debug: true
when: 2024-01-02
nested:
  a: b
empty: ""
old: new-value
"""


def test_import_takes_strings_only_and_never_overwrites(tmp_path: Path, sops_bin: str) -> None:
    admin = new_key()
    env = clean_env({"SOPS_AGE_KEY": admin.secret})
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, env=env)
    store.add_user("alice", [SopsKey("age", admin.public)])
    store.set("old", b"kept")
    kept = (root / "sops/secrets/old/secret").read_bytes()
    f = tmp_path / "legacy.yaml"
    f.write_bytes(YAML)
    run_sops(sops_bin, ["encrypt", "--age", admin.public, "--in-place", str(f)], env)
    # what clan reads: the real sops' JSON output
    as_json = json.loads(run_sops(sops_bin, ["--output-type", "json", "--decrypt", str(f)], env).stdout)
    res = run_cli(["--repo", str(root), "secrets", "import-sops", str(f)], env)
    assert res.returncode == 0, res.stderr
    want = [k for k, v in as_json.items() if isinstance(v, str) and v and k != "old"]
    assert res.stdout.decode().split() == want == ["password", "when"]
    assert store.get("password") == b"hunter2"
    assert store.get("when") == as_json["when"].encode()  # a YAML timestamp, as sops prints it
    assert (root / "sops/secrets/old/secret").read_bytes() == kept
    for name in ("port", "debug", "nested", "old", "empty"):
        assert f"warning: {name} ".encode() in res.stderr
    assert not (root / "sops/secrets/port").exists()


def test_import_reports_skipped_values(tmp_path: Path) -> None:
    admin = new_key()
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, env={"SOPS_AGE_KEY": admin.secret})
    store.add_user("alice", [SopsKey("age", admin.public)])
    from dendrite.sops import encrypt

    f = tmp_path / "x.json"
    f.write_bytes(encrypt(b'{"n": 1, "s": "v", "l": [1]}', [admin.public], input_format="json"))
    got = import_sops(store, f, prefix="p-")
    assert got.created == ("p-s",)
    assert {(s.name, s.reason) for s in got.skipped} == {
        ("p-n", "is a number, not a string"),
        ("p-l", "is a list, not a string"),
    }


def test_get_output_for_scripts(tmp_path: Path) -> None:
    alice, second, machine = new_key(), new_key(), new_key()
    env = clean_env({"SOPS_AGE_KEY": alice.secret})
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, env=env)
    store.add_user("alice", [SopsKey("age", alice.public), SopsKey("age", second.public)])
    store.add_machine("cinnabar", SopsKey("age", machine.public))
    cli = ["--repo", str(root), "secrets"]
    got = run_cli([*cli, "machines", "get", "cinnabar"], env)
    assert got.returncode == 0 and got.stdout == machine.public.encode() + b"\n"
    users = run_cli([*cli, "users", "get", "alice"], env)
    rows = [
        {"publickey": k, "source": "key_file", "type": "age", "username": "alice"}
        for k in sorted((alice.public, second.public))
    ]
    assert users.stdout == json.dumps(rows, indent=2, sort_keys=True).encode()
    # key.json byte for byte as clan's write_keys writes it
    want = json.dumps(
        [{"publickey": k, "type": "age"} for k in sorted((alice.public, second.public))], indent=2
    )
    assert (root / "sops/users/alice/key.json").read_bytes() == want.encode()


def test_inventory_json_as_clan_writes_it(tmp_path: Path) -> None:
    data = {"meta": {"name": "Zoë's clan"}, "machines": {"b": {}, "a": {"tags": ["x"]}}}
    write_inventory_json(tmp_path, data)
    assert (tmp_path / "inventory.json").read_bytes() == json.dumps(data, indent=2).encode()
    assert b"\\u00eb" in (tmp_path / "inventory.json").read_bytes()
