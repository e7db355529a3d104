"""The admin's own age key file (`secrets key generate|show`), as clan and sops find it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from dendrite.fsutil import append_private
from dendrite.secrets.keys import read_keys
from dendrite.secrets.layout import Layout
from dendrite.sops.age import discover_identities, key_file_for_writing


@dataclass(frozen=True)
class GeneratedKey:
    path: Path
    publickey: str
    created: bool


def generate(new: bool = False, env: Mapping[str, str] | None = None) -> GeneratedKey:
    """Append a new age key to the key file (0600), unless one exists and `new` is false.

    The file is only ever appended to, never rewritten: an existing key is never lost (clan #7678).
    """
    env = os.environ if env is None else env
    path = key_file_for_writing(env)
    if not new:
        # a SOPS_AGE_KEY_FILE that does not exist yet is where the new key goes, not an error
        look = {k: v for k, v in env.items() if k != "SOPS_AGE_KEY_FILE" or path.exists()}
        existing = discover_identities(look)
        if existing:
            return GeneratedKey(path, existing.items[0].public, False)
    ident = pyrage.x25519.Identity.generate()
    public = str(ident.to_public())
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    prefix = b"\n" if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n") else b""
    append_private(path, prefix + f"# created: {stamp}\n# public key: {public}\n{ident}\n".encode())
    return GeneratedKey(path, public, True)


@dataclass(frozen=True)
class ShownKey:
    publickey: str
    username: str | None
    type: str
    source: str


def show(root: Path, env: Mapping[str, str] | None = None) -> list[ShownKey]:
    """Every local identity's public key, with the clan user it belongs to, like `clan secrets key show`."""
    layout = Layout(root)
    owners: dict[str, str] = {}
    for user in layout.names("users"):
        for k in read_keys(layout.user(user) / "key.json", layout.fs):
            owners[k.publickey] = user
    return [ShownKey(i.public, owners.get(i.public), "age", i.source) for i in discover_identities(env).items]
