"""Edits that change one node and keep every other byte: replace, insert a binding, remove a binding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dendrite.errors import InputError
from dendrite.nixlang import syntax as S
from dendrite.nixlang.parser import parse
from dendrite.nixlang.printer import key, to_nix
from dendrite.nixlang.query import binding_at, bindings, module_body
from dendrite.nixlang.syntax import Node


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    text: str


def apply(src: str, edits: Sequence[Edit]) -> str:
    """Apply non-overlapping edits (offsets into `src`)."""
    out = []
    pos = 0
    for e in sorted(edits, key=lambda e: e.start):
        if e.start < pos:
            raise InputError("overlapping edits")
        out.append(src[pos : e.start])
        out.append(e.text)
        pos = e.end
    out.append(src[pos:])
    return "".join(out)


def _checked(src: str) -> str:
    result = parse(src)
    syntax = [e for e in result.errors if not e.message.startswith("undefined variable")]
    if syntax:
        raise InputError(f"the edit would produce invalid Nix: {syntax[0].message}")
    return src


def replace(src: str, node: Node, text: str) -> str:
    """Replace a node's text (its leading trivia stays)."""
    return _checked(apply(src, [Edit(node.start, node.end, text)]))


def _line_indent(src: str, offset: int) -> str:
    line_start = src.rfind("\n", 0, offset) + 1
    prefix = src[line_start:offset]
    return prefix[: len(prefix) - len(prefix.lstrip(" \t"))]


def insert_binding(src: str, attrset: Node, path: Sequence[str], value: Any) -> str:
    """Add `path = value;` as the last binding of an attribute set, indented like its siblings."""
    close = attrset.last_token()
    if close is None or close.text != "}":
        raise InputError("not an attribute set")
    existing = [b for b in attrset.nodes() if b.kind in (S.BINDING, S.INHERIT)]
    anchor_node = existing[-1] if existing else attrset
    indent = _line_indent(src, anchor_node.start) + ("" if existing else "  ")
    level = len(indent) // 2
    text = f"{'.'.join(key(p) for p in path)} = {to_nix(value, indent=level)};"
    if existing:
        anchor = existing[-1].end
        return _checked(apply(src, [Edit(anchor, anchor, f"\n{indent}{text}")]))
    open_tok = next(t for t in attrset.tokens() if t.text == "{")
    closing_indent = _line_indent(src, close.start)
    return _checked(apply(src, [Edit(open_tok.end, close.start, f"\n{indent}{text}\n{closing_indent}")]))


def remove_binding(src: str, binding: Node) -> str:
    """Remove a binding; when it sits alone on its lines, the lines go too."""
    start, end = binding.start, binding.end
    line_start = src.rfind("\n", 0, start) + 1
    line_end = src.find("\n", end)
    line_end = len(src) if line_end == -1 else line_end
    if not src[line_start:start].strip() and not src[end:line_end].strip():
        start, end = line_start, min(line_end + 1, len(src))
    return _checked(apply(src, [Edit(start, end, "")]))


def set_value(src: str, path: Sequence[str], value: Any) -> str:
    """Set `path` in a module file's attribute set: replace the value if bound, else add the binding."""
    root = parse(src).root
    body = module_body(root)
    if body is None:
        raise InputError("the file is not an attribute set (or a function returning one)")
    found = binding_at(body, path)
    if found is not None:
        level = len(_line_indent(src, found.start)) // 2
        value_node = found.nodes()[-1]
        return replace(src, value_node, to_nix(value, indent=level))
    return insert_binding(src, body, path, value)


__all__ = ["Edit", "apply", "bindings", "insert_binding", "remove_binding", "replace", "set_value"]
