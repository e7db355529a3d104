"""Progress bars: drawn on a terminal (stderr), never in a pipe, and never over a prompt."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from dendrite.cli import console, progress
from tests.conftest import clean_env


def test_in_a_pipe_there_is_no_bar(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    res = subprocess.run(
        [sys.executable, "-m", "dendrite", "demo", str(tmp_path / "fleet")],
        env=env,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == b"", res.stderr  # no bar, no escape sequence: a pipe gets the output only
    assert b"\x1b[" not in res.stdout and b"\r" not in res.stdout


def test_on_a_terminal_the_demo_shows_its_progress(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    env["TERM"] = "xterm"
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dendrite", "demo", str(tmp_path / "fleet")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            stdin=subprocess.DEVNULL,
        )
        os.close(secondary)
        seen = b""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(primary)
    assert b"building the demo fleet" in seen, seen[-500:]


def test_a_prompt_stops_the_bar_and_it_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=screen, force_terminal=True, width=80))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    asked: list[bool] = []

    def ask() -> str:
        # while the user is asked, no bar is live: nothing redraws over the prompt's line
        asked.append(all(b._live is None for b in progress._ACTIVE))
        return "answer"

    with progress.progress("working") as cb:
        assert cb is not None
        cb(1, 10)
        bar = progress._ACTIVE[-1]
        assert bar._live is not None  # drawn from its first report
        assert progress.asking(ask)() == "answer"
        assert bar._live is not None  # and back afterwards
        cb(10, 10)
    assert asked == [True]
    assert progress._ACTIVE == []
    assert "working" in screen.getvalue()


def test_no_bar_before_the_first_report(monkeypatch: pytest.MonkeyPatch) -> None:
    # a command that asks first (vars generate's prompts, up front) asks on a clean line
    screen = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=screen, force_terminal=True, width=80))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with progress.progress("working") as cb:
        assert cb is not None
        assert progress._ACTIVE[-1]._live is None
    assert screen.getvalue() == ""
