"""The Nix lexer, as Nix 2.x's flex scanner (src/libexpr/lexer.l) behaves.

Why by hand: flex picks the longest match among all rules (ties go to the earlier rule) and keeps a
stack of start conditions (strings, indented strings, paths, `${` nesting). Python's `re` alternation
takes the first alternative instead, so each position tries the few rules its first character allows
and keeps the longest, in flex's rule order.
"""

from __future__ import annotations

import re

from dendrite.nixlang import tokens as T
from dendrite.nixlang.tokens import Token

_ID = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'\-]*")
_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"(([1-9][0-9]*\.[0-9]*)|(0?\.[0-9]+))([Ee][+-]?[0-9]+)?")
_PC = r"[a-zA-Z0-9._\-+]"
_PATH = re.compile(rf"{_PC}*(/{_PC}+)+/?")
_PATH_SEG_DC = re.compile(rf"{_PC}*/\$\{{")
_HPATH = re.compile(rf"~(/{_PC}+)+/?")
_HPATH_START_DC = re.compile(r"~/\$\{")
_SPATH = re.compile(rf"<{_PC}+(/{_PC}+)*>")
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+")
_WS = re.compile(r"[ \t\r\n]+")
_LINE_COMMENT = re.compile(r"#[^\r\n]*")
_LONG_COMMENT = re.compile(r"/\*([^*]|\*+[^*/])*\*+/")
_IN_PATH = re.compile(rf"{_PC}*(/{_PC}+)+/?|{_PC}*/|{_PC}+")
_PATH_SEG = re.compile(rf"{_PC}*/")
_IND_OPEN = re.compile(r"''( *\n)?")

_URI_CHAR = r"[a-zA-Z0-9%/?:@&=+$,\-_.!~*']"
# One compiled pattern for the trivia and then the tokens of the DEFAULT state that no longer rule can
# extend, tried first at each position; anything else (paths, URIs, floats, operators, `/*`) takes the careful way.
# The lookaheads are necessary conditions for a longer match: a path needs `{PC}*/` then a path
# character or `${`, a URI needs `[a-zA-Z0-9+-.]*:` then a URI character (both run over `{PC}`
# characters only), a float needs a digit after `.`, `...` needs three dots, `==` two `=`.
# inside "...": literal text up to `"`, `${` or a lone `\` or `$` at the end (see _lex_string)
_STRING_TEXT = r"""(?:[^"\\$]++|\\[\s\S]|\$\\[\s\S]?|\$[^{"\\]|\$(?="))*+"""
_STRING_BODY = re.compile(_STRING_TEXT)
# A whole string without interpolation ("...", its text in the group) is three tokens at once, and
# `{` `}` (which only push and pop a state) are taken here too: none starts a longer token.
_FAST = re.compile(
    rf"""(?:[ \t\r\n]+|\#[^\r\n]*)*+
    (?:(?P<id>[a-zA-Z_][a-zA-Z0-9_'\-]*+)(?!{_PC}*(?:/[a-zA-Z0-9._\-+$]|:{_URI_CHAR}))
    |(?P<int>[0-9]++)(?![0-9]|{_PC}*/[a-zA-Z0-9._\-+$]|\.)
    |(?P<one>[;,()\[\]@?:*]|=(?!=)|\.(?![0-9]|\.\.|{_PC}*/[a-zA-Z0-9._\-+$]))
    |(?P<brace>[{{}}])
    |"(?P<string>{_STRING_TEXT})"
    )?""",
    re.VERBOSE,
)
_ID_KIND = 1  # group numbers of _FAST; no group (None) when only trivia matched
_INT_KIND = 2
_ONE_KIND = 3
_BRACE_KIND = 4
_STRING_KIND = 5
# inside ''...'': literal text up to `''`, `${`, `'$` or a `$` before `'` or the end
_IND_BODY = re.compile(r"(?:[^'$]++|'[^'$]|'\Z|\$[^{'])*+")

_PATHISH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/")

_ID_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# after an identifier or integer, these characters may let a path, URI or float match longer
_MAY_EXTEND = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/:'")
# single characters that start no longer token
_SINGLE = frozenset(";,()[]@?:*")

DEFAULT, STRING, IND_STRING, INPATH, INPATH_SLASH = range(5)


