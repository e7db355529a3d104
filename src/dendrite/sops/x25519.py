"""Opening a sops data key wrapped for one of your X25519 age keys, without pyrage, or None.

Why: a re-key opens one data key per secret, and pyrage's `decrypt` costs about 90 µs a file where the
same steps through `cryptography` (OpenSSL's X25519 and ChaCha20-Poly1305, hashlib's HMAC) cost about
58 (a 1,000-secret re-key spends about 30 ms less CPU). This is age's own recipe (age-encryption.org/v1,
X25519 recipients), for exactly the files sops writes: one armored age file holding a 32-byte data key.

It only ever answers for a file it can verify completely: the stanza's key must open (AEAD), the
header MAC must match and the payload's tag must verify, with every encoding canonical (each base64
text is compared with its re-encoding: an encoding age refuses is not accepted here). Anything else,
including every unusual but valid file, is None and goes to pyrage, which decides and words the error:
so the result, and every refusal, is pyrage's (`tests/sops/test_x25519.py` holds it to that).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from functools import cache
from typing import Any

_ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
_ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
_VERSION = b"age-encryption.org/v1"
_X25519_INFO = b"age-encryption.org/v1/X25519"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_DATA_KEY = 32
_PAYLOAD = 16 + _DATA_KEY + 16  # nonce, then one final STREAM chunk: the key and its tag
_VCHAR = re.compile(rb"[\x21-\x7e]+")  # a stanza argument, as age's grammar has it


def _openssl() -> Any:
    """cryptography's Rust binding (as `cipher._aesgcm` takes AES-GCM): no `ciphers` package import."""
    from cryptography.hazmat.bindings._rust import openssl

    return openssl


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 (RFC 5869) for one 32-byte block."""
    prk = hmac.digest(salt or bytes(32), ikm, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


def _b64(text: bytes, padded: bool = False) -> bytes | None:
    """Canonical base64 (age: no padding in the header), else None."""
    try:
        raw = base64.b64decode(text + b"=" * (-len(text) % 4) if not padded else text, validate=True)
    except (binascii.Error, ValueError):
        return None
    again = base64.b64encode(raw)
    return raw if (again if padded else again.rstrip(b"=")) == text else None


def _bech32_data(text: str, hrp: str) -> bytes | None:
    """The 8-bit data of a bech32 string (checksum not checked: the caller compares the key it yields)."""
    low = text.lower()
    if not low.startswith(hrp + "1") or any(c not in _BECH32 for c in low[len(hrp) + 1 :]):
        return None
    acc = bits = 0
    out = bytearray()
    for c in low[len(hrp) + 1 : -6]:
        acc = (acc << 5) | _BECH32.index(c)
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


@cache
def _identity(secret: str, public: str) -> tuple[Any, bytes] | None:
    """(OpenSSL private key, public key bytes) of `AGE-SECRET-KEY-1…`, when it yields `public`."""
    scalar = _bech32_data(secret, "age-secret-key-")
    pub = _bech32_data(public, "age")
    if scalar is None or pub is None or len(scalar) != 32 or len(pub) != 32:
        return None
    try:
        key = _openssl().x25519.from_private_bytes(scalar)
    except ValueError:
        return None
    return (key, pub) if key.public_key().public_bytes_raw() == pub else None


def _parse(enc: str) -> tuple[bytes, list[tuple[list[bytes], bytes]], bytes, bytes] | None:
    """(header up to `---`, stanzas (args, body), MAC, payload) of an armored age file, or None."""
    lines = enc.encode("ascii", "replace").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN.encode() or lines[-1] != _ARMOR_END.encode():
        return None
    body = lines[1:-1]
    if any(len(line) != 64 for line in body[:-1]) or not 0 < len(body[-1]) <= 64:
        return None
    raw = _b64(b"".join(body), padded=True)
    if raw is None:
        return None
    end = raw.find(b"\n--- ")
    eol = raw.find(b"\n", end + 5)
    if end < 0 or eol < 0:
        return None
    mac = _b64(raw[end + 5 : eol])
    header, payload = raw[: end + 4], raw[eol + 1 :]
    rows = header.split(b"\n")
    if rows[0] != _VERSION or mac is None or len(mac) != 32:
        return None
    stanzas: list[tuple[list[bytes], bytes]] = []
    i = 1
    while i < len(rows) - 1:
        head = rows[i].split(b" ")
        if head[0] != b"->" or len(head) < 2 or not all(a and _VCHAR.fullmatch(a) for a in head[1:]):
            return None
        i += 1
        text = b""
        while True:  # body lines of 64 characters, the last one shorter (possibly empty)
            if i >= len(rows) - 1:
                return None
            line = rows[i]
            i += 1
            text += line
            if len(line) > 64:
                return None
            if len(line) < 64:
                break
        stanza = _b64(text)
        if stanza is None:
            return None
        stanzas.append((head[1:], stanza))
    return header, stanzas, mac, payload


def open_data_key(enc: str, secret: str, public: str) -> bytes | None:
    """The 32-byte data key in `enc` (a sops age entry) for the identity `secret` (`public`), or None."""
    ident = _identity(secret, public)
    parsed = _parse(enc) if ident is not None else None
    if ident is None or parsed is None:
        return None
    key, pub = ident
    header, stanzas, mac, payload = parsed
    if len(payload) != _PAYLOAD or any(args[0] == b"scrypt" for args, _ in stanzas):
        return None  # a passphrase stanza must stand alone in age: pyrage says so
    openssl = _openssl()
    from cryptography.exceptions import InvalidTag  # with the binding: loaded with the first key

    for args, wrapped in stanzas:
        if args[0] != b"X25519":
            continue
        share = _b64(args[1]) if len(args) == 2 else None
        if share is None or len(share) != 32 or len(wrapped) != 32:
            return None
        try:
            shared = key.exchange(openssl.x25519.from_public_bytes(share))
        except ValueError:  # a low-order share: age refuses the all-zero secret
            return None
        try:
            file_key = openssl.aead.ChaCha20Poly1305(_hkdf(shared, share + pub, _X25519_INFO)).decrypt(
                bytes(12), wrapped, None
            )
        except InvalidTag:  # another recipient's stanza
            continue
        if not hmac.compare_digest(hmac.digest(_hkdf(file_key, b"", b"header"), header, "sha256"), mac):
            return None
        stream = openssl.aead.ChaCha20Poly1305(_hkdf(file_key, payload[:16], b"payload"))
        try:
            data = stream.decrypt(bytes(11) + b"\x01", payload[16:], None)
        except InvalidTag:
            return None
        return bytes(data) if len(data) == _DATA_KEY else None
    return None


__all__ = ["open_data_key"]
