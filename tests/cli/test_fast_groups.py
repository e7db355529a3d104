"""`secrets groups add-user` / `remove-user` on the fast path (cli/fast.py, no Typer) behave exactly as
the Typer commands, git commits included.

clan's commands: clan_cli/secrets/groups.py (`add_member`, `remove_member`: a group's link, then
`update_group_keys`, one `sops updatekeys` per secret, and a commit "Add user ... to group ...").
dendrite's wording is its own, and the same on both paths: each case runs the `dendrite` console script
(which takes the fast path for these shapes: `fast.request` is checked to accept each) and the Typer
tree itself (`cli.main.run`), each on a fresh copy of the same repository at the same path. Both must
write the same bytes to stdout and stderr, exit with the same code, and leave the same repository:
the same files and links, each secret readable by the same recipients, the same git history.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dendrite.cli import fast
from dendrite.repo import MARKERS
from dendrite.secrets import SecretsStore
from dendrite.secrets.keys import SopsKey
from tests import gitutil
from tests.cli.twopaths import DENDRITE, TYPER
from tests.conftest import Keys, clean_env, new_key


@dataclass(frozen=True)
class World:
    base: Path  # the repository as it is before each run
    git_base: Path  # the same, a git work tree with everything committed
    work: Path  # where each run's copy lives (the same path for both runs: messages name it)
    outside: Path
    keys: Keys


def _store(root: Path, keys: Keys) -> None:
    """Users alice (keys.a), bob (keys.b), carol; admins = alice, bob; solo = alice; secrets in each."""
    root.mkdir(parents=True)
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.add_user("bob", [SopsKey("age", keys.b.public)])
    store.add_user("carol", [SopsKey("age", new_key().public)])
    store.group_add("admins", "users", "alice")
    store.group_add("admins", "users", "bob")
    store.group_add("solo", "users", "alice")
    for i in range(3):
        store.set(f"db-{i}", f"value {i}".encode(), groups=["admins"])
    store.set("lonely", b"only alice", groups=["solo"])


@pytest.fixture
def world(tmp_path: Path, keys: Keys) -> World:
    base, git_base = tmp_path / "base" / "repo", tmp_path / "git-base" / "repo"
    _store(base, keys)
    shutil.copytree(base, git_base, symlinks=True)
    gitutil.init(git_base)
    outside = tmp_path / "outside"
    outside.mkdir()
    for d in (outside, *outside.parents):
        if any((d / m).exists() for m in MARKERS):
            pytest.skip(f"{d} has a repository marker, so the temporary directory is inside a repository")
    return World(base, git_base, tmp_path / "work" / "repo", outside, keys)


@dataclass(frozen=True)
class Case:
    args: list[str]
    outside: bool = False  # run from a directory outside the repository ({repo} names it)
    git: bool = False
    env: Callable[[World], dict[str, str]] = lambda w: w.keys.env
    prepare: Callable[[Path], None] = lambda repo: None


def _no_key(w: World) -> dict[str, str]:
    return clean_env(home=w.work.parent / "home")


def _key_file_others_read(w: World) -> dict[str, str]:
    w.keys.file.chmod(0o644)  # a warning, printed as the process ends (an exit handler)
    return w.keys.env


def _planted_link(repo: Path) -> None:
    secret = repo / "sops/secrets/db-1/secret"
    secret.unlink()
    secret.symlink_to(repo / "sops/secrets/db-0/secret")


def _broken_member_link(repo: Path) -> None:
    (repo / "sops/secrets/db-2/users").mkdir(exist_ok=True)
    (repo / "sops/secrets/db-2/users/ghost").symlink_to("../../../users/ghost")


ADD, REMOVE = ["secrets", "groups", "add-user"], ["secrets", "groups", "remove-user"]
CASES: dict[str, Case] = {
    "add: success": Case([*ADD, "admins", "carol"]),
    "remove: success": Case([*REMOVE, "admins", "bob"]),
    "add: already a member": Case([*ADD, "admins", "alice"]),
    "remove: not a member": Case([*REMOVE, "admins", "carol"]),
    "remove: a group's last user, the group goes": Case([*REMOVE, "solo", "alice"]),
    "add: a group that does not exist, did you mean": Case([*ADD, "admin", "carol"]),
    "remove: a group that does not exist": Case([*REMOVE, "zzz", "bob"]),
    "add: a user that does not exist": Case([*ADD, "admins", "carla"]),
    "remove: a user that does not exist": Case([*REMOVE, "admins", "dave"]),
    "add: a group name clan refuses": Case([*ADD, "../admins", "carol"]),
    "add: a user name clan refuses": Case([*ADD, "admins", "ca rol"]),
    "add: both names refused": Case([*ADD, "../admins", "ca rol"]),
    "remove: an empty user name": Case([*REMOVE, "admins", ""]),
    "add: no key": Case([*ADD, "admins", "carol"], env=_no_key),
    "add: a key file others can read": Case([*ADD, "admins", "carol"], env=_key_file_others_read),
    "add: a key file others can read, an error": Case([*ADD, "admins", "carla"], env=_key_file_others_read),
    "add: a link planted as a secret": Case([*ADD, "admins", "carol"], prepare=_planted_link),
    "add: a broken member link": Case([*ADD, "admins", "carol"], prepare=_broken_member_link),
    "add: outside a repository": Case([*ADD, "admins", "carol"], outside=True),
    "add: -C": Case(["-C", "{repo}", *ADD, "admins", "carol"], outside=True),
    "remove: --repo=DIR": Case(["--repo={repo}", *REMOVE, "admins", "bob"], outside=True),
    "add: -C, a directory that is not there": Case(["-C", "nowhere", *ADD, "admins", "carol"], outside=True),
    "add: git, committed": Case([*ADD, "admins", "carol"], git=True),
    "remove: git, committed": Case([*REMOVE, "admins", "bob"], git=True),
    "add: git, --no-commit": Case(["--no-commit", *ADD, "admins", "carol"], git=True),
    "remove: git, -C and --no-commit": Case(
        ["--no-commit", "-C", "{repo}", *REMOVE, "admins", "bob"], git=True, outside=True
    ),
    "add: git, a user that does not exist": Case([*ADD, "admins", "carla"], git=True),
}


def _state(repo: Path) -> dict[str, object]:
    """What a run leaves: every path and link target, the recipients of each secret (its ciphertext
    is new on each run), other files' bytes, and the git history and status of a work tree."""
    out: dict[str, object] = {}
    if not repo.exists():
        return out
    for p in sorted(repo.rglob("*")):
        rel = str(p.relative_to(repo))
        if rel.startswith((".git/", ".dendrite/")) or rel in (".git", ".dendrite"):
            continue
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = "dir"
        elif p.name == "secret":
            out[rel] = sorted(e["recipient"] for e in json.loads(p.read_bytes())["sops"]["age"])
        else:
            out[rel] = p.read_bytes()
    if (repo / ".git").exists():
        out[".git log"] = gitutil.git(repo, "log", "--format=%s", "--name-status")
        out[".git status"] = gitutil.status(repo)
    return out