class LexResult:
    """The tokens, or with `light` only their kinds and texts (parallel lists), and the errors."""

    __slots__ = ("errors", "kinds", "light", "texts", "tokens")

    def __init__(self, light: bool = False) -> None:
        self.light = light
        self.tokens: list[Token] = []
        self.kinds: list[str] = []
        self.texts: list[str] = []
        self.errors: list[tuple[int, str]] = []  # (offset, message)

    def add(self, kind: str, text: str, start: int, trivia: str = "") -> None:
        if self.light:
            self.kinds.append(kind)
            self.texts.append(text)
        else:
            self.tokens.append(Token(kind, text, start, trivia))


def lex(src: str, light: bool = False) -> LexResult:
    """Every significant token of `src`, each carrying its leading trivia; EOF carries the rest.

    `light`: only each token's kind and text, for a reader that needs no positions nor trivia (the
    recogniser); the same tokens, in a third of the objects.
    """
    out = LexResult(light)
    stack = [DEFAULT]  # the bottom entry plays flex's INITIAL
    pos = 0
    n = len(src)
    trivia_start = 0

    while pos < n:
        state = stack[-1]
        if state == DEFAULT:
            pos, trivia_start = _lex_default(src, pos, trivia_start, stack, out)
            if pos >= n or stack[-1] != DEFAULT:
                continue
        elif state == STRING:
            pos = _lex_string(src, pos, stack, out)
            trivia_start = pos
            continue
        elif state == IND_STRING:
            pos = _lex_ind_string(src, pos, stack, out)
            trivia_start = pos
            continue
        else:  # INPATH, INPATH_SLASH
            pos = trivia_start = _lex_in_path(src, pos, stack, out)
            continue

        c = src[pos]
        after = _skip_trivia(src, pos, c, out)
        if after > pos:
            pos = after
            continue
        kind, end = _bracket(src, pos, c, stack) or _token(src, pos, c, stack, out)
        out.add(kind, src[pos:end], pos, src[trivia_start:pos])
        pos = trivia_start = end

    _end_of_input(src, pos, trivia_start, stack, out)
    return out


def _lex_default(src: str, pos: int, trivia_start: int, stack: list[int], out: LexResult) -> tuple[int, int]:
    """The tokens _FAST takes, one match after another from `pos` in the DEFAULT state; where it
    stopped (after trivia, before a token for the careful way, or where a `}` left the state) and
    where the trivia before that point starts."""
    if out.light:
        return _lex_default_light(src, pos, stack, out), pos
    append = out.tokens.append
    keywords = T.KEYWORDS
    for m in _FAST.finditer(src, pos):  # every match starts where the last ended: the pattern cannot fail
        group = m.lastindex
        if group is None:  # only trivia
            return m.end(), trivia_start
        start, end = m.span(group)
        text = src[start:end]
        if group == _ID_KIND:
            append(Token(text if text in keywords else T.ID, text, start, src[trivia_start:start]))
        elif group == _ONE_KIND:
            append(Token(text, text, start, src[trivia_start:start]))
        elif group == _INT_KIND:
            append(Token(T.INT, text, start, src[trivia_start:start]))
        elif group == _BRACE_KIND:  # as _bracket does
            append(Token(text, text, start, src[trivia_start:start]))
            if text == "{":
                stack.append(DEFAULT)
            elif len(stack) > 1:
                stack.pop()
                if stack[-1] != DEFAULT:  # the end of an interpolation: back in a string or path
                    return end, end
        else:  # a string: its quotes around the group, as _bracket and _lex_string make them
            append(Token(T.STRING_OPEN, '"', start - 1, src[trivia_start : start - 1]))
            if end > start:
                append(Token(T.STR, text, start))
            append(Token(T.STRING_CLOSE, '"', end))
            end += 1
        trivia_start = end
    return len(src), trivia_start


def _lex_default_light(src: str, pos: int, stack: list[int], out: LexResult) -> int:
    """_lex_default for a light LexResult (kinds and texts only): where it stopped."""
    kind = out.kinds.append
    text_of = out.texts.append
    keywords = T.KEYWORDS
    for m in _FAST.finditer(src, pos):
        group = m.lastindex
        if group is None:
            return m.end()
        text = m.group(group)
        if group == _ID_KIND:
            kind(text if text in keywords else T.ID)
            text_of(text)
        elif group == _INT_KIND:
            kind(T.INT)
            text_of(text)
        elif group == _STRING_KIND:
            kind(T.STRING_OPEN)
            text_of('"')
            if text:
                kind(T.STR)
                text_of(text)
            kind(T.STRING_CLOSE)
            text_of('"')
        else:  # one character
            kind(text)
            text_of(text)
            if group == _BRACE_KIND:
                if text == "{":
                    stack.append(DEFAULT)
                elif len(stack) > 1:
                    stack.pop()
                    if stack[-1] != DEFAULT:
                        return m.end()
    return len(src)


