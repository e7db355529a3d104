"""Real git repositories for the commit tests: made, inspected and changed with the git command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_env(home: Path) -> dict[str, str]:
    """An environment with no user or system git config but a committer, so a commit never prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.org",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.org",
    )
    return env


def git(root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        check=False,
        env=env if env is not None else git_env(root.parent / "githome"),
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


def init(root: Path, files: dict[str, str] | None = None) -> None:
    """A repository at `root` with one commit holding `files` (and a README)."""
    root.mkdir(parents=True, exist_ok=True)
    (root.parent / "githome").mkdir(exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.org")
    for rel, text in {"README": "a fleet\n", **(files or {})}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")


def subjects(root: Path) -> list[str]:
    """Commit subjects, oldest first, without the first commit."""
    return git(root, "log", "--reverse", "--format=%s").splitlines()[1:]


def status(root: Path) -> list[str]:
    """`git status --porcelain` lines (untracked files listed one by one), sorted."""
    return sorted(git(root, "status", "--porcelain", "--untracked-files=all").splitlines())


def head_files(root: Path, rev: str = "HEAD") -> set[str]:
    """The paths a commit changed."""
    return set(git(root, "show", "--name-only", "--format=", rev).split())
