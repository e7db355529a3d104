"""`dendrite secrets …` in a git repository commits each change with clan's message, and only it.

clan's messages: clan_cli/secrets/users.py, machines.py, groups.py, secrets.py (`commit_files`
calls); how it commits: clan_lib/git/__init__.py `commit_files`.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Keys, new_key, run_cli
from tests.gitutil import git, git_env, head_files, init, status, subjects


def _env(keys: Keys, **extra: str) -> dict[str, str]:
    return {**keys.env, **git_env(Path(keys.env["HOME"])), "SOPS_AGE_KEY_FILE": str(keys.file), **extra}


def test_each_secrets_command_commits_with_clans_message(tmp_path: Path, keys: Keys) -> None:
    """clan_cli/secrets/{users,machines,groups,secrets}.py: one commit per change, clan's words."""
    root = tmp_path / "fleet"
    init(root, {"notes.txt": "mine\n"})
    (root / "staged.txt").write_text("the user's work\n")
    git(root, "add", "staged.txt")
    (root / "notes.txt").write_text("edited, not staged\n")
    unrelated = status(root)
    env = _env(keys)
    extra, machine = new_key(), new_key()
    steps: list[tuple[list[str], bytes | None, str]] = [
        (["users", "add", "alice", keys.a.public], None, "secrets: add user alice"),
        (["users", "add", "bob", keys.b.public], None, "secrets: add user bob"),
        (["set", "api"], b"s3cret", "secrets: update api"),
        (
            ["groups", "add-user", "admins", "alice", "--create"],
            None,
            "secrets: add user alice to group admins",
        ),
        (["groups", "add-secret", "admins", "api"], None, "secrets: add group admins to secret api"),
        (["users", "add-secret", "bob", "api"], None, "secrets: add user bob to api"),
        (["users", "remove-secret", "bob", "api"], None, "secrets: remove user bob from api"),
        (["machines", "add", "m1", machine.public], None, "secrets: add machine m1"),
        (["machines", "add-secret", "m1", "api"], None, "vars: add m1 to secret sops/secrets/api"),
        (["machines", "remove-secret", "m1", "api"], None, "vars: remove m1 from secret api"),
        (["groups", "add-machine", "admins", "m1"], None, "secrets: add machine m1 to group admins"),
        (["groups", "remove-machine", "admins", "m1"], None, "secrets: remove machine m1 from group admins"),
        (["groups", "remove-secret", "admins", "api"], None, "secrets: remove group admins from secret api"),
        (["users", "add-key", "bob", extra.public], None, "secrets: add key(s) for user bob"),
        (["users", "remove-key", "bob", extra.public], None, "secrets: remove key(s) for user bob"),
        (["rename", "api", "api2"], None, "secrets: rename api to api2"),
        (["remove", "api2"], None, "secrets: remove api2"),
        (["machines", "remove", "m1"], None, "secrets: remove machine m1"),
        (["groups", "remove-user", "admins", "alice"], None, "secrets: remove user alice from group admins"),
        (["users", "remove", "bob"], None, "secrets: remove user bob"),
    ]
    for args, stdin, _ in steps:
        res = run_cli(["--repo", str(root), "secrets", *args], env, stdin=stdin)
        assert res.returncode == 0, (args, res.stderr.decode())
        assert b"warning" not in res.stderr, res.stderr
        assert all(p.startswith("sops/") for p in head_files(root)), (args, head_files(root))
        assert status(root) == unrelated, args  # everything dendrite changed is committed, nothing else
    assert subjects(root) == [message for _, _, message in steps]
    assert git(root, "diff", "--cached", "--name-only").split() == ["staged.txt"]
    # the rename and the removal are committed as git sees them: nothing of api or api2 is left
    assert git(root, "ls-files", "sops/secrets") == ""
    assert git(root, "ls-files", "sops/users").split() == ["sops/users/alice/key.json"]


def test_set_commits_only_that_secret(tmp_path: Path, keys: Keys) -> None:
    """clan_cli/secrets/secrets.py `encrypt_secret`: "secrets: update <name>", the secret's files only;
    a file the user left untracked elsewhere in sops/ stays out."""
    root = tmp_path / "fleet"
    init(root)
    env = _env(keys)
    assert (
        run_cli(["--repo", str(root), "secrets", "users", "add", "alice", keys.a.public], env).returncode == 0
    )
    (root / "sops/secrets").mkdir(parents=True, exist_ok=True)
    (root / "sops/secrets/draft.txt").write_text("not dendrite's\n")
    res = run_cli(["--repo", str(root), "secrets", "set", "db"], env, stdin=b"pw")
    assert res.returncode == 0, res.stderr
    assert subjects(root)[-1] == "secrets: update db"
    assert head_files(root) == {"sops/secrets/db/secret", "sops/secrets/db/users/alice"}
    assert status(root) == ["?? sops/secrets/draft.txt"]


