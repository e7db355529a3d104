"""The binary store clan uses: the whole file is one string under `data`, encrypted as JSON."""

from __future__ import annotations

from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.stores.base import Store
from dendrite.sops.stores.json import JsonStore
from dendrite.sops.tree import Branch


class BinaryStore(Store):
    name = "binary"
    _json = JsonStore()

    def load_plain(self, data: bytes, where: str) -> list[Branch]:
        # surrogateescape keeps arbitrary bytes (not only UTF-8) through the str-typed leaf exactly
        return [Branch([("data", data.decode("utf-8", "surrogateescape"))])]

    def dump_plain(self, branches: list[Branch]) -> bytes:
        if len(branches) != 1 or not branches[0].has("data"):
            raise SopsError(
                "the binary format needs a document with a single 'data' key",
                hint="choose --output-type json or yaml",
            )
        value = branches[0].get("data")
        if isinstance(value, bytes):
            return value
        if not isinstance(value, str):
            raise SopsError("the binary format needs 'data' to be a string")
        return value.encode("utf-8", "surrogateescape")

    def load_encrypted(self, data: bytes, where: str) -> tuple[list[Branch], Any]:
        return self._json.load_encrypted(data, where)

    def dump_encrypted(self, branches: list[Branch], metadata: dict[str, Any]) -> bytes:
        return self._json.dump_encrypted(branches, metadata)
