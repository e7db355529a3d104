"""Which clan-core a repository pins (flake.lock), and the service catalogue that matches it.

clan's settings, roles and generators belong to a clan-core revision. dendrite ships a catalogue made from
one revision (`dendrite/data/clan-services.json`); a repository may pin another. When the pinned source is
in the local Nix store (found from the lock's narHash, as Nix names a fetched source), its
`clanServices/` are read with the same extractor that made the bundled data, and checked against those.
Otherwise the bundled catalogue is used and a possible difference is reported as a warning naming both
revisions, never an error: the repository is not wrong for pinning another clan-core.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from dendrite import boundedjson
from dendrite.errors import DendriteError
from dendrite.inventory.catalogue import Catalogue, bundled, catalogue_from_data
from dendrite.inventory.clanservices import catalogue_data
from dendrite.repofs import RepoFS

LOCK_FILE = "flake.lock"
CLAN_INPUT_NAMES = ("clan-core", "clan")
STORE = Path("/nix/store")
_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"


@dataclass(frozen=True)
class Pin:
    """flake.lock's clan-core input: its name, revision, NAR hash, and its source if it is on this machine."""

    input: str
    rev: str | None
    nar_hash: str | None
    source: Path | None

    @property
    def short(self) -> str:
        return (self.rev or "unknown")[:12]


@dataclass(frozen=True)
class Choice:
    """The catalogue to check a repository against, and what to say about its revision."""

    catalogue: Catalogue
    pin: Pin | None
    severity: str  # "info" or "warning"
    message: str


def nix32(data: bytes) -> str:
    """Nix's base-32 (the alphabet without e, o, u, t; least significant bits first)."""
    out = []
    for n in range((len(data) * 8 - 1) // 5, -1, -1):
        b = n * 5
        i, j = divmod(b, 8)
        c = data[i] >> j
        if i + 1 < len(data):
            c |= data[i + 1] << (8 - j)
        out.append(_NIX32[c & 0x1F])
    return "".join(out)


def store_path(nar_hash: str, name: str = "source", store: Path = STORE) -> Path | None:
    """Where Nix stores a fetched source with this narHash (`sha256-<base64>`): a fixed-output, recursive
    sha256 path (`makeFixedOutputPath`), so the path follows from the hash alone. None if not sha256."""
    algo, _, b64 = nar_hash.partition("-")
    if algo != "sha256":
        return None
    try:
        digest = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(digest) != 32:
        return None
    fingerprint = f"source:sha256:{digest.hex()}:{store}:{name}"
    full = hashlib.sha256(fingerprint.encode()).digest()
    short = bytearray(20)
    for i, byte in enumerate(full):
        short[i % 20] ^= byte
    return store / f"{nix32(bytes(short))}-{name}"


def _clan_node(lock: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    nodes = lock.get("nodes")
    if not isinstance(nodes, dict):
        return None
    root = nodes.get(lock.get("root", "root"), {})
    inputs = root.get("inputs", {}) if isinstance(root, dict) else {}
    if not isinstance(inputs, dict):
        return None
    for name in CLAN_INPUT_NAMES:
        key = inputs.get(name)
        if isinstance(key, str) and isinstance(nodes.get(key), dict):
            return name, nodes[key]
    return None


def pinned(root: Path, store: Path | None = None) -> Pin | None:
    """The clan-core input flake.lock pins (the root input named clan-core or clan), or None."""
    fs = RepoFS(root)
    if not fs.is_file(LOCK_FILE):
        return None
    try:
        lock = boundedjson.loads(fs.read_text(LOCK_FILE), LOCK_FILE)
    except (ValueError, DendriteError):
        return None  # an unreadable lock is another check's finding; the bundled catalogue still applies
    found = _clan_node(lock) if isinstance(lock, dict) else None
    if found is None:
        return None
    name, node = found
    locked = node.get("locked", {}) if isinstance(node.get("locked"), dict) else {}
    rev = locked.get("rev") if isinstance(locked.get("rev"), str) else None
    nar = locked.get("narHash") if isinstance(locked.get("narHash"), str) else None
    return Pin(name, rev, nar, _source(root, locked, nar, store or STORE))


def _source(root: Path, locked: dict[str, Any], nar: str | None, store: Path) -> Path | None:
    candidates = []
    if nar is not None:
        path = store_path(nar, store=store)
        if path is not None:
            candidates.append(path)
    if locked.get("type") == "path" and isinstance(locked.get("path"), str):
        # a `path` input is read only inside the repository: flake.lock is the repository's, and
        # `/home/you/project` or `../..` is not (Nix copied the input to the store, found by narHash)
        found = Path(os.path.realpath(root / locked["path"]))
        if found.is_relative_to(os.path.realpath(root)) and not (found / "clanServices").is_symlink():
            candidates.append(found)
    return next((c for c in candidates if (c / "clanServices").is_dir()), None)


@cache
def _catalogue_at(source: Path, rev: str) -> Catalogue:
    """A source's services, read once per process (a store path never changes)."""
    return catalogue_from_data(catalogue_data(source / "clanServices", rev, ""), origin=str(source))


def choose(root: Path, store: Path | None = None) -> Choice:
    """The catalogue for the repository at `root` and one sentence on how it relates to flake.lock."""
    base = bundled()
    made = f"clan-core {base.revision[:12]} ({base.date})"
    pin = pinned(root, store)
    if pin is None or pin.rev is None:
        return Choice(
            base,
            pin,
            "info",
            f"settings and generators are checked against {made}: flake.lock pins no clan-core revision",
        )
    if pin.rev == base.revision:
        return Choice(
            base,
            pin,
            "info",
            f"settings and generators are checked against {made}, the revision flake.lock pins",
        )
    if pin.source is not None:
        pinned_cat = _catalogue_at(pin.source, pin.rev)
        return Choice(
            pinned_cat,
            pin,
            "info",
            f"settings and generators are checked against clan-core "
            f"{pin.short}, the revision flake.lock pins, read from {pin.source}",
        )
    return Choice(
        base,
        pin,
        "warning",
        f"flake.lock pins clan-core {pin.short} but dendrite's service "
        f"catalogue was made from {made}; roles, settings and generators may differ between "
        f"the two (fetch the pinned source with `nix flake archive` to check against it)",
    )
