"""clan's semantics: who gets linked, what gets re-keyed (exactly what a change reaches), key files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from dendrite.errors import InputError, StoreError
from dendrite.secrets import health, keyfile
from dendrite.secrets.importer import import_sops
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.sops import encrypt, identities_from_text
from dendrite.sops.document import read_metadata
from tests.conftest import Keys, new_key
from tests.secrets.helpers import link


def recipients(path: Path) -> set[str]:
    return set(read_metadata(path.read_bytes(), "binary", str(path)).recipients)


@pytest.fixture
def store(tmp_path: Path, keys: Keys) -> SecretsStore:
    s = SecretsStore(tmp_path / "repo", keys.identities)
    (tmp_path / "repo").mkdir()
    s.add_user("alice", [SopsKey("age", keys.a.public)])
    return s


def test_set_links_the_admin_and_members(store: SecretsStore, keys: Keys) -> None:
    m = new_key()
    store.add_machine("cinnabar", SopsKey("age", m.public))
    ref = store.set("token", b"v", machines=["cinnabar"])
    assert (ref.path / "users/alice").is_symlink() and (ref.path / "machines/cinnabar").is_symlink()
    assert recipients(ref.file) == {keys.a.public, m.public}
    assert store.get("token") == b"v"


def test_group_change_rekeys_exactly_the_secrets_it_reaches(store: SecretsStore, keys: Keys) -> None:
    store.group_add("admins", "users", "alice")
    store.set("in-group", b"1", groups=["admins"])
    store.set("not-in-group", b"2")
    var = store.layout.vars / "shared" / "zerotier-network" / "network-secret"
    var.mkdir(parents=True)
    link(store.layout.group("admins"), var / "groups" / "admins")
    (var / "secret").write_bytes(encrypt(b"zt", [keys.a.public]))
    untouched = store.layout.secret("not-in-group").file.read_bytes()

    store.add_user("bob", [SopsKey("age", keys.b.public)])
    assert store.group_add("admins", "users", "bob") == 2  # the legacy secret and the vars secret
    assert keys.b.public in recipients(store.layout.secret("in-group").file)
    assert keys.b.public in recipients(var / "secret")
    assert store.layout.secret("not-in-group").file.read_bytes() == untouched
    bob = SecretsStore(store.layout.root, identities_from_text(keys.b.secret))
    assert bob.get("in-group") == b"1"

    assert store.group_remove("admins", "users", "bob") == 2
    assert keys.b.public not in recipients(store.layout.secret("in-group").file)


def test_user_key_changes_rekey_what_the_user_reaches(store: SecretsStore, keys: Keys) -> None:
    store.set("mine", b"m")
    other = new_key()
    store.add_user("carol", [SopsKey("age", other.public)])
    store.set("shared", b"s", users=["carol"])
    store.set("alice-only", b"a")
    new = new_key()
    before = store.layout.secret("alice-only").file.read_bytes()
    assert store.add_user_keys("carol", [SopsKey("age", new.public)]) == 1
    assert new.public in recipients(store.layout.secret("shared").file)
    assert store.layout.secret("alice-only").file.read_bytes() == before
    with pytest.raises(InputError, match="no key"):
        store.remove_user_keys("carol", [SopsKey("age", other.public), SopsKey("age", new.public)])
    assert store.remove_user_keys("carol", [SopsKey("age", other.public)]) == 1
    assert recipients(store.layout.secret("shared").file) == {keys.a.public, new.public}


def test_remove_user_unlinks_everywhere_and_rekeys(store: SecretsStore, keys: Keys) -> None:
    store.add_user("bob", [SopsKey("age", keys.b.public)])
    store.group_add("ops", "users", "bob")
    store.group_add("ops", "users", "alice")
    store.set("s", b"x", users=["bob"], groups=["ops"])
    assert store.remove_user("bob") == 1
    assert not (store.layout.group("ops") / "users/bob").exists()
    assert not (store.layout.secret("s").path / "users/bob").exists()
    assert recipients(store.layout.secret("s").file) == {keys.a.public}
    assert health.check(store) == []


def test_machine_without_key_gets_a_generated_one(store: SecretsStore, keys: Keys) -> None:
    key, _ = store.add_machine("blackphos", None)
    private = store.get("blackphos-age.key").decode()
    assert private.startswith("AGE-SECRET-KEY-1") and "\n" not in private  # clan's bare key
    ident = identities_from_text(private)
    assert ident.publics == (key.publickey,)
    stored = json.loads((store.layout.machine("blackphos") / "key.json").read_text())
    assert stored == [{"publickey": key.publickey, "type": "age"}]
    with pytest.raises(InputError, match="already exists"):
        store.add_machine("blackphos", None)


def test_group_removed_when_empty_and_links_to_it_cleaned(store: SecretsStore) -> None:
    store.group_add("tmp", "users", "alice")
    store.set("s", b"x", groups=["tmp"])
    store.group_remove("tmp", "users", "alice")
    assert not store.layout.group("tmp").exists()
    assert not (store.layout.secret("s").path / "groups").exists()
    assert health.check(store) == []


def test_rename_remove_and_list_patterns(store: SecretsStore) -> None:
    for n in ("db-password", "db-user", "api-token"):
        store.set(n, b"v")
    assert store.secrets("db") == ["db-password", "db-user"]
    assert store.secrets("*-token") == ["api-token"]
    store.rename("api-token", "web-token")
    assert store.secrets() == ["db-password", "db-user", "web-token"]
    with pytest.raises(InputError, match="already exists"):
        store.rename("db-user", "db-password")
    store.remove("db-user")
    assert store.secrets() == ["db-password", "web-token"]


def test_import_sops_creates_one_secret_per_key(store: SecretsStore, keys: Keys, tmp_path: Path) -> None:
    f = tmp_path / "old.yaml"
    f.write_bytes(encrypt(b"db_password: hunter2\nport: 5432\n", [keys.a.public], input_format="yaml"))
    got = import_sops(store, f, prefix="legacy-")
    assert got.created == ("legacy-db_password",)  # clan imports strings only (import_sops.py)
    assert [(s.name, s.reason) for s in got.skipped] == [("legacy-port", "is a number, not a string")]
    assert store.get("legacy-db_password") == b"hunter2"


def test_unknown_admin_is_a_clear_error(tmp_path: Path) -> None:
    stranger = identities_from_text(new_key().secret)
    s = SecretsStore(tmp_path, stranger)
    s.add_user("alice", [SopsKey("age", new_key().public)])
    with pytest.raises(StoreError, match="cannot tell which secrets user you are"):
        s.set("x", b"y")


def test_rekey_refuses_when_we_cannot_open_a_secret(store: SecretsStore, keys: Keys) -> None:
    other = new_key()
    store.add_user("bob", [SopsKey("age", keys.b.public)])
    ref = store.layout.secret("foreign")
    link(store.layout.user("bob"), ref.path / "users" / "bob")
    ref.file.write_bytes(encrypt(b"x", [other.public]))  # nobody here can open it
    stranger_store = SecretsStore(store.layout.root, identities_from_text(keys.a.secret))
    with pytest.raises(Exception, match="nothing was re-keyed"):
        stranger_store.update_all()
    assert recipients(ref.file) == {other.public}


def test_key_generate_appends_0600_and_never_overwrites(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    first = keyfile.generate(env=env)
    path = tmp_path / "cfg/sops/age/keys.txt"
    assert first.created and first.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keyfile.generate(env=env)
    assert not again.created and again.publickey == first.publickey
    newer = keyfile.generate(new=True, env=env)
    assert newer.created and newer.publickey != first.publickey
    text = path.read_text()
    assert first.publickey in text and newer.publickey in text
    shown = keyfile.show(tmp_path, env=env)
    assert [k.publickey for k in shown] == [first.publickey, newer.publickey]
