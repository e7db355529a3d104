"""One leaf: AES-256-GCM with a 32-byte IV and the tree path as AAD, in sops' ENC[...] envelope."""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import TYPE_CHECKING

from dendrite import lazy
from dendrite.errors import SopsError
from dendrite.sops.values import Comment, Leaf, from_bytes, to_bytes, type_name

if TYPE_CHECKING:
    from cryptography import exceptions as crypto_errors
    from cryptography.hazmat.primitives.ciphers import aead
else:  # loaded with the first data key: listing a store or reading its metadata encrypts nothing
    crypto_errors = lazy.module("cryptography.exceptions")
    aead = lazy.module("cryptography.hazmat.primitives.ciphers.aead")


def _aesgcm() -> type[aead.AESGCM]:
    """cryptography's AESGCM class. The public module (`…ciphers.aead`) re-exports it from the Rust
    binding, but importing it runs the `ciphers` package first (every legacy cipher and mode), 9 of
    the 12 ms it costs; `secrets get` pays that on every read. The binding is asked first, the public
    name where a release has moved it."""
    try:
        from cryptography.hazmat.bindings._rust import openssl

        cls: type[aead.AESGCM] = openssl.aead.AESGCM
    except (ImportError, AttributeError):
        cls = aead.AESGCM
    return cls


_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
IV_SIZE = 32
TAG_SIZE = 16


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith("ENC[AES256_GCM,")


class LeafCipher:
    """Encrypts and decrypts leaves under one data key (the AESGCM object is built once per file)."""

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise SopsError(f"the data key is {len(data_key)} bytes, sops uses 32")
        self._aead = _aesgcm()(data_key)

    def encrypt(self, value: Leaf, aad: str, iv: bytes | None = None) -> str:
        plain = to_bytes(value)
        if not plain:
            return ""  # sops keeps empty values as "" rather than encrypting them
        kind = type_name(value)
        iv = iv if iv is not None else os.urandom(IV_SIZE)
        sealed = self._aead.encrypt(iv, plain, aad.encode("utf-8", "surrogateescape"))
        b64 = base64.b64encode
        return (
            f"ENC[AES256_GCM,data:{b64(sealed[:-TAG_SIZE]).decode()},iv:{b64(iv).decode()},"
            f"tag:{b64(sealed[-TAG_SIZE:]).decode()},type:{kind}]"
        )

    def decrypt_raw(self, value: str, aad: str) -> tuple[bytes, str]:
        """The plaintext bytes and the type tag; raises SopsError naming the AAD path."""
        m = _ENC.match(value)
        if not m:
            raise SopsError(f"value at {aad!r} is not a sops ENC[...] value")
        try:
            data, iv, tag = (base64.b64decode(g, validate=True) for g in m.group(1, 2, 3))
        except (binascii.Error, ValueError):
            raise SopsError(f"value at {aad!r} has malformed base64 in its ENC[...] envelope") from None
        if not iv or len(tag) != TAG_SIZE:
            raise SopsError(f"value at {aad!r} has a malformed IV or tag")
        try:
            plain = self._aead.decrypt(iv, data + tag, aad.encode("utf-8", "surrogateescape"))
        except crypto_errors.InvalidTag:
            raise SopsError(
                f"value at {aad!r} fails authentication: it was changed, moved, or encrypted under another key"
            ) from None
        return plain, m.group(4)

    def decrypt(self, value: str, aad: str) -> Leaf:
        if value == "":
            return ""
        plain, kind = self.decrypt_raw(value, aad)
        return from_bytes(plain, kind)

    def decrypt_comment(self, comment: Comment, aad: str) -> Comment:
        """Comments that fail to decrypt are kept as they are (older files had plaintext comments)."""
        if not is_encrypted(comment.text):
            return comment
        try:
            plain, _ = self.decrypt_raw(comment.text, aad)
        except SopsError:
            return comment
        return Comment(plain.decode("utf-8", "surrogateescape"))
