"""The recipes: encrypt, decrypt, updatekeys and rotate a whole file, in any store.

These compose the primitives (stores, tree walk, leaf cipher, age) and are what the secrets store, the
CLI and the benchmarks call. Inputs and outputs are bytes; nothing here touches the filesystem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dendrite import boundedjson, lazy
from dendrite.errors import InputError, SopsError
from dendrite.sops.age import Identities, unwrap_data_key, wrap_data_key
from dendrite.sops.metadata import WRITER_VERSION, Metadata
from dendrite.sops.rules import CryptRule
from dendrite.sops.stores import store_for
from dendrite.sops.stores.base import Store
from dendrite.sops.stores.json import fast_dump_json, is_simple_json
from dendrite.sops.tree import Branch, Node
from dendrite.sops.values import now_rfc3339, rfc3339_seconds

if TYPE_CHECKING:
    from dendrite.sops import cipher, codec
else:  # the values' cipher and MAC (hashlib, hmac: ~3 ms): a re-key only re-wraps the data key
    cipher = lazy.module("dendrite.sops.cipher")
    codec = lazy.module("dendrite.sops.codec")


@dataclass(frozen=True)
class Decrypted:
    branches: list[Branch]
    metadata: Metadata
    data_key: bytes


def _load(data: bytes, fmt: str, where: str) -> tuple[Store, list[Branch], Metadata]:
    store = store_for(fmt)
    branches, raw = store.load_encrypted(data, where)
    meta = Metadata.from_plain(raw, where)
    return store, branches, meta


def _comments_dropped(fmt: str, rule: CryptRule) -> bool:
    """YAML and INI comments are not kept by dendrite's stores, so comment rules decide by envelope."""
    return rule.uses_comments and fmt in ("yaml", "ini")


def read_metadata(data: bytes, fmt: str, where: str) -> Metadata:
    """The metadata alone (recipients, rule, MAC), without any decryption."""
    return _load(data, fmt, where)[2]


def _seal(
    branches: list[Branch],
    data_key: bytes,
    recipients: Sequence[str] | None,
    age: Any,
    rule: CryptRule,
    mac_only_encrypted: bool,
    store: Store,
) -> bytes:
    leaves = cipher.LeafCipher(data_key)
    encrypted, mac_hex = codec.encrypt_branches(branches, leaves, rule, mac_only_encrypted)
    lastmodified = now_rfc3339()
    meta = Metadata(
        age=wrap_data_key(data_key, recipients) if recipients is not None else age,
        lastmodified=lastmodified,
        mac=leaves.encrypt(mac_hex, lastmodified),
        rule=rule,
        mac_only_encrypted=mac_only_encrypted,
        version=WRITER_VERSION,
    )
    return store.dump_encrypted(encrypted, meta.to_plain(binary=store.name == "binary"))


def encrypt(
    plaintext: bytes,
    recipients: Sequence[str],
    *,
    input_format: str = "binary",
    output_format: str | None = None,
    rule: CryptRule | None = None,
    mac_only_encrypted: bool = False,
    where: str = "<input>",
) -> bytes:
    """Encrypt a cleartext file for the given age recipients, as `sops encrypt` does."""
    in_store = store_for(input_format)
    out_store = store_for(output_format or input_format)
    branches = in_store.load_plain(plaintext, where)
    for b in branches:
        if b.has("sops"):
            raise InputError(f"{where}: the file already has a 'sops' key: it looks encrypted already")
    rule = rule or CryptRule()
    if out_store.name == "binary":
        rule = CryptRule()  # suffix and regex options are ignored for binary, as in sops >= 3.11
    return _seal(branches, os.urandom(32), recipients, None, rule, mac_only_encrypted, out_store)


def encrypt_tree(
    branches: list[Branch], recipients: Sequence[str], fmt: str, rule: CryptRule | None = None
) -> bytes:
    return _seal(branches, os.urandom(32), recipients, None, rule or CryptRule(), False, store_for(fmt))