def _run(world: World, case: Case, argv: list[str]) -> tuple[int, bytes, bytes, dict[str, object]]:
    if world.work.parent.exists():
        shutil.rmtree(world.work.parent)
    world.work.parent.mkdir()
    shutil.copytree(world.git_base if case.git else world.base, world.work, symlinks=True)
    case.prepare(world.work)
    args = [str(world.work) if a == "{repo}" else a.replace("{repo}", str(world.work)) for a in case.args]
    env = case.env(world)
    if case.git:
        env = {**env, **gitutil.git_env(world.work.parent / "githome")}
    proc = subprocess.run(
        [*argv, *args],
        env=env,
        cwd=world.outside if case.outside else world.work,
        capture_output=True,
        check=False,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr, _state(world.work)


@pytest.mark.parametrize("name", CASES, ids=str)
def test_the_fast_path_is_the_typer_command(world: World, name: str) -> None:
    case = CASES[name]
    args = [str(world.work) if a == "{repo}" else a for a in case.args]
    assert fast.request(args, case.env(world)) is not None, "this shape does not take the fast path"
    quick = _run(world, case, [DENDRITE])
    typer = _run(world, case, [sys.executable, "-c", TYPER])
    assert quick[:3] == typer[:3]
    assert quick[3] == typer[3]
    assert quick[0] in (0, 2) and b"Traceback" not in quick[2], quick[2]


def test_the_cases_cover_success_commits_and_every_error(world: World) -> None:
    """The table is not a table of one outcome: re-keys, commits, refusals and their hints all occur."""
    seen = {name: _run(world, CASES[name], [DENDRITE]) for name in CASES}
    code, _, err, state = seen["add: success"]
    assert code == 0 and err == b"re-keyed 3 secrets\n"
    assert len(state["sops/secrets/db-0/secret"]) == 3  # type: ignore[arg-type]
    code, _, err, state = seen["add: git, committed"]
    assert code == 0 and "secrets: add user carol to group admins" in str(state[".git log"])
    assert state[".git status"] == []
    assert seen["add: git, --no-commit"][3][".git status"] != []
    assert "sops/groups/solo" not in seen["remove: a group's last user, the group goes"][3]
    assert b"did you mean 'admins'?" in seen["add: a group that does not exist, did you mean"][2]
    for name in (
        "remove: not a member",
        "add: a user that does not exist",
        "add: both names refused",
        "add: no key",
        "add: a broken member link",
        "add: outside a repository",
    ):
        code, out, err, _ = seen[name]
        assert code == 2 and out == b"" and err.startswith(b"error: "), (name, err)
    code, _, err, _ = seen["add: a key file others can read"]
    assert code == 0 and err.startswith(b"re-keyed 3 secrets\nwarning: the age key file "), err
    # a secret file that is a link is no secret of the walk's: left alone, never written through
    assert seen["add: a link planted as a secret"][3]["sops/secrets/db-1/secret"][0] == "link"  # type: ignore[index]
    # a refusal changes nothing
    assert seen["add: no key"][3] == _state_of_copy(world)


def _state_of_copy(world: World) -> dict[str, object]:
    if world.work.parent.exists():
        shutil.rmtree(world.work.parent)
    world.work.parent.mkdir()
    shutil.copytree(world.base, world.work, symlinks=True)
    return _state(world.work)


@pytest.mark.parametrize(
    ("argv", "taken"),
    [
        ([*ADD, "g", "u"], fast.Request("g", command="add-user", member="u")),
        ([*REMOVE, "g", "u"], fast.Request("g", command="remove-user", member="u")),
        (["-C", "d", "--no-commit", *ADD, "g", "u"], fast.Request("g", "d", True, "add-user", "u")),
        ([*ADD, "g", "u", "--create"], None),
        ([*ADD, "--create", "g", "u"], None),
        ([*ADD, "g"], None),
        ([*ADD, "g", "u", "v"], None),
        ([*ADD, "g", "-u"], None),
        ([*ADD, "--", "g", "u"], None),
        ([*ADD, "--help"], None),
        (["secrets", "groups", "add-machine", "g", "m"], None),
        (["secrets", "groups", "remove-machine", "g", "m"], None),
        (["--debug", *ADD, "g", "u"], None),
    ],
)
def test_which_group_command_lines_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], taken: fast.Request | None
) -> None:
    monkeypatch.chdir(tmp_path)  # "d" does not exist here: Typer would take it as it is
    assert fast.request(argv, {}) == taken
