"""Nix's .drv files: the ATerm `Derive([outputs],[inputDrvs],[inputSrcs],system,builder,[args],[env])`.

Follows Nix 2.8's `src/libstore/derivations.cc`: `parseDerivation` reads and `Derivation::unparse`
writes. Strings are double-quoted; a backslash escapes the next character, and `\\n`, `\\r`, `\\t` mean
newline, carriage return and tab (`parseString`); `printString` escapes exactly `"`, `\\`, newline,
carriage return and tab and writes every other byte as it is. So `unparse(parse(b)) == b` for every
file Nix writes, which the tests check on real ones.

Nix strings are bytes: a file is decoded as UTF-8 with `surrogateescape`, so any byte survives the
round trip. A malformed file is a DrvParseError naming the byte offset and what was expected there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from dendrite.errors import DrvParseError

T = TypeVar("T")
ENCODING = "utf-8"
ERRORS = "surrogateescape"


@dataclass(frozen=True)
class Output:
    name: str
    path: str  # empty for a content-addressed floating output
    hash_algo: str  # "" unless fixed-output ("sha256", "r:sha256")
    hash: str


@dataclass(frozen=True)
class Derivation:
    outputs: tuple[Output, ...]
    input_drvs: tuple[tuple[str, tuple[str, ...]], ...]  # (.drv path, output names), sorted as Nix writes
    input_srcs: tuple[str, ...]
    system: str
    builder: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # sorted by name, as Nix writes them

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def name(self) -> str:
        return self.env_map.get("name", "")


# A string: its body has no unescaped quote. Most bodies have no backslash, which skips the unescaping.
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r'["\\\n\r\t]')
_ESCAPED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
HINT = "the file is not a derivation Nix wrote; regenerate it with nix-instantiate"


class _Reader:
    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.pos = 0
        self.where = where

    def fail(self, expected: str) -> DrvParseError:
        # the offset is in bytes, as `cmp` and a hex viewer count them
        offset = len(self.text[: self.pos].encode(ENCODING, ERRORS))
        got = self.text[self.pos : self.pos + 12]
        found = f"found {got!r}" if got else "the file ends"
        return DrvParseError(
            f"{self.where} is not a valid derivation: expected {expected} at byte {offset}, {found}",
            HINT,
            offset=offset,
        )

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise self.fail(repr(token))
        self.pos += len(token)

    def string(self) -> str:
        m = _STRING.match(self.text, self.pos)
        if m is None:
            open_quote = self.text.startswith('"', self.pos)
            raise self.fail("a closing quote for this string" if open_quote else "a quoted string")
        self.pos = m.end()
        body = m.group(1)
        if "\\" not in body:
            return body
        return _UNESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), e.group(1)), body)

    def more(self, close: str) -> bool:
        """After an item of a list: True when another follows (a comma), False at the closing bracket."""
        if self.text.startswith(",", self.pos):
            self.pos += 1
            return True
        self.expect(close)
        return False

    def strings(self) -> tuple[str, ...]:
        self.expect("[")
        items: list[str] = []
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return ()
        while True:
            items.append(self.string())
            if not self.more("]"):
                return tuple(items)

    def tuples(self, read: Callable[[], T]) -> tuple[T, ...]:
        """A list of parenthesised tuples, each read by `read`."""
        self.expect("[")
        found: list[T] = []
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return ()
        while True:
            self.expect("(")
            found.append(read())
            self.expect(")")
            if not self.more("]"):
                return tuple(found)

    def output(self) -> Output:
        name = self.string()
        self.expect(",")
        path = self.string()
        self.expect(",")
        algo = self.string()
        self.expect(",")
        return Output(name, path, algo, self.string())

    def input_drv(self) -> tuple[str, tuple[str, ...]]:
        path = self.string()
        self.expect(",")
        return path, self.strings()

    def pair(self) -> tuple[str, str]:
        key = self.string()
        self.expect(",")
        return key, self.string()


def parse(data: bytes, where: str = "the input") -> Derivation:
    """A .drv file's bytes as a Derivation; DrvParseError (with the byte offset) when malformed."""
    r = _Reader(data.decode(ENCODING, ERRORS), where)
    r.expect("Derive(")
    outputs = r.tuples(r.output)
    r.expect(",")
    input_drvs = r.tuples(r.input_drv)
    r.expect(",")
    input_srcs = r.strings()
    r.expect(",")
    system = r.string()
    r.expect(",")
    builder = r.string()
    r.expect(",")
    args = r.strings()
    r.expect(",")
    env = r.tuples(r.pair)
    r.expect(")")
    if r.pos != len(r.text):
        raise r.fail("the end of the file")
    return Derivation(outputs, input_drvs, input_srcs, system, builder, args, env)


def quote(s: str) -> str:
    """`printString`: Nix's escaping of one string."""
    return '"' + _ESCAPE.sub(lambda m: _ESCAPED[m.group(0)], s) + '"'


def _list(items: tuple[str, ...]) -> str:
    return "[" + ",".join(quote(i) for i in items) + "]"


def unparse(drv: Derivation) -> bytes:
    """`Derivation::unparse`: the bytes Nix would write for `drv` (fields kept in the order given)."""
    outputs = ",".join(
        f"({quote(o.name)},{quote(o.path)},{quote(o.hash_algo)},{quote(o.hash)})" for o in drv.outputs
    )
    inputs = ",".join(f"({quote(p)},{_list(outs)})" for p, outs in drv.input_drvs)
    env = ",".join(f"({quote(k)},{quote(v)})" for k, v in drv.env)
    text = (
        f"Derive([{outputs}],[{inputs}],{_list(drv.input_srcs)},{quote(drv.system)},"
        f"{quote(drv.builder)},{_list(drv.args)},[{env}])"
    )
    return text.encode(ENCODING, ERRORS)
