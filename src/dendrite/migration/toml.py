"""A small deterministic TOML writer and a locator of keys in TOML text.

Why our own writer: Python has `tomllib` for reading but nothing for writing, and the plan is the only
TOML dendrite writes, so a writer of its subset (strings, integers, floats, booleans, dates, lists of
those, tables, arrays of tables) is smaller than a dependency. The same plan always gives the same
bytes, so a plan under git shows clean diffs.

Why a locator: `tomllib` gives a line and column for syntax errors only. When a value is of the wrong
kind (a stability window of 30 days), the message must still say where; `positions` maps each key of
the text to its line and column by reading the table headers as TOML does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

Path_ = tuple[str | int, ...]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_LINE = re.compile(r'^(\s*)([A-Za-z0-9_-]+|"[^"]*")\s*=')


def _string(s: str) -> str:
    # JSON escapes U+0000-U+001F; TOML also forbids DEL (U+007F) raw in a basic string
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def scalar(value: Any) -> str:
    """One TOML value; JSON's string escapes are a subset of TOML's basic string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(scalar(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {scalar(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _emit(lines: list[str], table: Mapping[str, Any], prefix: str, comments: Mapping[str, str]) -> None:
    subs: list[tuple[str, Any]] = []
    for k, v in table.items():
        if (isinstance(v, Mapping) and v) or _is_table_array(v):
            subs.append((k, v))
        elif isinstance(v, list | tuple) and len(scalar(v)) > 100:  # one item a line: readable diffs
            lines.append(f"{_key(k)} = [")
            lines.extend(f"  {scalar(item)}," for item in v)
            lines.append("]")
        else:
            lines.append(f"{_key(k)} = {scalar(v)}")
    for k, v in subs:
        name = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if name in comments:
            lines.append("")
            lines.extend(f"# {c}" if c else "#" for c in comments[name].splitlines())
        if isinstance(v, Mapping):
            lines.append("")
            lines.append(f"[{name}]")
            _emit(lines, v, name, comments)
        else:
            for item in v:
                lines.append("")
                lines.append(f"[[{name}]]")
                _emit(lines, item, name, comments)


def dumps(doc: Mapping[str, Any], header: str = "", comments: Mapping[str, str] | None = None) -> str:
    """`doc` as TOML, keys in the order given; `comments` go above the table of that dotted name."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    _emit(lines, doc, "", comments or {})
    return "\n".join(lines).lstrip("\n") + "\n"


def _split_header(s: str) -> list[str]:
    return [p.strip().strip('"') for p in s.split(".")]


def positions(text: str) -> dict[Path_, tuple[int, int]]:
    """Where each table and key of `text` is: (line, column), both from 1.

    Array-of-table entries are numbered as `tomllib` returns them, so the path ("phases", 2,
    "criteria", 0, "timeout") names the first criterion of the third phase.
    """
    arrays: dict[Path_, int] = {}
    pos: dict[Path_, tuple[int, int]] = {}

    def indexed(parts: Sequence[str]) -> Path_:
        path: Path_ = ()
        for part in parts:
            path += (part,)
            if path in arrays:
                path += (arrays[path] - 1,)
        return path

    current: Path_ = ()
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        col = len(line) - len(line.lstrip()) + 1
        if s.startswith("[["):
            end = s.find("]]")
            parts = _split_header(s[2:end])
            full = (*indexed(parts[:-1]), parts[-1])
            arrays[full] = arrays.get(full, 0) + 1
            current = (*full, arrays[full] - 1)
            pos[current] = (n, col)
        elif s.startswith("["):
            current = indexed(_split_header(s[1 : s.find("]")]))
            pos[current] = (n, col)
        else:
            m = _KEY_LINE.match(line)
            if m:
                pos[(*current, m.group(2).strip('"'))] = (n, len(m.group(1)) + 1)
    return pos


def locate(pos: Mapping[Path_, tuple[int, int]], path: Path_) -> tuple[int, int] | None:
    """The position of `path`, or of its nearest enclosing key or table that the text names."""
    for i in range(len(path), 0, -1):
        if path[:i] in pos:
            return pos[path[:i]]
    return None
