"""Bad input: one clear sentence, a hint, exit code 2, and never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Keys, new_key, run_cli


@pytest.fixture
def repo(tmp_path: Path, keys: Keys) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    res = run_cli(["--repo", str(root), "secrets", "users", "add", "alice", keys.a.public], keys.env)
    assert res.returncode == 0, res.stderr
    res = run_cli(["--repo", str(root), "secrets", "set", "ok"], keys.env, stdin=b"v")
    assert res.returncode == 0, res.stderr
    return root


def assert_clean_error(res, *needles: str) -> None:  # type: ignore[no-untyped-def]
    err = res.stderr.decode()
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in err
    assert err.startswith("error: ")
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "", "x" * 300, "sp ace"])
def test_bad_secret_names(repo: Path, keys: Keys, name: str) -> None:
    res = run_cli(["--repo", str(repo), "secrets", "set", name], keys.env, stdin=b"v")
    assert_clean_error(res, "secret name")
    assert not (repo.parent / "x").exists()


@pytest.mark.parametrize("name", ["Bad", "a/b", "..", "x" * 40, ""])
def test_bad_user_names(repo: Path, keys: Keys, name: str) -> None:
    res = run_cli(["--repo", str(repo), "secrets", "users", "add", name, keys.b.public], keys.env)
    assert_clean_error(res, "user name")


def test_bad_machine_name(repo: Path, keys: Keys) -> None:
    res = run_cli(["--repo", str(repo), "secrets", "machines", "add", "bad_name", keys.b.public], keys.env)
    assert_clean_error(res, "machine name")


def test_malformed_key_json(repo: Path, keys: Keys) -> None:
    (repo / "sops/users/alice/key.json").write_text("{not json")
    res = run_cli(["--repo", str(repo), "secrets", "set", "x"], keys.env, stdin=b"v")
    assert_clean_error(res, "key.json", "not valid JSON")


def test_non_age_key(repo: Path, keys: Keys) -> None:
    res = run_cli(["--repo", str(repo), "secrets", "users", "add", "bob", "ssh-dss AAAAB3Nza"], keys.env)
    assert_clean_error(res, "not an age recipient")
    res = run_cli(["--repo", str(repo), "secrets", "users", "add", "bob", "age1notakey"], keys.env)
    assert_clean_error(res, "not an age X25519 recipient")


def test_broken_and_misplaced_symlinks(repo: Path, keys: Keys) -> None:
    secret = repo / "sops/secrets/ok"
    os.symlink("../../../users/ghost", secret / "users" / "ghost")
    res = run_cli(["--repo", str(repo), "secrets", "key", "update"], keys.env)
    assert_clean_error(res, "broken link", "secrets fix")
    check = run_cli(["--repo", str(repo), "secrets", "check", "--json"], keys.env)
    assert check.returncode == 1 and json.loads(check.stdout)[0]["kind"] == "link"
    (secret / "users" / "ghost").unlink()
    (repo / "sops/machines/alice").mkdir(parents=True)
    (repo / "sops/machines/alice/key.json").write_text(
        json.dumps([{"publickey": new_key().public, "type": "age"}])
    )
    os.symlink("../../../machines/alice", secret / "users" / "alice2")
    res = run_cli(["--repo", str(repo), "secrets", "key", "update"], keys.env)
    assert_clean_error(res, "misplaced link")
    fixed = run_cli(["--repo", str(repo), "secrets", "fix"], keys.env)
    assert fixed.returncode == 0, fixed.stderr
    assert run_cli(["--repo", str(repo), "secrets", "check"], keys.env).returncode == 0


def test_missing_admin_key(repo: Path, keys: Keys, tmp_path: Path) -> None:
    env = {k: v for k, v in keys.env.items() if k != "SOPS_AGE_KEY_FILE"}
    res = run_cli(["--repo", str(repo), "secrets", "set", "x"], env, stdin=b"v")
    assert_clean_error(res, "cannot tell which secrets user you are", "hint:")
    res = run_cli(["--repo", str(repo), "secrets", "get", "ok"], env)
    assert_clean_error(res, "no age identity")
    env["SOPS_AGE_KEY_FILE"] = str(tmp_path / "nope.txt")
    assert_clean_error(run_cli(["--repo", str(repo), "secrets", "get", "ok"], env), "not a file")


def test_wrong_key_names_both_sides(repo: Path, keys: Keys, tmp_path: Path) -> None:
    stranger = new_key()
    f = tmp_path / "stranger.txt"
    f.write_text(stranger.secret)
    res = run_cli(["--repo", str(repo), "secrets", "get", "ok"], {**keys.env, "SOPS_AGE_KEY_FILE": str(f)})
    assert_clean_error(res, stranger.public, keys.a.public)


def test_garbage_file_to_sops_decrypt(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "junk.yaml"
    f.write_bytes(b"\x00\xff not: [yaml")
    assert_clean_error(run_cli(["sops", "decrypt", str(f)], keys.env), str(f))
    f.write_text("a: [1, 2\n")
    assert_clean_error(run_cli(["sops", "decrypt", str(f)], keys.env), "invalid YAML")
    assert_clean_error(run_cli(["sops", "decrypt", str(tmp_path / "missing")], keys.env), "does not exist")
    assert_clean_error(run_cli(["sops", "decrypt", "--extract", "nope", str(f)], keys.env), "--extract")


def test_unknown_secret_and_member(repo: Path, keys: Keys) -> None:
    assert_clean_error(
        run_cli(["--repo", str(repo), "secrets", "get", "missing"], keys.env), "does not exist"
    )
    assert_clean_error(
        run_cli(["--repo", str(repo), "secrets", "groups", "add-user", "admins", "nobody"], keys.env),
        "does not exist",
    )
