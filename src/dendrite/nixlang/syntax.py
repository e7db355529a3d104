"""The lossless concrete syntax tree: every token (with its trivia) sits in exactly one node."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dendrite.nixlang.tokens import Token

# node kinds
ROOT = "ROOT"
LAMBDA = "LAMBDA"
PARAM = "PARAM"  # `x:` or `x @ { … }:`
PATTERN = "PATTERN"  # `{ a, b ? 1, ... }`
PAT_ENTRY = "PAT_ENTRY"
PAT_BIND = "PAT_BIND"  # the `@ x` of a pattern
ASSERT = "ASSERT"
WITH = "WITH"
LET_IN = "LET_IN"
IF_ELSE = "IF_ELSE"
BIN_OP = "BIN_OP"
UNARY_OP = "UNARY_OP"
HAS_ATTR = "HAS_ATTR"
APPLY = "APPLY"
SELECT = "SELECT"
IDENT = "IDENT"
LITERAL = "LITERAL"  # INT, FLOAT, URI
STRING = "STRING"
IND_STRING = "IND_STRING"
PATH = "PATH"
SEARCH_PATH = "SEARCH_PATH"
INTERPOL = "INTERPOL"  # `${ expr }`
PAREN = "PAREN"
LEGACY_LET = "LEGACY_LET"
ATTR_SET = "ATTR_SET"
LIST = "LIST"
BINDING = "BINDING"  # `attrpath = expr;`
INHERIT = "INHERIT"
INHERIT_FROM = "INHERIT_FROM"
ATTRPATH = "ATTRPATH"
ATTR = "ATTR"  # one component: an identifier, a string or `${…}`
ERROR = "ERROR"


class Node:
    __slots__ = ("children", "kind")

    def __init__(self, kind: str, children: list[Node | Token] | None = None) -> None:
        self.kind = kind
        self.children: list[Node | Token] = children if children is not None else []

    # --- structure

    def nodes(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def tokens(self) -> Iterator[Token]:
        """Every token below this node, in source order."""
        stack: list[Node | Token] = [self]
        while stack:
            item = stack.pop()
            if isinstance(item, Token):
                yield item
            else:
                stack.extend(reversed(item.children))

    def first_token(self) -> Token | None:
        return _edge_token(self, first=True)

    def last_token(self) -> Token | None:
        return _edge_token(self, first=False)

    def token(self, kind: str) -> Token | None:
        for c in self.children:
            if isinstance(c, Token) and c.kind == kind:
                return c
        return None

    def child(self, kind: str) -> Node | None:
        for c in self.children:
            if isinstance(c, Node) and c.kind == kind:
                return c
        return None

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first, in source order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.nodes()))

    # --- positions (character offsets; the source text has the rest)

    @property
    def start(self) -> int:
        t = self.first_token()
        return t.start if t is not None else 0

    @property
    def end(self) -> int:
        t = self.last_token()
        return t.end if t is not None else 0

    @property
    def full_start(self) -> int:
        """Where this node's first trivia begins."""
        t = self.first_token()
        return t.start - len(t.trivia) if t is not None else 0

    def text(self) -> str:
        """The node's source without its leading trivia."""
        parts = []
        first = True
        for t in self.tokens():
            parts.append(t.text if first else t.trivia + t.text)
            first = False
        return "".join(parts)

    def __repr__(self) -> str:
        return f"Node({self.kind}, {self.text()[:40]!r})"


def _edge_token(node: Node, first: bool) -> Token | None:
    """The first (or last) token below `node`, skipping nodes without tokens.

    A loop with a stack of child iterators, not recursion: a chain `a + b + …` nests its first token
    thousands of levels down. Each step looks at one child, so this costs the depth, not the size.
    """
    stack = [iter(node.children if first else reversed(node.children))]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, Token):
            return child
        else:
            stack.append(iter(child.children if first else reversed(child.children)))
    return None


def print_tree(node: Node) -> str:
    """The exact source the tree was parsed from."""
    return "".join(t.trivia + t.text for t in node.tokens())


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters
    byte: int  # 0-based offset in the UTF-8 encoding


class LineIndex:
    """Offsets to (line, column, byte), computed once per file."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.starts = [0]
        i = src.find("\n")
        while i != -1:
            self.starts.append(i + 1)
            i = src.find("\n", i + 1)
        self._ascii = src.isascii()

    def position(self, offset: int) -> Position:
        import bisect

        line = bisect.bisect_right(self.starts, offset) - 1
        col = offset - self.starts[line] + 1
        byte = offset if self._ascii else len(self.src[:offset].encode("utf-8", "surrogateescape"))
        return Position(line + 1, col, byte)