def _bracket(src: str, pos: int, c: str, stack: list[int]) -> tuple[str, int] | None:
    """A token that opens or closes a start condition (a string, `${`, `{`, `}`), or None."""
    if c == '"':
        stack.append(STRING)
        return T.STRING_OPEN, pos + 1
    if c == "'" and src.startswith("''", pos):
        stack.append(IND_STRING)
        return T.IND_OPEN, _IND_OPEN.match(src, pos).end()  # type: ignore[union-attr]
    if c == "$" and src.startswith("${", pos):
        stack.append(DEFAULT)
        return T.DOLLAR_CURLY, pos + 2
    if c == "{":
        stack.append(DEFAULT)
        return "{", pos + 1
    if c == "}":
        if len(stack) > 1:
            stack.pop()
        return "}", pos + 1
    return None


def _token(src: str, pos: int, c: str, stack: list[int], out: LexResult) -> tuple[str, int]:
    """Any other token: fast paths where no other rule can match longer (no path, URI or float
    continues here), else the longest rule; a path start enters the path condition."""
    n = len(src)
    if c in _ID_START:
        end = _ID.match(src, pos).end()  # type: ignore[union-attr]
        if end >= n or src[end] not in _MAY_EXTEND:
            word = src[pos:end]
            return (word if word in T.KEYWORDS else T.ID), end
    elif c in _DIGITS:
        end = _INT.match(src, pos).end()  # type: ignore[union-attr]
        if end >= n or src[end] not in _MAY_EXTEND:
            return T.INT, end
    elif c in _SINGLE:
        return c, pos + 1
    kind, end = _longest(src, pos, c)
    if kind in (T.PATH, T.HPATH):
        if src.startswith("${", end):  # `{PATH_SEG}\$\{`: the segment is a path start
            stack.append(INPATH_SLASH)
        else:
            stack.append(INPATH_SLASH if src[end - 1] == "/" else INPATH)
    elif kind == T.ERROR:
        out.errors.append((pos, _bad_char(c)))
    return kind, end


def _lex_in_path(src: str, pos: int, stack: list[int], out: LexResult) -> int:
    """After a path's first segment: `${`, the next segment, or PATH_END. Paths carry no trivia."""
    if src.startswith("${", pos):
        stack[-1] = INPATH
        stack.append(DEFAULT)
        out.add(T.DOLLAR_CURLY, "${", pos)
        return pos + 2
    m = _IN_PATH.match(src, pos)
    if m and m.end() > pos:
        stack[-1] = INPATH_SLASH if m.group().endswith("/") else INPATH
        out.add(T.STR, m.group(), pos)
        return m.end()
    if stack[-1] == INPATH_SLASH:
        out.errors.append((pos, "path has a trailing slash"))
    stack.pop()
    out.add(T.PATH_END, "", pos)
    return pos


def _skip_trivia(src: str, pos: int, c: str, out: LexResult) -> int:
    """Where the whitespace or comment at `pos` ends (`pos` itself when there is none)."""
    if c in " \t\r\n":
        return _WS.match(src, pos).end()  # type: ignore[union-attr]
    if c == "#":
        return _LINE_COMMENT.match(src, pos).end()  # type: ignore[union-attr]
    if c == "/" and src.startswith("/*", pos):
        m = _LONG_COMMENT.match(src, pos)
        path = _PATH.match(src, pos)
        if m and (path is None or m.end() >= path.end()):
            return m.end()
        if m is None and path is None:
            out.errors.append((pos, "unterminated /* comment"))
    return pos


def _end_of_input(src: str, pos: int, trivia_start: int, stack: list[int], out: LexResult) -> None:
    """flex ends an open path at EOF (PATH_END) or reports its trailing slash; then an open string's
    error, and EOF carrying the trailing trivia."""
    n = len(src)
    while stack and stack[-1] in (INPATH, INPATH_SLASH):
        if stack[-1] == INPATH_SLASH:
            out.errors.append((pos, "path has a trailing slash"))
        stack.pop()
        out.add(T.PATH_END, "", pos, src[trivia_start:pos])
        trivia_start = pos
    if stack and stack[-1] == STRING:
        out.errors.append((n, "unterminated string"))
    elif stack and stack[-1] == IND_STRING:
        out.errors.append((n, "unterminated indented string"))
    out.add(T.EOF, "", n, src[trivia_start:n])


