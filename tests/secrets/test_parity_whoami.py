"""Issue 10, item 6: which secrets user you are, from clan's ONE key source.

clan-core `pkgs/clan-cli/clan_cli/secrets/sops.py`: `KeyType.collect_public_keys` reads `SOPS_AGE_KEY`
when set, `elif` `SOPS_AGE_KEY_FILE`, `else` `user_config_dir()/sops/age/keys.txt`; `get_public_age_keys`
takes recipients named on any line and those of `AGE-SECRET-KEY-` lines; `maybe_get_user` returns the
first user whose key.json shares a key; `encrypt_secret` (`secrets.py`) links that user.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dendrite.errors import InputError, StoreError
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.secrets.whoami import admin_keys, public_keys_in
from tests.conftest import AgeKey, clean_env, new_key, run_cli, run_sops


def _repo(tmp_path: Path, alice: AgeKey, bob: AgeKey) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, env={"SOPS_AGE_KEY": alice.secret})
    store.add_user("alice", [SopsKey("age", alice.public)])
    store.add_user("bob", [SopsKey("age", bob.public)])
    return root


def _key_file(path: Path, key: AgeKey) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# public key: {key.public}\n{key.secret}\n")
    path.chmod(0o600)
    return path


def test_sops_age_key_alone_says_who_you_are(tmp_path: Path, sops_bin: str) -> None:
    """SOPS_AGE_KEY is bob's, the key file alice's: clan takes SOPS_AGE_KEY only, so bob is linked.

    (dendrite merged every source and linked alice, the first user in sorted order.)
    """
    alice, bob = new_key(), new_key()
    root = _repo(tmp_path, alice, bob)
    env = clean_env(
        {"SOPS_AGE_KEY": bob.secret, "SOPS_AGE_KEY_FILE": str(_key_file(tmp_path / "a.txt", alice))}
    )
    res = run_cli(["--repo", str(root), "secrets", "set", "token"], env, stdin=b"v")
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(root / "sops/secrets/token/users")) == ["bob"]
    # sops itself still reads every source to decrypt: here bob's key through SOPS_AGE_KEY
    got = run_sops(sops_bin, ["decrypt", str(root / "sops/secrets/token/secret")], {**env})
    assert got.stdout == b"v"


def test_key_file_wins_over_the_default_file(tmp_path: Path) -> None:
    """SOPS_AGE_KEY_FILE (bob) is read, the default keys.txt (alice) is not (`elif`/`else` in clan)."""
    alice, bob = new_key(), new_key()
    root = _repo(tmp_path, alice, bob)
    home = tmp_path / "home"
    _key_file(home / ".config/sops/age/keys.txt", alice)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(_key_file(tmp_path / "b.txt", bob))}, home)
    assert SecretsStore(root, env=env).admin().user == "bob"
    del env["SOPS_AGE_KEY_FILE"]
    assert SecretsStore(root, env=env).admin().user == "alice"


def test_a_missing_key_file_is_no_key(tmp_path: Path) -> None:
    """clan's `maybe_read_from_path` returns nothing for a missing SOPS_AGE_KEY_FILE; the default file is
    not consulted, so there is no admin (`ensure_admin_public_keys`: "No SOPS key found")."""
    alice, bob = new_key(), new_key()
    root = _repo(tmp_path, alice, bob)
    home = tmp_path / "home"
    _key_file(home / ".config/sops/age/keys.txt", alice)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(tmp_path / "absent.txt")}, home)
    with pytest.raises(StoreError, match="no age key found"):
        SecretsStore(root, env=env).admin()
    res = run_cli(["--repo", str(root), "secrets", "set", "token"], env, stdin=b"v")
    assert res.returncode == 2 and b"no age key found" in res.stderr and b"Traceback" not in res.stderr
    assert not (root / "sops/secrets/token").exists()


def test_public_keys_in_reads_lines_like_clan(tmp_path: Path) -> None:
    """`get_public_age_keys`: a recipient named on a line counts (AGE_RECIPIENT_REGEX), as does the
    public key of each secret key; a plugin identity needs a recipient line before it."""
    a, b = new_key(), new_key()
    text = f"# created: 2024-01-01\n# public key: {b.public}\n{a.secret}\n"
    assert set(public_keys_in(text, "f")) == {a.public, b.public}
    with pytest.raises(InputError, match="recipient"):
        public_keys_in("AGE-PLUGIN-YUBIKEY-1QQQQ\n", "f")
    assert public_keys_in(f"# recipient: {a.public}\nAGE-PLUGIN-YUBIKEY-1QQQQ\n", "f") == (a.public,)
    # an empty SOPS_AGE_KEY is not set (`if keys := os.environ.get(...)`)
    f = _key_file(tmp_path / "k.txt", a)
    assert admin_keys({"SOPS_AGE_KEY": "", "SOPS_AGE_KEY_FILE": str(f)}).publics == (a.public,)
