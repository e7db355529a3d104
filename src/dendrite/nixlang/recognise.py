"""Whether a Nix file is free of errors, decided without building a tree: check-syntax's fast path.

Why: most files a syntax check reads are fine, and for them the tree (and the second walk over it that
resolves variables) is thrown away unread. `valid` runs the same grammar as `parser.Parser`, method for
method, keeping only what the checks need: attribute names for Nix's duplicate checks, formals, and
the variables in scope (resolved as they are met; the few that a later `let` or `rec` binding may still
bind are looked at again at the end). Every place the parser reports an error, this stops.

The contract is one-sided and that is what callers rely on: `valid(src)` is True only when
`parser.parse(src)` finds no error at all (nor source.parse_bytes a NUL byte). False means "run the parser": the file has an error, or it
has something this module leaves to the parser (an attribute defined twice, which may be a merge of
two attribute sets; a `${''…''}` attribute name; nesting over RECOGNISE_DEPTH levels). The parser then
gives the diagnostics, so a check's result never depends on this module, only its speed does.
tests/nixlang/test_recognise.py holds the two against each other.
"""

from __future__ import annotations

from dendrite.nixlang import tokens as T
from dendrite.nixlang.lexer import lex
from dendrite.nixlang.parser import _INFIX, _SIMPLE_START, _int_overflows
from dendrite.nixlang.scope import GLOBALS
from dendrite.nixlang.strings import float_is_valid, unescape

# depth units as the parser counts them (expr, expr_op, expr_select); below parser.MAX_DEPTH, so a
# file this module accepts is never one the parser finds too deep
RECOGNISE_DEPTH = 1000

_HAS_BP = 13
_NOT_BP = 9
_NEG_BP = 14
_ATTR_START = frozenset({T.ID, "or", T.STRING_OPEN, T.DOLLAR_CURLY})


class _Stop(Exception):
    """An error: the parser reports one here."""


class _Leave(_Stop):
    """A case left to the parser (it may or may not be an error)."""


class _IndString:
    """An indented string without interpolation: static as an attribute name, but its value (after
    indentation stripping) is left to the parser."""


_IND = _IndString()
_SET = object()  # what an attribute set literal (`{ … }`, `rec { … }`, in any parentheses) returns
# what a set's `defined` holds for a name besides the nested dict of a path `a.b …`
_VALUE = object()
_SET_VALUE = object()  # an attribute set literal
_INHERITED = object()
# a scope: (names it binds, enclosing scope, whether it is a `with`); names of a `let` or `rec` grow
# while its bindings are read
Scope = tuple[set[str], "Scope | None", bool]


def valid(src: str) -> bool:
    """True only if `parser.parse(src)` reports no error (see the module's docstring); never raises
    for bad input."""
    return recognise(src) is True


def recognise(src: str) -> bool | None:
    """True: the parser finds no error; False: it finds one; None: left to the parser (see above)."""
    if "\x00" in src:  # source.parse_bytes reports a NUL wherever it is
        return False
    lexed = lex(src, light=True)
    if lexed.errors:
        return False
    r = _Recogniser(lexed.kinds, lexed.texts)
    try:
        r.expr()
    except _Leave:
        return None
    except _Stop:
        return False
    except RecursionError:
        return None
    return r.kind == T.EOF and not any(_free(name, scope) for name, scope in r.later)


def _value(texts: tuple[str, ...]) -> str:
    """A plain "…" string's value, as strings.string_parts computes it."""
    return "".join(unescape(t) for t in texts)


def _free(name: str, scope: Scope | None) -> bool:
    """scope.py's lookup: bound by no enclosing scope, no `with` around it, not a global."""
    while scope is not None:
        names, parent, with_ = scope
        if with_ or name in names:
            return False
        scope = parent
    return name not in GLOBALS


