"""Static scoping: which variables an expression uses without binding them (Nix's bindVars).

Nix 2.x resolves every variable while parsing, so `nix-instantiate --parse` rejects an undefined one.
A variable is bound by a lambda (its argument, formals and `@` name), a `let`, a `rec` set (or the
legacy `let { }`), or Nix's global names; under `with e;` any name may come from `e`, so none is an
error there, but such uses are reported apart, since a linter wants to know about them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dendrite.nixlang import syntax as S
from dendrite.nixlang import tokens as T
from dendrite.nixlang.strings import attr_static_name
from dendrite.nixlang.syntax import Node
from dendrite.nixlang.tokens import Token

# the names Nix 2.8's base environment binds (builtins and their unprefixed aliases), read off nix 2.8.0
GLOBALS: frozenset[str] = frozenset(
    {
        "__add",
        "__addErrorContext",
        "__all",
        "__any",
        "__appendContext",
        "__attrNames",
        "__attrValues",
        "__bitAnd",
        "__bitOr",
        "__bitXor",
        "__catAttrs",
        "__ceil",
        "__compareVersions",
        "__concatLists",
        "__concatMap",
        "__concatStringsSep",
        "__curPos",
        "__currentSystem",
        "__currentTime",
        "__deepSeq",
        "__div",
        "__elem",
        "__elemAt",
        "__fetchurl",
        "__filter",
        "__filterSource",
        "__findFile",
        "__floor",
        "__foldl'",
        "__fromJSON",
        "__functionArgs",
        "__genList",
        "__genericClosure",
        "__getAttr",
        "__getContext",
        "__getEnv",
        "__groupBy",
        "__hasAttr",
        "__hasContext",
        "__hashFile",
        "__hashString",
        "__head",
        "__intersectAttrs",
        "__isAttrs",
        "__isBool",
        "__isFloat",
        "__isFunction",
        "__isInt",
        "__isList",
        "__isPath",
        "__isString",
        "__langVersion",
        "__length",
        "__lessThan",
        "__listToAttrs",
        "__mapAttrs",
        "__match",
        "__mul",
        "__nixPath",
        "__nixVersion",
        "__parseDrvName",
        "__partition",
        "__path",
        "__pathExists",
        "__readDir",
        "__readFile",
        "__replaceStrings",
        "__seq",
        "__sort",
        "__split",
        "__splitVersion",
        "__storeDir",
        "__storePath",
        "__stringLength",
        "__sub",
        "__substring",
        "__tail",
        "__toFile",
        "__toJSON",
        "__toPath",
        "__toXML",
        "__trace",
        "__tryEval",
        "__typeOf",
        "__unsafeDiscardOutputDependency",
        "__unsafeDiscardStringContext",
        "__unsafeGetAttrPos",
        "__zipAttrsWith",
        "abort",
        "baseNameOf",
        "builtins",
        "derivation",
        "derivationStrict",
        "dirOf",
        "false",
        "fetchGit",
        "fetchMercurial",
        "fetchTarball",
        "fetchTree",
        "fromTOML",
        "import",
        "isNull",
        "map",
        "null",
        "placeholder",
        "removeAttrs",
        "scopedImport",
        "throw",
        "toString",
        "true",
    }
)


@dataclass(frozen=True)
class VariableUse:
    name: str
    token: Token
    under_with: bool  # inside a `with`, so it may come from the `with` expression


class _Scope:
    __slots__ = ("names", "parent", "with_")

    def __init__(self, names: frozenset[str], parent: _Scope | None, with_: bool = False) -> None:
        self.names = names
        self.parent = parent
        self.with_ = with_

    def lookup(self, name: str) -> str:
        """'bound', 'with' (only a `with` may provide it) or 'free'."""
        scope: _Scope | None = self
        seen_with = False
        while scope is not None:
            if name in scope.names:
                return "bound"
            seen_with = seen_with or scope.with_
            scope = scope.parent
        if name in GLOBALS:
            return "bound"
        return "with" if seen_with else "free"


def _binding_names(container: Node) -> frozenset[str]:
    """Names a `let`, `rec { }` or legacy `let { }` binds: the first static component of each path."""
    names: set[str] = set()
    for child in container.nodes():
        if child.kind == S.BINDING:
            path = child.child(S.ATTRPATH)
            attrs = [a for a in path.nodes() if a.kind == S.ATTR] if path is not None else []
            if attrs:
                name = attr_static_name(attrs[0])
                if name is not None:
                    names.add(name)
        elif child.kind == S.INHERIT:
            for attr in child.nodes():
                if attr.kind == S.ATTR:
                    name = attr_static_name(attr)
                    if name is not None:
                        names.add(name)
    return frozenset(names)


def _formal_names(param: Node) -> frozenset[str]:
    names: set[str] = set()
    for c in param.children:
        if isinstance(c, Token) and c.kind == T.ID:
            names.add(c.text)
        elif isinstance(c, Node) and c.kind == S.PAT_BIND:
            tok = c.token(T.ID)
            if tok is not None:
                names.add(tok.text)
        elif isinstance(c, Node) and c.kind == S.PATTERN:
            for entry in c.nodes():
                tok = entry.token(T.ID) if entry.kind == S.PAT_ENTRY else None
                if tok is not None:
                    names.add(tok.text)
    return frozenset(names)


# node kinds that use, bind or hide variables; every other node just passes its scope down
_SCOPING = frozenset({S.IDENT, S.LAMBDA, S.LET_IN, S.LEGACY_LET, S.ATTR_SET, S.WITH, S.INHERIT, S.ATTR})


def variable_uses(node: Node) -> Iterator[tuple[Token, str]]:
    """Every variable use below `node` with its resolution: 'bound', 'with' or 'free'."""
    stack: list[tuple[Node, _Scope]] = [(node, _Scope(frozenset(), None))]
    pop = stack.pop
    while stack:
        n, scope = pop()
        k = n.kind
        if k not in _SCOPING or (k == S.ATTR_SET and n.token("rec") is None):
            stack.extend([(c, scope) for c in reversed(n.children) if isinstance(c, Node)])
            continue
        if k == S.IDENT:
            first = n.children[0] if n.children else None
            tok = first if isinstance(first, Token) else n.first_token()
            if tok is not None and tok.text != "__curPos":
                yield tok, scope.lookup(tok.text)
            continue
        if k == S.LAMBDA:
            param = n.child(S.PARAM)
            inner = _Scope(_formal_names(param), scope) if param is not None else scope
            for c in reversed(n.nodes()):
                if c is param:
                    for pat in c.nodes():
                        if pat.kind == S.PATTERN:
                            for entry in reversed(pat.nodes()):
                                stack.extend((d, inner) for d in reversed(entry.nodes()))
                else:
                    stack.append((c, inner))
            continue
        if k in (S.LET_IN, S.LEGACY_LET, S.ATTR_SET):  # a set here is a `rec` one
            inner = _Scope(_binding_names(n), scope)
            for c in reversed(n.nodes()):
                if c.kind == S.INHERIT:
                    # `inherit a` reads the enclosing scope; `inherit (e) a` evaluates e in this one
                    yield from _inherit_uses(c, outer=scope, source=inner, stack=stack)
                else:
                    stack.append((c, inner))  # bindings (names and values) and the `in` body
            continue
        if k == S.WITH:
            parts = n.nodes()
            if parts:
                stack.append((parts[0], scope))
                inner = _Scope(frozenset(), scope, with_=True)
                stack.extend((c, inner) for c in reversed(parts[1:]))
            continue
        if k == S.INHERIT:
            yield from _inherit_uses(n, outer=scope, source=scope, stack=stack)
            continue
        if k == S.ATTR:
            # an attribute name is a variable only inside `${}` or an interpolated string
            for part in reversed(n.children):
                if not isinstance(part, Node):
                    continue
                if part.kind == S.INTERPOL:
                    stack.append((part, scope))
                elif part.kind in (S.STRING, S.IND_STRING):
                    stack.extend((d, scope) for d in reversed(part.nodes()))


def _inherit_uses(
    node: Node, outer: _Scope, source: _Scope, stack: list[tuple[Node, _Scope]]
) -> Iterator[tuple[Token, str]]:
    attrs = [a for a in node.nodes() if a.kind == S.ATTR]
    origin = node.child(S.INHERIT_FROM)
    if origin is not None:
        if attrs:  # with no names, Nix never builds (nor resolves) the source expression
            stack.append((origin, source))
        return
    for attr in attrs:
        name = attr_static_name(attr)
        tok = attr.first_token()
        if name is not None and tok is not None:
            yield Token(T.ID, name, tok.start), outer.lookup(name)


def undefined_variables(node: Node) -> list[Token]:
    """Variables Nix would reject: used where nothing, not even a `with`, can bind them."""
    return [tok for tok, how in variable_uses(node) if how == "free"]


def free_variables(node: Node) -> list[VariableUse]:
    """Variables not bound inside `node` (nor global): what the expression needs from its context."""
    return [VariableUse(tok.text, tok, how == "with") for tok, how in variable_uses(node) if how != "bound"]
