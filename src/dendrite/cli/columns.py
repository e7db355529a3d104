"""Rows of text in columns as wide as their widest cell, the last one wrapped to a terminal's width.

Why not fixed widths: a machine or instance name longer than the width (`{name:12}`) pushed every
column after it out of line. Why not a rich Table: in a pipe every row must stay one line for `cut`
and `awk`, with no box drawing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence


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
