"""SOPS stores: how a document tree and its metadata are laid out in each file format."""

from __future__ import annotations

import importlib
from pathlib import PurePath

from dendrite.errors import InputError
from dendrite.sops.stores.base import Store

FORMATS = ("binary", "json", "yaml", "dotenv", "ini")
# each format's module and class, imported when a file of that format is read or written: clan's
# secrets are JSON, and the YAML store alone (ruamel.yaml) costs more than decrypting one
_CLASSES = {
    "binary": ("dendrite.sops.stores.binary", "BinaryStore"),
    "json": ("dendrite.sops.stores.json", "JsonStore"),
    "yaml": ("dendrite.sops.stores.yaml", "YamlStore"),
    "dotenv": ("dendrite.sops.stores.dotenv", "DotenvStore"),
    "ini": ("dendrite.sops.stores.ini", "IniStore"),
}
_STORES: dict[str, Store] = {}


def format_for_path(path: str | PurePath) -> str:
    """sops' rule: the extension picks the store, anything else is binary."""
    suffix = PurePath(path).suffix.lower()
    return {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv", ".ini": "ini"}.get(
        suffix, "binary"
    )


def store_for(fmt: str) -> Store:
    store = _STORES.get(fmt)
    if store is None:
        if fmt not in _CLASSES:
            raise InputError(f"unknown file type {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
        module, cls = _CLASSES[fmt]
        store = _STORES[fmt] = getattr(importlib.import_module(module), cls)()
    return store


__all__ = ["FORMATS", "Store", "format_for_path", "store_for"]
