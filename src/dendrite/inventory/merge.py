"""Merging definitions as the Nix module system merges clan's inventory options.

Attribute sets merge key by key, lists concatenate (in source order), and two different scalars at
the same path are a conflict that names both places. Every definition keeps where it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dendrite.errors import ConflictError

Path_ = tuple[str, ...]


@dataclass(frozen=True)
class Location:
    """Where a definition was written: a file and line, or a description (a directory, the CLI)."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class Definition:
    """One source's contribution: a plain value, and locations of its paths (the nearest prefix counts).

    `locate` computes the locations the first time one is asked for: most runs never need them.
    """

    value: dict[str, Any]
    origin: Location
    locations: dict[Path_, Location] = field(default_factory=dict)
    locate: Callable[[], dict[Path_, Location]] | None = None

    def where(self, path: Path_) -> Location:
        if self.locate is not None:
            self.locations.update(self.locate())
            self.locate = None
        for n in range(len(path), 0, -1):
            loc = self.locations.get(path[:n])
            if loc is not None:
                return loc
        return self.origin


@dataclass
class Merged:
    value: dict[str, Any]
    provenance: dict[Path_, list[Definition]]  # who defined each path; places are looked up when asked

    def where(self, path: Path_) -> list[Location]:
        for n in range(len(path), -1, -1):
            defs = self.provenance.get(path[:n])
            if defs:
                return list(dict.fromkeys(d.where(path[:n]) for d in defs))
        return []


def merge(definitions: list[Definition]) -> Merged:
    if len(definitions) == 1:  # nothing to merge: every path comes from the one definition
        return Merged(definitions[0].value, {(): [definitions[0]]})
    out: dict[str, Any] = {}
    provenance: dict[Path_, list[Definition]] = {}
    owners: dict[Path_, tuple[Definition, Any]] = {}

    def put(target: dict[str, Any], key: str, value: Any, path: Path_, d: Definition) -> None:
        defs = provenance.setdefault(path, [])
        if not defs or defs[-1] is not d:
            defs.append(d)
        if key not in target:
            owners[path] = (d, value)
            if isinstance(value, dict):  # descend, so that every path below records where it came from
                target[key] = {}
                for k, v in value.items():
                    put(target[key], k, v, (*path, k), d)
            else:
                target[key] = _copy(value)
            return
        current = target[key]
        if isinstance(current, dict) and isinstance(value, dict):
            for k, v in value.items():
                put(current, k, v, (*path, k), d)
            return
        if isinstance(current, list) and isinstance(value, list):
            current.extend(_copy(value))
            return
        if current == value and type(current) is type(value):
            return
        first = next((owners[path[:n]][0] for n in range(len(path), 0, -1) if path[:n] in owners), d)
        raise ConflictError(
            f"'{'.'.join(path)}' is defined as {_show(current)} at {first.where(path)} and as {_show(value)} "
            f"at {d.where(path)}",
            hint="the module system cannot merge two different values: keep one, or use lib.mkForce in Nix",
        )

    for d in definitions:
        for k, v in d.value.items():
            put(out, k, v, (k,), d)
    return Merged(out, provenance)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _show(value: Any) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) < 60 else text[:57] + "..."
