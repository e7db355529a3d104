"""The admin's own age key file (`secrets key generate|show`), as clan and sops find it."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from dendrite.errors import InputError
from dendrite.fsutil import append_private
from dendrite.secrets.keys import read_keys
from dendrite.secrets.layout import Layout
from dendrite.secrets.whoami import admin_keys
from dendrite.sops.age import key_file_for_writing


@dataclass(frozen=True)
class GeneratedKey:
    path: Path
    publickey: str
    created: bool
    warnings: tuple[str, ...] = ()  # for the caller to show; the library never prints


def generate(new: bool = False, env: Mapping[str, str] | None = None) -> GeneratedKey:
    """Append a new age key to the key file (0600), unless one exists and `new` is false.

    The file is only ever appended to, never rewritten: an existing key is never lost (clan #7678).
    """
    env = os.environ if env is None else env
    path = key_file_for_writing(env)
    # clan's generate_command: a key exists when the one source clan reads holds one (whoami)
    existing = admin_keys(env)
    if existing.publics and not new:
        return GeneratedKey(path, existing.publics[0], False, existing.warnings)
    _refuse_exposed(path)
    ident = pyrage.x25519.Identity.generate()
    public = str(ident.to_public())
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    prefix = b"\n" if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n") else b""
    try:
        append_private(path, prefix + f"# created: {stamp}\n# public key: {public}\n{ident}\n".encode())
    except OSError as exc:
        raise InputError(f"cannot add a key to {path}: {exc.strerror}", hint=_KEEP_HINT) from None
    return GeneratedKey(path, public, True, existing.warnings)


_KEEP_HINT = "point SOPS_AGE_KEY_FILE at a new file (it is created with mode 0600)"


def _refuse_exposed(path: Path) -> None:
    """Never append a private key to a file that is a link, not a file, or readable by group or others."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise InputError(
            f"the age key file {path} is not a regular file (a symbolic link or special file); "
            "no private key was written",
            hint=_KEEP_HINT,
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise InputError(
            f"the age key file {path} is readable by group or others (mode {mode:04o}), so no new private "
            "key was added to it",
            hint=f"run 'chmod 600 {path}' and run again, or {_KEEP_HINT}",
        )


def key_file_warnings(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Warnings about the age key file clan would read (one others can read), for the caller to show."""
    return admin_keys(env).warnings


@dataclass(frozen=True)
class ShownKey:
    publickey: str
    username: str | None
    type: str
    source: str


def show(root: Path, env: Mapping[str, str] | None = None) -> list[ShownKey]:
    """Your public keys from the one source clan reads (`whoami`), with the clan user each belongs to,
    like `clan secrets key show` (which also names no user)."""
    layout = Layout(root)
    owners: dict[str, str] = {}
    for user in layout.names("users"):
        for k in read_keys(layout.user(user) / "key.json", layout.fs):
            owners[k.publickey] = user
    found = admin_keys(env)
    return [ShownKey(p, owners.get(p), "age", found.source) for p in found.publics]
