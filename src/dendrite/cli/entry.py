"""The `dendrite` console script: answers `--version` before anything is imported, then `main.run`.

Why a module of its own: importing `dendrite.cli.main` imports the CLI framework (Typer, tens of
milliseconds); `dendrite --version`, the probe scripts and packagers run most, needs none of it, and
neither does a plain `dendrite nix check-syntax PATH...`, which editors and hooks run on every save
(cli.check_syntax.quick; it hands anything it cannot answer to the full CLI).
"""

from __future__ import annotations

import os
import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from dendrite import __version__

        try:
            sys.stdout.write(f"dendrite {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:  # as main.run answers it
            sys.exit(1)
        return
    if _plain_check_syntax(sys.argv[1:]):
        from dendrite.cli.check_syntax import quick

        code = quick(sys.argv[3:])
        if code is not None:
            sys.exit(code)
    try:
        from dendrite.cli.main import run as main_run
    except KeyboardInterrupt:  # Ctrl-C while starting up: nothing has run yet
        sys.stderr.write("interrupted; nothing was changed\n")
        sys.exit(130)
    main_run()


def _plain_check_syntax(args: list[str]) -> bool:
    """`nix check-syntax` and paths only: no option (nor `--`), no empty path (Typer makes it `.`),
    and no shell completion under way (it runs the CLI with the words in its environment)."""
    return (
        args[:2] == ["nix", "check-syntax"]
        and len(args) > 2
        and all(a and not a.startswith("-") for a in args[2:])
        and "_DENDRITE_COMPLETE" not in os.environ
    )
