"""The document tree sops works on: ordered mappings (duplicates allowed), sequences and leaves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.values import Comment, Leaf, Timestamp

Key = str | Comment
Node = Any  # Branch | list[Node] | Leaf; recursive aliases are not worth mypy's trouble here


@dataclass
class Branch:
    """An ordered mapping. A comment is an item whose key is a Comment and whose value is None."""

    items: list[tuple[Key, Node]] = field(default_factory=list)

    def get(self, key: str) -> Node:
        for k, v in self.items:
            if k == key:
                return v
        return None

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.items)

    def without(self, key: str) -> Branch:
        return Branch([(k, v) for k, v in self.items if k != key])

    def keys(self) -> Iterator[str]:
        return (k for k, _ in self.items if isinstance(k, str))


def to_plain(node: Node) -> Any:
    """Plain Python values (dict, list, scalars); comments dropped, a repeated key keeps its last value."""
    if isinstance(node, Branch):
        return {k: to_plain(v) for k, v in node.items if isinstance(k, str)}
    if isinstance(node, list):
        return [to_plain(v) for v in node if not isinstance(v, Comment)]
    if isinstance(node, Timestamp):
        return node.text
    return node


def from_plain(value: Any, where: str = "") -> Node:
    """A tree from plain Python values; mapping keys must be strings, as in sops."""
    if isinstance(value, Branch):
        return value
    if isinstance(value, dict):
        out = Branch()
        for k, v in value.items():
            if not isinstance(k, str):
                raise SopsError(f"mapping key {k!r} at {where!r} is not a string; sops needs string keys")
            out.items.append((k, from_plain(v, f"{where}{k}:")))
        return out
    if isinstance(value, list | tuple):
        return [from_plain(v, where) for v in value]
    if value is None or isinstance(value, str | bool | int | float | bytes | Timestamp | Comment):
        return value
    raise SopsError(f"value of type {type(value).__name__} at {where!r} cannot be stored by sops")


def leaf_count(node: Node) -> int:
    if isinstance(node, Branch):
        return sum(leaf_count(v) for k, v in node.items if isinstance(k, str))
    if isinstance(node, list):
        return sum(leaf_count(v) for v in node)
    return 0 if node is None else 1


__all__ = ["Branch", "Comment", "Key", "Leaf", "Node", "from_plain", "leaf_count", "to_plain"]