class _Recogniser:
    """parser.Parser without nodes: each method consumes what the parser's method of the same name
    consumes, and returns the text of a plain string (or _IND) when that is all it read (what
    `strings.attr_static_name` needs of a `${…}` attribute name), _SET for an attribute set literal
    (what `parser._literal_set` looks for), else None."""

    __slots__ = ("depth", "i", "kind", "kinds", "later", "scope", "texts", "visible", "withs")

    def __init__(self, kinds: list[str], texts: list[str]) -> None:
        self.kinds = kinds  # each token's kind, and its text (lexer.lex, light)
        self.texts = texts
        self.i = 0
        self.kind = kinds[0]
        self.depth = 0
        self.scope: Scope | None = None
        self.visible: dict[str, int] = {}  # how many open scopes bind each name
        self.withs = 0  # open `with` bodies: inside one, no variable is undefined
        self.later: list[
            tuple[str, Scope | None]
        ] = []  # not bound yet where used: looked at again at the end

    # ------------------------------------------------------------------ tokens and scopes

    def advance(self) -> None:
        i = self.i + 1
        self.i = i
        self.kind = self.kinds[i]

    def expect(self, kind: str) -> None:
        if self.kind != kind:
            raise _Stop
        i = self.i + 1
        self.i = i
        self.kind = self.kinds[i]

    def peek_kind(self, k: int) -> str:
        j = self.i + k
        kinds = self.kinds
        return kinds[j] if j < len(kinds) else kinds[-1]

    def use(self, name: str, scope: Scope | None) -> None:
        """A variable read in `scope` (the current one, or an `inherit`'s enclosing one)."""
        if scope is self.scope and (self.withs or name in self.visible or name in GLOBALS):
            return
        if _free(name, scope):
            self.later.append((name, scope))

    def open_scope(self, names: set[str]) -> Scope:
        scope: Scope = (names, self.scope, False)
        visible = self.visible
        for n in names:
            visible[n] = visible.get(n, 0) + 1
        self.scope = scope
        return scope

    def bind(self, scope: Scope, name: str) -> None:
        names = scope[0]
        if name not in names:
            names.add(name)
            self.visible[name] = self.visible.get(name, 0) + 1

    def close_scope(self, scope: Scope) -> None:
        visible = self.visible
        for n in scope[0]:
            left = visible[n] - 1
            if left:
                visible[n] = left
            else:
                del visible[n]
        self.scope = scope[1]

    # ------------------------------------------------------------------ expressions

    def expr(self) -> object:
        self.depth += 1
        if self.depth > RECOGNISE_DEPTH:
            raise _Leave
        k = self.kind
        value: object = None
        if k == T.ID and self.kinds[self.i + 1] == ":":
            scope = self.open_scope({self.texts[self.i]})
            self.advance()
            self.advance()
            self.expr()
            self.close_scope(scope)
        elif k == T.ID and self.kinds[self.i + 1] == "@":
            scope = self.open_scope({self.texts[self.i]})
            self.advance()
            self.advance()
            if self.kind != "{":
                raise _Stop
            self.pattern(scope)
            self.expect(":")
            self.expr()
            self.close_scope(scope)
        elif k == "{" and self._is_pattern():
            scope = self.open_scope(set())
            self.pattern(scope)
            if self.kind == "@":
                self.advance()
                if self.kind != T.ID:
                    raise _Stop
                name = self.texts[self.i]
                if name in scope[0]:  # duplicate formal function argument
                    raise _Stop
                self.bind(scope, name)
                self.advance()
            self.expect(":")
            self.expr()
            self.close_scope(scope)
        elif k == "assert":
            self.advance()
            self.expr()
            self.expect(";")
            self.expr()
        elif k == "with":
            self.advance()
            self.expr()
            self.expect(";")
            outer = self.scope
            self.scope = (set(), outer, True)
            self.withs += 1
            self.expr()
            self.withs -= 1
            self.scope = outer
        elif k == "let" and self.kinds[self.i + 1] != "{":
            self.advance()
            outer = self.scope
            scope = self.open_scope(set())
            self.binds("in", in_let=True, bound=scope, outer=outer)
            self.expect("in")
            self.expr()
            self.close_scope(scope)
        elif k == "if":
            self.advance()
            self.expr()
            self.expect("then")
            self.expr()
            self.expect("else")
            self.expr()
        else:
            value = self.expr_op(0)
        self.depth -= 1
        return value

    def _is_pattern(self) -> bool:
        a, b = self.peek_kind(1), self.peek_kind(2)
        if a == "...":
            return True
        if a == "}":
            return b in (":", "@")
        if a == T.ID:
            if b in (",", "?"):
                return True
            if b == "}":
                return self.peek_kind(3) in (":", "@")
        return False

    def pattern(self, scope: Scope) -> None:
        """`{ a, b ? default, ... }`, binding the formals in `scope` (defaults are read in it too)."""
        self.advance()  # {
        names = scope[0]
        formals: set[str] = set()
        while self.kind not in ("}", T.EOF):
            if self.kind == "...":
                self.advance()
                if self.kind != "}":
                    raise _Stop
                break
            if self.kind != T.ID:
                raise _Stop
            name = self.texts[self.i]
            if name in formals:  # duplicate formal function argument
                raise _Stop
            formals.add(name)
            if name in names:  # the `x @` name again
                raise _Stop
            self.bind(scope, name)
            self.advance()
            if self.kind == "?":
                self.advance()
                self.expr()
            if self.kind == ",":
                self.advance()
                continue
            if self.kind != "}":
                raise _Stop
            break
        self.expect("}")

    def expr_op(self, limit: int) -> object:
        self.depth += 1
        if self.depth > RECOGNISE_DEPTH:
            raise _Leave
        k = self.kind
        lhs: object = None
        if k == "!" or k == "-":
            self.advance()
            self.expr_op(_NOT_BP if k == "!" else _NEG_BP)
        else:
            lhs = self.expr_select()
            while self.kind in _SIMPLE_START:  # application
                self.expr_select()
                lhs = None
        last_nonassoc = -1
        while True:
            k = self.kind
            if k == "?":
                if limit >= _HAS_BP:
                    break
                self.advance()
                self.attrpath()
                lhs = None
                continue
            info = _INFIX.get(k)
            if info is None:
                break
            bp, assoc = info
            if bp <= limit:
                break
            if assoc == "none" and last_nonassoc == bp:  # a chained comparison
                raise _Stop
            self.advance()
            self.expr_op(bp - 1 if assoc == "right" else bp)
            lhs = None
            last_nonassoc = bp if assoc == "none" else -1
        self.depth -= 1
        return lhs

    def expr_select(self) -> object:
        self.depth += 1
        if self.depth > RECOGNISE_DEPTH:
            raise _Leave
        value = self.expr_simple()
        if self.kind == ".":
            self.advance()
            self.attrpath()
            if self.kind == "or":
                self.advance()
                if self.kind not in _SIMPLE_START:
                    raise _Stop
                self.expr_select()
            value = None
        elif self.kind == "or":  # `f or`: f applied to a variable named `or`
            self.use("or", self.scope)
            self.advance()
            value = None
        self.depth -= 1
        return value

    def expr_simple(self) -> object:
        k = self.kind
        i = self.i
        if k == T.ID:
            name = self.texts[i]
            self.i = i + 1
            self.kind = self.kinds[i + 1]
            if name != "__curPos" and not (self.withs or name in self.visible or name in GLOBALS):
                self.use(name, self.scope)
            return None
        if k == T.STRING_OPEN:
            return self.string()
        if k == "{" or k == "rec":
            outer = self.scope
            if k == "rec":
                self.advance()
                self.expect("{")
                scope = self.open_scope(set())
                self.binds("}", in_let=False, bound=scope, outer=outer)
                self.close_scope(scope)
            else:
                self.advance()
                self.binds("}", in_let=False, bound=None, outer=outer)
            self.expect("}")
            return _SET
        if k in (T.INT, T.FLOAT, T.URI):
            text = self.texts[i]
            if (k == T.INT and _int_overflows(text)) or (k == T.FLOAT and not float_is_valid(text)):
                raise _Stop
            self.advance()
            return None
        if k == T.IND_OPEN:
            return self.ind_string()
        if k == T.PATH or k == T.HPATH:
            self.path()
            return None
        if k == "(":
            self.advance()
            value = self.expr()
            self.expect(")")
            return value
        if k == "[":
            self.advance()
            while self.kind in _SIMPLE_START:
                self.expr_select()
            self.expect("]")
            return None
        if k == T.SPATH:
            self.advance()
            return None
        if k == "let":
            self.advance()
            self.expect("{")
            outer = self.scope
            scope = self.open_scope(set())
            self.binds("}", in_let=False, bound=scope, outer=outer)
            self.close_scope(scope)
            self.expect("}")
            return None
        raise _Stop

    # ------------------------------------------------------------------ strings and paths

    def interpolation(self) -> object:
        self.advance()  # ${
        value = self.expr()
        self.expect("}")
        return value

    def string(self) -> tuple[str, ...] | None:
        """A "…" string: when it has no interpolation, its text as written (the value is computed
        only if an attribute name needs it, by _value), else None."""
        kinds = self.kinds
        i = self.i
        if kinds[i + 1] == T.STR and kinds[i + 2] == T.STRING_CLOSE:  # the common case
            self.i = i + 3
            self.kind = kinds[i + 3]
            return (self.texts[i + 1],)
        self.advance()
        texts: list[str] = []
        plain = True
        while True:
            k = self.kind
            if k == T.STR:
                texts.append(self.texts[self.i])
                self.advance()
            elif k == T.DOLLAR_CURLY:
                plain = False
                self.interpolation()
            else:
                break
        self.expect(T.STRING_CLOSE)
        return tuple(texts) if plain else None

    def ind_string(self) -> object:
        self.advance()
        plain = True
        while True:
            k = self.kind
            if k == T.IND_STR:
                self.advance()
            elif k == T.DOLLAR_CURLY:
                plain = False
                self.interpolation()
            else:
                break
        self.expect(T.IND_CLOSE)
        return _IND if plain else None

    def path(self) -> None:
        self.advance()
        interpolated = False
        loose = False  # literal text before any interpolation
        while True:
            k = self.kind
            if k == T.STR:
                if not interpolated:
                    loose = True
                self.advance()
            elif k == T.DOLLAR_CURLY:
                interpolated = True
                self.interpolation()
            else:
                break
        if loose and not interpolated:  # unexpected path segment
            raise _Stop
        if self.kind == T.PATH_END:
            self.advance()

    # ------------------------------------------------------------------ attribute sets

    def attr(self) -> str | None:
        """One attribute name: its static name (strings.attr_static_name), or None when dynamic."""
        k = self.kind
        if k == T.ID or k == "or":
            name = self.texts[self.i]
            self.advance()
            return name
        if k == T.STRING_OPEN:
            texts = self.string()
            return None if texts is None else _value(texts)
        if k == T.DOLLAR_CURLY:
            value = self.interpolation()
            if value is _IND:
                raise _Leave
            return _value(value) if isinstance(value, tuple) else None
        raise _Stop

    def attrpath(self) -> list[str | None]:
        names = [self.attr()]
        while self.kind == ".":
            self.advance()
            names.append(self.attr())
        return names

    def binds(self, closer: str, in_let: bool, bound: Scope | None, outer: Scope | None) -> None:
        """Bindings up to `closer`; `bound` is the `let`/`rec` scope they bind names in (None for a
        plain set), `outer` the scope an `inherit a;` reads."""
        defined: dict[str, object] = {}
        while self.kind != closer:
            k = self.kind
            if k == "inherit":
                self.inherit(defined, bound, outer)
            elif k in _ATTR_START:
                self.binding(defined, in_let, bound)
            else:
                raise _Stop

    def binding(self, defined: dict[str, object], in_let: bool, bound: Scope | None) -> None:
        names = self.attrpath()
        if bound is not None and names[0] is not None:
            self.bind(bound, names[0])
        self.expect("=")
        value = _SET_VALUE if self.expr() is _SET else _VALUE
        self.expect(";")
        # parser._define: a name met again is an error unless both sides are attribute sets (a path
        # `a.b` makes one); the merge of two attribute set literals is left to the parser
        if in_let and None in names:  # dynamic attributes not allowed in let
            raise _Stop
        cur = defined
        for name in names[:-1]:
            if name is None:
                return
            entry = cur.get(name)
            if entry is None:
                nested: dict[str, object] = {}
                cur[name] = nested
                cur = nested
            elif isinstance(entry, dict):
                cur = entry
            elif entry is _SET_VALUE:
                raise _Leave
            else:  # an inherited name or a value that is not a set: already defined
                raise _Stop
        last = names[-1]
        if last is None:
            return
        entry = cur.get(last)
        if entry is None:
            cur[last] = value
        elif value is _SET_VALUE and (entry is _SET_VALUE or isinstance(entry, dict)):
            raise _Leave
        else:
            raise _Stop

    def inherit(self, defined: dict[str, object], bound: Scope | None, outer: Scope | None) -> None:
        self.advance()
        later = len(self.later)
        from_ = self.kind == "("
        if from_:
            self.advance()
            self.expr()
            self.expect(")")
        names = 0
        while self.kind in _ATTR_START:
            name = self.attr()
            if name is None or name in defined:  # dynamic, or already defined
                raise _Stop
            defined[name] = _INHERITED
            names += 1
            if bound is not None:
                self.bind(bound, name)
            if not from_:
                self.use(name, outer)
        if from_ and not names:  # Nix never builds (nor resolves) the source of `inherit (e);`
            del self.later[later:]
        self.expect(";")
