"""SOPS stores: how a document tree and its metadata are laid out in each file format."""

from __future__ import annotations

from pathlib import PurePath

from dendrite.errors import InputError
from dendrite.sops.stores.base import Store
from dendrite.sops.stores.binary import BinaryStore
from dendrite.sops.stores.dotenv import DotenvStore
from dendrite.sops.stores.ini import IniStore
from dendrite.sops.stores.json import JsonStore
from dendrite.sops.stores.yaml import YamlStore

FORMATS = ("binary", "json", "yaml", "dotenv", "ini")
_STORES: dict[str, Store] = {
    "binary": BinaryStore(),
    "json": JsonStore(),
    "yaml": YamlStore(),
    "dotenv": DotenvStore(),
    "ini": IniStore(),
}


def format_for_path(path: str | PurePath) -> str:
    """sops' rule: the extension picks the store, anything else is binary."""
    suffix = PurePath(path).suffix.lower()
    return {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}.get(
        suffix, "binary"
    )


def store_for(fmt: str) -> Store:
    try:
        return _STORES[fmt]
    except KeyError:
        raise InputError(f"unknown file type {fmt!r}", hint="use one of: " + ", ".join(FORMATS)) from None


__all__ = ["FORMATS", "Store", "format_for_path", "store_for"]
