"""dendrite.gitcommit with the real git: only the changed paths are committed, as clan does.

clan's behaviour: clan_lib/git/__init__.py, `commit_files` and `_commit_file_to_git`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dendrite import changes, gitcommit
from dendrite.fsutil import PendingWrite, atomic_write_many, repo_lock
from dendrite.repofs import RepoFS
from tests.gitutil import git, head_files, init, status, subjects


@pytest.fixture(autouse=True)
def no_user_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git in this process reads no configuration of the machine's user or system."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for k in list(os.environ):
        if k.startswith("GIT_") and k != "GIT_CONFIG_NOSYSTEM":
            monkeypatch.delenv(k)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "fleet"
    init(root, {"sops/secrets/old/secret": "old\n", "sops/secrets/keep/secret": "keep\n", "notes.txt": "n\n"})
    return root


def test_only_the_given_paths_are_committed_and_the_rest_stays_as_it_was(repo: Path) -> None:
    """clan_lib/git/__init__.py `_commit_file_to_git`: `git add -- <path>` each, then
    `git commit -m <message> --no-verify <paths>`: a commit with paths leaves the other staged changes
    staged and out of the commit; new files are staged; a removed path's deletion is committed."""
    (repo / "staged.txt").write_text("the user's\n")
    git(repo, "add", "staged.txt")
    (repo / "notes.txt").write_text("edited by the user\n")
    (repo / "untracked.txt").write_text("the user's too\n")
    before = status(repo)
    (repo / "sops/secrets/new").mkdir(parents=True)
    (repo / "sops/secrets/new/secret").write_text("new\n")
    os.symlink("../../../users/alice", repo / "sops/secrets/new/users-alice")
    (repo / "sops/secrets/old/secret").unlink()
    (repo / "sops/secrets/old").rmdir()

    out = gitcommit.commit(repo, ["sops/secrets/new", "sops/secrets/old"], "secrets: update new")

    assert out.state == "committed" and out.commit == git(repo, "rev-parse", "HEAD").strip()
    assert subjects(repo) == ["secrets: update new"]
    assert head_files(repo) == {
        "sops/secrets/new/secret",
        "sops/secrets/new/users-alice",
        "sops/secrets/old/secret",
    }
    assert git(repo, "cat-file", "-p", "HEAD:sops/secrets/new/users-alice") == "../../../users/alice"
    assert status(repo) == before  # staged stays staged, edited stays edited, untracked stays untracked
    assert git(repo, "diff", "--cached", "--name-only").split() == ["staged.txt"]


def test_nothing_changed_makes_no_commit(repo: Path) -> None:
    """clan: `git diff --cached --exit-code -- <paths>` exits 0, so no commit is made."""
    (repo / "sops/secrets/keep/secret").write_text("keep\n")  # the same bytes again
    assert gitcommit.commit(repo, ["sops/secrets/keep"], "secrets: update keep").state == "unchanged"
    assert gitcommit.commit(repo, [], "secrets: nothing").state == "nothing"
    assert subjects(repo) == []


def test_a_repository_that_is_not_git_is_left_alone(tmp_path: Path) -> None:
    """clan: `if (flake_dir / ".git").exists(): ... else: return`; a flake inside another
    repository's subdirectory has no `.git` of its own, so clan does not commit there either."""
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "f").write_text("x")
    assert gitcommit.commit(plain, ["f"], "m").state == "not-git"
    assert not (plain / ".git").exists() and not (plain / ".dendrite").exists()
    outer = tmp_path / "outer"
    init(outer, {"fleet/f": "x\n"})
    (outer / "fleet/f").write_text("y\n")
    assert gitcommit.commit(outer / "fleet", ["f"], "m").state == "not-git"
    assert subjects(outer) == []


def test_a_dot_git_that_git_refuses_is_an_error(tmp_path: Path) -> None:
    """clan_lib/git/__init__.py `_commit_file_to_git`: a `.git` file without `gitdir: ` is a ClanError
    ("Invalid .git file"); dendrite lets git judge and says what git said. With no-commit it is skipped."""
    root = tmp_path / "stray"
    root.mkdir()
    (root / ".git").write_text("not a gitdir line\n")
    (root / "f").write_text("x")
    with pytest.raises(gitcommit.CommitError) as exc:
        gitcommit.commit(root, ["f"], "m")
    assert "does not accept" in exc.value.message and "--no-commit" in (exc.value.hint or "")
    assert gitcommit.commit(root, ["f"], "m", no_commit=True).state == "not-git"


