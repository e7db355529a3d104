"""The interface every store implements, and the flattening that dotenv and INI use for metadata."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.tree import Branch


class Store(ABC):
    name: str

    @abstractmethod
    def load_plain(self, data: bytes, where: str) -> list[Branch]:
        """Parse a cleartext file into branches (one per document)."""

    @abstractmethod
    def dump_plain(self, branches: list[Branch]) -> bytes:
        """Serialize cleartext branches."""

    @abstractmethod
    def load_encrypted(self, data: bytes, where: str) -> tuple[list[Branch], Any]:
        """Parse an encrypted file: the branches without `sops`, and the raw metadata (plain values)."""

    @abstractmethod
    def dump_encrypted(self, branches: list[Branch], metadata: dict[str, Any]) -> bytes:
        """Serialize encrypted branches with the metadata appended last to each."""


def decode_text(data: bytes, where: str, what: str) -> str:
    """The file as UTF-8 text, or one sentence saying where it is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SopsError(
            f"{where}: not valid UTF-8 {what} (byte {exc.start})", hint="check the --input-type"
        ) from None


def split_metadata(branches: list[Branch], where: str) -> tuple[list[Branch], Any]:
    """Take the top-level `sops` key out of every branch; the first branch's metadata is used."""
    if not branches or not branches[0].has("sops"):
        raise SopsError(
            f"{where}: no 'sops' metadata found: the file is not encrypted with sops",
            hint="check the --input-type, or encrypt the file first",
        )
    from dendrite.sops.tree import to_plain

    meta = to_plain(branches[0].get("sops"))
    return [b.without("sops") for b in branches], meta


def flatten(meta: dict[str, Any], prefix: str) -> dict[str, str]:
    """sops' flatten for dotenv/INI: nested keys joined with __map_<k> and __list_<i>."""
    out: dict[str, str] = {}

    def go(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                go(v, f"{key}__map_{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                go(v, f"{key}__list_{i}")
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)

    for k, v in meta.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                go(v2, f"{prefix}{k}__map_{k2}")
        elif isinstance(v, list):
            for i, v2 in enumerate(v):
                go(v2, f"{prefix}{k}__list_{i}")
        else:
            go(v, f"{prefix}{k}")
    return dict(sorted(out.items()))


def unflatten(flat: dict[str, str], where: str) -> dict[str, Any]:
    """The inverse of `flatten` (without prefix)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("__")
        path: list[str | int] = [parts[0]]
        for p in parts[1:]:
            if p.startswith("map_"):
                path.append(p[4:])
            elif p.startswith("list_") and p[5:].isdigit():
                path.append(int(p[5:]))
            else:
                raise SopsError(f"{where}: malformed flattened metadata key {key!r}")
        cur: Any = root
        for here, nxt in itertools.pairwise(path):
            container: Any = [] if isinstance(nxt, int) else {}
            if isinstance(cur, dict):
                cur = cur.setdefault(here, container)
            else:
                assert isinstance(here, int)
                while len(cur) <= here:
                    cur.append(None)
                if cur[here] is None:
                    cur[here] = container
                cur = cur[here]
        last = path[-1]
        if isinstance(cur, dict):
            cur[last] = value
        else:
            assert isinstance(last, int)
            while len(cur) <= last:
                cur.append(None)
            cur[last] = value
    return root
