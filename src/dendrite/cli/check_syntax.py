"""`dendrite nix check-syntax`: which files it checks, what it prints, and a way to run it without Typer.

Why apart from nix_cmd: checking a repository's syntax is what editors, hooks and linters run, often
on every save, and importing the CLI framework (Typer, click, the command tree) costs more than
checking a few dozen modules. `cli.entry` hands a plain `dendrite nix check-syntax PATH...` to `quick`,
which imports none of it; every other form (--json, --help, global options) and every error to report
goes through the Typer command in nix_cmd, which uses `collect` and `render` from here as well, so the
two cannot differ in what they check or print.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dendrite.errors import InputError
from dendrite.layout.discovery import discover
from dendrite.nixlang.check import FileCheck, check_files
from dendrite.nixlang.source import Diagnostic


class Printer(Protocol):
    def print(self, text: str, *, markup: bool) -> None: ...


@dataclass(frozen=True)
class Report:
    results: list[FileCheck]
    untracked: list[Path]  # checked, but git does not track them, so the flake does not see them
    notes: tuple[str, ...]  # what discovery could not tell (git missing)

    @property
    def problems(self) -> list[Diagnostic]:
        return [d for r in self.results for d in r.diagnostics]


def nix_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path], tuple[str, ...]]:
    """The files named, and in each directory what import-tree takes (`layout.discovery`, the one rule).

    Files git does not track are checked too (they are about to be added, or forgotten) and returned
    second, so the command can say the flake does not see them; discovery's notes come third.
    """
    files: list[Path] = []
    untracked: list[Path] = []
    notes: list[str] = []
    for p in paths:
        if p.is_dir():
            found = discover(p)  # paths as the user wrote them: `modules/a.nix`, not an absolute one
            files += [p / e.rel[1:] for e in found.entries]
            untracked += [p / e.rel[1:] for e in found.entries if e.tracked is False]
            notes += found.notes
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"{p} does not exist")
    return files, untracked, tuple(notes)


def collect(paths: Sequence[Path]) -> Report:
    files, untracked, notes = nix_files(paths)
    return Report(check_files(files), untracked, notes)


def render(report: Report, out: Printer, err: Printer) -> int:
    """The plain-text report (diagnostics on `out`, the rest on `err`); the exit code."""
    for n in report.notes:
        err.print(n, markup=False)
    problems = report.problems
    for d in problems:
        out.print(str(d), markup=False)
    for p in report.untracked:
        err.print(f"untracked, so the flake does not see it: {p}", markup=False)
    bad = sum(1 for r in report.results if not r.ok)
    err.print(f"{len(report.results)} file(s) checked, {bad} with errors", markup=False)
    return 1 if problems else 0


class _Plain:
    """A line of printable text, written as cli.common's consoles write one (text and a newline)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream

    def print(self, text: str, *, markup: bool) -> None:
        (sys.stderr if self.stream == "stderr" else sys.stdout).write(text + "\n")


def quick(args: list[str]) -> int | None:
    """`dendrite nix check-syntax ARGS` without the CLI framework: the exit code once the report is
    written, or None (nothing written) when the full CLI must run the command to report an error."""
    starting = signal.signal(signal.SIGINT, signal.default_int_handler)  # check_files stops its children
    try:
        report = collect([Path(a) for a in args])
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write("interrupted; nothing was changed\n")
        return 130
    except Exception:  # a missing file, an unreadable one, a bug: the full CLI says it its way
        signal.signal(signal.SIGINT, starting)  # Ctrl-C while the full CLI starts, as without us
        return None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command is over: no traceback at exit
    texts = [*report.notes, *map(str, report.untracked), *map(str, report.problems)]
    try:
        if all(t.isprintable() for t in texts):
            code = render(report, _Plain("stdout"), _Plain("stderr"))
        else:
            from dendrite.cli.common import err, out  # what the consoles make of control characters

            code = render(report, out, err)
        sys.stdout.flush()
    except BrokenPipeError:  # as main.run answers it; what is still buffered goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code
