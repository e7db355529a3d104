"""Help that speaks the user's language, set once for every command (imported by `cli.main`).

Typer shows each parameter's Python type in `--help`: `--debug <bool>` reads as if the flag took a
value, `--user <list[str]>` is Python, not a command line. Here a flag shows no type, a list shows its
element's (`<text>...`), `str` reads `<text>`. And a bare group (`dendrite`, `dendrite secrets`)
prints its help on stdout and exits 0, as `--help` does: asking what there is is not an error.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

import typer.core
from typer import _click

_NAMES = {"str": "text", "int": "integer", "float": "number"}


def _label(annotation: Any) -> str:
    if get_origin(annotation) in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return _label(args[0]) if args else "text"
    name = getattr(annotation, "__name__", str(annotation))
    return _NAMES.get(name, name)


def _display_type(param: Any, ctx: _click.Context) -> str | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None  # a flag takes no value: nothing to show
    if param.metavar is not None:
        return str(param.metavar)
    desc = param.type_descriptor
    if desc.is_path:
        label = desc.path_type
    elif desc.is_choice:
        label = "|".join(str(c) for c in desc.choices or ())
    else:
        label = _label(desc.annotation)
    return f"<{label}>..." if param.nargs != 1 else f"<{label}>"


def _usage_name(self: typer.core.TyperArgument) -> str:
    """`NAME`, `[MACHINES]...`: the usage line in the shape of every Unix manual, not `{name}`."""
    name = self.display_name_raw.upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def _parse_args(self: typer.core.TyperGroup, ctx: _click.Context, args: list[str]) -> list[str]:
    if not args and self.no_args_is_help and not ctx.resilient_parsing:
        _click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit(0)
    return _original_parse_args(self, ctx, args)


_original_parse_args = typer.core.TyperGroup.parse_args
typer.core.TyperOption.display_type_rich = _display_type  # type: ignore[method-assign,assignment]
typer.core.TyperArgument.display_type_rich = _display_type  # type: ignore[method-assign,assignment]
typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
typer.core.TyperGroup.parse_args = _parse_args  # type: ignore[method-assign]
