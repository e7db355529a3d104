"""How the CLI shows values and tables: Nix-like values (never a Python repr) and columns that fit.

Why here and not in `nixlang.printer`: the printer writes Nix *files* (nixfmt's layout, an error for a
value with no literal); the CLI shows values *in lines of text*, short ones inline, and must also show
what is not a value (a `NotLiteral` of `nix eval-literal`) as a visible mark instead of failing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from dendrite.nixlang.printer import key, number, string

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


def table(rows: Sequence[Sequence[str]], width: int | None = None, gap: str = "  ") -> list[str]:
    """Rows as lines, each column as wide as its widest cell; the last column takes what is left.

    With `width` (a terminal's), a last cell that would run past it is wrapped under its column, so
    the columns stay readable; without it (a pipe) every row stays one line, for `cut` and `awk`.
    """
    if not rows:
        return []
    ncols = max(len(r) for r in rows)
    widths = [max((len(r[i]) for r in rows if i < len(r) - 1), default=0) for i in range(ncols - 1)]
    lines = []
    for r in rows:
        head = gap.join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1]))
        prefix = head + gap if len(r) > 1 else ""
        last = r[-1]
        room = (width - len(prefix)) if width else 0
        if width and room >= 20 and len(last) > room:
            wrapped = textwrap.wrap(last, room, break_on_hyphens=False) or [""]
            lines.append(prefix + wrapped[0])
            lines += [" " * len(prefix) + w for w in wrapped[1:]]
        else:
            lines.append((prefix + last).rstrip())
    return lines


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """`table` on stdout, wrapped to the terminal's width when stdout is one."""
    from dendrite.cli.common import out

    for line in table(rows, out.width if out.is_terminal else None):
        out.print(line, markup=False)
