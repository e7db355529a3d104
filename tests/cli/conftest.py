"""Fixtures the CLI tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from dendrite.secrets import SecretsStore, SopsKey
from tests.conftest import Keys


@pytest.fixture
def one_secret_repo(tmp_path: Path, keys: Keys) -> Path:
    """A repository whose store has one user (keys.a) and one secret, db-password = hunter2."""
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.set("db-password", b"hunter2")
    return root
