"""The two ways a command line can run: the console script (which takes a fast path where it has
one) and the Typer tree forced, for tests that compare them byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

DENDRITE = str(Path(sys.executable).parent / "dendrite")
TYPER = """
import sys
sys.argv = ["dendrite", *sys.argv[1:]]
from dendrite.cli.main import run
run()
"""
BOTH = ([DENDRITE], [sys.executable, "-c", TYPER])  # argv prefixes: fast path where taken, Typer
