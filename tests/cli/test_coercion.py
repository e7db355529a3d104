"""dendrite.cli.coercion answers exactly as Typer's own (pydantic) coercion, on every parameter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click import Command, Context

from dendrite.cli import coercion
from dendrite.cli.main import SUBCOMMANDS, app

SAMPLES: dict[str, list[Any]] = {
    "str": [None, "", "x", "ünïcødé", " spaced ", "-", "a\x00b", "--flag-like"],
    "list": [None, (), ("a",), ["a", "b"], ("", "ü")],
    "path": [None, "", ".", "-", "missing", "file.txt", "dir", "dir/", "~/x", "a\x00b"],
    "path list": [None, (), ("file.txt",), ["dir", "missing"], ("-", "dir/", "~/x"), ("x", "a\x00b"), ("",)],
}


def _parameters(command: Command) -> Iterator[tuple[Command, Any]]:
    for param in command.params:
        if hasattr(param, "type_descriptor"):
            yield command, param
    for name in getattr(command, "commands", {}):
        yield from _parameters(command.commands[name])  # type: ignore[attr-defined]


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """A value, or the error a user would see (a BadParameter's message, or any other exception)."""
    try:
        return "value", fn(*args, **kwargs)
    except typer.BadParameter as exc:
        return "bad parameter", exc.format_message()
    except Exception as exc:
        return type(exc).__name__, str(exc)


def test_every_sub_command_is_loaded_and_compared() -> None:
    root = typer.main.get_command(app)
    names = list(root.commands)  # type: ignore[attr-defined]
    assert names == list(SUBCOMMANDS)
    assert sum(1 for _ in _parameters(root)) > 100


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_deferred_coercion_equals_typers(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dir").mkdir()
    root = typer.main.get_command(app)
    compared = 0
    for command, param in _parameters(root):
        deferred = coercion.DeferredCoercion(param)
        annotation = param.type_descriptor.annotation
        if kind == "str" and annotation is not str:
            continue
        if kind == "list" and annotation != list[str]:
            continue
        if kind == "path" and annotation is not Path:
            continue
        if kind == "path list" and annotation != list[Path]:
            continue
        ctx = Context(command)
        for value in SAMPLES[kind]:
            ours = _outcome(deferred.coerce, value, param, ctx)
            theirs = _outcome(deferred.real().coerce, value, param=param, ctx=ctx)
            assert ours == theirs, (command.name, param.name, value)
            assert type(ours[1]) is type(theirs[1]), (command.name, param.name, value)
            compared += 1
    assert compared > (5 if kind == "path list" else 20)
