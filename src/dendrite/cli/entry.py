"""The `dendrite` console script: answers `--version` before anything is imported, runs `secrets get`
without the CLI framework (`cli.fast`), and everything else through `main.run`.

Why a module of its own: importing `dendrite.cli.main` imports the CLI framework (Typer, tens of
milliseconds); `dendrite --version`, the probe scripts and packagers run most, needs none of it, and
neither does reading a secret, the commonest command of scripts.
"""

from __future__ import annotations

import os
import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from dendrite import __version__

        if sys.stdout is None:  # started with `>&-`: as every command says it (cli.console.ClosedStdout)
            sys.stderr.write("error: cannot write to standard output: it is closed\n")
            sys.exit(2)
        try:
            sys.stdout.write(f"dendrite {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:  # as main.run answers it
            sys.exit(1)
        return
    from dendrite.cli import fast

    request = fast.request(sys.argv[1:], os.environ)
    if request is not None:
        fast.run(request)
        return
    try:
        from dendrite.cli.main import run as main_run
    except KeyboardInterrupt:  # Ctrl-C while starting up: nothing has run yet
        sys.stderr.write("interrupted; nothing was changed\n")
        sys.exit(130)
    main_run()