def _longest(src: str, pos: int, c: str) -> tuple[str, int]:
    """The longest match among the rules that can start with `c`, ties to the earlier rule."""
    best_kind, best_end = T.ERROR, pos + 1
    best_len = 0

    def offer(kind: str, end: int) -> None:
        nonlocal best_kind, best_end, best_len
        if end - pos > best_len:
            best_kind, best_end, best_len = kind, end, end - pos

    # operators come before identifiers in lexer.l
    for op in T.OPERATORS:
        if src.startswith(op, pos):
            offer(op, pos + len(op))
            break
    if c in _ID_START:
        m = _ID.match(src, pos)
        if m:
            word = m.group()
            offer(word if word in T.KEYWORDS else T.ID, m.end())
    if c in _DIGITS:
        offer(T.INT, _INT.match(src, pos).end())  # type: ignore[union-attr]
    if c in _DIGITS or c == ".":
        m = _FLOAT.match(src, pos)
        if m:
            offer(T.FLOAT, m.end())
    if c in _PATHISH:
        m = _PATH_SEG_DC.match(src, pos)
        if m and m.end() - pos > best_len:  # `foo/${`: a path start; its token stops before the `${`
            return T.PATH, m.end() - 2
        m = _PATH.match(src, pos)
        if m:
            offer(T.PATH, m.end())
    if c == "~":
        m = _HPATH_START_DC.match(src, pos)
        if m and m.end() - pos > best_len:
            return T.HPATH, pos + 2
        m = _HPATH.match(src, pos)
        if m:
            offer(T.HPATH, m.end())
    if c == "<":
        m = _SPATH.match(src, pos)
        if m:
            offer(T.SPATH, m.end())
    if c in _LETTERS:
        m = _URI.match(src, pos)
        if m:
            offer(T.URI, m.end())
    if best_len == 0:
        if c in "=<>!&|-+*/?:;,.@()[]":
            return c, pos + 1
        return T.ERROR, pos + 1
    return best_kind, best_end


def _lex_string(src: str, pos: int, stack: list[int], out: LexResult) -> int:
    """Inside "...": literal text up to `"` or `${`, escapes kept as written."""
    n = len(src)
    start = pos
    pos = _STRING_BODY.match(src, pos).end()  # type: ignore[union-attr]
    if pos > start:
        out.add(T.STR, src[start:pos], start)
    if pos >= n:
        return n if pos >= n else pos
    if src[pos] == '"':
        stack.pop()
        out.add(T.STRING_CLOSE, '"', pos)
        return pos + 1
    if src.startswith("${", pos):
        stack.append(DEFAULT)
        out.add(T.DOLLAR_CURLY, "${", pos)
        return pos + 2
    # a lone `$` or `\` at the end of input: flex returns EOF here, an unterminated string
    out.add(T.STR, src[pos:], pos)
    return n


def _lex_ind_string(src: str, pos: int, stack: list[int], out: LexResult) -> int:
    """Inside ''...'': text runs, the escapes ''$ ''' ''\\x, `${`, and the closing ''."""
    n = len(src)
    start = pos
    pos = _IND_BODY.match(src, pos).end()  # type: ignore[union-attr]
    if pos > start:
        out.add(T.IND_STR, src[start:pos], start)
    if pos >= n:
        return n
    if src.startswith("''", pos):
        if src.startswith("'''", pos):
            out.add(T.IND_STR, "'''", pos)
            return pos + 3
        if src.startswith("''$", pos):
            out.add(T.IND_STR, "''$", pos)
            return pos + 3
        if src.startswith("''\\", pos) and pos + 3 < n:
            out.add(T.IND_STR, src[pos : pos + 4], pos)
            return pos + 4
        stack.pop()
        out.add(T.IND_CLOSE, "''", pos)
        return pos + 2
    if src.startswith("${", pos):
        stack.append(DEFAULT)
        out.add(T.DOLLAR_CURLY, "${", pos)
        return pos + 2
    # a lone `'` (before `$`) or a lone `$` (before `'` or at the end)
    out.add(T.IND_STR, src[pos], pos)
    return pos + 1


def _bad_char(c: str) -> str:
    if c == "\x00":
        return "NUL byte: Nix stops reading the file here, ignoring the rest"
    if "\udc80" <= c <= "\udcff":
        return f"byte 0x{ord(c) - 0xDC00:02x} is not valid UTF-8 here (only strings and comments may hold such bytes)"
    return f"unexpected character {c!r}"