def decrypt_document(
    data: bytes, fmt: str, identities: Identities, *, where: str, verify_mac: bool = True
) -> Decrypted:
    """Decrypt every value and verify the MAC; SopsError on any tampering or a wrong key."""
    _, branches, meta = _load(data, fmt, where)
    if not meta.age:
        other = f" (it has {', '.join(meta.other_keys)} keys)" if meta.other_keys else ""
        raise SopsError(
            f"{where}: the file has no age recipients{other}", hint="decrypt it with the sops binary"
        )
    key = unwrap_data_key(meta.age, identities, where)
    leaves = cipher.LeafCipher(key)
    plain, mac_hex = codec.decrypt_branches(
        branches,
        leaves,
        meta.rule,
        meta.mac_only_encrypted,
        where,
        by_envelope=_comments_dropped(fmt, meta.rule),
    )
    if verify_mac:
        codec.check_mac(meta.mac, mac_hex, leaves, rfc3339_seconds(meta.lastmodified), where)
    return Decrypted(plain, meta, key)


def decrypt_stored(data: bytes, identities: Identities, *, where: str) -> bytes:
    """The value of a secret as clan stores it (`sops/secrets/<n>/secret`, a vars `secret`): a sops
    binary file, decrypted and its MAC verified.

    Why not `decrypt` with "binary": the codec's hints for a file of another shape name the sops CLI's
    `--input-type`/`--output-type`, which no `secrets` or `vars` command has; a store file's type is
    fixed, so such a file is one someone else put there.
    """
    try:
        doc = decrypt_document(data, "binary", identities, where=where)
        return store_for("binary").dump_plain(doc.branches)
    except SopsError as exc:
        if exc.hint is None or "-type" not in exc.hint:
            raise
        message = exc.message if where in exc.message else f"{where}: {exc.message}"
        raise SopsError(
            message,
            hint="a stored secret is a sops binary file ('data' and 'sops' in JSON) and this one is "
            "not; check where it came from (git log -p)",
        ) from None


_EXTRACT = re.compile(r'\[(?:"((?:[^"\\]|\\.)*)"|(\d+))\]')