def test_no_commit_leaves_the_change_uncommitted_but_visible_to_the_flake(tmp_path: Path, keys: Keys) -> None:
    """clan: CLAN_NO_COMMIT registers new files with `git add --intent-to-add` and commits nothing.
    dendrite: --no-commit, DENDRITE_NO_COMMIT=1, or clan's own CLAN_NO_COMMIT."""
    root = tmp_path / "fleet"
    init(root)
    head = git(root, "rev-parse", "HEAD")
    runs = [
        (["--no-commit", "secrets", "users", "add", "alice", keys.a.public], _env(keys)),
        (["secrets", "set", "one"], _env(keys, DENDRITE_NO_COMMIT="1")),
        (["secrets", "set", "two"], _env(keys, CLAN_NO_COMMIT="yes")),
    ]
    for args, env in runs:
        res = run_cli(["--repo", str(root), *args], env, stdin=b"v")
        assert res.returncode == 0, res.stderr
    assert git(root, "rev-parse", "HEAD") == head
    assert git(root, "diff", "--cached", "--name-only") == ""  # nothing staged for a commit
    tracked = set(git(root, "ls-files").split())
    assert {"sops/users/alice/key.json", "sops/secrets/one/secret", "sops/secrets/two/secret"} <= tracked
    # DENDRITE_NO_COMMIT=0 is not an opt-out
    res = run_cli(
        ["--repo", str(root), "secrets", "set", "three"], _env(keys, DENDRITE_NO_COMMIT="0"), stdin=b"v"
    )
    assert res.returncode == 0 and subjects(root) == ["secrets: update three"]


def test_a_repository_that_is_not_git_works_as_before(tmp_path: Path, keys: Keys) -> None:
    """clan_lib/git/__init__.py: no `.git` in the flake, no commit and no error."""
    root = tmp_path / "plain"
    root.mkdir()
    env = _env(keys)
    for args, stdin in ((["users", "add", "alice", keys.a.public], None), (["set", "x"], b"v")):
        res = run_cli(["--repo", str(root), "secrets", *args], env, stdin=stdin)
        assert res.returncode == 0 and res.stderr.decode() in ("", f"wrote {root}/sops/secrets/x/secret\n")
    assert not (root / ".git").exists()


def test_a_commit_git_refuses_is_one_clear_error_and_the_change_stays(tmp_path: Path, keys: Keys) -> None:
    root = tmp_path / "fleet"
    init(root)
    git(root, "config", "--unset", "user.name")
    git(root, "config", "--unset", "user.email")
    git(root, "config", "user.useConfigOnly", "true")
    env = {k: v for k, v in _env(keys).items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    res = run_cli(["--repo", str(root), "secrets", "users", "add", "alice", keys.a.public], env)
    err = res.stderr.decode()
    assert (
        res.returncode == 2
        and err.startswith(f"error: git commit in {root} failed")
        and "Traceback" not in err
    )
    assert "hint: the change is written but not committed" in err and "--no-commit" in err
    assert (root / "sops/users/alice/key.json").exists()


def test_import_sops_and_key_update_commit_as_clan_does(tmp_path: Path, keys: Keys) -> None:
    """clan_cli/secrets/import_sops.py: one `encrypt_secret` per key ("secrets: update <name>");
    clan_cli/secrets/key.py `update_command`: "secrets: update with new keys", and no empty commit
    when no secret drifted."""
    root = tmp_path / "fleet"
    init(root)
    env = _env(keys)
    cli = ["--repo", str(root)]
    assert run_cli([*cli, "secrets", "users", "add", "alice", keys.a.public], env).returncode == 0
    src = tmp_path / "app.yaml"
    src.write_text("db: hunter2\napi: t0ken\n")
    assert run_cli(["sops", "encrypt", "--age", keys.a.public, "--in-place", str(src)], env).returncode == 0
    res = run_cli([*cli, "secrets", "import-sops", str(src), "--prefix", "app-"], env)
    assert res.returncode == 0, res.stderr
    assert sorted(subjects(root)[1:]) == ["secrets: update app-api", "secrets: update app-db"]
    assert status(root) == []
    count = len(subjects(root))
    assert run_cli([*cli, "secrets", "key", "update"], env).returncode == 0
    assert len(subjects(root)) == count  # nothing drifted: no commit
    # bob's key appears in alice's key.json behind dendrite's back: both secrets drift
    key_json = root / "sops/users/alice/key.json"
    key_json.write_text(
        f'[{{"publickey": "{keys.a.public}", "type": "age"}}, {{"publickey": "{keys.b.public}", "type": "age"}}]'
    )
    git(root, "commit", "-q", "-am", "alice: a second key")
    res = run_cli([*cli, "secrets", "key", "update"], env)
    assert res.returncode == 0, res.stderr
    assert subjects(root)[-1] == "secrets: update with new keys"
    assert head_files(root) == {"sops/secrets/app-api/secret", "sops/secrets/app-db/secret"}
    assert status(root) == []
