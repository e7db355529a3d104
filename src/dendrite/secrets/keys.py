"""`key.json` files: the public keys of users and machines (array written, legacy object read)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyrage

from dendrite import boundedjson
from dendrite.errors import InputError, StoreError, UnsafePathError
from dendrite.fsutil import read_regular_file
from dendrite.repofs import FILE_MODE, RepoFS
from dendrite.sops.age import parse_recipient, parsed_recipient

MAX_KEY_FILE_BYTES = 64 * 1024  # a key.json holds a few public keys of about 70 bytes each


@dataclass(frozen=True, order=True)
class SopsKey:
    type: str
    publickey: str

    def as_json(self) -> dict[str, str]:
        return {"publickey": self.publickey, "type": self.type}


def read_keys(path: Path, fs: RepoFS | None = None) -> list[SopsKey]:
    """The keys in a key.json: a JSON array, or the legacy single object clan still reads.

    Read through the repository door (`fs`, the store's RepoFS): a key.json planted as a symlink to a
    file elsewhere, a FIFO or a huge file is refused rather than followed, blocked on or loaded.
    Without `fs` only the last component is guarded (for callers outside a repository).
    """
    door = fs if fs is not None else RepoFS(path.parent)
    try:
        data = door.read_bytes(path if fs is not None else path.name, limit=MAX_KEY_FILE_BYTES)
    except FileNotFoundError:
        raise StoreError(
            f"{path} is missing", hint="add the key with 'dendrite secrets users/machines add'"
        ) from None
    except UnsafePathError as exc:
        raise StoreError(exc.message, hint=exc.hint) from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = boundedjson.loads(data, str(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON ({exc})", hint="fix or re-create the key file") from None
    return _parse_keys(path, raw)


def _parse_keys(path: Path, raw: object) -> list[SopsKey]:
    items = raw if isinstance(raw, list) else [raw]
    keys = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("publickey"), str):
            raise StoreError(
                f"{path}: entry {i} has no 'publickey' string",
                hint='expected {"publickey": "age1...", "type": "age"}',
            )
        kind = item.get("type", "age")
        if kind not in ("age", "pgp"):
            raise StoreError(
                f"{path}: entry {i} has unknown key type {kind!r}", hint="clan uses 'age' or 'pgp'"
            )
        keys.append(SopsKey(kind, item["publickey"].strip()))
    if not keys:
        raise StoreError(f"{path} holds no keys", hint="add a key or remove the entry")
    return keys


def keys_json(keys: list[SopsKey]) -> bytes:
    """A key.json byte for byte as clan's `write_keys` makes it (`clan_cli/secrets/sops.py`).

    `json.dump(..., indent=2)`: ASCII escapes, no trailing newline; keys sorted by public key (clan's
    SopsKey orders by pubkey first), duplicates dropped.
    """
    unique = sorted(set(keys), key=lambda k: (k.publickey, k.type))
    return json.dumps([k.as_json() for k in unique], indent=2).encode()


def write_keys(path: Path, keys: list[SopsKey], fs: RepoFS | None = None) -> None:
    door = fs if fs is not None else RepoFS(path.parent)
    door.write_bytes(path if fs is not None else path.name, keys_json(keys), FILE_MODE)


def check_usable(key: SopsKey, where: str) -> None:
    """Refuse a recipient dendrite could not encrypt to, before anything is changed."""
    if key.type != "age":
        raise StoreError(
            f"{where}: {key.publickey} is a {key.type} key, which dendrite cannot encrypt to",
            hint="replace it with an age key",
        )
    try:
        parsed_recipient(key.publickey)  # remembered: a re-key checks the same newcomer for every secret
    except InputError as exc:
        raise StoreError(f"{where}: {exc.message}", hint="fix or replace the key in its key.json") from None


def key_from_input(text: str) -> SopsKey:
    """A public key from what a user typed: `age1…`, an `AGE-SECRET-KEY-1…`, or a file holding either."""
    t = text.strip()
    if t.startswith("AGE-SECRET-KEY-1"):
        try:
            return SopsKey("age", str(pyrage.x25519.Identity.from_str(t).to_public()))
        except pyrage.IdentityError:
            raise InputError("the private age key given is malformed") from None
    if t.startswith(("age1", "ssh-")):
        parse_recipient(t)
        return SopsKey("age", t)
    p = Path(t).expanduser()
    if t and p.is_file():
        return key_from_text(read_user_file(p), str(p))
    raise InputError(
        f"{t[:60]!r} is not an age key",
        hint="give an age public key (age1...), an AGE-SECRET-KEY-1..., or a file containing one",
    )


def key_from_text(text: str, source: str) -> SopsKey:
    """The public key of the first private key in `text`, else its first public key (a key file's text)."""
    lines = [ln.strip() for ln in text.splitlines()]
    for ln in lines:
        if ln.startswith("AGE-SECRET-KEY-1"):
            return key_from_input(ln)
    for ln in lines:
        if ln.startswith(("age1", "ssh-ed25519 ", "ssh-rsa ")):
            return key_from_input(ln)
    raise InputError(f"{source} holds no age key", hint="give an age public key (age1...) or a key file")


def read_user_file(path: Path, limit: int = MAX_KEY_FILE_BYTES) -> str:
    """A small text file the user named, opened without blocking (a FIFO or device is refused)."""
    try:
        return read_regular_file(path, limit=limit).decode(errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def is_private_key(text: str) -> bool:
    """Whether a command-line argument holds an age private key (which `ps` would show to everyone)."""
    return "AGE-SECRET-KEY-" in text.upper()
