"""A fresh `dendrite init` repository, made once per module through the CLI as a user makes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Keys, clean_env, new_key, run_cli

GIT_ID = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


@dataclass(frozen=True)
class Clan:
    root: Path
    env: dict[str, str]
    public: str


def make_keys(base: Path) -> Keys:
    a, b = new_key(), new_key()
    f = base / "keys.txt"
    f.write_text(f"# public key: {a.public}\n{a.secret}\n")
    f.chmod(0o600)
    home = base / "home"
    home.mkdir()
    return Keys(a, b, f, clean_env({"SOPS_AGE_KEY_FILE": str(f), **GIT_ID}, home))


@pytest.fixture(scope="module")
def clan(tmp_path_factory: pytest.TempPathFactory) -> Clan:
    base = tmp_path_factory.mktemp("init")
    keys = make_keys(base)
    root = base / "test-clan"
    proc = run_cli(["init", str(root)], keys.env)
    assert proc.returncode == 0, proc.stderr.decode()
    return Clan(root, keys.env, keys.a.public)


def cli(c: Clan, *args: str) -> tuple[int, str, str]:
    proc = run_cli(["--repo", str(c.root), *args], c.env, cwd=c.root)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()