def test_no_commit_registers_new_files_only(repo: Path) -> None:
    """clan with CLAN_NO_COMMIT: `git add --intent-to-add` so a git flake sees the path; content is
    neither staged nor committed."""
    head = git(repo, "rev-parse", "HEAD")
    (repo / "vars/per-machine/m/g/f").mkdir(parents=True)
    (repo / "vars/per-machine/m/g/f/value").write_text("v")
    (repo / "sops/secrets/keep/secret").write_text("changed\n")
    out = gitcommit.commit(repo, ["vars/per-machine/m/g", "sops/secrets/keep"], "m", no_commit=True)
    assert out.state == "registered" and out.paths == ("vars/per-machine/m/g/f/value",)
    assert git(repo, "rev-parse", "HEAD") == head
    assert "vars/per-machine/m/g/f/value" in git(repo, "ls-files").split()  # the flake sees it
    assert git(repo, "diff", "--cached", "--name-only") == ""  # nothing staged for a commit
    assert status(repo) == [" A vars/per-machine/m/g/f/value", " M sops/secrets/keep/secret"]


def test_paths_are_literal_not_globs(repo: Path) -> None:
    """A name with pathspec magic means that file: `a*` does not take `ab` with it."""
    (repo / "a*").write_text("1")
    (repo / "ab").write_text("2")
    (repo / ":(glob)x").write_text("3")
    gitcommit.commit(repo, ["a*", ":(glob)x"], "m")
    assert head_files(repo) == {"a*", ":(glob)x"}
    assert status(repo) == ["?? ab"]


def test_an_ignored_path_is_reported_not_committed(repo: Path) -> None:
    """clan's `git add` of an ignored path fails after the change is made; dendrite leaves it out."""
    (repo / ".gitignore").write_text("secret-notes\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    (repo / "secret-notes").write_text("x")
    (repo / "sops/secrets/keep/secret").write_text("new\n")
    out = gitcommit.commit(repo, ["secret-notes", "sops/secrets/keep"], "m")
    assert out.state == "committed" and out.ignored == ("secret-notes",)
    assert head_files(repo) == {"sops/secrets/keep/secret"}


def test_the_first_commit_of_a_new_repository(tmp_path: Path) -> None:
    root = tmp_path / "new"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.name", "T")
    git(root, "config", "user.email", "t@example.org")
    (root / "inventory.json").write_text("{}")
    (root / "other").write_text("x")
    assert gitcommit.commit(root, ["inventory.json"], "inventory.json: add machine m").state == "committed"
    assert git(root, "log", "--format=%s") == "inventory.json: add machine m\n"
    assert status(root) == ["?? other"]


def test_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    """clan resolves a `.git` file (`gitdir: ...`) to the real git directory; so does git here."""
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "-b", "side")
    (wt / "sops/secrets/keep/secret").write_text("side\n")
    assert gitcommit.commit(wt, ["sops/secrets/keep"], "secrets: update keep").state == "committed"
    assert git(repo, "log", "-1", "--format=%s", "side") == "secrets: update keep\n"
    assert subjects(repo) == []


