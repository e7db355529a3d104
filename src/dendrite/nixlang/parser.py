"""A recursive-descent parser for the whole Nix language, giving a lossless tree and every error.

Grammar and precedence follow Nix 2.x's parser.y; `nix-instantiate --parse` is the oracle in the
tests. Beyond the grammar, Nix rejects some programs while parsing, and so does this parser: repeated
attributes and formals, dynamic attributes in `let` and `inherit`, integers that overflow, trailing
slashes in paths. Errors do not stop the parse: a broken binding is wrapped in an ERROR node and the
parser resumes at the next `;` or `}`, so one mistake does not hide the rest of the file.

`recognise.py` runs the same grammar and checks without a tree (check-syntax's fast path): a change
to what this parser accepts is a change to it too (tests/nixlang/test_recognise.py compares them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from dendrite.nixlang import syntax as S
from dendrite.nixlang import tokens as T
from dendrite.nixlang.lexer import lex
from dendrite.nixlang.strings import attr_static_name, float_is_valid
from dendrite.nixlang.syntax import Node
from dendrite.nixlang.tokens import Token

# recursion units (each nested expression counts one or two); deeper input gets an error instead of
# exhausting the stack. 4,000 units allow at least 1,000 levels of any construct.
MAX_DEPTH = 4000

# binding powers: higher binds tighter (parser.y's %left/%right/%nonassoc lines, bottom is tightest)
_INFIX: dict[str, tuple[int, str]] = {
    "<|": (1, "right"),  # pipe operators: an extension, not in Nix 2.8
    "|>": (2, "left"),
    "->": (3, "right"),
    "||": (4, "left"),
    "&&": (5, "left"),
    "==": (6, "none"),
    "!=": (6, "none"),
    "<": (7, "none"),
    ">": (7, "none"),
    "<=": (7, "none"),
    ">=": (7, "none"),
    "//": (8, "right"),
    "+": (10, "left"),
    "-": (10, "left"),
    "*": (11, "left"),
    "/": (11, "left"),
    "++": (12, "right"),
}
_NOT_BP = 9
_HAS_BP = 13
_NEG_BP = 14

_SIMPLE_START = frozenset(
    {
        T.ID,
        T.INT,
        T.FLOAT,
        T.STRING_OPEN,
        T.IND_OPEN,
        T.PATH,
        T.HPATH,
        T.SPATH,
        T.URI,
        "(",
        "{",
        "[",
        "rec",
        "let",
    }
)
_SYNC = frozenset({";", "}", ")", "]", "in", "then", "else", T.EOF})


@dataclass(frozen=True)
class SyntaxIssue:
    offset: int
    message: str


@dataclass
class ParseResult:
    root: Node
    errors: list[SyntaxIssue] = field(default_factory=list)
    source: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


class _TooDeep(Exception):
    pass


class _Attrs:
    """What an attribute set literal defines, for Nix's parse-time duplicate checks.

    An entry keeps the value node (or the implicit nested set of `a.b = …`); the names a literal
    value defines are computed only when a duplicate makes them matter.
    """

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, tuple[_Attrs | Node | None, bool]] = {}  # name -> (set or value, inherited)

    def nested(self, name: str) -> _Attrs | None:
        entry = self.entries.get(name)
        if entry is None or entry[1]:
            return None
        value = entry[0]
        if isinstance(value, Node):
            value = _literal_set(value)
            self.entries[name] = (value, False)
        return value


def _describe(tok: Token) -> str:
    if tok.kind == T.EOF:
        return "end of file"
    if tok.kind in (T.ID, T.INT, T.FLOAT, T.URI, T.PATH, T.HPATH, T.SPATH):
        return f"{tok.kind.lower()} '{tok.text}'"
    return f"'{tok.text}'"


class Parser:
    def __init__(self, src: str) -> None:
        lexed = lex(src)
        self.src = src
        self.toks = lexed.tokens
        self.i = 0
        # the current token's kind, kept in step with `i` by `bump` (read far more often than moved)
        self.kind: str = self.toks[0].kind
        self.errors: list[SyntaxIssue] = [SyntaxIssue(o, m) for o, m in lexed.errors]
        self.depth = 0

    # ------------------------------------------------------------------ token helpers

    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else self.toks[-1]

    def bump(self, node: Node) -> Token:
        tok = self.toks[self.i]
        node.children.append(tok)
        if tok.kind != T.EOF:
            self.i += 1
            self.kind = self.toks[self.i].kind
        return tok

    def error(self, message: str, offset: int | None = None) -> None:
        self.errors.append(SyntaxIssue(self.peek().start if offset is None else offset, message))

    def expect(self, node: Node, kind: str, what: str | None = None) -> bool:
        if self.kind == kind:
            i = self.i
            node.children.append(self.toks[i])
            if kind != T.EOF:  # `bump` inlined
                self.i = i + 1
                self.kind = self.toks[i + 1].kind
            return True
        self.error(f"unexpected {_describe(self.peek())}, expected {what or repr(kind)}")
        return False

    def recover(self, node: Node, stop: frozenset[str] = _SYNC) -> None:
        """Skip tokens into an ERROR node until a synchronising token (not consumed)."""
        if self.kind in stop:
            return
        err = Node(S.ERROR)
        depth = 0
        while self.kind != T.EOF:
            k = self.kind
            if depth == 0 and k in stop:
                break
            if k in ("{", "(", "[", T.DOLLAR_CURLY):
                depth += 1
            elif k in ("}", ")", "]") and depth > 0:
                depth -= 1
            self.bump(err)
        node.children.append(err)

    # ------------------------------------------------------------------ entry

    def parse_root(self) -> Node:
        root = Node(S.ROOT)
        try:
            root.children.append(self.expr())
        except _TooDeep:
            # the half-built nodes are gone with the stack: keep every token in one ERROR node
            self.error("expression nested too deeply (dendrite parses at least 1,000 levels)")
            self.i = 0
            self.kind = self.toks[0].kind
            root.children = []
            err = Node(S.ERROR)
            while self.kind != T.EOF:
                self.bump(err)
            root.children.append(err)
        if self.kind != T.EOF:
            self.error(f"unexpected {_describe(self.peek())}, expected end of file")
            err = Node(S.ERROR)
            while self.kind != T.EOF:
                self.bump(err)
            root.children.append(err)
        self.bump(root)
        return root

    # ------------------------------------------------------------------ expressions

    # Each level of the grammar is one method with its own depth count, not a chain of small calls:
    # a plain value (`"x"`, `true`) otherwise costs nine Python calls.
    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep
        try:
            k = self.kind
            if k == T.ID and self.peek(1).kind == ":":
                node = Node(S.LAMBDA)
                param = Node(S.PARAM)
                self.bump(param)
                node.children.append(param)
                self.bump(node)
                node.children.append(self.expr())
                return node
            if k == T.ID and self.peek(1).kind == "@":
                node = Node(S.LAMBDA)
                param = Node(S.PARAM)
                bind = Node(S.PAT_BIND)
                self.bump(bind)
                self.bump(bind)
                param.children.append(bind)
                if self.kind == "{":
                    param.children.append(self.pattern())
                else:
                    self.error(f"unexpected {_describe(self.peek())}, expected '{{'")
                node.children.append(param)
                self._lambda_tail(node, param)
                return node
            if k == "{" and self._is_pattern():
                node = Node(S.LAMBDA)
                param = Node(S.PARAM)
                param.children.append(self.pattern())
                if self.kind == "@":
                    bind = Node(S.PAT_BIND)
                    self.bump(bind)
                    self.expect(bind, T.ID, "an identifier")
                    param.children.append(bind)
                node.children.append(param)
                self._lambda_tail(node, param)
                return node
            if k in ("assert", "with"):
                node = Node(S.ASSERT if k == "assert" else S.WITH)
                self.bump(node)
                node.children.append(self.expr())
                if not self.expect(node, ";"):
                    self.recover(node, frozenset({";"}) | _SYNC)
                    if self.kind == ";":
                        self.bump(node)
                node.children.append(self.expr())
                return node
            if k == "let" and self.peek(1).kind != "{":
                node = Node(S.LET_IN)
                self.bump(node)
                self.binds(node, closer="in", in_let=True)
                if self.expect(node, "in"):
                    node.children.append(self.expr())
                return node
            if k != "if":
                return self.expr_op(0)
            return self.expr_if()
        finally:
            self.depth -= 1

    def _lambda_tail(self, node: Node, param: Node) -> None:
        self._check_formals(param)
        if self.expect(node, ":"):
            node.children.append(self.expr())
        else:
            self.recover(node)

    def _is_pattern(self) -> bool:
        """At `{`: a function's formals (`{ a, b ? 1, ... }:` or `{ }@x:`) or an attribute set?"""
        a, b = self.peek(1).kind, self.peek(2).kind
        if a == "...":
            return True
        if a == "}":
            return b in (":", "@")
        if a == T.ID:
            if b in (",", "?"):
                return True
            if b == "}":
                return self.peek(3).kind in (":", "@")
        return False

    def pattern(self) -> Node:
        node = Node(S.PATTERN)
        self.bump(node)  # {
        while self.kind not in ("}", T.EOF):
            if self.kind == "...":
                self.bump(node)
                if self.kind != "}":
                    self.error(f"unexpected {_describe(self.peek())}, expected '}}' after '...'")
                    self.recover(node, frozenset({"}"}) | _SYNC)
                break
            entry = Node(S.PAT_ENTRY)
            if not self.expect(entry, T.ID, "a formal argument"):
                node.children.append(entry)
                self.recover(node, frozenset({"}", ":"}) | _SYNC)
                break
            if self.kind == "?":
                self.bump(entry)
                entry.children.append(self.expr())
            if self.kind == ",":
                self.bump(entry)
                node.children.append(entry)
                continue
            node.children.append(entry)
            if self.kind != "}":
                self.error(f"unexpected {_describe(self.peek())}, expected ',' or '}}'")
                self.recover(node, frozenset({"}", ":"}) | _SYNC)
            break
        self.expect(node, "}")
        return node

    def _check_formals(self, param: Node) -> None:
        pattern = param.child(S.PATTERN)
        if pattern is None:
            return
        seen: set[str] = set()
        bind = param.child(S.PAT_BIND)
        bound = bind.token(T.ID) if bind is not None else None
        for entry in pattern.nodes():
            if entry.kind != S.PAT_ENTRY:
                continue
            ident = entry.token(T.ID)
            if ident is None:
                continue
            if ident.text in seen:
                self.error(f"duplicate formal function argument '{ident.text}'", ident.start)
            seen.add(ident.text)
        if bound is not None and bound.text in seen:
            self.error(f"duplicate formal function argument '{bound.text}'", bound.start)

    def expr_if(self) -> Node:
        if self.kind != "if":
            return self.expr_op(0)
        node = Node(S.IF_ELSE)
        self.bump(node)
        node.children.append(self.expr())
        if self.expect(node, "then"):
            node.children.append(self.expr())
            if self.expect(node, "else"):
                node.children.append(self.expr())
        return node

    def expr_op(self, limit: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep
        try:
            k = self.kind
            if k == "!" or k == "-":
                lhs = Node(S.UNARY_OP)
                self.bump(lhs)
                lhs.children.append(self.expr_op(_NOT_BP if k == "!" else _NEG_BP))
            else:
                lhs = self.expr_select()
                while self.kind in _SIMPLE_START:  # application
                    lhs = Node(S.APPLY, [lhs, self.expr_select()])
            last_nonassoc = -1
            while True:
                k = self.kind
                if k == "?":
                    if limit >= _HAS_BP:
                        break
                    node = Node(S.HAS_ATTR, [lhs])
                    self.bump(node)
                    node.children.append(self.attrpath())
                    lhs = node
                    continue
                info = _INFIX.get(k)
                if info is None:
                    break
                bp, assoc = info
                if bp <= limit:
                    break
                if assoc == "none" and last_nonassoc == bp:
                    self.error(
                        f"unexpected '{k}': comparison operators cannot be chained without parentheses"
                    )
                node = Node(S.BIN_OP, [lhs])
                self.bump(node)
                node.children.append(self.expr_op(bp - 1 if assoc == "right" else bp))
                lhs = node
                last_nonassoc = bp if assoc == "none" else -1
            return lhs
        finally:
            self.depth -= 1

    def expr_select(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep
        try:
            base = self.expr_simple()
            if self.kind == ".":
                node = Node(S.SELECT, [base])
                self.bump(node)
                node.children.append(self.attrpath())
                if self.kind == "or":
                    self.bump(node)
                    if self.kind in _SIMPLE_START:
                        node.children.append(self.expr_select())
                    else:
                        self.error(
                            f"unexpected {_describe(self.peek())}, expected a default value after 'or'"
                        )
                return node
            if self.kind == "or":
                # parser.y keeps `f or` as the application of f to a variable named `or` (nixpkgs had one)
                ident = Node(S.IDENT)
                self.bump(ident)
                return Node(S.APPLY, [base, ident])
            return base
        finally:
            self.depth -= 1

    def expr_simple(self) -> Node:
        k = self.kind
        i = self.i
        tok = self.toks[i]
        if k == T.ID:  # the commonest expression: `bump` inlined (an ID is never the last token)
            self.i = i + 1
            self.kind = self.toks[i + 1].kind
            return Node(S.IDENT, [tok])
        if k in (T.INT, T.FLOAT, T.URI):
            node = Node(S.LITERAL)
            self.bump(node)
            if k == T.INT and _int_overflows(tok.text):
                self.error(f"invalid integer '{tok.text}'", tok.start)
            elif k == T.FLOAT and not float_is_valid(tok.text):
                self.error(f"invalid float '{tok.text}'", tok.start)
            return node
        if k == T.SPATH:
            node = Node(S.SEARCH_PATH)
            self.bump(node)
            return node
        if k == T.STRING_OPEN:
            return self.string()
        if k == T.IND_OPEN:
            return self.ind_string()
        if k in (T.PATH, T.HPATH):
            return self.path()
        if k == "(":
            node = Node(S.PAREN)
            self.bump(node)
            node.children.append(self.expr())
            if not self.expect(node, ")"):
                self.recover(node, frozenset({")"}) | _SYNC)
                if self.kind == ")":
                    self.bump(node)
            return node
        if k == "let":
            node = Node(S.LEGACY_LET)
            self.bump(node)
            if self.expect(node, "{"):
                self.binds(node, closer="}")
                self.expect(node, "}")
            return node
        if k == "rec" or k == "{":
            node = Node(S.ATTR_SET)
            if k == "rec":
                self.bump(node)
            if self.expect(node, "{"):
                self.binds(node, closer="}")
                self.expect(node, "}")
            return node
        if k == "[":
            node = Node(S.LIST)
            self.bump(node)
            while self.kind in _SIMPLE_START:
                node.children.append(self.expr_select())
            if not self.expect(node, "]", "']' or a list element"):
                self.recover(node, frozenset({"]"}) | _SYNC)
                if self.kind == "]":
                    self.bump(node)
            return node
        self.error(f"unexpected {_describe(tok)}, expected an expression")
        node = Node(S.ERROR)
        if k not in _SYNC and k != T.DOLLAR_CURLY:
            self.bump(node)
        return node

    # ------------------------------------------------------------------ strings and paths

    def interpolation(self) -> Node:
        node = Node(S.INTERPOL)
        self.bump(node)  # ${
        node.children.append(self.expr())
        if not self.expect(node, "}"):
            self.recover(node, frozenset({"}"}) | _SYNC)
            if self.kind == "}":
                self.bump(node)
        return node

    def string(self) -> Node:
        return self._quoted(S.STRING, T.STR, T.STRING_CLOSE, "unterminated string")

    def ind_string(self) -> Node:
        return self._quoted(S.IND_STRING, T.IND_STR, T.IND_CLOSE, "unterminated indented string")

    def _quoted(self, kind: str, text: str, close: str, unterminated: str) -> Node:
        node = Node(kind)
        self.bump(node)
        toks, children = self.toks, node.children
        while True:
            k = self.kind
            if k == text:  # `bump` inlined: a string's text is never the last token
                i = self.i
                children.append(toks[i])
                self.i = i + 1
                self.kind = toks[i + 1].kind
            elif k == T.DOLLAR_CURLY:
                node.children.append(self.interpolation())
            else:
                break
        if self.kind != close:
            self.error(
                unterminated if self.kind == T.EOF else f"unexpected {_describe(self.peek())} in a string"
            )
            return node
        self.bump(node)
        return node

    def path(self) -> Node:
        node = Node(S.PATH)
        self.bump(node)
        interpolated = False
        loose_text: Token | None = None
        while True:
            k = self.kind
            if k == T.STR:
                if not interpolated and loose_text is None:
                    loose_text = self.peek()
                self.bump(node)
            elif k == T.DOLLAR_CURLY:
                interpolated = True
                node.children.append(self.interpolation())
            else:
                break
        if loose_text is not None and not interpolated:
            self.error(f"unexpected path segment '{loose_text.text}'", loose_text.start)
        if self.kind == T.PATH_END:
            self.bump(node)
        return node

    # ------------------------------------------------------------------ attribute sets

    def attr(self) -> Node:
        k = self.kind
        if k == T.ID or k == "or":  # `bump` inlined, as in expr_simple
            i = self.i
            self.i = i + 1
            self.kind = self.toks[i + 1].kind
            return Node(S.ATTR, [self.toks[i]])
        node = Node(S.ATTR)
        if k == T.STRING_OPEN:
            node.children.append(self.string())
        elif k == T.DOLLAR_CURLY:
            node.children.append(self.interpolation())
        else:
            self.error(f"unexpected {_describe(self.peek())}, expected an attribute name")
        return node

    def attrpath(self) -> Node:
        node = Node(S.ATTRPATH, [self.attr()])
        while self.kind == ".":
            self.bump(node)
            node.children.append(self.attr())
        return node

    def binds(self, node: Node, closer: str, in_let: bool = False) -> None:
        defined = _Attrs()
        while self.kind not in (closer, T.EOF):
            k = self.kind
            if k == "inherit":
                node.children.append(self.inherit(defined, in_let))
                continue
            if k in (T.ID, "or", T.STRING_OPEN, T.DOLLAR_CURLY):
                node.children.append(self.binding(defined, in_let))
                continue
            self.error(f"unexpected {_describe(self.peek())}, expected a binding or '{closer}'")
            before = self.i
            self.recover(node, frozenset({";", closer, "}", "in", T.EOF}))
            if self.kind == ";":
                self.bump(
                    node.children[-1]
                    if node.children
                    and isinstance(node.children[-1], Node)
                    and node.children[-1].kind == S.ERROR
                    else node
                )
            elif self.i == before and self.kind not in (closer, T.EOF):
                err = Node(S.ERROR)
                self.bump(err)
                node.children.append(err)
            if self.kind in ("}", "in") and self.kind != closer:
                break

    def binding(self, defined: _Attrs, in_let: bool) -> Node:
        node = Node(S.BINDING)
        path = self.attrpath()
        node.children.append(path)
        if not self.expect(node, "=", "'='"):
            self.recover(node, frozenset({";"}) | _SYNC)
            if self.kind == ";":
                self.bump(node)
            return node
        value = self.expr()
        node.children.append(value)
        if not self.expect(node, ";", "';'"):
            self.recover(node, frozenset({";"}) | _SYNC)
            if self.kind == ";":
                self.bump(node)
        self._define(defined, path, value, in_let)
        return node

    def inherit(self, defined: _Attrs, in_let: bool) -> Node:
        node = Node(S.INHERIT)
        self.bump(node)
        if self.kind == "(":
            src = Node(S.INHERIT_FROM)
            self.bump(src)
            src.children.append(self.expr())
            self.expect(src, ")")
            node.children.append(src)
        while self.kind in (T.ID, "or", T.STRING_OPEN, T.DOLLAR_CURLY):
            attr = self.attr()
            node.children.append(attr)
            name = attr_static_name(attr)
            if name is None:
                self.error("dynamic attributes not allowed in inherit", attr.start)
                continue
            if name in defined.entries:
                self.error(f"attribute '{name}' already defined", attr.start)
            defined.entries[name] = (None, True)
        if not self.expect(node, ";", "';'"):
            self.recover(node, frozenset({";"}) | _SYNC)
            if self.kind == ";":
                self.bump(node)
        return node

    def _define(self, defined: _Attrs, path: Node, value: Node, in_let: bool) -> None:
        """Nix's addAttr: repeated attributes are parse errors unless both sides are attribute sets."""
        attrs = [c for c in path.nodes() if c.kind == S.ATTR]
        names = [attr_static_name(a) for a in attrs]
        if in_let and any(n is None for n in names):
            bad = attrs[names.index(None)]
            self.error("dynamic attributes not allowed in let", bad.start)
            return
        cur = defined
        for depth, name in enumerate(names[:-1]):
            if name is None:
                return
            if name not in cur.entries:
                nested = _Attrs()
                cur.entries[name] = (nested, False)
                cur = nested
                continue
            existing = cur.nested(name)
            if existing is None:
                self._dup(names[: depth + 1], attrs[depth])
                return
            cur = existing
        last = names[-1]
        if last is None:
            return
        if last not in cur.entries:
            cur.entries[last] = (value, False)
            return
        existing = cur.nested(last)
        value_set = _literal_set(value) if existing is not None else None
        if existing is None or value_set is None:
            self._dup(names, attrs[-1])
            return
        for key, sub in value_set.entries.items():
            if key in existing.entries:
                self._dup([*names, key], attrs[-1])
                return
            existing.entries[key] = sub

    def _dup(self, names: list[str | None], at: Node) -> None:
        self.error(f"attribute '{'.'.join(n or '?' for n in names)}' already defined", at.start)


def _literal_set(value: Node) -> _Attrs | None:
    """The names a literal attribute set defines (parentheses see through), else None."""
    while value.kind == S.PAREN:
        inner = value.nodes()
        if not inner:
            return None
        value = inner[0]
    if value.kind != S.ATTR_SET:
        return None
    out = _Attrs()
    for child in value.children:
        if not isinstance(child, Node):
            continue
        if child.kind == S.BINDING:
            parts = child.nodes()
            path = parts[0] if parts and parts[0].kind == S.ATTRPATH else None
            if path is None:
                continue
            attrs = [c for c in path.nodes() if c.kind == S.ATTR]
            first = attr_static_name(attrs[0]) if attrs else None
            if first is not None and first not in out.entries:
                if len(attrs) > 1:
                    out.entries[first] = (_Attrs(), False)
                else:
                    out.entries[first] = (parts[1] if len(parts) > 1 else None, False)
        elif child.kind == S.INHERIT:
            for attr in child.nodes():
                if attr.kind == S.ATTR:
                    name = attr_static_name(attr)
                    if name is not None:
                        out.entries.setdefault(name, (None, True))
    return out


def parse(src: str) -> ParseResult:
    """Parse Nix source text; never raises for bad input (see `errors`)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, MAX_DEPTH * 12 + 1000))
    try:
        parser = Parser(src)
        root = parser.parse_root()
    finally:
        sys.setrecursionlimit(old)
    errors: list[SyntaxIssue] = []
    for e in sorted(parser.errors, key=lambda e: e.offset):  # stable: the lexer's word on a spot wins
        if not errors or errors[-1].offset != e.offset:
            errors.append(e)
    if not errors:  # like Nix, variables are resolved once the syntax is right
        from dendrite.nixlang.scope import undefined_variables

        errors = [SyntaxIssue(t.start, f"undefined variable '{t.text}'") for t in undefined_variables(root)]
    return ParseResult(root, errors, src)


def _int_overflows(text: str) -> bool:
    """Whether a Nix integer literal (decimal digits) is over 2**63 - 1; the length is judged first, so a
    literal of thousands of digits never reaches int() (which refuses more than 4,300 of them)."""
    digits = text.lstrip("0")
    return len(digits) > 19 or (digits != "" and int(digits) > 2**63 - 1)
