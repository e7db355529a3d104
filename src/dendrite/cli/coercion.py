"""Typer's coercion of command-line values, without importing pydantic where it would change nothing.

Why: Typer (0.2x) coerces every parameter value through a pydantic TypeAdapter, built on first use;
importing pydantic and building the adapters costs ~90 ms, more than everything `dendrite secrets get`
does besides. For the values most commands see, the adapter is the identity or nearly: an absent value
(None), a string where `str` is declared, strings where `list[str]` is declared, a string made a
`Path` (then checked by Typer's own path checks), strings made a `list[Path]` (each checked so). Those are answered here with exactly what Typer's
adapter returns; every other value (paths, numbers, a custom parser) is handed
to Typer's own coercion, built then. tests/cli/test_coercion.py compares both on every parameter.

A Typer without this machinery (no `get_runtime_param` on its parameters) is left as it is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from typer._click import Context


class _Runtime(Protocol):
    def coerce(self, value: Any, param: Any, ctx: Context) -> Any: ...


class DeferredCoercion:
    """Stands in for a parameter's Typer RuntimeParam until a value needs the real one."""

    def __init__(self, param: Any) -> None:
        descriptor = param.type_descriptor
        self._param = param
        self._real: _Runtime | None = None
        plain = descriptor.parameter_info.parser is None and descriptor.file_annotation is None
        self._multi = bool(param.multiple or param.nargs == -1)
        self._str = plain and not self._multi and descriptor.annotation is str
        self._str_list = plain and self._multi and descriptor.annotation == list[str]
        self._path = (
            plain
            and not self._multi
            and descriptor.annotation is Path
            and descriptor.parameter_info.path_type is None
        )
        self._path_list = (
            plain
            and self._multi
            and descriptor.annotation == list[Path]
            and descriptor.parameter_info.path_type is None
        )

    def real(self) -> _Runtime:
        """Typer's own coercion for this parameter (imports pydantic)."""
        if self._real is None:
            from typer._coercion import build_runtime_param

            self._real = build_runtime_param(self._param.type_descriptor)
        return self._real

    def _checked_path(self, value: str, param: Any, ctx: Context) -> Path:
        """What Typer's adapter gives for a path: Typer's own checks (exists, file_okay, ...) on the
        string as typed, so that its messages name it as typed (`dir/`, not `dir`), then a Path."""
        from typer._param_types import coerce_cli_path

        info = self._param.type_descriptor.parameter_info
        if info.allow_dash:  # Typer's `-` test sees a Path there, never equal to "-": left to Typer
            raise ValueError(value)
        return Path(os.fsdecode(coerce_cli_path(value, info, path_type=None, param=param, ctx=ctx)))

    def coerce(self, value: Any, param: Any, ctx: Context) -> Any:
        if value is None:  # Typer's RuntimeParam.coerce answers None before it looks at the type
            return () if self._multi else None
        if self._str and type(value) is str:
            return value
        if self._str_list and isinstance(value, list | tuple) and all(type(v) is str for v in value):
            return list(value)
        # an empty path is left to Typer: its adapter makes it Path("."), which the checks then see
        if self._path and type(value) is str and value:
            try:
                return self._checked_path(value, param, ctx)
            except ValueError:  # pydantic turns it into a message of its own (a NUL in the path)
                pass
        if self._path_list and isinstance(value, list | tuple) and all(type(v) is str and v for v in value):
            # each item as a single path above (`nix check-syntax FILES...`, `layout` commands)
            try:
                return [self._checked_path(v, param, ctx) for v in value]
            except ValueError:
                pass
        return self.real().coerce(value, param=param, ctx=ctx)


def install() -> None:
    """Make every Typer parameter start with a DeferredCoercion instead of building Typer's own.

    Why on the class: Typer makes some parameters (each command's --help) only while it parses, where
    no hook of ours runs; the method is the one place all of them pass through.
    """
    import typer.core

    parameter = getattr(typer.core, "_TyperParameter", None)
    if parameter is None or not hasattr(parameter, "get_runtime_param"):
        return

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            self._runtime_param = DeferredCoercion(self)
        return self._runtime_param

    parameter.get_runtime_param = get_runtime_param