def test_the_environment_cannot_send_the_commit_elsewhere(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    init(other)
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git/index"))
    (repo / "sops/secrets/keep/secret").write_text("x\n")
    assert gitcommit.commit(repo, ["sops/secrets/keep"], "secrets: update keep").state == "committed"
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert subjects(repo) == ["secrets: update keep"] and subjects(other) == []


def _script(path: Path, marker: Path, body: str = "") -> str:
    path.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\n{body}')
    path.chmod(0o755)
    return str(path)


def test_a_hostile_git_config_runs_nothing(repo: Path, tmp_path: Path) -> None:
    """The repository's own .git/config (and .git/hooks) can name programs git runs on add and
    commit. clan passes `--no-verify` (no pre-commit, no commit-msg hook); dendrite runs no hook at
    all, no fsmonitor, no filter driver and no external diff the repository names."""
    marker = tmp_path / "ran"
    evil = _script(tmp_path / "evil", marker, "exit 0\n")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    names = (
        "pre-commit",
        "prepare-commit-msg",
        "commit-msg",
        "post-commit",
        "post-index-change",
        "reference-transaction",
        "pre-auto-gc",
        "fsmonitor-watchman",
    )
    for name in names:
        _script(hooks / name, marker)
        _script(repo / ".git/hooks" / name, marker)
    for key, value in {
        "core.fsmonitor": evil,
        "core.hooksPath": str(hooks),
        "filter.evil.clean": evil,
        "filter.evil.smudge": evil,
        "filter.evil.process": evil,
        "filter.evil.required": "true",
        "diff.external": evil,
        "diff.evil.command": evil,
        "diff.evil.textconv": evil,
        "gpg.program": evil,
        "gpg.ssh.program": evil,
        "core.pager": evil,
        "core.editor": evil,
    }.items():
        git(repo, "config", key, value)
    (repo / ".git/info").mkdir(exist_ok=True)
    (repo / ".git/info/attributes").write_text("* filter=evil diff=evil\n")
    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n")

    (repo / "sops/secrets/new").mkdir(parents=True)
    (repo / "sops/secrets/new/secret").write_text("ciphertext\n")
    (repo / "sops/secrets/keep/secret").write_text("changed\n")
    out = gitcommit.commit(repo, ["sops/secrets/new", "sops/secrets/keep"], "secrets: update new")

    assert out.state == "committed"
    assert not marker.exists(), marker.read_text()
    # no clean filter ran: git stored the bytes as they are
    assert git(repo, "cat-file", "-p", "HEAD:sops/secrets/new/secret") == "ciphertext\n"


def test_signing_the_user_configured_still_signs_with_the_users_program(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """clan leaves signing to git; dendrite too, but a signing program named by the repository's own
    config is replaced by the one the user configured (global scope)."""
    marker = tmp_path / "ran"
    trusted = tmp_path / "trusted-gpg"
    trusted.write_text(
        "#!/bin/sh\n"
        f'echo trusted >> {marker}\ncat >/dev/null\necho "" >&2\necho "[GNUPG:] SIG_CREATED D 1 8 00 0 X" >&2\n'
        "printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nx\\n-----END PGP SIGNATURE-----\\n'\n"
    )
    trusted.chmod(trusted.stat().st_mode | stat.S_IXUSR)
    home = Path(os.environ["HOME"])
    (home / ".gitconfig").write_text(f"[gpg]\n\tprogram = {trusted}\n[commit]\n\tgpgSign = true\n")
    git(repo, "config", "gpg.program", _script(tmp_path / "evil", marker, "exit 1\n"))
    (repo / "sops/secrets/keep/secret").write_text("signed\n")
    assert gitcommit.commit(repo, ["sops/secrets/keep"], "secrets: update keep").state == "committed"
    assert marker.read_text() == "trusted\n"
    assert "BEGIN PGP SIGNATURE" in git(repo, "cat-file", "-p", "HEAD")


def test_a_failing_commit_is_one_clear_error(repo: Path, tmp_path: Path) -> None:
    """No committer identity: git refuses; the change stays on disk and the error says so."""
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    git(repo, "config", "user.useConfigOnly", "true")
    (repo / "sops/secrets/keep/secret").write_text("x\n")
    with pytest.raises(gitcommit.CommitError) as exc:
        gitcommit.commit(repo, ["sops/secrets/keep"], "secrets: update keep")
    assert "git commit" in exc.value.message and "not committed" in (exc.value.hint or "")
    assert (repo / "sops/secrets/keep/secret").read_text() == "x\n"


def test_the_door_records_what_it_changes(repo: Path) -> None:
    """Writes, links, removals and batch writes through RepoFS are in the change log, and dendrite's
    own .dendrite/ never is; nothing is recorded outside a recording."""
    fs = RepoFS(repo)
    fs.write_text("outside", "x")
    with changes.recording() as log:
        fs.write_text("vars/shared/g/f/value", "v")
        fs.symlink("sops/secrets/keep/users/alice", "../../../users/alice")
        fs.remove_tree("sops/secrets/old")
        fs.unlink("notes.txt")
        fs.remove_tree("never-existed")
        with repo_lock(repo) as scratch:
            atomic_write_many([PendingWrite(repo / "sops/secrets/keep/secret", b"k")], scratch)
        assert log.paths(repo / ".") == [
            "vars/shared/g/f/value",
            "sops/secrets/keep/users/alice",
            "sops/secrets/old",
            "notes.txt",
            "sops/secrets/keep/secret",
        ]
        assert log.take(repo, ["sops"]) == [
            "sops/secrets/keep/users/alice",
            "sops/secrets/old",
            "sops/secrets/keep/secret",
        ]
        assert log.take(repo) == ["vars/shared/g/f/value", "notes.txt"]
    assert changes.current() is None
