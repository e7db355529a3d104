"""How the CLI shows values: Nix-like (never a Python repr). Tables are `cli.columns`.

Why here and not in `nixlang.printer`: the printer writes Nix *files* (nixfmt's layout, an error for a
value with no literal); the CLI shows values *in lines of text*, short ones inline, and must also show
what is not a value (a `NotLiteral` of `nix eval-literal`) as a visible mark instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dendrite.nixlang.printer import key, scalar

WIDTH = 100
_INDENT = "  "


def nix(
    value: Any,
    *,
    width: int = WIDTH,
    indent: int = 0,
    other: Callable[[Any], str] | None = None,
    expand_sets: bool = False,
) -> str:
    """`value` as Nix text: inline while it fits in `width` (after `indent` levels), else one binding
    or item a line. `other` renders what is not a JSON-like value (else its type is named in « »).

    `expand_sets` lays sets out one binding a line always, as `nixlang.printer.to_nix` (and nixfmt) do.
    """
    if not isinstance(value, dict | list | tuple) or not value:
        return _inline(value, other)
    pad = _INDENT * indent

    def inner(v: Any) -> str:
        return nix(v, width=width, indent=indent + 1, other=other, expand_sets=expand_sets)

    if isinstance(value, dict):
        flat = _inline(value, other)
        if not expand_sets and len(pad) + len(flat) <= width:
            return flat
        body = [f"{pad}{_INDENT}{key(str(k))} = {inner(v)};" for k, v in value.items()]
        return "{\n" + "\n".join(body) + f"\n{pad}}}"
    items = [_item(v, inner(v)) for v in value]
    flat = "[ " + " ".join(items) + " ]"
    if "\n" not in flat and len(pad) + len(flat) <= width:
        return flat
    return "[\n" + "\n".join(f"{pad}{_INDENT}{i}" for i in items) + f"\n{pad}]"


def _inline(value: Any, other: Callable[[Any], str] | None) -> str:
    literal = scalar(value)
    if literal is not None:
        return literal
    if isinstance(value, dict):
        if not value:
            return "{ }"
        return "{ " + " ".join(f"{key(str(k))} = {_inline(v, other)};" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        if not value:
            return "[ ]"
        return "[ " + " ".join(_item(v, _inline(v, other)) for v in value) + " ]"
    return other(value) if other is not None else f"«{type(value).__name__}»"


def _item(value: Any, text: str) -> str:
    """A list element: a negative number is parenthesised (`[ -1 ]` is not a list of one in Nix)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and text.startswith("-"):
        return f"({text})"
    return text
