"""Python values to Nix text, formatted the way nixfmt lays out data."""

from __future__ import annotations

import math
import re
from typing import Any

from dendrite.errors import InputError
from dendrite.nixlang.tokens import KEYWORDS

_BARE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_'\-]*$")
_INDENT = "  "


def key(name: str) -> str:
    """An attribute name, bare when Nix allows it, else quoted (`or` may stay bare)."""
    if _BARE.match(name) and (name not in KEYWORDS or name == "or"):
        return name
    return string(name)


def string(value: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{out}"'


def number(value: int | float) -> str:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        if not -(2**63) <= value <= 2**63 - 1:
            raise InputError(f"the integer {value} does not fit Nix's 64-bit integers")
        return str(value)
    if math.isnan(value) or math.isinf(value):
        raise InputError(f"{value} has no Nix literal")
    text = repr(value)
    if "e" in text or "E" in text:
        mant, _, exp = text.partition("e")
        if "." not in mant:
            mant += ".0"  # Nix's float literal needs a dot: 1e5 would read as `1` applied to `e5`
        text = f"{mant}e{exp}"
    return text


def scalar(value: Any) -> str | None:
    """The Nix literal of null, a boolean, a number or a string; None for anything else."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, str):
        return string(value)
    return None


def to_nix(value: Any, width: int = 100, indent: int = 0) -> str:
    """Nix source for a JSON-like value: sets one binding per line, lists inline while they fit."""
    pad = _INDENT * indent
    literal = scalar(value)
    if literal is not None:
        return literal
    if isinstance(value, dict):
        if not value:
            return "{ }"
        lines = ["{"]
        for k, v in value.items():
            if not isinstance(k, str):
                raise InputError(f"attribute names must be strings, not {type(k).__name__}")
            lines.append(f"{pad}{_INDENT}{key(k)} = {to_nix(v, width, indent + 1)};")
        lines.append(pad + "}")
        return "\n".join(lines)
    if isinstance(value, list | tuple):
        if not value:
            return "[ ]"
        items = [_list_item(v, width, indent + 1) for v in value]
        inline = "[ " + " ".join(items) + " ]"
        if "\n" not in inline and len(pad) + len(inline) <= width:
            return inline
        return "[\n" + "\n".join(f"{pad}{_INDENT}{i}" for i in items) + f"\n{pad}]"
    raise InputError(f"a {type(value).__name__} has no Nix literal")


def _list_item(value: Any, width: int, indent: int) -> str:
    text = to_nix(value, width, indent)
    if isinstance(value, int | float) and not isinstance(value, bool) and text.startswith("-"):
        return f"({text})"  # `[ -1 ]` is not a list of one element in Nix
    return text
