"""A clan sops/ tree made by the real sops, as clan-core makes it, is read correctly, and the reverse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import Keys, new_key, run_cli, run_sops
from tests.secrets.helpers import clan_encrypt, link, write_key


def build_clan_tree(root: Path, keys: Keys, sops_bin: str) -> dict[str, str]:
    sops_dir = root / "sops"
    machine = new_key()
    write_key(sops_dir / "users" / "alice", keys.a.public)
    write_key(sops_dir / "users" / "bob", keys.b.public, legacy=True)  # the legacy single-object key.json
    write_key(sops_dir / "machines" / "cinnabar", machine.public)
    link(sops_dir / "users" / "bob", sops_dir / "groups" / "admins" / "users" / "bob")
    link(sops_dir / "machines" / "cinnabar", sops_dir / "groups" / "admins" / "machines" / "cinnabar")
    tmp = root / "tmp"
    tmp.mkdir()
    # a legacy secret for alice and the admins group
    s1 = sops_dir / "secrets" / "db-password"
    link(sops_dir / "users" / "alice", s1 / "users" / "alice")
    link(sops_dir / "groups" / "admins", s1 / "groups" / "admins")
    clan_encrypt(sops_bin, keys.env, tmp, s1, b"hunter2", [keys.a.public, keys.b.public, machine.public])
    # a vars secret (6-level links), binary content
    v = root / "vars" / "per-machine" / "cinnabar" / "openssh" / "ssh.id_ed25519"
    link(sops_dir / "users" / "alice", v / "users" / "alice")
    link(sops_dir / "machines" / "cinnabar", v / "machines" / "cinnabar")
    clan_encrypt(sops_bin, keys.env, tmp, v, b"\x00\xffkey-bytes", [keys.a.public, machine.public])
    # a drifted secret: linked to bob but encrypted to alice only
    s2 = sops_dir / "secrets" / "drifted"
    link(sops_dir / "users" / "alice", s2 / "users" / "alice")
    link(sops_dir / "users" / "bob", s2 / "users" / "bob")
    clan_encrypt(sops_bin, keys.env, tmp, s2, b"x", [keys.a.public])
    shutil.rmtree(tmp)
    return {"machine": machine.public}


def test_dendrite_reads_a_tree_made_by_clan_and_sops(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    build_clan_tree(tmp_path, keys, sops_bin)
    cli = ["--repo", str(tmp_path), "secrets"]
    listed = run_cli([*cli, "list", "--json"], keys.env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == ["db-password", "drifted"]
    got = run_cli([*cli, "get", "db-password"], keys.env)
    assert got.returncode == 0 and got.stdout == b"hunter2"
    users = run_cli([*cli, "users", "get", "bob", "--json"], keys.env)
    assert json.loads(users.stdout) == [
        {"publickey": keys.b.public, "source": "key_file", "type": "age", "username": "bob"}
    ]
    check = run_cli([*cli, "check", "--json"], keys.env)
    assert check.returncode == 1
    findings = json.loads(check.stdout)
    assert [(f["secret"], f["kind"]) for f in findings] == [("drifted", "drift")]
    assert keys.b.public in findings[0]["detail"]
    fixed = run_cli([*cli, "fix"], keys.env)
    assert fixed.returncode == 0, fixed.stderr
    assert run_cli([*cli, "check"], keys.env).returncode == 0
    # the real sops still decrypts the re-keyed file, with bob's key alone
    only_b = tmp_path / "b.txt"
    only_b.write_text(keys.b.secret)
    env_b = {**keys.env, "SOPS_AGE_KEY_FILE": str(only_b)}
    assert (
        run_sops(sops_bin, ["decrypt", str(tmp_path / "sops/secrets/drifted/secret")], env_b).stdout == b"x"
    )


def test_secret_written_by_dendrite_is_read_by_sops(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    extra = build_clan_tree(tmp_path, keys, sops_bin)
    cli = ["--repo", str(tmp_path), "secrets"]
    res = run_cli([*cli, "set", "api-token", "--group", "admins"], keys.env, stdin=b"t0ken\x00\xff")
    assert res.returncode == 0, res.stderr
    secret = tmp_path / "sops/secrets/api-token"
    assert run_sops(sops_bin, ["decrypt", str(secret / "secret")], keys.env).stdout == b"t0ken\x00\xff"
    # clan's layout: relative links, the acting admin (alice) linked, the group linked
    assert (secret / "users" / "alice").readlink() == Path("../../../users/alice")
    assert (secret / "groups" / "admins").readlink() == Path("../../../groups/admins")
    recipients = {e["recipient"] for e in json.loads((secret / "secret").read_text())["sops"]["age"]}
    assert recipients == {keys.a.public, keys.b.public, extra["machine"]}
    # sops' own updatekeys (as clan runs it) keeps it readable for dendrite
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"creation_rules": [{"key_groups": [{"age": [keys.a.public], "pgp": []}]}]}))
    run_sops(sops_bin, ["--config", str(cfg), "updatekeys", "--yes", str(secret / "secret")], keys.env)
    assert run_cli([*cli, "get", "api-token"], keys.env).stdout == b"t0ken\x00\xff"


def test_vars_secret_is_reached_by_group_changes(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    build_clan_tree(tmp_path, keys, sops_bin)
    var = tmp_path / "vars/per-machine/cinnabar/openssh/ssh.id_ed25519"
    link(tmp_path / "sops/groups/admins", var / "groups" / "admins")
    res = run_cli(["--repo", str(tmp_path), "secrets", "key", "update"], keys.env)
    assert res.returncode == 0, res.stderr
    recipients = {e["recipient"] for e in json.loads((var / "secret").read_text())["sops"]["age"]}
    assert keys.b.public in recipients
    assert run_sops(sops_bin, ["decrypt", str(var / "secret")], keys.env).stdout == b"\x00\xffkey-bytes"
