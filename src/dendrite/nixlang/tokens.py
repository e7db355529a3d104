"""Token kinds and the token type of the Nix lexer."""

from __future__ import annotations

from typing import Final

# significant tokens
ID: Final = "ID"
INT: Final = "INT"
FLOAT: Final = "FLOAT"
PATH: Final = "PATH"  # a path or the first segment of an interpolated path
HPATH: Final = "HPATH"
SPATH: Final = "SPATH"
URI: Final = "URI"
STR: Final = "STR"  # literal text inside "..." or a path
IND_STR: Final = "IND_STR"  # literal text or an escape inside ''...''
STRING_OPEN: Final = "STRING_OPEN"
STRING_CLOSE: Final = "STRING_CLOSE"
IND_OPEN: Final = "IND_OPEN"
IND_CLOSE: Final = "IND_CLOSE"
DOLLAR_CURLY: Final = "${"
PATH_END: Final = "PATH_END"  # zero-width: where a path ends
EOF: Final = "EOF"
ERROR: Final = "ERROR"  # a character or sequence no rule accepts (or an unterminated string/comment)

KEYWORDS: Final = frozenset({"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"})
OPERATORS: Final = ("...", "==", "!=", "<=", ">=", "&&", "||", "->", "//", "++", "|>", "<|")


class Token:
    """A token with the whitespace and comments before it (its trivia), so that printing is lossless."""

    __slots__ = ("kind", "start", "text", "trivia")

    def __init__(self, kind: str, text: str, start: int, trivia: str = "") -> None:
        self.kind = kind
        self.text = text
        self.start = start  # offset of `text` in the source (characters)
        self.trivia = trivia

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    def __repr__(self) -> str:
        return f"Token({self.kind}, {self.text!r}@{self.start})"
