"""Nix files as bytes: decoding, size limits, and errors rendered as `file:line:col: message`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import InputError
from dendrite.fsutil import read_regular_file
from dendrite.nixlang.parser import ParseResult, SyntaxIssue, parse
from dendrite.nixlang.syntax import LineIndex, Position

MAX_FILE_BYTES = 32 * 1024 * 1024  # generated package sets stay below this; 50 MB of Nix is a mistake


@dataclass(frozen=True)
class Diagnostic:
    path: str
    position: Position
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.position.line}:{self.position.column}: {self.message}"


@dataclass
class ParsedFile:
    path: str
    text: str  # decoded with surrogateescape: any byte survives a round trip
    result: ParseResult
    index: LineIndex

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [Diagnostic(self.path, self.index.position(e.offset), e.message) for e in self.result.errors]

    def position(self, offset: int) -> Position:
        return self.index.position(offset)

    def location(self, offset: int) -> str:
        """`path:line:col` of an offset, as errors name a place."""
        p = self.index.position(offset)
        return f"{self.path}:{p.line}:{p.column}"

    def encode(self, text: str | None = None) -> bytes:
        return (self.text if text is None else text).encode("utf-8", "surrogateescape")


def decode(data: bytes) -> str:
    """UTF-8, with any other byte kept as a surrogate escape (Nix accepts them in strings and comments)."""
    return data.decode("utf-8", "surrogateescape")


def parse_bytes(data: bytes, path: str = "<input>") -> ParsedFile:
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            f"{path} is {len(data) / 1e6:.1f} MB, over dendrite's {MAX_FILE_BYTES // 2**20} MiB limit for a Nix file",
            hint="is it really a Nix expression? generated data belongs in JSON",
        )
    text = decode(data)
    result = parse(text)
    nul = text.find("\x00")
    if nul != -1 and all(e.offset != nul for e in result.errors):
        result.errors.insert(
            0, SyntaxIssue(nul, "NUL byte: Nix stops reading the file here, ignoring the rest")
        )
        result.errors.sort(key=lambda e: e.offset)
    return ParsedFile(path, text, result, LineIndex(text))


def read_nix_file(path: Path) -> bytes:
    """A Nix file's bytes: a regular file within MAX_FILE_BYTES, else InputError."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"{path} is {size / 1e6:.1f} MB, over dendrite's {MAX_FILE_BYTES // 2**20} MiB limit for a Nix file",
                hint="is it really a Nix expression? generated data belongs in JSON",
            )
        return read_regular_file(path, limit=MAX_FILE_BYTES)  # a FIFO must not hang the parse
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory", hint="give a .nix file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def parse_file(path: Path) -> ParsedFile:
    return parse_bytes(read_nix_file(path), str(path))
