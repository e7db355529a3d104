"""Encrypting and decrypting a document tree, and its MAC (sops.go's Tree.Encrypt / Tree.Decrypt)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dendrite.errors import MacMismatchError, SopsError
from dendrite.sops.cipher import LeafCipher, is_encrypted
from dendrite.sops.rules import CryptRule
from dendrite.sops.tree import Branch, Node
from dendrite.sops.values import Comment, Leaf, to_bytes

# sha256("sops"), hashed first when only encrypted values are MACed (v3.9+)
_MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()

LeafFn = Callable[[Leaf, list[str], list[list[str]], bool], Leaf]


def _walk(node: Node, path: list[str], comments: list[list[str]], fn: LeafFn, in_seq: bool = False) -> Node:
    """Visit every leaf in document order with its path and comment stack; returns the new tree."""
    if isinstance(node, Branch):
        comments = [*comments, []]
        out = Branch()
        for key, value in node.items:
            if isinstance(key, Comment):
                new_key = fn(key, path, comments, False)
                comments[-1].append(key.text)
                assert isinstance(new_key, Comment)
                out.items.append((new_key, value))
                continue
            out.items.append((key, _walk(value, [*path, key], comments, fn)))
            comments[-1] = []
        return out
    if isinstance(node, list):
        comments = [*comments, []]
        items = []
        for value in node:
            items.append(_walk(value, path, comments, fn, in_seq=True))
            if isinstance(value, Comment):
                comments[-1].append(value.text)
            else:
                comments[-1] = []
        return items
    if node is None:
        return None
    return fn(node, path, comments, in_seq)


def _aad(path: Sequence[str]) -> str:
    return ":".join(path) + ":"


@dataclass
class _Mac:
    only_encrypted: bool

    def __post_init__(self) -> None:
        self.h = hashlib.sha512()
        if self.only_encrypted:
            self.h.update(_MAC_ONLY_ENCRYPTED_INIT)

    def add(self, value: Leaf, encrypted: bool) -> None:
        if isinstance(value, Comment) or (self.only_encrypted and not encrypted):
            return
        self.h.update(to_bytes(value))

    def hex(self) -> str:
        return self.h.hexdigest().upper()


def encrypt_branches(
    branches: Sequence[Branch], cipher: LeafCipher, rule: CryptRule, mac_only_encrypted: bool = False
) -> tuple[list[Branch], str]:
    """Encrypt every leaf the rule selects; returns the encrypted branches and the MAC (hex)."""
    mac = _Mac(mac_only_encrypted)

    def leaf(value: Leaf, path: list[str], comments: list[list[str]], _in_seq: bool) -> Leaf:
        encrypt = rule.should_encrypt(path, comments)
        mac.add(value, encrypt)
        if not encrypt:
            return value
        if isinstance(value, Comment):
            return Comment(cipher.encrypt(value, _aad(path)))
        return cipher.encrypt(value, _aad(path))

    out = [_walk(b, [], [], leaf) for b in branches]
    return out, mac.hex()


def decrypt_branches(
    branches: Sequence[Branch],
    cipher: LeafCipher,
    rule: CryptRule,
    mac_only_encrypted: bool,
    where: str,
    by_envelope: bool = False,
) -> tuple[list[Branch], str]:
    """Decrypt every leaf the rule selects; returns the plain branches and the MAC computed over them.

    With `by_envelope`, a leaf counts as encrypted when it is an ENC[...] envelope: used for comment-
    selected rules in stores whose comments dendrite does not keep. It is exact for files sops wrote,
    since sops turns every selected non-empty leaf into an envelope and an empty one hashes nothing.
    """
    mac = _Mac(mac_only_encrypted)

    def leaf(value: Leaf, path: list[str], comments: list[list[str]], _in_seq: bool) -> Leaf:
        encrypt = is_encrypted(value) if by_envelope else rule.should_encrypt(path, comments)
        if isinstance(value, Comment):
            return cipher.decrypt_comment(value, _aad(path)) if encrypt else value
        if encrypt:
            if not isinstance(value, str):
                raise SopsError(
                    f"{where}: value at {_aad(path)!r} should be encrypted but is a plain {type(value).__name__}",
                    hint="the file was edited by hand or is damaged",
                )
            try:
                plain = cipher.decrypt(value, _aad(path))
            except SopsError as exc:
                raise SopsError(f"{where}: {exc.message}", hint=exc.hint) from None
        else:
            plain = value
        # sops <= 3.13.1 skips values that decrypt to a comment (comments inside YAML sequences)
        mac.add(plain, encrypt)
        return plain

    out = [_walk(b, [], [], leaf) for b in branches]
    return out, mac.hex()


def check_mac(stored: str, computed: str, cipher: LeafCipher, aad: str, where: str) -> None:
    if not stored:
        raise MacMismatchError(
            f"{where}: the file has no MAC", hint="it was not written by sops, or was damaged"
        )
    try:
        expected = cipher.decrypt(stored, aad)
    except SopsError:
        raise MacMismatchError(
            f"{where}: the MAC cannot be decrypted: the metadata was tampered with or damaged"
        ) from None
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), computed.encode()):
        raise MacMismatchError(
            f"{where}: MAC mismatch: the contents were changed after encryption (a value, a key or a leaf)",
            hint="restore the file from version control; do not edit encrypted files by hand",
        )
