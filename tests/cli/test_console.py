"""The CLI's consoles write a plain line, and a styled one where rich would show no style, exactly as
rich does, without importing rich for it."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from dendrite.cli import common, console

OPTIONS = {"highlight": False, "soft_wrap": True, "emoji": False}


def _ours(text: str, stderr: bool) -> str:
    console = common._LazyConsole(stderr=stderr, **OPTIONS)
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf) if stderr else contextlib.redirect_stdout(buf):
        console.print(text, markup=False)
    assert console._console is None  # written without rich
    return buf.getvalue()


def _rich(text: str, terminal: bool) -> str:
    buf = io.StringIO()
    Console(file=buf, force_terminal=terminal, width=40, **OPTIONS).print(text, markup=False)
    return buf.getvalue()


@given(st.text(st.characters(codec="utf-8")).filter(str.isprintable), st.booleans(), st.booleans())
def test_a_plain_line_is_what_rich_writes(text: str, stderr: bool, terminal: bool) -> None:
    assert _ours(text, stderr) == _rich(text, terminal)


def test_markup_like_text_and_long_lines_are_written_as_given() -> None:
    for text in ["[bold]x[/bold] :100: file:100:3", "a" * 300, "machines/cinnabar/facts.json:1:2: error"]:
        assert _ours(text, False) == _rich(text, True) == text + "\n"


def test_anything_else_goes_to_rich() -> None:
    console = common._LazyConsole(**OPTIONS)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        console.print("a\tb", markup=False)
    assert console._console is not None and "rich" in sys.modules


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


_RICH_ENV = ("TTY_COMPATIBLE", "FORCE_COLOR", "TERM", "NO_COLOR", "TTY_INTERACTIVE")


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("force_color", [None, "", "1", "0"])
@pytest.mark.parametrize("tty_compatible", [None, "", "0", "1", "2"])
def test_colourless_is_what_rich_decides(
    tty: bool, force_color: str | None, tty_compatible: str | None
) -> None:
    """`console.colourless` against rich's own choice of colour system for the same stream and
    environment (rich.console.Console.is_terminal, _detect_color_system)."""
    env = {"TERM": "xterm-256color", "FORCE_COLOR": force_color, "TTY_COMPATIBLE": tty_compatible}
    with mock.patch.dict(os.environ, {k: v for k, v in env.items() if v is not None}):
        for k in ("FORCE_COLOR", "TTY_COMPATIBLE"):
            if env[k] is None:
                os.environ.pop(k, None)
        stream = _Stream(tty)
        assert console.colourless(stream) == (Console(file=stream, **OPTIONS).color_system is None)


def _styled(text: str, stream: _Stream) -> tuple[str, bool]:
    ours = console._LazyConsole(stderr=True, **OPTIONS)
    with contextlib.redirect_stderr(stream):
        ours.print(text, markup=False, style="bold red")
    return stream.getvalue(), ours._console is None


@given(st.text(st.characters(codec="utf-8")).filter(str.isprintable))
def test_a_styled_line_to_a_pipe_is_what_rich_writes(text: str) -> None:
    """An error's bold red line (cli.boundary) to a pipe or file: rich writes the text alone."""
    with mock.patch.dict(os.environ):
        for k in _RICH_ENV:
            os.environ.pop(k, None)
        written, without_rich = _styled(text, _Stream(tty=False))
        buf = _Stream(tty=False)
        Console(file=buf, **OPTIONS).print(text, markup=False, style="bold red")
    assert without_rich and written == buf.getvalue() == text + "\n"


def test_a_styled_line_to_a_terminal_goes_to_rich() -> None:
    with mock.patch.dict(os.environ, {"TERM": "xterm-256color"}):
        for k in ("TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR"):
            os.environ.pop(k, None)
        written, without_rich = _styled("error: x", _Stream(tty=True))
    assert not without_rich and written.startswith("\x1b[") and "error: x" in written
