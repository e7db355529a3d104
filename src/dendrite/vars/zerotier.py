"""ZeroTier identities, network ids and member addresses, as ZeroTier and clan compute them.

An identity is a Curve25519 key pair (key agreement) and an Ed25519 key pair (signatures). Generation
is ZeroTier's hashcash: keep the Ed25519 half, step the Curve25519 private key, and accept the pair when
the memory-hard hash of the 64-byte public key (SHA-512, then Salsa20/20 over 2 MiB) starts with a byte
below 17; the node id is the hash's last five bytes. Salsa20 comes from pycryptodome.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import struct
from dataclasses import dataclass

from Crypto.Cipher import Salsa20
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dendrite.errors import InputError

GEN_MEMORY = 2 * 1024 * 1024
_WORDS = GEN_MEMORY // 8
_FIRST_BYTE_LESS_THAN = 17
_MASK64 = (1 << 64) - 1


def memory_hard_hash(public: bytes) -> bytes:
    """ZeroTier's _computeMemoryHardHash of a 64-byte public key: the 64-byte digest."""
    digest = bytearray(hashlib.sha512(public).digest())
    cipher = Salsa20.new(key=bytes(digest[:32]), nonce=bytes(digest[32:40]))
    # genmem: block 0 is keystream block 0; block i is block i-1 XOR keystream block i (sequential by design)
    stream = cipher.encrypt(bytes(GEN_MEMORY))
    words = list(struct.unpack(f"<{_WORDS}Q", stream))
    for i in range(8, _WORDS, 8):
        for j in range(i, i + 8):
            words[j] ^= words[j - 8]
    # the digest then walks genmem as a lookup table, re-encrypted after every swap
    d = list(struct.unpack("<8Q", digest))
    tail = struct.unpack(f"<{_WORDS // 2 * 8}Q", cipher.encrypt(bytes(_WORDS // 2 * 64)))
    swap = _byteswap
    k = 0
    for i in range(0, _WORDS, 2):
        idx1 = swap(words[i]) % 8
        idx2 = swap(words[i + 1]) % _WORDS
        words[idx2], d[idx1] = d[idx1], words[idx2]
        d[0] ^= tail[k]
        d[1] ^= tail[k + 1]
        d[2] ^= tail[k + 2]
        d[3] ^= tail[k + 3]
        d[4] ^= tail[k + 4]
        d[5] ^= tail[k + 5]
        d[6] ^= tail[k + 6]
        d[7] ^= tail[k + 7]
        k += 8
    return struct.pack("<8Q", *d)


def _byteswap(v: int) -> int:
    """ntoh of a little-endian word (ZeroTier reads genmem words as big-endian numbers)."""
    return int.from_bytes(v.to_bytes(8, "little"), "big")


@dataclass(frozen=True)
class Identity:
    address: str  # 10 hex digits, the node id
    public: bytes  # 64 bytes: Curve25519 public, then Ed25519 public
    private: bytes  # 64 bytes: Curve25519 private, then Ed25519 seed

    def secret_text(self) -> str:
        """`zerotier-idtool generate` output: address:0:public:private."""
        return f"{self.address}:0:{self.public.hex()}:{self.private.hex()}"

    def public_text(self) -> str:
        return f"{self.address}:0:{self.public.hex()}"


def _public_halves(private: bytes) -> bytes:
    dh = (
        X25519PrivateKey.from_private_bytes(private[:32])
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    ed = (
        Ed25519PrivateKey.from_private_bytes(private[32:])
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return dh + ed


def _reserved(address: bytes) -> bool:
    return address == bytes(5) or address[0] == 0xFF


def generate_identity(seed: bytes | None = None) -> Identity:
    """A new identity by ZeroTier's algorithm (C25519::generateSatisfying + Identity::generate)."""
    private = bytearray(seed if seed is not None else os.urandom(64))
    ed_public = _public_halves(bytes(private))[32:]
    while True:
        # ++priv[1] and --priv[2] as 64-bit words (ZeroTier steps only the Curve25519 half)
        w1, w2 = struct.unpack_from("<QQ", private, 8)
        struct.pack_into("<QQ", private, 8, (w1 + 1) & _MASK64, (w2 - 1) & _MASK64)
        dh = (
            X25519PrivateKey.from_private_bytes(bytes(private[:32]))
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        public = dh + ed_public
        digest = memory_hard_hash(public)
        if digest[0] < _FIRST_BYTE_LESS_THAN and not _reserved(digest[59:64]):
            return Identity(digest[59:64].hex(), public, bytes(private))


def parse_identity(text: str) -> Identity:
    parts = text.strip().split(":")
    if len(parts) != 4 or parts[1] != "0" or len(parts[0]) != 10:
        raise InputError("not a ZeroTier identity (expected address:0:public:private)")
    try:
        return Identity(parts[0], bytes.fromhex(parts[2]), bytes.fromhex(parts[3]))
    except ValueError:
        raise InputError("a ZeroTier identity with malformed hex") from None


def validate_identity(identity: Identity) -> bool:
    """Identity::locallyValidate: the address is the hash's tail and the hashcash criterion holds,
    and (with the private key) the public key belongs to it."""
    if len(identity.public) != 64:
        return False
    digest = memory_hard_hash(identity.public)
    if digest[0] >= _FIRST_BYTE_LESS_THAN or digest[59:64].hex() != identity.address:
        return False
    return not identity.private or _public_halves(identity.private) == identity.public


def network_id(controller_address: str) -> str:
    """clan: the controller's node id followed by six random hex digits, never 000000."""
    while True:
        suffix = secrets.token_hex(3)
        if suffix != "000000":
            return controller_address + suffix


def member_ip(network: str, address: str) -> str:
    """RFC 4193 address of a member: fd, the network id, 99 93, the node id (clan's compute_zerotier_ip)."""
    if len(network) != 16 or len(address) != 10:
        raise InputError(f"malformed zerotier network id {network!r} or node id {address!r}")
    raw = bytes([0xFD]) + bytes.fromhex(network) + bytes([0x99, 0x93]) + bytes.fromhex(address)
    return ipaddress.IPv6Address(raw).compressed
