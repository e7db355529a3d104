"""The CLI's consoles write a plain line exactly as rich does, without importing rich for it."""

from __future__ import annotations

import contextlib
import io
import sys

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from dendrite.cli import common

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
