"""Questions the other packages ask of a Nix file, answered from the syntax tree alone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from dendrite.nixlang import syntax as S
from dendrite.nixlang import tokens as T
from dendrite.nixlang.scope import VariableUse, free_variables
from dendrite.nixlang.strings import attr_static_name
from dendrite.nixlang.syntax import Node


@dataclass(frozen=True)
class Binding:
    """`path = value;` with the full path (None for a dynamic component) and its nodes."""

    path: tuple[str | None, ...]
    value: Node
    node: Node

    @property
    def dotted(self) -> str:
        return ".".join(p if p is not None else "${…}" for p in self.path)


def _unwrap(node: Node) -> Node:
    while node.kind == S.PAREN and node.nodes():
        node = node.nodes()[0]
    return node


def attr_names(path: Node) -> tuple[str | None, ...]:
    return tuple(attr_static_name(a) for a in path.nodes() if a.kind == S.ATTR)


def bindings(attrset: Node) -> list[Binding]:
    """The bindings written directly in an attribute set (or let), in order."""
    out = []
    for child in attrset.nodes():
        if child.kind == S.BINDING:
            parts = child.nodes()
            if len(parts) >= 2 and parts[0].kind == S.ATTRPATH:
                out.append(Binding(attr_names(parts[0]), parts[1], child))
    return out


def flat_bindings(
    attrset: Node, prefix: tuple[str | None, ...] = (), max_depth: int | None = None
) -> Iterator[Binding]:
    """Bindings with their full paths, through nested literal sets.

    `flake.modules = { nixos.foo = …; }` yields `flake.modules.nixos.foo = …` when `max_depth` is 4
    (and the leaves inside `…` without a limit). A value that is not a non-recursive literal set, or
    a path already `max_depth` long, is not entered.
    """
    # an explicit stack of pending bindings, not recursion: sets may nest as deep as the parser allows
    stack = [(prefix + b.path, b) for b in reversed(bindings(attrset))]
    while stack:
        path, b = stack.pop()
        value = _unwrap(b.value)
        inner = bindings(value) if value.kind == S.ATTR_SET and value.token("rec") is None else []
        if inner and (max_depth is None or len(path) < max_depth):
            stack.extend((path + c.path, c) for c in reversed(inner))
        else:
            yield Binding(path, b.value, b.node)


def binding_at(attrset: Node, path: Sequence[str]) -> Node | None:
    """The BINDING node that sets exactly `path`, written whole or through nested literal sets."""
    want = tuple(path)
    for b in bindings(attrset):
        if b.path == want:
            return b.node
        n = len(b.path)
        if n < len(want) and want[:n] == b.path:
            value = _unwrap(b.value)
            if value.kind == S.ATTR_SET and value.token("rec") is None:
                found = binding_at(value, want[n:])
                if found is not None:
                    return found
    return None


@dataclass(frozen=True)
class Formal:
    name: str
    default: Node | None


@dataclass(frozen=True)
class Formals:
    names: tuple[Formal, ...]
    ellipsis: bool
    bind: str | None  # the `args@` name
    simple: str | None  # the name of a plain `x:` argument

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.names) or name in (self.bind, self.simple)


def formals(function: Node) -> Formals | None:
    if function.kind != S.LAMBDA:
        return None
    param = function.child(S.PARAM)
    if param is None:
        return None
    simple = next((c.text for c in param.children if not isinstance(c, Node) and c.kind == T.ID), None)
    bind_node = param.child(S.PAT_BIND)
    bind = bind_node.token(T.ID) if bind_node is not None else None
    pattern = param.child(S.PATTERN)
    names: list[Formal] = []
    ellipsis = False
    if pattern is not None:
        ellipsis = pattern.token("...") is not None
        for entry in pattern.nodes():
            tok = entry.token(T.ID) if entry.kind == S.PAT_ENTRY else None
            if tok is not None:
                default = entry.nodes()
                names.append(Formal(tok.text, default[0] if default else None))
    return Formals(tuple(names), ellipsis, bind.text if bind is not None else None, simple)


def module_body(root: Node) -> Node | None:
    """The attribute set a module file evaluates to: through functions, `let`, `with` and parentheses."""
    node = root.nodes()[0] if root.kind == S.ROOT and root.nodes() else root
    while True:
        node = _unwrap(node)
        if node.kind in (S.LAMBDA, S.LET_IN, S.WITH, S.ASSERT):
            node = node.nodes()[-1]
            continue
        return node if node.kind == S.ATTR_SET else None


def imports(root: Node) -> list[Node]:
    """The elements of a module's `imports = [ … ];` (through `with x;` and parentheses)."""
    body = module_body(root)
    if body is None:
        return []
    found = binding_at(body, ["imports"])
    if found is None:
        return []
    value = _unwrap(found.nodes()[-1])
    while value.kind == S.WITH:
        value = _unwrap(value.nodes()[-1])
    return value.nodes() if value.kind == S.LIST else []


@dataclass(frozen=True)
class Select:
    """`base.a.b` with its static dotted path (the base an identifier, no dynamic part), if any."""

    node: Node
    dotted: str | None


def selects(node: Node) -> list[Select]:
    out = []
    for n in node.walk():
        if n.kind != S.SELECT:
            continue
        parts = n.nodes()
        base = _unwrap(parts[0])
        names = attr_names(parts[1]) if len(parts) > 1 else ()
        if base.kind == S.IDENT and None not in names:
            tok = base.first_token()
            out.append(Select(n, ".".join([tok.text if tok else "?", *names])))  # type: ignore[list-item]
        else:
            out.append(Select(n, None))
    return out


def with_scopes(node: Node) -> list[Node]:
    """Every `with e;` expression below `node` (the names in its body may come from e)."""
    return [n for n in node.walk() if n.kind == S.WITH]


__all__ = [
    "Binding",
    "Formal",
    "Formals",
    "Select",
    "VariableUse",
    "binding_at",
    "bindings",
    "flat_bindings",
    "formals",
    "free_variables",
    "imports",
    "module_body",
    "selects",
    "with_scopes",
]