def parse_extract(expr: str) -> list[str | int]:
    """sops' --extract syntax: `["a"]["b"][0]`."""
    parts: list[str | int] = []
    pos = 0
    for m in _EXTRACT.finditer(expr):
        if m.start() != pos:
            break
        parts.append(m.group(1).replace('\\"', '"') if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(expr) or not parts:
        raise InputError(
            f'--extract {expr!r} is not a path like ["key"][0]',
            hint='example: --extract \'["db"]["password"]\'',
        )
    return parts


def extract(branch: Branch, path: Sequence[str | int], where: str) -> Node:
    node: Node = branch
    for part in path:
        if isinstance(part, str) and isinstance(node, Branch) and node.has(part):
            node = node.get(part)
        elif isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
        else:
            raise InputError(f"{where}: --extract path component {part!r} not found")
    return node


def decrypt(
    data: bytes,
    identities: Identities,
    *,
    input_format: str = "binary",
    output_format: str | None = None,
    extract_path: Sequence[str | int] | None = None,
    where: str = "<input>",
) -> bytes:
    """Decrypt a file to cleartext bytes in the output format, as `sops decrypt` does."""
    result = decrypt_document(data, input_format, identities, where=where)
    out_store = store_for(output_format or input_format)
    if extract_path:
        node = extract(result.branches[0], extract_path, where)
        if isinstance(node, Branch):
            return out_store.dump_plain([node])
        if isinstance(node, list):
            raise InputError(f"{where}: --extract must select a value or a mapping, not a list")
        from dendrite.sops.values import to_bytes

        return to_bytes(node) if node is not None else b""
    return out_store.dump_plain(result.branches)


def updatekeys(
    data: bytes, recipients: Sequence[str], identities: Identities, *, fmt: str, where: str
) -> bytes:
    """Re-wrap the data key for a new recipient set; values, MAC and lastmodified stay as they are."""
    store, branches, meta = _load(data, fmt, where)
    key = unwrap_data_key(meta.age, identities, where)
    new = meta.with_age(wrap_data_key(key, recipients))
    return store.dump_encrypted(branches, new.to_plain(binary=store.name == "binary"))


def rewrap(
    data: bytes,
    recipients: Sequence[str],
    identities: Identities,
    *,
    fmt: str,
    where: str,
    doc: object = None,
) -> bytes:
    """`updatekeys` that keeps the age entries of recipients who stay and wraps only for newcomers.

    Each kept entry is a complete age file of this same data key for that recipient, so the result
    is what a full re-wrap gives, at one age encryption per new recipient instead of one per recipient.
    `doc`: `data` as `boundedjson.loads` read it, when the caller has (it is only read, never changed).
    """
    if fmt in ("binary", "json"):
        fast = _rewrap_json(data, recipients, identities, where, doc)
        if fast is not None:
            return fast
    store, branches, meta = _load(data, fmt, where)
    wanted = list(dict.fromkeys(r.strip() for r in recipients))
    kept = {e.recipient: e for e in meta.age if e.recipient in wanted}
    new = [r for r in wanted if r not in kept]
    fresh = {}
    if new:
        key = unwrap_data_key(meta.age, identities, where)
        fresh = {e.recipient: e for e in wrap_data_key(key, new)}
    age = tuple(kept[r] if r in kept else fresh[r] for r in wanted)
    if not age:
        raise InputError(f"{where}: no recipients given", hint="pass at least one age public key")
    return store.dump_encrypted(branches, meta.with_age(age).to_plain(binary=store.name == "binary"))


def _rewrap_json(
    data: bytes, recipients: Sequence[str], identities: Identities, where: str, doc: object = None
) -> bytes | None:
    """`rewrap` on plain dicts for JSON files (what clan stores); None sends the file the general way.

    Why: a re-key touches only `sops.age`; building the full tree for each of a thousand secrets was
    a third of the time. Files with repeated keys, floats or non-ASCII text take the general path.
    """
    if doc is None:
        try:
            doc = boundedjson.loads(data, where)
        except ValueError:
            return None
    if not isinstance(doc, dict) or not isinstance(doc.get("sops"), dict) or doc["sops"].get("key_groups"):
        return None
    body = {k: v for k, v in doc.items() if k != "sops"}
    if not is_simple_json(body) or data.count(b'"sops"') != 1:
        return None
    meta = Metadata.from_plain(doc["sops"], where)
    wanted = list(dict.fromkeys(r.strip() for r in recipients))
    if not wanted:
        raise InputError(f"{where}: no recipients given", hint="pass at least one age public key")
    entries = {e.recipient: e for e in meta.age if e.recipient in wanted}
    new = [r for r in wanted if r not in entries]
    if new:
        key = unwrap_data_key(meta.age, identities, where)
        entries.update({e.recipient: e for e in wrap_data_key(key, new)})
    binary = list(body) == ["data"]
    body["sops"] = meta.with_age(tuple(entries[r] for r in wanted)).to_plain(binary=binary)
    return fast_dump_json(body)  # the body was checked above; metadata is strings, ints and bools


def rotate(
    data: bytes, identities: Identities, *, fmt: str, where: str, recipients: Sequence[str] | None = None
) -> bytes:
    """Decrypt, then encrypt everything again under a fresh data key (same rule and recipients)."""
    result = decrypt_document(data, fmt, identities, where=where)
    meta = result.metadata
    if _comments_dropped(fmt, meta.rule):
        raise SopsError(
            f"{where}: the file selects encrypted values by comments ({meta.rule.kind}), which dendrite "
            f"cannot re-apply to {fmt} after rotation because it does not keep {fmt} comments",
            hint="rotate this file with the sops binary",
        )
    store = store_for(fmt)
    return _seal(
        result.branches,
        os.urandom(32),
        list(recipients or meta.recipients),
        None,
        meta.rule,
        meta.mac_only_encrypted,
        store,
    )
