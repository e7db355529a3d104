"""`key.json` files: the public keys of users and machines (array written, legacy object read)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyrage

from dendrite import boundedjson
from dendrite.errors import InputError, StoreError
from dendrite.fsutil import atomic_write, read_regular_file
from dendrite.sops.age import parse_recipient

MAX_KEY_FILE_BYTES = 64 * 1024  # a key.json holds a few public keys of about 70 bytes each


@dataclass(frozen=True, order=True)
class SopsKey:
    type: str
    publickey: str

    def as_json(self) -> dict[str, str]:
        return {"publickey": self.publickey, "type": self.type}


def read_keys(path: Path) -> list[SopsKey]:
    """The keys in a key.json: a JSON array, or the legacy single object clan still reads."""
    try:
        raw = boundedjson.loads(read_regular_file(path, limit=MAX_KEY_FILE_BYTES).decode(), str(path))
    except FileNotFoundError:
        raise StoreError(
            f"{path} is missing", hint="add the key with 'dendrite secrets users/machines add'"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON ({exc})", hint="fix or re-create the key file") from None
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


def write_keys(path: Path, keys: list[SopsKey]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps([k.as_json() for k in sorted(set(keys))], indent=2)
    atomic_write(path, body.encode() + b"\n")


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
        lines = [ln.strip() for ln in p.read_text(errors="replace").splitlines()]
        for ln in lines:
            if ln.startswith("AGE-SECRET-KEY-1"):
                return key_from_input(ln)
        for ln in lines:
            if ln.startswith(("age1", "ssh-ed25519 ", "ssh-rsa ")):
                return key_from_input(ln)
        raise InputError(f"{p} holds no age key", hint="give an age public key (age1...) or a key file")
    raise InputError(
        f"{t[:60]!r} is not an age key",
        hint="give an age public key (age1...), an AGE-SECRET-KEY-1..., or a file containing one",
    )
