"""The values of Nix string, indented-string and number tokens, as Nix's parser computes them."""

from __future__ import annotations

import math
import re

from dendrite.nixlang import syntax as S
from dendrite.nixlang import tokens as T
from dendrite.nixlang.syntax import Node

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_MIN_NORMAL = 2.2250738585072014e-308


def unescape(text: str) -> str:
    """unescapeStr: backslash escapes (\\n \\r \\t, anything else stands for itself), CR/CRLF to LF."""
    if "\\" not in text and "\r" not in text:
        return text
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if c == "\r":
            out.append("\n")
            i += 2 if text.startswith("\r\n", i) else 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def float_is_valid(text: str) -> bool:
    """strtod without ERANGE: no overflow to infinity, no underflow to zero or a subnormal."""
    value = float(text)
    if math.isinf(value):
        return False
    mantissa = re.split(r"[eE]", text)[0]
    if value == 0.0:
        return not any(ch in "123456789" for ch in mantissa)
    return abs(value) >= _MIN_NORMAL


def ind_parts(node: Node) -> list[tuple[str, bool] | Node]:
    """An indented string's parts: (text, has_indentation) for literal runs and escapes, or interpolations."""
    out: list[tuple[str, bool] | Node] = []
    for c in node.children:
        if isinstance(c, Node):
            out.append(c)
        elif c.kind == T.IND_STR:
            t = c.text
            if t == "''$":
                out.append(("$", False))
            elif t == "'''":
                out.append(("''", False))
            elif t.startswith("''\\"):
                out.append((unescape(t[2:]), False))
            else:
                out.append((t, True))
    return out


def strip_indentation(parts: list[tuple[str, bool] | Node]) -> list[str | Node]:
    """parser.y's stripIndentation: drop the common indentation and a final whitespace-only line."""
    if not parts:
        return [""]
    at_start, min_indent, cur = True, 1_000_000, 0
    for p in parts:
        if isinstance(p, Node) or not p[1]:
            if at_start:
                at_start = False
                min_indent = min(min_indent, cur)
            continue
        for ch in p[0]:
            if at_start:
                if ch == " ":
                    cur += 1
                elif ch == "\n":
                    cur = 0
                else:
                    at_start = False
                    min_indent = min(min_indent, cur)
            elif ch == "\n":
                at_start, cur = True, 0
    out: list[str | Node] = []
    at_start, dropped = True, 0
    remaining = len(parts)
    for p in parts:
        if isinstance(p, Node):
            at_start, dropped = False, 0
            out.append(p)
            remaining -= 1
            continue
        buf = []
        for ch in p[0]:
            if at_start:
                if ch == " ":
                    if dropped >= min_indent:
                        buf.append(ch)
                    dropped += 1
                elif ch == "\n":
                    dropped = 0
                    buf.append(ch)
                else:
                    at_start, dropped = False, 0
                    buf.append(ch)
            else:
                buf.append(ch)
                if ch == "\n":
                    at_start = True
        s = "".join(buf)
        if remaining == 1:
            cut = s.rfind("\n")
            if cut != -1 and s[cut + 1 :].strip(" ") == "":
                s = s[: cut + 1]
        out.append(s)
        remaining -= 1
    return out


def string_parts(node: Node) -> list[str | Node]:
    """A "..." or ''...'' string's literal text (unescaped, indentation stripped) and interpolations."""
    if node.kind == S.IND_STRING:
        return strip_indentation(ind_parts(node))
    out: list[str | Node] = []
    for c in node.children:
        if isinstance(c, Node):
            out.append(c)
        elif c.kind == T.STR:
            out.append(unescape(c.text))
    return out


def plain_string(node: Node) -> str | None:
    """The value of a string without interpolation, else None."""
    parts = string_parts(node)
    if any(isinstance(p, Node) for p in parts):
        return None
    return "".join(p for p in parts if isinstance(p, str))


def attr_static_name(attr: Node) -> str | None:
    """An attribute name known without evaluation (identifier, plain string, `${"plain"}`), else None."""
    for c in attr.children:
        if not isinstance(c, Node):
            return c.text if c.kind in (T.ID, "or") else None
        if c.kind in (S.STRING, S.IND_STRING):
            return plain_string(c)
        if c.kind == S.INTERPOL:
            inner = [n for n in c.nodes()]
            if not inner:
                return None
            e = inner[0]
            while e.kind == S.PAREN and e.nodes():
                e = e.nodes()[0]
            if e.kind in (S.STRING, S.IND_STRING):
                return plain_string(e)
            return None
    return None
